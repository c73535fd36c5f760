//! The checks `writ show` runs on a `writ ask` record: the prompt and the
//! grammar rebuilt from the record and the index and compared by sha256,
//! the recorded raw output parsed again by the rebuilt grammar, and the
//! model file hashed again. A reader can trust the record or see where it
//! no longer matches.

use crate::prompt::{self, Passage};
use serde_json::Value;
use std::path::Path;

/// The checks on a `writ ask` record: the prompt and the grammar rebuilt
/// from the record and the index, compared by sha256, and the recorded raw
/// output parsed again by the rebuilt grammar.
pub fn ask_record(prov: &Value, index: &Path) -> (String, String) {
    let (prompt, grammar) = match rebuild(prov, index) {
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
        Ok(m) if prov["remote"].is_object() => {
            let raw = prov["output"]["raw"].as_str().unwrap_or("");
            let held = prov["remote"]["constraint"].as_str().unwrap_or("none");
            let fits = match writ_llm::grammar_accepts(&grammar, raw) {
                Ok(true) => "is",
                Ok(false) => "is NOT",
                Err(_) => "cannot be parsed as",
            };
            let by = if held == "none" {
                "held by no schema (its server took none)".to_string()
            } else {
                format!("held by its server to the JSON Schema ({held})")
            };
            format!("{m}; a remote model, {by}, not by this grammar; the raw output {fits} a sentence of it")
        }
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
fn rebuild(prov: &Value, index: &Path) -> Result<(String, String), String> {
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
    let catalog = writ_index::Catalog::open_read_only(index).map_err(|e| e.to_string())?;
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
pub fn model_file(prov: &Value) -> String {
    if let Some(r) = prov.get("remote").filter(|r| r.is_object()) {
        let or_none = |v: &Value| v.as_str().unwrap_or("none").to_string();
        return format!(
            "cannot be re-checked: a remote model (served as `{}` at {}, response {}, fingerprint {}, output held by {}); writ cannot hash weights it does not hold, and a server may change them under the same name. The prompt, the schema and the output can be re-checked; the answer cannot be re-generated to compare",
            or_none(&r["model"]),
            or_none(&r["endpoint"]),
            or_none(&r["response_id"]),
            or_none(&r["fingerprint"]),
            r["constraint"].as_str().unwrap_or("nothing"),
        );
    }
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
