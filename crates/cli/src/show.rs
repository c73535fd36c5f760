//! `writ proposals` and `writ show`: what is stored, and how it came to be.
//!
//! `show` does not only print the recorded provenance: it rebuilds the
//! prompt from the recorded question and the cited chunks still in the
//! index and compares its sha256 with the recorded one, and hashes the
//! model file again, so a reader can trust the record or see where it no
//! longer matches.

use crate::args::{ProposalsArgs, ShowArgs};
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::gate::Places;
use crate::out::outln;
use crate::prompt::{self, Passage};
use anyhow::anyhow;
use serde_json::{json, Value};
use std::path::Path;
use writ_gate::State;

/// A state filter from its name.
pub fn parse_state(s: Option<&str>) -> Result<Option<State>, Failure> {
    match s {
        None => Ok(None),
        Some(s) => State::parse(s).map(Some).ok_or_else(|| {
            Failure::new(ExitCode::Usage, anyhow!("unknown state `{s}`")).hint(
                "one of: proposed, refused, recorded, forbidden, held, approved, rejected, applied",
            )
        }),
    }
}

/// Stored proposals (optionally in one state), oldest first, as JSON rows.
pub fn proposals_json(places: &Places, state: Option<State>) -> Result<Value, Failure> {
    let rows = places.gate().proposals(state)?;
    Ok(rows
        .iter()
        .map(|p| json!({ "id": p.id, "state": p.state.name(), "kind": p.kind, "title": p.title, "source": p.source, "via": p.provenance.get("via"), "seq": p.first_seq }))
        .collect())
}

pub fn proposals(args: ProposalsArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let state = parse_state(args.state.as_deref())?;
    let rows = proposals_json(&places, state)?;
    if args.gate.json {
        crate::cmd::print_json(&rows)?;
        return Ok(ExitCode::Ok);
    }
    let rows = rows.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        outln!("no proposals");
    }
    let field = |v: &Value| crate::term::clean(v.as_str().unwrap_or("?")).into_owned();
    for p in &rows {
        outln!(
            "{:<5} {:<9} {:<8} {}  [{}]",
            field(&p["id"]),
            field(&p["state"]),
            field(&p["kind"]),
            field(&p["title"]),
            field(&p["via"])
        );
    }
    Ok(ExitCode::Ok)
}

/// One proposal with its provenance, events, recorded decision and the
/// re-computed checks (prompt rebuilt from the index, model re-hashed).
pub fn proposal_json(places: &Places, id: &str) -> Result<Value, Failure> {
    let gate = places.gate();
    let p = gate.proposal(id)?;
    let events = gate.events(&p.id)?;
    let events: Vec<Value> = events
        .iter()
        .map(|e| json!({ "seq": e.seq, "kind": e.kind, "to": e.to, "actor": e.actor, "reason": e.reason, "payload": e.payload }))
        .collect();
    let decision = events
        .iter()
        .find_map(|e| e["payload"].get("decision").cloned());
    let (prompt_check, grammar_check) = check_ask(&p.provenance, places);
    // The patch as writ will apply it, rendered from the parsed diff: what a
    // reviewer reads, never the proposer's raw text.
    let patch = writ_proposal::Proposal::from_json(&p.body)
        .ok()
        .and_then(|prop| prop.diff)
        .and_then(|d| writ_proposal::parse_diff(&d).ok())
        .map(|patches| patches.iter().map(|f| f.render()).collect::<String>());
    let drift = if p.state == State::Held {
        gate.ruleset_drift(&p.id).ok().flatten()
    } else {
        None
    };
    Ok(json!({
        "id": p.id, "state": p.state.name(), "source": p.source, "kind": p.kind,
        "title": p.title, "body": p.body, "provenance": p.provenance,
        "events": events, "decision": decision, "patch": patch,
        "ruleset_drift": drift.map(|(then, now)| json!({ "decided_under": then, "in_force": now })),
        "checks": {
            "prompt": prompt_check,
            "grammar": grammar_check,
            "model": check_model(&p.provenance),
        },
    }))
}

pub fn show(args: ShowArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let out = proposal_json(&places, &args.id)?;
    if args.gate.json {
        crate::cmd::print_json(&out)?;
        return Ok(ExitCode::Ok);
    }
    // Printed from the JSON already built: one read of the ledger. Every
    // string in it may come from outside writ: each is shown escaped
    // (`text` for one line, `json` for a JSON value, `lines` for a block).
    let text = |v: &Value| crate::term::clean(v.as_str().unwrap_or("")).into_owned();
    let json = |v: &Value| crate::term::clean(&v.to_string()).into_owned();
    let lines = |v: &Value| crate::term::block(v.as_str().unwrap_or("")).into_owned();
    let checks = &out["checks"];
    outln!(
        "{}  {}  {}: {}",
        text(&out["id"]),
        text(&out["state"]),
        text(&out["kind"]),
        text(&out["title"])
    );
    outln!("source: {}", text(&out["source"]));
    let prov = &out["provenance"];
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
        outln!("  rebuilt: {}", text(&checks["prompt"]));
        outln!("grammar: {}", text(&checks["grammar"]));
        let m = &prov["model"];
        outln!(
            "model: {} ({}), sha256 {}",
            text(&m["name"]),
            text(&m["path"]),
            text(&m["sha256"])
        );
        outln!("  file now: {}", text(&checks["model"]));
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
    outln!("body: {}", lines(&out["body"]));
    for e in out["events"].as_array().into_iter().flatten() {
        // The first event's payload is the body and provenance shown above.
        let payload = if e["to"] == "proposed" {
            String::new()
        } else {
            json(&e["payload"])
        };
        outln!(
            "event {}: {} -> {} by {}  {payload}",
            json(&e["seq"]),
            text(&e["kind"]),
            text(&e["to"]),
            text(&e["actor"])
        );
    }
    Ok(ExitCode::Ok)
}

/// Rebuilds the prompt from the record and the index; says whether its
/// sha256 matches the recorded one, or why it cannot be rebuilt.
/// The checks on a `writ ask` record: the prompt and the grammar rebuilt
/// from the record and the index, compared by sha256, and the recorded raw
/// output parsed again by the rebuilt grammar.
fn check_ask(prov: &Value, places: &Places) -> (String, String) {
    let (prompt, grammar) = match rebuild(prov, places) {
        Err(why) => {
            let why = format!("cannot rebuild: {why}");
            return (why.clone(), why);
        }
        Ok(pair) => pair,
    };
    let compare = |text: &str, recorded: &Value, what: &str| {
        let got = writ_core::sha256_hex(text.as_bytes());
        if recorded.as_str() == Some(got.as_str()) {
            Ok(format!("matches (sha256 {got})"))
        } else {
            Err(format!("DIFFERS: the rebuilt {what} has sha256 {got}"))
        }
    };
    let prompt = compare(&prompt, &prov["prompt"]["sha256"], "prompt").unwrap_or_else(|e| e);
    let grammar = match compare(&grammar, &prov["sampling"]["grammar_sha256"], "grammar") {
        Err(e) => e,
        Ok(m) if prov["sampling"]["constrained"] != true => {
            format!("{m}; generation was unconstrained")
        }
        Ok(m) => {
            let raw = prov["output"]["raw"].as_str().unwrap_or("");
            match writ_llm::grammar_accepts(&grammar, raw) {
                Ok(true) => format!("{m}; the raw output is a sentence of it"),
                Ok(false) => format!("{m}; the raw output is NOT a sentence of it"),
                Err(e) => format!("{m}; cannot parse the raw output: {e}"),
            }
        }
    };
    (prompt, grammar)
}

/// The prompt and the grammar of a recorded ask, rebuilt.
fn rebuild(prov: &Value, places: &Places) -> Result<(String, String), String> {
    if prov["via"] != "writ ask" {
        return Err("not from `writ ask`".into());
    }
    let pr = &prov["prompt"];
    if pr["template"] != prompt::TEMPLATE_ID
        || pr["version"].as_u64() != Some(u64::from(prompt::TEMPLATE_VERSION))
    {
        return Err(format!(
            "recorded with template {} v{}, this writ has {} v{}",
            pr["template"],
            pr["version"],
            prompt::TEMPLATE_ID,
            prompt::TEMPLATE_VERSION
        ));
    }
    let chat = pr["chat"]
        .as_str()
        .and_then(writ_llm::ChatTemplate::from_name)
        .ok_or("unknown chat format")?;
    let catalog = writ_index::Catalog::open_read_only(&places.index).map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    for h in prov["retrieval"]["hits"].as_array().into_iter().flatten() {
        if h["in_prompt"] != true {
            continue;
        }
        let id = h["chunk"].as_i64().ok_or("a hit without a chunk id")?;
        let rec = catalog
            .chunk_record(id)
            .map_err(|e| e.to_string())?
            .ok_or(format!("chunk {id} is no longer in the index"))?;
        if h["text_hash"].as_str() != Some(rec.content_hash.as_str()) {
            return Err(format!("chunk {id} changed since the proposal was made"));
        }
        records.push(rec);
    }
    let passages: Vec<Passage<'_>> = records
        .iter()
        .map(|r| Passage {
            chunk: r.id,
            path: &r.path,
            start_line: r.start_line,
            end_line: r.end_line,
            symbol: r.symbol.as_deref(),
            language: &r.language,
            text: &r.text,
        })
        .collect();
    let question = prov["question"].as_str().ok_or("no question recorded")?;
    let limits = prompt::Limits {
        max_proposals: pr["max_proposals"].as_u64().unwrap_or(1) as usize,
    };
    Ok((
        prompt::render(chat, question, &passages),
        prompt::grammar(&passages, &limits),
    ))
}

/// Hashes the recorded model file again, in full (no cached digest).
fn check_model(prov: &Value) -> String {
    let (Some(path), Some(want)) = (
        prov["model"]["path"].as_str(),
        prov["model"]["sha256"].as_str(),
    ) else {
        return "no model recorded".into();
    };
    match writ_core::sha256_file_uncached(Path::new(path)) {
        Ok(got) if got == want => "same sha256".into(),
        Ok(got) => format!("DIFFERS: sha256 {got}"),
        Err(e) => format!("cannot read: {e}"),
    }
}
