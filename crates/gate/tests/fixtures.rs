//! The gate's fixture tables, `tests/fixtures/*.toml`: each `[[case]]` is
//! a tree, a proposal and who sends it, run through the real gate (no model,
//! no index) and compared with what the case expects.
//!
//! The tree is built in a temporary git repository (`git = false`: none):
//! `tree` files committed, `untracked` ones written after, `symlinks` (link
//! = target), `executable` paths, `default_rules` (the built-in rules as
//! `rules/default.toml`). `proposal`, the JSON `writ propose --file` reads,
//! goes from `channel` (`cli`, `person`, `http`, `mcp`, `model`) and
//! `proposer` through [`Gate::intake`] into a temporary ledger keyed in a
//! temporary folder, with a [`Run`] of `writ_index::Hit`s when the case has
//! a `run`; with none, [`Gate::dry_run`] must agree. Every ledger must verify.
//!
//! `expect`: the `state` (`recorded`, `held`, `forbidden`, `refused`;
//! `error` when nothing is recorded), and optionally a substring of the
//! `reason` (refusal reasons, decision reason or error), the determining
//! `rules`, some `facts` (only those listed are compared) and facts that
//! must be `unavailable`. A file that does not parse, an unknown key, state,
//! channel or fact, or fewer than [`MIN_CASES`] cases fails by name.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use writ_gate::{Gate, Proposer, Run};

/// The fewest cases the tables must hold: a lost file or table fails.
const MIN_CASES: usize = 80;
const STATES: [&str; 5] = ["recorded", "held", "forbidden", "refused", "error"];
const CHANNELS: [&str; 5] = ["cli", "person", "http", "mcp", "model"];

type Files = Option<BTreeMap<String, String>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    tree: Files,
    untracked: Files,
    symlinks: Files,
    executable: Option<Vec<String>>,
    default_rules: Option<bool>,
    git: Option<bool>,
    /// The index (and ledger) folder in the repository; `.writ` if unset.
    index: Option<String>,
    channel: String,
    proposer: String,
    run: Option<RunSpec>,
    proposal: String,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunSpec {
    embedder: String,
    hits: Vec<HitSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HitSpec {
    chunk: i64,
    similarity: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    state: String,
    reason: Option<String>,
    rules: Option<Vec<String>>,
    facts: Option<BTreeMap<String, toml::Value>>,
    unavailable: Option<Vec<String>>,
}

/// Parses one fixture file: the line of a TOML error, or the case with an
/// unknown state, channel or fact, or a name used before.
fn parse(file: &str, text: &str) -> Result<Vec<Case>, String> {
    let cases: CaseFile = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let line = text[..at].matches('\n').count() + 1;
        format!("{file}:{line}: {}", e.message().trim())
    })?;
    let known = serde_json::to_value(writ_rules::Facts::default()).unwrap();
    for (n, c) in cases.case.iter().enumerate() {
        let e = &c.expect;
        let asked = e.facts.iter().flat_map(|f| f.keys());
        let why = if let Some(k) = asked
            .chain(e.unavailable.iter().flatten())
            .find(|k| known.get(k).is_none())
        {
            format!("`{k}` is not a fact (writ_rules::Facts)")
        } else if !STATES.contains(&e.state.as_str()) {
            format!("unknown state `{}` (one of {STATES:?})", e.state)
        } else if !CHANNELS.contains(&c.channel.as_str()) {
            format!("unknown channel `{}` (one of {CHANNELS:?})", c.channel)
        } else if cases.case[..n].iter().any(|o| o.name == c.name) {
            "a second case of that name".into()
        } else {
            continue;
        };
        return Err(format!("{file}: `{}`: {why}", c.name));
    }
    Ok(cases.case)
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args("-c core.hooksPath=/dev/null -c commit.gpgsign=false".split(' '))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn write_all(root: &Path, files: &Files) {
    for (rel, text) in files.iter().flatten() {
        std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
        std::fs::write(root.join(rel), text).unwrap();
    }
}

/// Builds the case's tree in `root`.
fn build(c: &Case, root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    write_all(root, &c.tree);
    if c.default_rules == Some(true) {
        let rules = (
            "rules/default.toml".into(),
            writ_rules::DEFAULT_RULES.into(),
        );
        write_all(root, &Some(BTreeMap::from([rules])));
    }
    for rel in c.executable.iter().flatten() {
        std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (link, target) in c.symlinks.iter().flatten() {
        std::fs::create_dir_all(root.join(link).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
    }
    if c.git != Some(false) {
        git(root, &["init", "-q", "-b", "main"]);
        git(root, &["config", "user.email", "t@writ.invalid"]);
        git(root, &["config", "user.name", "t"]);
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "--allow-empty", "-m", "tree"]);
    }
    write_all(root, &c.untracked);
}

fn proposer(c: &Case) -> Proposer {
    let make = match c.channel.as_str() {
        "cli" => Proposer::cli,
        "person" => Proposer::person,
        "http" => Proposer::http,
        "mcp" => Proposer::mcp,
        _ => Proposer::model,
    };
    make(&c.proposer)
}

/// The run built as `writ ask` builds it: from search hits.
fn run_of(spec: &RunSpec) -> Run {
    let hit = |h: &HitSpec| writ_index::Hit {
        path: "docs/guide.md".into(),
        start_line: 1,
        end_line: 1,
        symbol: None,
        language: "markdown".into(),
        score: f64::from(h.similarity.unwrap_or(0.0)),
        chunk_id: h.chunk,
        similarity: h.similarity,
        vector_rank: None,
        lexical_rank: None,
        bm25: None,
        text: String::new(),
        text_hash: String::new(),
    };
    let hits: Vec<_> = spec.hits.iter().map(hit).collect();
    Run::from_hits(&hits, &spec.embedder)
}

/// Equal as fact values: numbers to within f32 rounding.
fn same(want: &Value, got: &Value) -> bool {
    match (want.as_f64(), got.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-6,
        _ => want == got,
    }
}

/// Runs one case; each way it differs from what it expects, one line.
fn check(c: &Case) -> Vec<String> {
    let (dir, keys) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    build(c, dir.path());
    let index = dir.path().join(c.index.as_deref().unwrap_or(".writ"));
    let gate = Gate::new(dir.path().into(), index, None).with_keys(keys.path().into());
    let (who, run) = (proposer(c), c.run.as_ref().map(run_of));
    let dry = run.is_none().then(|| gate.dry_run(&c.proposal, &who));
    let got = gate.intake(&c.proposal, &who, json!({}), run.as_ref());
    let (e, mut out) = (&c.expect, Vec::new());
    let (state, text, decision, facts) = match &got {
        Err(err) => ("error", err.to_string(), None, None),
        Ok(i) => match &i.decision {
            Some(d) => (i.state.name(), d.reason().into(), Some(d), i.facts.as_ref()),
            None => (i.state.name(), i.reasons.join("; "), None, None),
        },
    };
    if state != e.state {
        out.push(format!("state: expected {}, got {state} ({text})", e.state));
    }
    if let Some(want) = e.reason.as_ref().filter(|w| !text.contains(w.as_str())) {
        out.push(format!(
            "reason: expected to contain {want:?}, got {text:?}"
        ));
    }
    if let Some(want) = &e.rules {
        let mut want = want.clone();
        want.sort();
        let ids = decision.map(|d| d.determining().iter().map(|r| r.id.clone()).collect());
        if ids.as_ref() != Some(&want) {
            out.push(format!("determining rules: expected {want:?}, got {ids:?}"));
        }
    }
    let facts = facts.map_or(Value::Null, |f| serde_json::to_value(f).unwrap());
    let unavailable = e.unavailable.iter().flatten();
    if facts.is_null() && (e.facts.is_some() || unavailable.clone().next().is_some()) {
        out.push("facts: expected some, got none (the rules never saw it)".into());
    }
    for (key, want) in e.facts.iter().flatten() {
        let want = serde_json::to_value(want).unwrap();
        if !same(&want, &facts[key]) {
            out.push(format!("fact `{key}`: expected {want}, got {}", facts[key]));
        }
    }
    for key in unavailable.filter(|k| !facts[k].is_null()) {
        out.push(format!(
            "fact `{key}`: expected unavailable, got {}",
            facts[key]
        ));
    }
    // `writ rules explain` (a dry run) must decide as intake did.
    if let (Some(dry), Ok(i)) = (dry, &got) {
        let agrees = match (&dry, &i.decision) {
            (Ok(Err(reasons)), None) => *reasons == i.reasons,
            (Ok(Ok((f, d))), Some(id)) => {
                Some(f) == i.facts.as_ref()
                    && (d.outcome(), d.determining()) == (id.outcome(), id.determining())
            }
            _ => false,
        };
        if !agrees {
            out.push(format!("dry run: expected the intake's {i:?}, got {dry:?}"));
        }
    }
    if got.is_ok() && !matches!(gate.verify(true).map(|v| v.ok()), Ok(true)) {
        out.push(format!("ledger: does not verify: {:?}", gate.verify(true)));
    }
    out
}

/// Runs one fixture file: how many cases, and every failure.
fn table(path: &Path) -> (usize, Vec<String>) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let cases = parse(&name, &std::fs::read_to_string(path).unwrap());
    let cases = cases.expect("every fixture file parses");
    let at = |c: &Case, why| format!("{name}: `{}`: {why}", c.name);
    let failures = cases
        .iter()
        .flat_map(|c| check(c).into_iter().map(|w| at(c, w)));
    (cases.len(), failures.collect())
}

#[test]
fn every_fixture_case_gets_its_outcome() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path());
    let mut files: Vec<_> = files
        .filter(|p| p.extension() == Some("toml".as_ref()))
        .collect();
    files.sort();
    // One thread a file: the cases wait on fsync (git, SQLite), not on CPU.
    let runs = std::thread::scope(|s| {
        let runs: Vec<_> = files.iter().map(|p| s.spawn(|| table(p))).collect();
        runs.into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    let ran: usize = runs.iter().map(|r| r.0).sum();
    let failures: Vec<String> = runs.into_iter().flat_map(|r| r.1).collect();
    assert!(failures.is_empty(), "{ran} cases:\n{}", failures.join("\n"));
    assert!(ran >= MIN_CASES, "{ran} cases ran, fewer than {MIN_CASES}");
}

#[test]
fn a_broken_fixture_or_an_unknown_fact_fails_clearly() {
    let e = parse("bad.toml", "[[case]]\nname = \"x\"\nchanel = \"cli\"\n").unwrap_err();
    assert!(e.starts_with("bad.toml:3:") && e.contains("chanel"), "{e}");
    let case = |expect: &str| {
        let note =
            r#"{"kind": "note", "title": "t", "rationale": "r", "citations": [], "text": "x"}"#;
        let head = "[[case]]\nname = \"n\"\nchannel = \"cli\"\nproposer = \"t\"";
        let text = format!("{head}\nproposal = '{note}'\nexpect = {{ {expect} }}\n");
        parse("f.toml", &text)
    };
    for (expect, says) in [
        ("state = 'held', facts = { x = 1 }", "`x` is not a fact"),
        ("state = 'held', unavailable = ['y']", "`y` is not a fact"),
        ("state = 'allowed'", "unknown state `allowed`"),
    ] {
        let e = case(expect).unwrap_err();
        assert!(e.starts_with("f.toml: `n`: ") && e.contains(says), "{e}");
    }
    // A case that expects what the gate does not do fails, saying so.
    let wrong = case("state = 'recorded', facts = { kind = 'edit' }").unwrap();
    let why = check(&wrong[0]).join("\n");
    assert!(why.contains("state: expected recorded, got held"), "{why}");
    let kind = r#"fact `kind`: expected "edit", got "note""#;
    assert!(why.contains(kind), "{why}");
}
