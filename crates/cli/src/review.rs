//! The gate's commands: propose, review, explain, verify, actions, apply.

use crate::args::{
    ApplyArgs, ExplainArgs, GateArgs, ProposeArgs, ReviewArgs, ReviewWhat, VerifyArgs,
};
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::gate::{check, intake, patched, state_code, Patched, Places, Run};
use crate::out::outln;
use crate::term::{block, clean};
use anyhow::{anyhow, Context};
use std::io::Read;
use std::path::Path;
use writ_ledger::{Checkpoint, Ledger, State};

fn read_input(file: &Path) -> Result<String, Failure> {
    if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading stdin")?;
        return Ok(s);
    }
    std::fs::read_to_string(file).map_err(|e| {
        Failure::new(ExitCode::NoInput, anyhow!("`{}`: {e}", file.display()))
            .hint("give a proposal file, or - for stdin")
    })
}

pub fn ledger_err(e: writ_ledger::LedgerError) -> Failure {
    let code = match e {
        writ_ledger::LedgerError::Unknown(_) => ExitCode::NoInput,
        _ => ExitCode::Error,
    };
    Failure::new(code, e)
}

pub fn propose(args: ProposeArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let text = read_input(&args.file)?;
    let source = format!("external:{}", args.source);
    let provenance = serde_json::json!({ "via": "writ propose", "source": source, "file": args.file.display().to_string() });
    let result = intake(&text, &source, provenance, &places, None)?;
    if args.gate.json {
        outln!("{}", serde_json::to_string(&result).context("encoding")?);
    } else {
        outln!("{}  {}", result.id, result.state.name());
        for r in &result.reasons {
            outln!("  refused: {}", clean(r));
        }
        if let Some(d) = &result.decision {
            print_decision(d);
        }
    }
    Ok(state_code(result.state))
}

pub fn print_decision(d: &writ_rules::Decision) {
    outln!("  decision: {:?}: {}", d.outcome(), clean(d.reason()));
    for r in d.determining() {
        outln!("    rule {}: {}", clean(&r.id), clean(&r.why));
    }
    for e in d.errors() {
        outln!("    error: {}", clean(&e.to_string()));
    }
}

/// The decision recorded by the gate for a proposal, as JSON.
fn recorded_decision(ledger: &Ledger, id: &str) -> Option<serde_json::Value> {
    ledger
        .events(id)
        .ok()?
        .into_iter()
        .find_map(|e| e.payload.get("decision").cloned())
}

pub fn reviewer(given: Option<String>, repo: &Path) -> String {
    given
        .or_else(|| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(["config", "user.name"])
                .output()
                .ok()?;
            let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (!name.is_empty()).then_some(name)
        })
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

pub fn review(args: ReviewArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let ledger = places.ledger()?;
    match args.what {
        None => {
            let held = ledger.proposals(Some(State::Held)).map_err(ledger_err)?;
            if args.gate.json {
                let rows: Vec<_> = held
                    .iter()
                    .map(|p| serde_json::json!({ "id": p.id, "kind": p.kind, "title": p.title, "source": p.source, "seq": p.first_seq, "decision": recorded_decision(&ledger, &p.id) }))
                    .collect();
                crate::cmd::print_json(&rows)?;
                return Ok(ExitCode::Ok);
            }
            if held.is_empty() {
                outln!("nothing is held for review");
            }
            for p in &held {
                let rules: Vec<String> = recorded_decision(&ledger, &p.id)
                    .and_then(|d| d.get("determining").cloned())
                    .and_then(|d| d.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|r| r.get("id").and_then(|i| i.as_str()).map(str::to_string))
                    .collect();
                let why = if rules.is_empty() {
                    "no rule matched (held by default)".to_string()
                } else {
                    rules.join(", ")
                };
                outln!(
                    "{:<5} {:<8} {:<50} [{}]",
                    p.id,
                    clean(&p.kind),
                    clean(&p.title),
                    clean(&why)
                );
            }
            Ok(ExitCode::Ok)
        }
        Some(ReviewWhat::Show { id }) => {
            let p = ledger.proposal(&id).map_err(ledger_err)?;
            outln!(
                "{}  {}  {}  (from {})",
                p.id,
                clean(&p.kind),
                p.state.name(),
                clean(&p.source)
            );
            outln!("title: {}", clean(&p.title));
            if let Ok(prop) = writ_proposal::Proposal::from_json(&p.body) {
                outln!("rationale: {}", block(&prop.rationale));
                if let Some(d) = &prop.diff {
                    outln!("--- diff\n{}", block(d.trim_end()));
                }
                if let Some(t) = &prop.text {
                    outln!("--- text\n{}", block(t));
                }
                if let Some(a) = &prop.argv {
                    outln!("--- command (never run by writ)\n{}", crate::term::argv(a));
                }
                let catalog = places.catalog();
                for c in &prop.citations {
                    match catalog
                        .as_ref()
                        .and_then(|cat| cat.chunk(*c).ok().flatten())
                    {
                        Some((path, s, e, text)) => {
                            outln!("--- citation {c}: {}:{s}-{e}", clean(&path));
                            for line in text.lines().take(12) {
                                outln!("    {}", block(line));
                            }
                        }
                        None => outln!("--- citation {c}: no longer in the index"),
                    }
                }
            }
            if let Some(d) = recorded_decision(&ledger, &p.id) {
                // serde_json leaves DEL, C1 and bidi characters raw.
                outln!(
                    "--- decision\n{}",
                    block(&serde_json::to_string_pretty(&d).context("encoding")?)
                );
            }
            Ok(ExitCode::Ok)
        }
        Some(ReviewWhat::Approve {
            id,
            reason,
            reviewer: who,
        }) => {
            let who = reviewer(who, &places.repo);
            let (id, state, action) = settle(&places, &id, &who, true, &reason)?;
            outln!(
                "{id} {} by {}{}",
                state.name(),
                clean(&who),
                action.map(|a| format!(": action {a}")).unwrap_or_default()
            );
            Ok(ExitCode::Ok)
        }
        Some(ReviewWhat::Reject {
            id,
            reason,
            reviewer: who,
        }) => {
            let who = reviewer(who, &places.repo);
            let (id, state, _) = settle(&places, &id, &who, false, &reason)?;
            outln!("{id} {} by {}", state.name(), clean(&who));
            Ok(ExitCode::Ok)
        }
    }
}

/// A person's approval or rejection of a held proposal, recorded; an
/// approval first re-runs the deterministic checks, since the tree may have
/// moved on. Returns the proposal id, its new state and its action id.
pub fn settle(
    places: &Places,
    id: &str,
    who: &str,
    approve: bool,
    reason: &str,
) -> Result<(String, State, Option<String>), Failure> {
    let mut ledger = places.ledger()?;
    let p = ledger.proposal(id).map_err(ledger_err)?;
    if approve && p.state == State::Held && (p.kind == "edit" || p.kind == "rule-change") {
        let problem = match check(
            &p.body,
            places,
            Run::from_provenance(&p.provenance).as_ref(),
        ) {
            Err((_, reasons)) => Some(reasons.join("; ")),
            Ok(valid) => match patched(&valid, &places.repo) {
                Ok(Patched::Clean(_)) => None,
                Ok(Patched::Conflict(why)) | Err(why) => Some(why),
            },
        };
        if let Some(why) = problem {
            let e = ledger.refuse_transition(
                &p.id,
                State::Approved,
                &format!("human:{who}"),
                &format!("re-check failed: {why}"),
            );
            return Err(Failure::new(ExitCode::Error, e)
                .hint("the proposal stays held; reject it, or propose a fresh diff"));
        }
    }
    let state = ledger
        .review(&p.id, who, approve, reason)
        .map_err(ledger_err)?;
    let action = ledger
        .action_of(&p.id)
        .map_err(ledger_err)?
        .map(|a| a.id().to_string());
    Ok((p.id, state, action))
}

/// The causal chain of a proposal (P1) or action (A1) as JSON: the
/// proposal, its question, retrieval, prompt and model when it came from
/// `writ ask`, every event, and its action.
pub fn explain_chain(places: &Places, id: &str) -> Result<serde_json::Value, Failure> {
    let ledger = places.ledger()?;
    let pid = ledger.resolve(id).map_err(ledger_err)?;
    let p = ledger.proposal(&pid).map_err(ledger_err)?;
    let events = ledger.events(&pid).map_err(ledger_err)?;
    let action = ledger.action_of(&pid).map_err(ledger_err)?;
    let from_ask = p.provenance.get("question").is_some();
    let na = |what: &str| {
        format!(
            "not applicable: {} came from {} ({}), not `writ ask`, so it has no {what}",
            p.id,
            p.provenance
                .get("via")
                .and_then(|v| v.as_str())
                .unwrap_or("outside"),
            p.source
        )
    };
    let chain = serde_json::json!({
        "proposal": { "id": p.id, "kind": p.kind, "title": p.title, "source": p.source, "state": p.state, "body": p.body, "seq": p.first_seq },
        "question": if from_ask { p.provenance["question"].clone() } else { na("question").into() },
        "retrieval": if from_ask { p.provenance["retrieval"].clone() } else { na("retrieval run").into() },
        "prompt": if from_ask { p.provenance["prompt"].clone() } else { na("prompt").into() },
        "model": if from_ask { p.provenance["model"].clone() } else { na("model").into() },
        "provenance": p.provenance,
        "events": events,
        "action": action,
    });
    Ok(chain)
}

pub fn explain(args: ExplainArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let chain = explain_chain(&places, &args.id)?;
    if args.gate.json {
        crate::cmd::print_json(&chain)?;
        return Ok(ExitCode::Ok);
    }
    let p = &chain["proposal"];
    let field = |v: &serde_json::Value| clean(v.as_str().unwrap_or_default()).into_owned();
    outln!(
        "{} `{}` ({}, from {}), now {}",
        field(&p["id"]),
        field(&p["title"]),
        field(&p["kind"]),
        field(&p["source"]),
        field(&p["state"])
    );
    for part in ["question", "retrieval", "prompt", "model"] {
        match &chain[part] {
            serde_json::Value::String(s) => outln!("{part:<10} {}", clean(s)),
            v => outln!("{part:<10} {}", clean(&v.to_string())),
        }
    }
    for e in chain["events"].as_array().into_iter().flatten() {
        let what = if e["kind"] == "transition" {
            ""
        } else {
            " (REFUSED)"
        };
        outln!(
            "#{:<4} {} -> {}{what}  by {}  {}",
            e["seq"],
            e["from"].as_str().unwrap_or("(new)"),
            field(&e["to"]),
            field(&e["actor"]),
            field(&e["reason"])
        );
        if let Some(reasons) = e["payload"].get("reasons").and_then(|r| r.as_array()) {
            for r in reasons {
                outln!("       validation: {}", field(r));
            }
        }
        if let Some(d) = e["payload"].get("decision") {
            outln!("       validation: passed");
            for r in d["determining"].as_array().into_iter().flatten() {
                outln!("       rule {}: {}", field(&r["id"]), field(&r["why"]));
            }
            outln!(
                "       matched {}; rule set {}; writ-rules {}",
                clean(&d["matched"].to_string()),
                field(&d["ruleset_hash"]),
                field(&d["rules_version"])
            );
            for err in d["errors"].as_array().into_iter().flatten() {
                outln!("       error: {}", field(err));
            }
        }
    }
    match &chain["action"] {
        serde_json::Value::Null => outln!("action     none"),
        a => outln!(
            "action     {} recorded at #{} on the basis of #{}",
            field(&a["id"]),
            a["seq"],
            a["basis_seq"]
        ),
    }
    Ok(ExitCode::Ok)
}

pub fn verify(args: VerifyArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let ledger = places.ledger()?;
    let report = ledger.verify().map_err(ledger_err)?;
    if let Some(seq) = report.first_broken {
        return Err(Failure::new(
            ExitCode::Verify,
            anyhow!(
                "ledger chain broken at event #{seq}: {}",
                report.problem.clone().unwrap_or_default()
            ),
        )
        .hint("the ledger was changed outside writ; restore it from a backup"));
    }
    if let Some(file) = &args.checkpoint {
        if file.is_file() {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let cp: Checkpoint = serde_json::from_str(&text)
                .with_context(|| format!("`{}` is not a checkpoint", file.display()))?;
            let at = ledger.hash_at(cp.count).map_err(ledger_err)?;
            let extends = cp.count == 0 || at.as_deref() == Some(cp.head.as_str());
            if cp.count > report.count || !extends {
                return Err(Failure::new(
                    ExitCode::Verify,
                    anyhow!(
                        "the ledger does not extend checkpoint `{}` (event #{} should hash to {})",
                        file.display(),
                        cp.count,
                        cp.head
                    ),
                )
                .hint("the ledger was rewritten or truncated since the checkpoint"));
            }
            outln!(
                "checkpoint `{}` ok: the ledger extends it ({} -> {} events)",
                clean(&file.display().to_string()),
                cp.count,
                report.count
            );
        } else {
            let cp = Checkpoint {
                count: report.count,
                head: report.head.clone(),
            };
            std::fs::write(file, serde_json::to_string_pretty(&cp).context("encoding")?)
                .with_context(|| format!("writing {}", file.display()))?;
            outln!(
                "checkpoint written to `{}`",
                clean(&file.display().to_string())
            );
        }
    }
    outln!("ledger ok: {} events, head {}", report.count, report.head);
    Ok(ExitCode::Ok)
}

/// Recorded actions with their proposals, as JSON rows.
pub fn actions_json(places: &Places) -> Result<Vec<serde_json::Value>, Failure> {
    let ledger = places.ledger()?;
    let mut rows = Vec::new();
    for a in ledger.actions().map_err(ledger_err)? {
        let p = ledger.proposal(a.proposal_id()).map_err(ledger_err)?;
        rows.push(serde_json::json!({ "action": a.id(), "proposal": p.id, "kind": p.kind, "title": p.title, "state": p.state, "seq": a.seq(), "basis_seq": a.basis_seq() }));
    }
    Ok(rows)
}

pub fn actions(args: GateArgs) -> CmdResult {
    let places = Places::from_args(&args)?;
    let rows = actions_json(&places)?;
    if args.json {
        crate::cmd::print_json(&rows)?;
    } else {
        for r in &rows {
            let field = |v: &serde_json::Value| clean(v.as_str().unwrap_or("")).into_owned();
            outln!(
                "{:<5} {:<5} {:<8} {:<9} {}",
                field(&r["action"]),
                field(&r["proposal"]),
                field(&r["kind"]),
                field(&r["state"]),
                field(&r["title"])
            );
        }
    }
    Ok(ExitCode::Ok)
}

pub fn apply(args: ApplyArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let mut ledger = places.ledger()?;
    let pid = ledger.resolve(&args.id).map_err(ledger_err)?;
    let p = ledger.proposal(&pid).map_err(ledger_err)?;
    let refuse = |ledger: &mut Ledger, why: String| {
        let e = ledger.refuse_transition(&pid, State::Applied, "writ:apply", &why);
        Failure::new(ExitCode::Error, e)
    };
    if p.kind != "edit" && p.kind != "rule-change" {
        return Err(refuse(
            &mut ledger,
            format!(
                "only edit and rule-change actions are applied; {} is a {}",
                p.id, p.kind
            ),
        ));
    }
    if p.state != State::Recorded {
        return Err(refuse(
            &mut ledger,
            format!("{} is {}, not a recorded action", p.id, p.state.name()),
        ));
    }
    let valid = check(
        &p.body,
        &places,
        Run::from_provenance(&p.provenance).as_ref(),
    )
    .map_err(|(_, r)| refuse(&mut ledger, r.join("; ")))?;
    let dirty = std::process::Command::new("git")
        .arg("-C")
        .arg(&places.repo)
        .args(["status", "--porcelain", "--"])
        .args(valid.targets())
        .output()
        .map_err(|e| refuse(&mut ledger, format!("git cannot run: {e}")))?;
    let dirty = String::from_utf8_lossy(&dirty.stdout).trim().to_string();
    if !dirty.is_empty() {
        return Err(refuse(
            &mut ledger,
            format!(
                "the touched files have uncommitted changes: {}",
                dirty.replace('\n', ", ")
            ),
        ));
    }
    let writes = match patched(&valid, &places.repo) {
        Ok(Patched::Clean(w)) => w,
        Ok(Patched::Conflict(why)) | Err(why) => return Err(refuse(&mut ledger, why)),
    };
    for (path, content) in &writes {
        let result = match content {
            Some(text) => path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| std::fs::write(path, text)),
            None => std::fs::remove_file(path),
        };
        result.with_context(|| format!("writing `{}`", path.display()))?;
    }
    let files: Vec<&String> = valid.targets().iter().collect();
    ledger
        .applied(
            &pid,
            &format!("human:{}", reviewer(None, &places.repo)),
            serde_json::json!({ "files": files }),
        )
        .map_err(ledger_err)?;
    outln!("{} applied: {}", p.id, clean(&valid.targets().join(", ")));
    Ok(ExitCode::Ok)
}

/// `writ rules suggest ID`: drafts an allow rule as narrow as the proposal
/// (its exact paths, its size), as a `rule-change` diff to
/// `<rules>/local.toml`, and sends it through the gate.
pub fn suggest(id: &str, who: Option<String>, args: &GateArgs) -> CmdResult {
    let places = Places::from_args(args)?;
    let ledger = places.ledger()?;
    let p = ledger.proposal(id).map_err(ledger_err)?;
    drop(ledger);
    let valid = check(
        &p.body,
        &places,
        Run::from_provenance(&p.provenance).as_ref(),
    )
    .map_err(|(_, r)| {
        Failure::new(
            ExitCode::Error,
            anyhow!("{} is not a valid proposal: {}", p.id, r.join("; ")),
        )
    })?;
    if valid.proposal().kind != writ_proposal::Kind::Edit {
        return Err(Failure::new(
            ExitCode::Error,
            anyhow!(
                "only edit proposals can seed a rule; {} is a {}",
                p.id,
                p.kind
            ),
        )
        .hint("commands are held by rule and a rule cannot lift a hold"));
    }
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let stats = valid.stats();
    let paths: Vec<String> = valid.targets().iter().map(|t| q(t)).collect();
    let rule = format!(
        "\n[[rule]]\nid = {}\neffect = \"allow\"\nwhy = {}\nwhen = {{ kind = [\"edit\"], paths_all = [{}], max_lines = {}, min_citations = 1, applies_cleanly = true }}\n",
        q(&format!("allow-like-{}", p.id)),
        q(&format!("Drafted by `writ rules suggest {}` ({}): edits this small to exactly these files.", p.id, p.title)),
        paths.join(", "),
        stats.added + stats.removed,
    );
    let dir = places.rules_dir();
    let rel = dir
        .strip_prefix(&places.repo)
        .map(|r| r.to_string_lossy().into_owned())
        .map_err(|_| {
            Failure::new(
                ExitCode::Error,
                anyhow!(
                    "the rules folder `{}` is outside the repository",
                    dir.display()
                ),
            )
        })?;
    let mut diff = String::new();
    if !dir.is_dir() {
        // Writing the first rule file must not drop the built-in rules.
        diff += &file_diff(
            &format!("{rel}/default.toml"),
            "",
            crate::gate::DEFAULT_RULES,
        );
    }
    let local = dir.join("local.toml");
    let old = std::fs::read_to_string(&local).unwrap_or_default();
    let header = if old.is_empty() {
        "# Rules added through reviewed `rule-change` proposals.\n"
    } else {
        ""
    };
    diff += &file_diff(
        &format!("{rel}/local.toml"),
        &old,
        &format!("{old}{header}{rule}"),
    );
    let proposal = serde_json::json!({
        "kind": "rule-change",
        "title": format!("Rule: allow edits like {}", p.id),
        "rationale": format!("{} was held; this rule would allow edits to {} of at most {} changed lines.", p.id, valid.targets().join(", "), stats.added + stats.removed),
        "citations": [],
        "diff": diff,
    });
    let who = format!("human:{}", reviewer(who, &places.repo));
    let provenance =
        serde_json::json!({ "via": "writ rules suggest", "from_proposal": p.id, "source": who });
    let result = intake(&proposal.to_string(), &who, provenance, &places, None)?;
    if args.json {
        outln!("{}", serde_json::to_string(&result).context("encoding")?);
    } else {
        outln!(
            "{}  {}  (rule change drafted from {})\n{}",
            result.id,
            result.state.name(),
            p.id,
            block(&diff)
        );
        for r in &result.reasons {
            outln!("  refused: {}", clean(r));
        }
        if let Some(d) = &result.decision {
            print_decision(d);
        }
    }
    Ok(state_code(result.state))
}

/// A unified diff of one file, `old` to `new` (`old` empty: a new file).
pub fn file_diff(path: &str, old: &str, new: &str) -> String {
    let patch = diffy::create_patch(old, new).to_string();
    let body = patch
        .split_once("+++ modified\n")
        .map_or(patch.as_str(), |(_, b)| b);
    let from = if old.is_empty() {
        "/dev/null".to_string()
    } else {
        format!("a/{path}")
    };
    format!("--- {from}\n+++ b/{path}\n{body}")
}
