//! The gate's commands: propose, review, explain, verify, actions, apply,
//! rules suggest. Each asks `writ-gate` and prints; none touches the ledger.

use crate::args::{
    ApplyArgs, ExplainArgs, GateArgs, ProposeArgs, ReviewArgs, ReviewWhat, VerifyArgs,
};
use crate::exit::{state_code, CmdResult, ExitCode, Failure};
use crate::out::{outln, print_json};
use crate::term::{block, clean};
use anyhow::{anyhow, Context};
use std::io::Read;
use std::path::Path;
use writ_gate::{Checkpoint, Gate, Part, Proposer, State};
use writ_service::views::EventKind;
use writ_service::Places;

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

pub fn propose(args: ProposeArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let text = read_input(&args.file)?;
    let proposer = Proposer::cli(&args.source);
    let provenance = serde_json::json!({ "file": args.file.display().to_string() });
    let result = places.gate().intake(&text, &proposer, provenance, None)?;
    if args.gate.json {
        print_json(&result)?;
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
    for x in d.excepted() {
        outln!(
            "    excepted from {} by the exception at {}: {}",
            clean(&x.rule),
            clean(&x.exception),
            clean(&x.why)
        );
    }
    for e in d.unavailable() {
        outln!("    unavailable: {}", clean(e));
    }
}

/// What a proposal says, as people read it, one (heading, text) section
/// per part: an edit's diff as writ parsed it (what `writ apply` would
/// write; the text as sent, when it does not parse), a note's text, a
/// command's argv. Every part is outside text, escaped here.
pub fn content(prop: &writ_proposal::Proposal) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(d) = &prop.diff {
        match writ_proposal::parse_diff(d) {
            Ok(patches) => {
                let text: Vec<String> = patches
                    .iter()
                    .map(|p| block(p.render().trim_end()).into_owned())
                    .collect();
                out.push(("diff (as writ will apply it)".into(), text.join("\n")));
            }
            Err(e) => out.push((
                format!("diff does not parse: {}; as sent", clean(&e)),
                block(d.trim_end()).into_owned(),
            )),
        }
    }
    if let Some(t) = &prop.text {
        out.push(("text".into(), block(t.trim_end()).into_owned()));
    }
    if let Some(a) = &prop.argv {
        out.push(("command (never run by writ)".into(), crate::term::argv(a)));
    }
    out
}

pub fn reviewer(given: Option<String>, repo: &Path) -> String {
    given
        .or_else(|| writ_gate::user_name(repo))
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The determining rule ids of a recorded decision, or what decided.
fn why_held(decision: Option<&serde_json::Value>) -> String {
    let rules: Vec<String> = decision
        .and_then(|d| d.get("determining"))
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("id").and_then(|i| i.as_str()).map(str::to_string))
        .collect();
    if rules.is_empty() {
        decision
            .and_then(|d| d.get("reason"))
            .and_then(|r| r.as_str())
            .unwrap_or("no rule matched: held by default")
            .to_string()
    } else {
        rules.join(", ")
    }
}

pub fn review(args: ReviewArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let gate = places.gate();
    if args.regate {
        let n = gate.regate()?;
        if !args.gate.json {
            outln!("{n} interrupted proposal(s) gated under the rules in force");
        }
    }
    match args.what {
        None => list(&gate, args.gate.json),
        Some(ReviewWhat::Show { id }) => show(&gate, &places, &id),
        Some(ReviewWhat::Approve {
            id,
            reason,
            reviewer: who,
        }) => {
            let who = reviewer(who, &places.repo);
            let s = gate.settle(&id, &who, true, &reason, writ_rules::Channel::Cli)?;
            if let Some((then, now)) = &s.ruleset_changed {
                outln!("note: the rules changed since the gate decided (rule set {then} -> {now}); approved under the rules in force");
            }
            outln!(
                "{} {} by {}{}",
                s.id,
                s.state.name(),
                clean(&who),
                s.action
                    .map(|a| format!(": action {a}"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::Ok)
        }
        Some(ReviewWhat::Reject {
            id,
            reason,
            reviewer: who,
        }) => {
            let who = reviewer(who, &places.repo);
            let s = gate.settle(&id, &who, false, &reason, writ_rules::Channel::Cli)?;
            outln!("{} {} by {}", s.id, s.state.name(), clean(&who));
            Ok(ExitCode::Ok)
        }
    }
}

/// Held proposals, and any an interrupted intake left `proposed`.
fn list(gate: &Gate, json: bool) -> CmdResult {
    let rows = gate.queue()?;
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(p, d)| serde_json::json!({ "id": p.id, "state": p.state, "kind": p.kind, "title": p.title, "source": p.source, "seq": p.first_seq, "decision": d }))
            .collect();
        print_json(&rows)?;
        return Ok(ExitCode::Ok);
    }
    if rows.is_empty() {
        outln!("nothing is held for review");
    }
    for (p, decision) in &rows {
        let why = if p.state == State::Proposed {
            "interrupted before the gate decided: the next proposal re-gates it".to_string()
        } else {
            why_held(decision.as_ref())
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

fn show(gate: &Gate, places: &Places, id: &str) -> CmdResult {
    let p = gate.proposal(id)?;
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
        for (heading, body) in content(&prop) {
            outln!("--- {heading}");
            if !body.is_empty() {
                outln!("{body}");
            }
        }
        let catalog = writ_index::Catalog::open_read_only(&places.index).ok();
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
    if let Some(d) = gate.recorded_decision(&p.id)? {
        outln!(
            "--- decision\n{}",
            block(&serde_json::to_string_pretty(&d).context("encoding")?)
        );
    }
    if p.state == State::Held {
        if let Ok(Some((then, now))) = gate.ruleset_drift(&p.id) {
            outln!("--- note: the rules changed since the gate decided (rule set {then} -> {now}); approval re-decides under the rules in force");
        }
    }
    Ok(ExitCode::Ok)
}

pub fn explain(args: ExplainArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let chain = places.gate().explain(&args.id)?;
    if args.gate.json {
        print_json(&chain)?;
        return Ok(ExitCode::Ok);
    }
    let p = &chain.proposal;
    outln!(
        "{} `{}` ({}, from {}), now {}",
        clean(&p.id),
        clean(&p.title),
        clean(&p.kind),
        clean(&p.source),
        p.state.name()
    );
    for (name, part) in [
        ("question", &chain.question),
        ("retrieval", &chain.retrieval),
        ("prompt", &chain.prompt),
        ("model", &chain.model),
    ] {
        match part {
            Part::NotApplicable(s) | Part::Recorded(serde_json::Value::String(s)) => {
                outln!("{name:<10} {}", clean(s))
            }
            Part::Recorded(v) => outln!("{name:<10} {}", clean(&v.to_string())),
        }
    }
    let rulesets = serde_json::Value::Object(chain.rulesets.clone());
    for e in &chain.events {
        let what = if EventKind::parse(&e.kind) == Some(EventKind::Transition) {
            ""
        } else {
            " (REFUSED)"
        };
        outln!(
            "#{:<4} {} -> {}{what}  by {}  {}",
            e.seq,
            clean(e.from.as_deref().unwrap_or("(new)")),
            clean(&e.to),
            clean(&e.actor),
            clean(&e.reason)
        );
        if let Some(reasons) = e.payload.get("reasons").and_then(|r| r.as_array()) {
            for r in reasons {
                outln!(
                    "       validation: {}",
                    clean(r.as_str().unwrap_or_default())
                );
            }
        }
        let judged = [
            e.payload.get("decision").map(|d| (d, &e.payload["facts"])),
            e.payload["regate"]
                .get("decision")
                .map(|d| (d, &e.payload["regate"]["facts"])),
        ];
        for (d, facts) in judged.into_iter().flatten() {
            print_judged(&rulesets, d, facts);
        }
    }
    match &chain.action {
        None => outln!("action     none"),
        Some(a) => outln!(
            "action     {} recorded at #{} on the basis of #{}",
            clean(a.id()),
            a.seq(),
            a.basis_seq()
        ),
    }
    Ok(ExitCode::Ok)
}

/// One recorded decision: the rules that decided with their text, the
/// facts they read, and what was unavailable.
fn print_judged(rulesets: &serde_json::Value, d: &serde_json::Value, facts: &serde_json::Value) {
    let hash = d["ruleset_hash"].as_str().unwrap_or("");
    outln!(
        "       decision: {}: {}",
        clean(d["outcome"].as_str().unwrap_or("")),
        clean(d["reason"].as_str().unwrap_or(""))
    );
    for r in d["determining"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap_or("");
        outln!(
            "       rule {}: {}",
            clean(id),
            clean(r["why"].as_str().unwrap_or(""))
        );
        if let Some(text) = rulesets[hash]["rules"][id]["text"].as_str() {
            for line in text.lines() {
                outln!("         | {}", block(line));
            }
        }
    }
    outln!(
        "       matched {}; rule set {}; writ-rules {}",
        clean(&d["matched"].to_string()),
        clean(hash),
        clean(d["rules_version"].as_str().unwrap_or(""))
    );
    if let Some(f) = facts.as_object() {
        let shown: Vec<String> = f
            .iter()
            .filter(|(k, v)| *k != "errors" && !v.is_null())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        outln!("       facts: {}", clean(&shown.join(" ")));
    }
    for u in d["unavailable"].as_array().into_iter().flatten() {
        outln!("       unavailable: {}", clean(u.as_str().unwrap_or("")));
    }
}

pub fn verify(args: VerifyArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let gate = places.gate();
    let report = gate.verify(args.replay)?;
    if args.adopt_key && report.ok() {
        gate.adopt_key()?;
        outln!(
            "key adopted: events from #{} on are authenticated",
            report.count + 1
        );
    }
    if let Some((seq, problem)) = &report.broken {
        return Err(Failure::new(
            ExitCode::Verify,
            anyhow!("ledger chain broken at event #{seq}: {}", clean(problem)),
        )
        .hint("the ledger was changed outside writ; restore it from a backup"));
    }
    if let Some(t) = &report.tamper {
        return Err(Failure::new(
            ExitCode::Verify,
            anyhow!(
                "the ledger disagrees with its own chain: {}",
                clean(&t.to_string())
            ),
        )
        .hint("a row was changed outside writ; restore the ledger from a backup"));
    }
    if let Some(replay) = &report.replay {
        for d in &replay.differ {
            outln!(
                "replay: event #{} ({}): {}",
                d.seq,
                clean(&d.proposal),
                clean(&d.problem)
            );
        }
        outln!(
            "replay: {} decisions re-decided the same, {} differ, {} recorded without facts (older ledger)",
            replay.same,
            replay.differ.len(),
            replay.without_facts
        );
        if !replay.differ.is_empty() {
            return Err(Failure::new(
                ExitCode::Verify,
                anyhow!("{} recorded decisions do not replay", replay.differ.len()),
            ));
        }
    }
    if let Some(file) = &args.checkpoint {
        check_point(&gate, file, report.count, &report.head)?;
    }
    outln!("ledger ok: {} events, head {}", report.count, report.head);
    Ok(ExitCode::Ok)
}

fn check_point(gate: &Gate, file: &Path, count: i64, head: &str) -> Result<(), Failure> {
    if file.is_file() {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let cp: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a checkpoint", file.display()))?;
        let at = gate.hash_at(cp.count)?;
        let extends = cp.count == 0 || at.as_deref() == Some(cp.head.as_str());
        if cp.count > count || !extends {
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
            "checkpoint `{}` ok: the ledger extends it ({} -> {count} events)",
            file.display(),
            cp.count,
        );
    } else {
        let cp = Checkpoint {
            count,
            head: head.to_string(),
        };
        std::fs::write(file, serde_json::to_string_pretty(&cp).context("encoding")?)
            .with_context(|| format!("writing {}", file.display()))?;
        outln!("checkpoint written to `{}`", file.display());
    }
    Ok(())
}

pub fn actions(args: GateArgs) -> CmdResult {
    let places = crate::ctx::places(&args)?;
    let rows = places.gate().actions_rows()?;
    if args.json {
        print_json(&rows)?;
    } else {
        for r in &rows {
            outln!(
                "{:<5} {:<5} {:<8} {:<9} {}",
                clean(&r.action),
                clean(&r.proposal),
                clean(&r.kind),
                r.state.name(),
                clean(&r.title)
            );
        }
    }
    Ok(ExitCode::Ok)
}

pub fn apply(args: ApplyArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let actor = format!("human:{}", reviewer(None, &places.repo));
    let options = writ_gate::ApplyOptions {
        no_git: args.no_git,
    };
    let applied = places.gate().apply(&args.id, &actor, options)?;
    outln!(
        "{} applied: {}",
        applied.id,
        clean(&applied.files.join(", "))
    );
    Ok(ExitCode::Ok)
}

/// `writ rules suggest ID`: drafts an allow rule as narrow as the proposal
/// and sends it through the gate.
pub fn suggest(id: &str, who: Option<String>, args: &GateArgs) -> CmdResult {
    let places = crate::ctx::places(args)?;
    let who = reviewer(who, &places.repo);
    let (result, diff) = places.gate().draft_rule(id, &who)?;
    if args.json {
        print_json(&result)?;
    } else {
        outln!(
            "{}  {}  (rule change drafted from {})\n{}",
            result.id,
            result.state.name(),
            clean(id),
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
