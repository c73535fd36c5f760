//! `writ proposals` and `writ show`: what is stored, and how it came to be.
//!
//! `show` does not only print the recorded provenance: the view it prints
//! carries the checks `writ_ask::check` re-computes (the prompt rebuilt
//! from the recorded question and the cited chunks still in the index and
//! compared by sha256, the model file hashed again), so a reader can trust
//! the record or see where it no longer matches.

use crate::args::{ProposalsArgs, ShowArgs, StateArg};
use crate::exit::{CmdResult, ExitCode};
use crate::out::{outln, print_json};
use crate::term::clean;
use serde_json::Value;
use writ_gate::State;
use writ_service::views::EventKind;

pub fn proposals(args: ProposalsArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let rows = writ_service::views::proposals(&places, args.state.map(StateArg::state))?;
    if args.gate.json {
        print_json(&rows)?;
        return Ok(ExitCode::Ok);
    }
    if rows.is_empty() {
        outln!("no proposals");
    }
    for p in &rows {
        outln!(
            "{:<5} {:<9} {:<8} {}  [{}]",
            clean(&p.id),
            p.state.name(),
            clean(&p.kind),
            clean(&p.title),
            clean(p.via.as_deref().unwrap_or("?"))
        );
    }
    Ok(ExitCode::Ok)
}

pub fn show(args: ShowArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let out = writ_service::views::proposal(&places, &args.id)?;
    if args.gate.json {
        print_json(&out)?;
        return Ok(ExitCode::Ok);
    }
    // Every string may come from outside writ: each is shown escaped
    // (`text` for one line, `json` for a JSON value, `lines` for a block).
    let text = |v: &Value| clean(v.as_str().unwrap_or("")).into_owned();
    let json = |v: &Value| clean(&v.to_string()).into_owned();
    let lines = |v: &Value| crate::term::block(v.as_str().unwrap_or("")).into_owned();
    let checks = &out.checks;
    outln!(
        "{}  {}  {}: {}",
        clean(&out.id),
        out.state.name(),
        clean(&out.kind),
        clean(&out.title)
    );
    outln!("source: {}", clean(&out.source));
    let prov = &out.provenance;
    if prov["via"] == "writ ask" {
        outln!("question: {}", text(&prov["question"]));
        let r = &prov["retrieval"];
        outln!(
            "retrieval: index generation {}, {} mode, k {}",
            json(&r["index_generation"]),
            json(&r["mode"]),
            json(&r["k"])
        );
        for h in r["hits"].as_array().into_iter().flatten() {
            outln!(
                "  #{} chunk {} {}:{}-{} similarity {} {}",
                json(&h["rank"]),
                json(&h["chunk"]),
                text(&h["path"]),
                json(&h["lines"][0]),
                json(&h["lines"][1]),
                h["similarity"]
                    .as_f64()
                    .map_or("-".into(), |s| format!("{s:.3}")),
                if h["in_prompt"] == true {
                    ""
                } else {
                    "(dropped: context window)"
                }
            );
        }
        let pr = &prov["prompt"];
        outln!(
            "prompt: {} v{} ({}), {} tokens, sha256 {}",
            text(&pr["template"]),
            json(&pr["version"]),
            text(&pr["chat"]),
            json(&pr["tokens"]),
            text(&pr["sha256"])
        );
        outln!("  rebuilt: {}", clean(&checks.prompt));
        outln!("grammar: {}", clean(&checks.grammar));
        let m = &prov["model"];
        outln!(
            "model: {} ({}), sha256 {}",
            text(&m["name"]),
            text(&m["path"]),
            text(&m["sha256"])
        );
        outln!("  file now: {}", clean(&checks.model));
        outln!("sampling: {}", json(&prov["sampling"]));
        let o = &prov["output"];
        outln!(
            "output: {} tokens, stopped: {}, proposal #{} of it:",
            json(&o["tokens"]),
            text(&o["stop"]),
            json(&o["proposal"])
        );
        outln!("  {}", lines(&o["raw"]));
    } else {
        outln!("provenance: {}", json(prov));
    }
    outln!("body: {}", crate::term::block(&out.body));
    for e in &out.events {
        // The first event's payload is the body and provenance shown above.
        let payload = if e.to == State::Proposed {
            String::new()
        } else {
            json(&e.payload)
        };
        let kind = match e.kind {
            EventKind::Transition => "transition",
            EventKind::RefusedTransition => "refused-transition",
        };
        outln!(
            "event {}: {kind} -> {} by {}  {payload}",
            e.seq,
            e.to.name(),
            clean(&e.actor)
        );
    }
    Ok(ExitCode::Ok)
}
