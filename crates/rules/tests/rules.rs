//! Precedence, order independence, hashing, load errors, and the default
//! rule set in `rules/` against its fixtures.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use writ_proposal::Kind;
use writ_rules::{run_tests, Facts, Outcome, RuleSet};

fn rule(id: &str, effect: &str, when: &str) -> String {
    format!("[[rule]]\nid = \"{id}\"\neffect = \"{effect}\"\nwhy = \"because {id}\"\nwhen = {{ {when} }}\n\n")
}

fn edit(target: &str) -> Facts {
    Facts {
        kind: Kind::Edit,
        targets: vec![target.into()],
        added: 1,
        citations: 1,
        applies_cleanly: Some(true),
        ..Facts::default()
    }
}

fn decide(src: &str, facts: &Facts) -> (Outcome, Vec<String>) {
    let d = RuleSet::parse_str("t.toml", src).unwrap().decide(facts);
    (
        d.outcome(),
        d.determining().iter().map(|r| r.id.clone()).collect(),
    )
}

#[test]
fn forbid_beats_allow() {
    let src = rule("ok", "allow", "kind = [\"edit\"]")
        + &rule("no", "forbid", "paths_any = [\"**/*.md\"]");
    assert_eq!(
        decide(&src, &edit("a.md")),
        (Outcome::Forbid, vec!["no".into()])
    );
}

#[test]
fn hold_beats_allow() {
    let src = rule("ok", "allow", "kind = [\"edit\"]") + &rule("wait", "hold", "max_lines = 5");
    assert_eq!(
        decide(&src, &edit("a.md")),
        (Outcome::Hold, vec!["wait".into()])
    );
}

#[test]
fn no_match_holds() {
    let src = rule("ok", "allow", "kind = [\"note\"]");
    let d = RuleSet::parse_str("t.toml", &src)
        .unwrap()
        .decide(&edit("a.md"));
    assert_eq!(d.outcome(), Outcome::Hold);
    assert!(d.determining().is_empty());
    assert_eq!(d.reason(), "no rule matched: held by default");
}

#[test]
fn an_unavailable_fact_does_not_match_and_is_listed() {
    let src = rule("ok", "allow", "kind = [\"edit\"]")
        + &rule("clean", "allow", "applies_cleanly = true")
        + &rule("untracked", "hold", "targets_tracked = false")
        + &rule(
            "notes",
            "allow",
            "kind = [\"note\"], citations_in_run = true",
        );
    let mut facts = edit("a.md");
    facts.applies_cleanly = None;
    facts.targets_tracked = None;
    facts.errors = vec![("applies_cleanly".into(), "a.md unreadable".into())];
    let set = RuleSet::parse_str("t.toml", &src).unwrap();
    let d = set.decide(&facts);
    // `ok` alone decides: the unavailable facts neither allow nor hold.
    assert_eq!(d.outcome(), Outcome::Allow);
    assert_eq!(d.matched(), ["ok"]);
    assert_eq!(
        d.unavailable(),
        [
            "rule `clean`: fact `applies_cleanly` is unavailable: a.md unreadable",
            "rule `untracked`: fact `targets_tracked` is unavailable",
        ],
        "`notes` failed on `kind`, so its missing fact is not listed"
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["unavailable"][0], d.unavailable()[0]);
    assert!(json.get("errors").is_none(), "{json}");

    // With only the rule that needs it, the unavailable fact holds by default.
    let d = RuleSet::parse_str("t.toml", &rule("clean", "allow", "applies_cleanly = true"))
        .unwrap()
        .decide(&facts);
    assert_eq!(d.outcome(), Outcome::Hold);
    assert_eq!(d.reason(), "no rule matched: held by default");
    assert!(d.matched().is_empty());
    assert_eq!(d.unavailable().len(), 1);

    // A NaN score is available but compares false: no match, not listed.
    facts.min_citation_score = Some(f32::NAN);
    let d = RuleSet::parse_str("t.toml", &rule("s", "allow", "min_citation_score = 0.1"))
        .unwrap()
        .decide(&facts);
    assert_eq!((d.outcome(), d.unavailable().len()), (Outcome::Hold, 0));
}

#[test]
fn order_whitespace_and_files_do_not_change_decision_or_hash() {
    let a = rule("a", "allow", "kind = [\"edit\"]");
    let b = rule("b", "forbid", "paths_any = [\"secret/**\"]");
    let c = rule("c", "hold", "max_lines = 0");
    let one = RuleSet::parse_str("x.toml", &format!("{a}{b}{c}")).unwrap();
    let shuffled = RuleSet::parse_many(&[
        ("y.toml".into(), format!("{c}\n\n{a}")),
        ("z.toml".into(), b.replace(" = ", "=").replace('\n', "\n\n")),
    ])
    .unwrap();
    assert_eq!(one.hash(), shuffled.hash());
    for facts in [edit("secret/k"), edit("a.md"), Facts::default()] {
        assert_eq!(
            one.decide(&facts).outcome(),
            shuffled.decide(&facts).outcome()
        );
    }
    let changed = RuleSet::parse_str(
        "x.toml",
        &format!("{a}{}{c}", b.replace("secret/**", "secrets/**")),
    )
    .unwrap();
    assert_ne!(one.hash(), changed.hash());
}

fn load_error(src: &str) -> String {
    RuleSet::parse_str("bad.toml", src)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn bad_rule_files_are_refused_with_file_line_col() {
    let ok = rule("a", "allow", "kind = [\"edit\"]");
    let e = load_error(&format!(
        "{ok}[[rule]]\nid = \"b\"\neffect = \"hold\"\nwhy = \"x\"\nwhen = {{ confidence = 0.9 }}\n"
    ));
    assert!(
        e.starts_with("bad.toml:11:") && e.contains("unknown field `confidence`"),
        "{e}"
    );
    let e = load_error(
        "[[rule]]\nid = \"a\"\neffect = \"allow\"\nwhy = \"x\"\nwhen = { max_lines = \"ten\" }\n",
    );
    assert!(
        e.starts_with("bad.toml:5:") && e.contains("invalid type"),
        "{e}"
    );
    let e = load_error("[[rule]]\nid = \"a\"\neffect = \"permit\"\nwhy = \"x\"\nwhen = {}\n");
    assert!(e.starts_with("bad.toml:3:") && e.contains("permit"), "{e}");
    let e = load_error(&rule("g", "forbid", "paths_any = [\"a[b\"]"));
    assert!(
        e.starts_with("bad.toml:5:") && e.contains("bad glob `a[b`"),
        "{e}"
    );
    let e = load_error(&format!("{ok}{ok}"));
    assert!(
        e.starts_with("bad.toml:8:")
            && e.contains("duplicate rule id `a`")
            && e.contains("first defined at bad.toml:2"),
        "{e}"
    );
    let e = load_error(&rule(
        "n",
        "allow",
        "kind = [\"note\"], paths_any = [\"**\"]",
    ));
    assert!(
        e.starts_with("bad.toml:5:") && e.contains("can never match"),
        "{e}"
    );
    let e = load_error(&rule("n", "allow", "min_citations = 3, max_citations = 1"));
    assert!(
        e.contains("can never match: `min_citations` 3 exceeds `max_citations` 1"),
        "{e}"
    );
    let e = load_error(&format!(
        "{}\nexample = [{{ facts = {{ kind = \"note\" }}, matches = true }}]\n",
        rule("x", "hold", "kind = [\"edit\"]").trim_end()
    ));
    assert!(
        e.contains("bad.toml:6:") && e.contains("example of rule `x` expects a match"),
        "{e}"
    );
}

#[test]
fn the_default_rule_set_passes_its_fixtures_and_every_rule_is_exercised() {
    // The run-time variable, not env!: the target directory is shared by
    // clones in different places, and a test binary built in one must not
    // read another clone's rules.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    let root = manifest_dir.join("../../rules");
    let rules = RuleSet::load_dir(&root).unwrap_or_else(|e| panic!("{e}"));
    let report = run_tests(&rules, &root.join("tests")).unwrap();
    assert!(report.ran >= 10, "{report:?}");
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(
        report.unexercised.is_empty(),
        "rules no fixture exercises: {:?}",
        report.unexercised
    );
    assert!(report.passed());
    assert_eq!(rules.warnings(), Vec::<String>::new());
}

#[test]
fn the_rule_set_hash_is_fixed_across_builds() {
    // The canonical form sorts keys itself, so the hash does not depend on
    // whether another crate in the build turned on serde_json's
    // preserve_order (llguidance does): this constant holds both in
    // `cargo test -p writ-rules` and in the whole workspace.
    let src = rule(
        "hold-all-edits",
        "hold",
        r#"kind = ["edit"], max_lines = 3"#,
    );
    let set = RuleSet::parse_str("t.toml", &src).unwrap();
    assert_eq!(set.hash(), HASH, "the canonical rule-set form changed");
}

const HASH: &str = "f49c49ca73fe8bd976486407c072f7b326b71e80ad72e14aa535d4b8a9bb03e2";

#[test]
fn channel_matches_how_the_proposal_arrived_not_what_it_claims() {
    use writ_rules::Channel;
    let src = rule("agents", "hold", r#"channel = ["mcp", "http"]"#)
        + &rule("ok", "allow", r#"kind = ["edit"]"#);
    let mut facts = edit("a.md");
    facts.proposer = "human:ana".into();
    for (channel, want) in [
        (Channel::Mcp, vec!["agents".to_string()]),
        (Channel::Http, vec!["agents".into()]),
        (Channel::Cli, vec!["ok".into()]),
        (Channel::Model, vec!["ok".into()]),
    ] {
        facts.channel = Some(channel);
        assert_eq!(decide(&src, &facts).1, want, "{channel}");
    }
    let e = load_error(&rule("c", "hold", "channel = []"));
    assert!(
        e.starts_with("bad.toml:5:") && e.contains("can never match: `channel` is an empty list"),
        "{e}"
    );
    let e = load_error(&rule("c", "hold", r#"channel = ["email"]"#));
    assert!(
        e.starts_with("bad.toml:5:") && e.contains("unknown variant `email`"),
        "{e}"
    );
}

#[test]
fn forbid_and_hold_globs_ignore_case_allow_globs_do_not() {
    let src = rule("keys", "forbid", r#"paths_any = ["**/*.pem", "**/.env"]"#)
        + &rule("git", "forbid", r#"paths_any = [".git/**"]"#)
        + &rule("models", "hold", r#"proposer = ["model:*"]"#)
        + &rule("ci", "hold", r#"paths_any = [".github/**"]"#)
        + &rule("docs", "allow", r#"paths_all = ["docs/**"]"#);
    let cases = [
        ("docs/keys/SERVER.PEM", Outcome::Forbid, "keys"),
        ("tests/.ENV", Outcome::Forbid, "keys"),
        (".GIT/config", Outcome::Forbid, "git"),
        (".GitHub/workflows/ci.yml", Outcome::Hold, "ci"),
        ("docs/guide.md", Outcome::Allow, "docs"),
    ];
    for (path, outcome, id) in cases {
        assert_eq!(
            decide(&src, &edit(path)),
            (outcome, vec![id.to_string()]),
            "{path}"
        );
    }
    // The allow rule reads its globs as written: `DOCS/` is not `docs/`.
    let (outcome, ids) = decide(&src, &edit("DOCS/guide.md"));
    assert_eq!((outcome, ids.len()), (Outcome::Hold, 0));
    let mut facts = edit("docs/guide.md");
    facts.proposer = "MODEL:b179".into();
    assert_eq!(decide(&src, &facts), (Outcome::Hold, vec!["models".into()]));
    // The same glob in an allow rule respects case.
    let allow = rule("m", "allow", r#"proposer = ["model:*"]"#);
    assert_eq!(decide(&allow, &facts).0, Outcome::Hold);
    facts.proposer = "model:b179".into();
    assert_eq!(decide(&allow, &facts).0, Outcome::Allow);
}

#[test]
fn predicates_that_can_never_match_are_refused_at_load() {
    for list in ["kind", "paths_any", "paths_all", "proposer", "channel"] {
        let e = load_error(&rule("r", "allow", &format!("{list} = []")));
        assert!(
            e.starts_with("bad.toml:5:8:")
                && e.contains(&format!(
                    "rule `r` can never match: `{list}` is an empty list"
                )),
            "{e}"
        );
    }
    for (score, shown) in [("nan", "NaN"), ("inf", "inf"), ("-inf", "-inf")] {
        let e = load_error(&rule(
            "r",
            "allow",
            &format!("min_citation_score = {score}"),
        ));
        assert!(
            e.starts_with("bad.toml:5:8:")
                && e.contains(&format!(
                    "`min_citation_score` {shown}, not a finite number"
                )),
            "{e}"
        );
    }
    assert!(load_error(&rule("r", "allow", "min_citation_score = -0.5")).is_empty());
}

#[test]
fn a_star_crosses_folders_in_hold_rules_but_not_in_allow_rules() {
    let allow = rule(
        "docs",
        "allow",
        r#"paths_all = ["docs/*.md", "**/test_*.py"]"#,
    );
    for (path, outcome) in [
        ("docs/guide.md", Outcome::Allow),
        ("docs/api/guide.md", Outcome::Hold),
        ("tests/unit/test_api.py", Outcome::Allow),
        ("test_api.py", Outcome::Allow),
        ("tests/test_/x.py", Outcome::Hold),
    ] {
        assert_eq!(decide(&allow, &edit(path)).0, outcome, "{path}");
    }
    let hold = rule("scripts", "hold", r#"paths_any = ["docs/*.py"]"#);
    assert_eq!(decide(&hold, &edit("docs/a/conf.py")).0, Outcome::Hold);
    assert_eq!(
        decide(&hold, &edit("docs/a/conf.py")).1,
        vec!["scripts".to_string()]
    );
}

#[test]
fn an_escaped_path_matches_only_that_file() {
    use writ_rules::glob_escape;
    let odd = [
        "src/*.rs",
        "a?b.md",
        "docs/[draft].md",
        "docs/]x.md",
        "{a,b}.md",
        "back\\slash.md",
        "docs/[!a].md",
        "docs/**",
        "docs/[[:alpha:]].md",
    ];
    // A string to quote inside a TOML basic string.
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\"));
    let others = [
        "src/lib.rs",
        "aXb.md",
        "docs/d.md",
        "a.md",
        "docs/x/y",
        "b.md",
    ];
    for path in odd {
        let glob = glob_escape(path);
        for effect in ["allow", "hold"] {
            let src = rule("x", effect, &format!("paths_all = [{}]", quote(&glob)));
            let set = RuleSet::parse_str("t.toml", &src).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(set.decide(&edit(path)).matched(), ["x"], "{path} as {glob}");
            for other in odd.iter().chain(&others).filter(|o| **o != path) {
                assert!(
                    set.decide(&edit(other)).matched().is_empty(),
                    "{glob} ({effect}) matched {other}"
                );
            }
        }
    }
    assert_eq!(glob_escape("src/*.rs"), "src/[*].rs");
    assert_eq!(glob_escape("plain/path.md"), "plain/path.md");
}

#[test]
fn warnings_name_allow_rules_that_trust_a_claimed_name_or_outlive_a_missing_fact() {
    let warnings = |src: &str| RuleSet::parse_str("w.toml", src).unwrap().warnings();
    // Trusting a self-declared name.
    let w = warnings(&rule("ci", "allow", r#"proposer = ["external:ci"]"#));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("rule `ci` (w.toml:2) allows by `proposer` alone"),
        "{w:?}"
    );
    let ok = rule(
        "ci",
        "allow",
        r#"proposer = ["external:ci"], channel = ["http"]"#,
    );
    assert!(warnings(&ok).is_empty());
    assert!(warnings(&rule("m", "hold", r#"proposer = ["model:*"]"#)).is_empty());

    // A hold rule on a fact an allow rule for the same kinds does not need.
    let hold = rule("agents", "hold", r#"kind = ["edit"], channel = ["mcp"]"#);
    let w = warnings(&(hold.clone() + &rule("docs", "allow", r#"paths_all = ["docs/**"]"#)));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("hold rule `agents` (w.toml:2) needs fact `channel`")
            && w[0].contains("allow rule(s) `docs`"),
        "{w:?}"
    );
    // Not when the allow rule needs the fact too, or is for other kinds.
    let guarded = rule(
        "docs",
        "allow",
        r#"paths_all = ["docs/**"], channel = ["cli"]"#,
    );
    assert!(warnings(&(hold.clone() + &guarded)).is_empty());
    let notes = rule("notes", "allow", r#"kind = ["note"]"#);
    assert!(warnings(&(hold + &notes)).is_empty());
}
