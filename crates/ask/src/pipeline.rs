//! One ask: prompt within the window, generate (grammar-bound), then hand
//! every proposal of the answer to the gate's intake with the run as
//! provenance. An answer that is not a proposal list is recorded refused.

use crate::generator::{Constraint, Generator};
use crate::prompt::{self, Limits, Passage};
use crate::AskError;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;
use writ_gate::{Gate, Intake, Proposer, Run};
use writ_index::Hit;
use writ_llm::{GenerateOptions, Generation};

/// Largest `k` a caller may ask for.
pub const MAX_K: usize = 50;
/// Largest answer budget, in tokens.
pub const MAX_TOKENS: usize = 2048;
/// Most proposals one answer may hold.
pub const MAX_PROPOSALS: usize = 5;

/// What to ask and how to generate: the one place its defaults live (the
/// CLI's flags, the HTTP and MCP request bodies and the OpenAPI document
/// take theirs from here).
#[derive(Debug, Clone, PartialEq)]
pub struct AskParams {
    /// The question.
    pub question: String,
    /// Chunks to retrieve.
    pub k: usize,
    /// Path globs the retrieval is limited to.
    pub paths: Vec<String>,
    /// Languages the retrieval is limited to.
    pub langs: Vec<String>,
    /// Most proposals in the answer.
    pub max_proposals: usize,
    /// The answer's budget in tokens.
    pub max_tokens: usize,
    /// Sampling temperature (`None`: greedy).
    pub temperature: Option<f64>,
    /// Repeat penalty over the last [`REPEAT_LAST_N`] tokens.
    pub repeat_penalty: f64,
    /// Sampling seed.
    pub seed: u64,
    /// Generate without the grammar (the output is still validated).
    pub unconstrained: bool,
    /// Stops generation before its next token (Ctrl-C, an MCP client's
    /// cancellation); what was cut short is recorded as refused.
    pub cancel: writ_llm::Cancel,
}

impl AskParams {
    /// Default `k`.
    pub const K: usize = 6;
    /// Default number of proposals.
    pub const PROPOSALS: usize = 2;
    /// Default answer budget.
    pub const TOKENS: usize = 1024;
    /// Default repeat penalty.
    pub const PENALTY: f64 = 1.1;

    /// `question` with every default.
    pub fn new(question: impl Into<String>) -> AskParams {
        AskParams {
            question: question.into(),
            k: Self::K,
            paths: Vec::new(),
            langs: Vec::new(),
            max_proposals: Self::PROPOSALS,
            max_tokens: Self::TOKENS,
            temperature: None,
            repeat_penalty: Self::PENALTY,
            seed: 0,
            unconstrained: false,
            cancel: writ_llm::Cancel::new(),
        }
    }
}

/// Recent tokens the repeat penalty looks at (llama.cpp's default).
pub const REPEAT_LAST_N: usize = 64;

/// How the generation went, for the user's terminal.
#[derive(Debug, Clone, Serialize)]
pub struct GenStats {
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated: usize,
    /// Seconds on the prompt.
    pub prefill_seconds: f64,
    /// Seconds generating.
    pub decode_seconds: f64,
    /// Why generation stopped.
    pub stop: &'static str,
    /// The model's context window.
    pub window: usize,
}

/// What one ask produced: the retrieval it used, each recorded proposal
/// and the body it was recorded with.
#[derive(Debug)]
pub struct Answer {
    /// Retrieved chunks, best first.
    pub hits: Vec<Hit>,
    /// How many of `hits` fit in the prompt (the rest were dropped).
    pub used: usize,
    /// One intake per proposal (or one refusal for an unusable answer).
    pub results: Vec<Intake>,
    /// The body each result was recorded with.
    pub bodies: Vec<String>,
    /// Generation figures.
    pub stats: GenStats,
}

/// One item of an answer as front ends serialise it.
#[derive(Debug, Serialize)]
pub struct AnswerItem<'a> {
    /// What the gate did with it.
    pub result: &'a Intake,
    /// The proposal as recorded (`null` when it was not JSON).
    pub proposal: Value,
}

impl Answer {
    /// `[{result, proposal}]`, as `writ ask --json` and the server give it.
    pub fn items(&self) -> Vec<AnswerItem<'_>> {
        self.results
            .iter()
            .zip(&self.bodies)
            .map(|(result, b)| AnswerItem {
                result,
                proposal: serde_json::from_str::<Value>(b).unwrap_or(Value::Null),
            })
            .collect()
    }
}

/// Prompt, generate and record: every proposal in the model's answer goes
/// through `intake` with the run as provenance; an answer that is not a
/// proposal list is recorded refused. `on_text` sees the text stream.
pub fn answer(
    params: &AskParams,
    gate: &Gate,
    index: &Path,
    hits: Vec<Hit>,
    generation: i64,
    model: &mut dyn Generator,
    on_text: &mut dyn FnMut(&str),
) -> Result<Answer, AskError> {
    let prepared = prepare(model, params, hits)?;
    let options = GenerateOptions {
        max_tokens: params.max_tokens,
        temperature: params.temperature,
        seed: params.seed,
        repeat_penalty: params.repeat_penalty as f32,
        repeat_last_n: REPEAT_LAST_N,
        cancel: params.cancel.clone(),
    };
    let constraint = Constraint {
        grammar: &prepared.grammar,
        schema: &prepared.schema,
    };
    let held = (!params.unconstrained).then_some(&constraint);
    let gen = match model.generate(&prepared.prompt, &options, held, on_text) {
        Ok(gen) => gen,
        // The attempt is recorded (refused, with the reason), never lost
        // and never an action: an unreachable server, an HTTP error, a
        // failed forward pass.
        Err(e) => return failed(params, gate, model, &prepared, generation, &e),
    };
    // The embedding model behind every similarity the rules may read (and
    // its precision where not f32: int8 similarities are other numbers).
    let embedder = writ_index::Catalog::open_read_only(index)
        .ok()
        .and_then(|c| c.manifest().ok().flatten())
        .map(|m| match m.model.precision {
            writ_core::Precision::F32 => format!("{}@{}", m.model.id, m.model.sha256),
            p => format!("{}@{}/{p}", m.model.id, m.model.sha256),
        })
        .unwrap_or_else(|| "unknown".into());
    let mut record = provenance(params, model, &prepared, &gen, generation);
    record["retrieval"]["embedder"] = embedder.clone().into();
    let run = Run::from_hits(&prepared.hits[..prepared.used], &embedder);
    let proposer = Proposer::model(&model.info().sha256);
    let mut results = Vec::new();
    // A cancelled answer is never taken in, even where its text parses:
    // the person or client who stopped it did not want it.
    let bodies = if gen.stop == writ_llm::StopReason::Cancelled || params.cancel.is_cancelled() {
        None
    } else {
        split(&gen.text)
    };
    // What each result was recorded with: an edit as the diff writ made
    // of it (what a person reviews and what would be applied), else the
    // item as the model wrote it.
    let mut recorded = Vec::new();
    match &bodies {
        Some(bodies) => {
            for (n, item) in bodies.iter().enumerate() {
                let mut prov = record.clone();
                prov["output"]["proposal"] = json!(n);
                let read = |rel: &str| read_text(gate, rel);
                results.push(match wire(item, &read) {
                    Ok(body) => {
                        let r = gate.intake(&body, &proposer, prov, Some(&run))?;
                        recorded.push(body);
                        r
                    }
                    Err(reasons) => {
                        let shown = outline(item);
                        recorded.push(item.clone());
                        gate.refuse(item, shown.as_ref(), &proposer, prov, &reasons)?
                    }
                });
            }
        }
        None => {
            let reasons = unusable(&gen, params);
            results.push(gate.refuse(&gen.text, None, &proposer, record, &reasons)?);
            recorded.push(gen.text.clone());
        }
    }
    Ok(Answer {
        stats: GenStats {
            prompt_tokens: gen.prompt_tokens,
            generated: gen.tokens.len(),
            prefill_seconds: gen.prefill_seconds,
            decode_seconds: gen.decode_seconds,
            stop: gen.stop.name(),
            window: model.info().context_length,
        },
        used: prepared.used,
        hits: prepared.hits,
        results,
        bodies: recorded,
    })
}

/// Records a generation that failed as a refused attempt.
fn failed(
    params: &AskParams,
    gate: &Gate,
    model: &dyn Generator,
    prepared: &Prepared,
    generation: i64,
    error: &writ_llm::LlmError,
) -> Result<Answer, AskError> {
    let gen = Generation {
        prompt_tokens: prepared.prompt_tokens,
        tokens: Vec::new(),
        text: String::new(),
        stop: writ_llm::StopReason::EndOfTurn,
        prefill_seconds: 0.0,
        decode_seconds: 0.0,
        remote: None,
    };
    let mut record = provenance(params, model, prepared, &gen, generation);
    // The first line only, bounded: a backtrace (candle adds one under
    // RUST_BACKTRACE) holds local paths and belongs in no record.
    let said = error.to_string();
    let first: String = said
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(1000)
        .collect();
    record["output"]["stop"] = "error".into();
    record["output"]["error"] = first.clone().into();
    let proposer = Proposer::model(&model.info().sha256);
    let reasons = vec![format!("the model failed: {first}")];
    let result = gate.refuse("", None, &proposer, record, &reasons)?;
    Ok(Answer {
        stats: GenStats {
            prompt_tokens: prepared.prompt_tokens,
            generated: 0,
            prefill_seconds: 0.0,
            decode_seconds: 0.0,
            stop: "error",
            window: model.info().context_length,
        },
        used: prepared.used,
        hits: prepared.hits.clone(),
        results: vec![result],
        bodies: vec![String::new()],
    })
}

/// Retrieval, prompt and constraints for one ask, before generation.
struct Prepared {
    hits: Vec<Hit>,
    /// How many of `hits` (best first) fit in the prompt.
    used: usize,
    prompt: String,
    prompt_tokens: usize,
    grammar: String,
    schema: Value,
}

fn passages(hits: &[Hit]) -> Vec<Passage<'_>> {
    hits.iter()
        .map(|h| Passage {
            chunk: h.chunk_id,
            path: &h.path,
            start_line: h.start_line,
            end_line: h.end_line,
            symbol: h.symbol.as_deref(),
            language: &h.language,
            text: &h.text,
        })
        .collect()
}

/// Builds the prompt within the context window, dropping the
/// lowest-ranked chunks first.
fn prepare(
    model: &dyn Generator,
    params: &AskParams,
    hits: Vec<Hit>,
) -> Result<Prepared, AskError> {
    let window = model.info().context_length;
    let budget = window.saturating_sub(params.max_tokens);
    let chat = model.info().template;
    let mut used = hits.len();
    loop {
        let prompt = prompt::render(chat, &params.question, &passages(&hits[..used]));
        let tokens = model.encode(&prompt)?;
        if tokens.len() <= budget {
            let limits = Limits {
                max_proposals: params.max_proposals,
            };
            let grammar = prompt::grammar(&passages(&hits[..used]), &limits);
            let schema = prompt::schema(&passages(&hits[..used]), &limits);
            return Ok(Prepared {
                hits,
                used,
                prompt,
                prompt_tokens: tokens.len(),
                grammar,
                schema,
            });
        }
        if used <= 1 {
            return Err(AskError::PromptTooLong {
                needed: tokens.len(),
                window,
                budget,
                max_tokens: params.max_tokens,
            });
        }
        used -= 1;
    }
}

/// The answer's proposals as separate bodies, or `None` when the answer
/// is not `{"proposals": [...]}` with at least one item.
fn split(text: &str) -> Option<Vec<String>> {
    let v: Value = serde_json::from_str(text).ok()?;
    let items = v.get("proposals")?.as_array()?;
    (!items.is_empty()).then(|| items.iter().map(Value::to_string).collect())
}

/// The proposal record for one item of the model's answer: an edit's
/// `path`/`find`/`replace` becomes a unified diff (writ's own, so hunk
/// headers are right); other kinds pass through unchanged.
fn wire(item: &str, read: &dyn Fn(&str) -> Result<String, String>) -> Result<String, Vec<String>> {
    let mut v: Value = serde_json::from_str(item).map_err(|e| vec![e.to_string()])?;
    if v["kind"] != "edit" || v.get("diff").is_some() {
        return Ok(item.to_string());
    }
    let diff = edit_to_diff(&v, read)?;
    if let Some(obj) = v.as_object_mut() {
        for k in ["path", "find", "replace"] {
            obj.remove(k);
        }
        obj.insert("diff".into(), json!(diff));
    }
    Ok(v.to_string())
}

/// Kind, title and citations of an item that could not become a record,
/// so the refusal is listed under its title.
fn outline(item: &str) -> Option<writ_proposal::Proposal> {
    let v: Value = serde_json::from_str(item).ok()?;
    Some(writ_proposal::Proposal {
        version: writ_proposal::PROPOSAL_VERSION,
        kind: serde_json::from_value(v["kind"].clone()).ok()?,
        title: v["title"].as_str()?.to_string(),
        rationale: v["rationale"].as_str().unwrap_or_default().to_string(),
        citations: serde_json::from_value(v["citations"].clone()).unwrap_or_default(),
        diff: None,
        text: None,
        argv: None,
    })
}

/// Replaces the one occurrence of `find` in `path` with `replace` and
/// returns the unified diff; refuses when the text is not there exactly
/// once (a guess is never applied).
fn edit_to_diff(
    edit: &Value,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, Vec<String>> {
    let (Some(path), Some(find), Some(replace)) = (
        edit["path"].as_str(),
        edit["find"].as_str(),
        edit["replace"].as_str(),
    ) else {
        return Err(vec!["an edit needs `path`, `find` and `replace`".into()]);
    };
    if path.starts_with('/') || path.split('/').any(|c| c == "..") {
        return Err(vec![format!(
            "edit path `{path}` is not inside the repository"
        )]);
    }
    let old = read(path).map_err(|e| vec![format!("`{path}` cannot be read: {e}")])?;
    match old.matches(find).count() {
        1 => {}
        0 => return Err(vec![format!("the text to find does not occur in `{path}`")]),
        n => {
            return Err(vec![format!(
                "the text to find occurs {n} times in `{path}`; it must occur once"
            )])
        }
    }
    if find == replace {
        return Err(vec!["the edit replaces text with itself".into()]);
    }
    let new = old.replacen(find, replace, 1);
    Ok(writ_gate::file_diff(path, &old, &new))
}

/// A file's text, read beneath the root without following links (the
/// gate's own reader): an edit's `find` is matched against what the gate
/// will later patch, never against a link's target.
fn read_text(gate: &Gate, rel: &str) -> Result<String, String> {
    let bytes = gate
        .read_file(rel)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no such file".to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Why an answer that is not a list of proposals is refused.
fn unusable(gen: &Generation, params: &AskParams) -> Vec<String> {
    let mut reasons = Vec::new();
    if params.cancel.is_cancelled() && gen.stop != writ_llm::StopReason::Cancelled {
        reasons.push("the generation was cancelled before it was recorded".into());
    }
    match gen.stop {
        writ_llm::StopReason::MaxTokens => reasons.push(format!(
            "the model reached max_tokens {} before finishing its answer",
            params.max_tokens
        )),
        writ_llm::StopReason::ContextFull => {
            reasons.push("the model filled its context window before finishing".into())
        }
        writ_llm::StopReason::Cancelled => {
            reasons.push("the generation was cancelled before it finished".into())
        }
        _ => {}
    }
    if split(&gen.text).is_none() {
        reasons.push(match serde_json::from_str::<Value>(&gen.text) {
            Err(e) => format!("the answer is not JSON: {e}"),
            Ok(_) => "the answer is not {\"proposals\": [...]} with at least one proposal".into(),
        });
    }
    reasons
}

/// What `writ show` needs to reconstruct how a proposal came to be.
fn provenance(
    params: &AskParams,
    model: &dyn Generator,
    prepared: &Prepared,
    gen: &Generation,
    generation: i64,
) -> Value {
    let info = model.info();
    let remote = info.architecture == "remote";
    let hits: Vec<Value> = prepared
        .hits
        .iter()
        .enumerate()
        .map(|(rank, h)| {
            json!({
                "rank": rank + 1,
                "chunk": h.chunk_id,
                "path": h.path,
                "lines": [h.start_line, h.end_line],
                "score": h.score,
                "similarity": h.similarity,
                "text_hash": h.text_hash,
                "in_prompt": rank < prepared.used,
            })
        })
        .collect();
    let mut record = json!({
        "via": "writ ask",
        "question": params.question,
        "retrieval": {
            "index_generation": generation,
            "mode": "hybrid",
            "k": params.k,
            "paths": params.paths,
            "langs": params.langs,
            "hits": hits,
        },
        "prompt": {
            "template": prompt::TEMPLATE_ID,
            "version": prompt::TEMPLATE_VERSION,
            "chat": info.template.name(),
            "max_proposals": params.max_proposals,
            "sha256": writ_core::sha256_hex(prepared.prompt.as_bytes()),
            "tokens": prepared.prompt_tokens,
        },
        "model": {
            "path": info.path.display().to_string(),
            "sha256": info.sha256,
            "name": info.name,
            "architecture": info.architecture,
            "tokenizer": info.tokenizer,
        },
        "sampling": {
            "temperature": params.temperature,
            "seed": params.seed,
            "repeat_penalty": params.repeat_penalty,
            "repeat_last_n": REPEAT_LAST_N,
            "max_tokens": params.max_tokens,
            // Held by the grammar while generating (the local model); a
            // remote model's output is held, if at all, by the server.
            "constrained": !params.unconstrained && !remote,
            "grammar_sha256": writ_core::sha256_hex(prepared.grammar.as_bytes()),
            "schema_sha256": writ_core::sha256_hex(prepared.schema.to_string().as_bytes()),
        },
        "output": {
            "raw": gen.text,
            "stop": gen.stop.name(),
            "tokens": gen.tokens.len(),
        },
    });
    if remote {
        // What can be said of a model writ cannot hash: where it was, what
        // the server called it, how it was asked and what it answered.
        // The key, if any, is never recorded.
        record["remote"] = match &gen.remote {
            Some(r) => json!({
                "endpoint": r.endpoint,
                "model": r.model,
                "request": r.request,
                "response_id": r.response_id,
                "fingerprint": r.fingerprint,
                "constraint": r.constraint,
                "refused": r.refused,
            }),
            None => json!({ "endpoint": info.path.display().to_string(), "model": info.name }),
        };
    }
    record
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]
    use super::*;

    fn reader(dir: &Path) -> impl Fn(&str) -> Result<String, String> + '_ {
        move |rel: &str| std::fs::read_to_string(dir.join(rel)).map_err(|e| e.to_string())
    }

    fn edit(path: &str, find: &str, replace: &str) -> Value {
        json!({ "kind": "edit", "title": "t", "rationale": "r", "citations": [1], "path": path, "find": find, "replace": replace })
    }

    #[test]
    fn an_edit_becomes_a_diff_that_validates_and_applies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        let text = "def total(prices):\n    return sum(prices)\n\n\ndef mean(xs):\n    return sum(xs) / len(xs)\n";
        std::fs::write(dir.path().join("src/a.py"), text).unwrap();
        let item = edit(
            "src/a.py",
            "    return sum(xs) / len(xs)\n",
            "    return sum(xs) / max(len(xs), 1)\n",
        );
        let body = wire(&item.to_string(), &reader(dir.path())).unwrap();
        let p = writ_proposal::Proposal::from_json(&body).unwrap();
        let diff = p.diff.clone().unwrap();
        assert!(
            diff.starts_with("--- a/src/a.py\n+++ b/src/a.py\n@@ "),
            "{diff}"
        );
        let cx = writ_proposal::ValidationContext {
            repo: dir.path(),
            known_chunk: &|_| true,
        };
        let valid = writ_proposal::validate(p, &cx).unwrap();
        assert_eq!((valid.stats().added, valid.stats().removed), (1, 1));
        let applied = valid.patches()[0].apply(text).unwrap();
        assert!(applied.contains("max(len(xs), 1)"));
    }

    #[test]
    fn an_edit_whose_text_is_not_there_once_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.py"), "x = 1\nx = 1\n").unwrap();
        let twice = wire(
            &edit("a.py", "x = 1", "x = 2").to_string(),
            &reader(dir.path()),
        )
        .unwrap_err();
        assert!(twice[0].contains("2 times"), "{twice:?}");
        let none = wire(
            &edit("a.py", "y = 1", "y = 2").to_string(),
            &reader(dir.path()),
        )
        .unwrap_err();
        assert!(none[0].contains("does not occur"), "{none:?}");
        let out = wire(&edit("../a.py", "x", "y").to_string(), &reader(dir.path())).unwrap_err();
        assert!(out[0].contains("not inside"), "{out:?}");
        // Other kinds pass through untouched.
        let note = json!({ "kind": "note", "title": "t", "rationale": "r", "citations": [1], "text": "x" }).to_string();
        assert_eq!(wire(&note, &reader(dir.path())).unwrap(), note);
    }

    /// The grammar is the third description of the proposal's shape
    /// (beside the struct and the JSON Schema): every kind of sentence it
    /// accepts, once wired, parses as a `writ_proposal::Proposal`.
    #[test]
    fn what_the_grammar_accepts_parses_as_a_proposal() {
        use crate::prompt::{grammar, Limits, Passage};
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.py"), "def f():\n    pass\n").unwrap();
        let p = [Passage {
            chunk: 7,
            path: "a.py",
            start_line: 1,
            end_line: 2,
            symbol: Some("f"),
            language: "python",
            text: "def f():\n    pass\n",
        }];
        let g = grammar(&p, &Limits { max_proposals: 3 });
        let note = r#"{"kind":"note","title":"why f","citations":[7],"rationale":"it is so","text":"f passes"}"#;
        let command = r#"{"kind":"command","title":"run it","citations":[7],"rationale":"to see","argv":["python","a.py"]}"#;
        let edit = r#"{"kind":"edit","title":"fix f","citations":[7],"rationale":"because","path":"a.py","find":"    pass\n","replace":"    return 1\n"}"#;
        let answer = format!(r#"{{"proposals":[{note},{command},{edit}]}}"#);
        assert!(writ_llm::grammar_accepts(&g, &answer).unwrap(), "{answer}");
        for item in split(&answer).unwrap() {
            let body = wire(&item, &reader(dir.path())).unwrap();
            let parsed =
                writ_proposal::Proposal::from_json(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
            assert_eq!(
                Some(parsed.kind.name()),
                serde_json::from_str::<Value>(&item).unwrap()["kind"].as_str()
            );
        }
        // The grammar offers no kind the type does not have.
        for kind in ["note", "command", "edit"] {
            assert!(
                g.contains(&format!("\\\"{kind}\\\"")),
                "{kind} not in the grammar"
            );
            assert!(serde_json::from_value::<writ_proposal::Kind>(json!(kind)).is_ok());
        }
    }
}
