//! `writ ask`: retrieve, prompt, generate (grammar-bound), then hand every
//! proposal to the same intake as `writ propose`. The model's output is
//! only ever text passed to the gate; nothing here writes a file.

use crate::args::{AskArgs, Locations, Mode};
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::gate::{state_code, Places};
use crate::out::outln;
use crate::prompt::{self, Limits, Passage};
use crate::term::clean;
use anyhow::anyhow;
use serde_json::{json, Value};
use writ_gate::{Intake, Proposer, Run};
use writ_index::{Hit, Searcher};
use writ_llm::{GenerateOptions, Generation, LocalLlm};

/// Retrieval, prompt and model for one ask, before generation.
struct Prepared {
    hits: Vec<Hit>,
    /// How many of `hits` (best first) fit in the prompt.
    used: usize,
    prompt: String,
    prompt_tokens: usize,
    grammar: String,
}

pub fn ask(args: AskArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let loc = Locations {
        models: args.models.models.clone(),
        embed_model: args.models.embed_model.clone(),
        index: Some(places.index.clone()),
    };
    if !places.index.join(writ_index::CATALOG_FILE).is_file() {
        return Err(Failure::from(writ_index::IndexError::NotIndexed {
            path: places.index.clone(),
        }));
    }
    let options = crate::cmd::search_options(args.k, &args.paths, &args.langs, Mode::Hybrid)?;
    let (hits, generation) = {
        let embedder = crate::models::load_embedder(&loc)?;
        let mut searcher = Searcher::open(&places.index, &embedder)?;
        (
            searcher.search(&args.question, &options)?,
            searcher.generation(),
        )
    };
    if hits.is_empty() {
        return Err(Failure::new(
            ExitCode::NoInput,
            anyhow!("nothing in the index matches the question"),
        )
        .hint("check `writ status`, or loosen --path/--lang"));
    }
    // A rule set that does not load would leave the answer nowhere to go:
    // say so before the model runs.
    places.gate().check_rules()?;
    let progress = spinner(&args);
    progress.set_message("loading the model");
    let mut llm = crate::models::load_llm(&loc, args.models.model.as_deref())?;
    let verbose = args.verbose;
    let mut written = 0usize;
    let answer = answer(&args, &places, hits, generation, &mut llm, &mut |t| {
        written += 1;
        if verbose {
            // The model's text, streamed: escaped like any outside text.
            eprint!("{}", crate::term::block(t));
        } else {
            progress.set_message(format!("writing: {written} pieces"));
        }
    })?;
    progress.finish_and_clear();
    print(&args, &answer)?;
    Ok(worst(&answer.results))
}

/// What one ask produced: the retrieval it used, each recorded proposal
/// and the body it was recorded with.
pub struct Answer {
    pub hits: Vec<Hit>,
    pub results: Vec<Intake>,
    pub bodies: Vec<String>,
}

impl Answer {
    /// `[{result, proposal}]`, as `writ ask --json` and the server print it.
    pub fn to_json(&self) -> Value {
        self.results
            .iter()
            .zip(&self.bodies)
            .map(|(r, b)| {
                let proposal = serde_json::from_str::<Value>(b).unwrap_or(Value::Null);
                json!({ "result": r, "proposal": proposal })
            })
            .collect()
    }
}

/// Prompt, generate and record: every proposal in the model's answer goes
/// through `intake` with the run as provenance; an answer that is not a
/// proposal list is recorded refused. `on_text` sees the tokens stream.
pub fn answer(
    args: &AskArgs,
    places: &Places,
    hits: Vec<Hit>,
    generation: i64,
    llm: &mut LocalLlm,
    on_text: &mut dyn FnMut(&str),
) -> Result<Answer, Failure> {
    let prepared = prepare(llm, args, hits)?;
    if prepared.used < prepared.hits.len() {
        eprintln!(
            "writ: dropped the {} lowest-ranked of {} chunks so the prompt fits the model's {}-token window",
            prepared.hits.len() - prepared.used,
            prepared.hits.len(),
            llm.info().context_length
        );
    }
    let gen = generate(llm, args, &prepared, on_text)?;
    if args.verbose {
        eprintln!();
    }
    eprintln!(
        "writ: prompt {} tokens ({:.1} tok/s), generated {} tokens ({:.1} tok/s), stopped: {}",
        gen.prompt_tokens,
        gen.prompt_tokens as f64 / gen.prefill_seconds.max(1e-9),
        gen.tokens.len(),
        gen.tokens.len() as f64 / gen.decode_seconds.max(1e-9),
        gen.stop.name()
    );
    // The embedding model behind every similarity the rules may read.
    let embedder = writ_index::Catalog::open_read_only(&places.index)
        .ok()
        .and_then(|c| c.manifest().ok().flatten())
        .map(|m| format!("{}@{}", m.model.id, m.model.sha256))
        .unwrap_or_else(|| "unknown".into());
    let mut record = provenance(args, llm, &prepared, &gen, generation);
    record["retrieval"]["embedder"] = embedder.clone().into();
    let run = Run::from_hits(&prepared.hits[..prepared.used], &embedder);
    let proposer = Proposer::model(&llm.info().sha256);
    let gate = places.gate();
    let mut results = Vec::new();
    let bodies = split(&gen.text);
    match &bodies {
        Some(bodies) => {
            for (n, item) in bodies.iter().enumerate() {
                let mut prov = record.clone();
                prov["output"]["proposal"] = json!(n);
                results.push(match wire(item, &places.repo) {
                    Ok(body) => gate.intake(&body, &proposer, prov, Some(&run))?,
                    Err(reasons) => {
                        let shown = outline(item);
                        gate.refuse(item, shown.as_ref(), &proposer, prov, &reasons)?
                    }
                });
            }
        }
        None => {
            let reasons = unusable(&gen, args);
            results.push(gate.refuse(&gen.text, None, &proposer, record, &reasons)?);
        }
    }
    Ok(Answer {
        hits: prepared.hits,
        results,
        bodies: bodies.unwrap_or_else(|| vec![gen.text.clone()]),
    })
}

/// A spinner on stderr while the model works (hidden when streaming or
/// when stderr is not a terminal).
fn spinner(args: &AskArgs) -> indicatif::ProgressBar {
    if args.verbose {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
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
fn prepare(llm: &mut LocalLlm, args: &AskArgs, hits: Vec<Hit>) -> Result<Prepared, Failure> {
    let window = llm.info().context_length;
    let budget = window.saturating_sub(args.max_tokens);
    let chat = llm.info().template;
    let mut used = hits.len();
    loop {
        let prompt = prompt::render(chat, &args.question, &passages(&hits[..used]));
        let tokens = llm
            .encode(&prompt)
            .map_err(|e| Failure::new(ExitCode::Error, e))?;
        if tokens.len() <= budget {
            let limits = Limits {
                max_proposals: args.max_proposals,
            };
            let grammar = prompt::grammar(&passages(&hits[..used]), &limits);
            return Ok(Prepared {
                hits,
                used,
                prompt,
                prompt_tokens: tokens.len(),
                grammar,
            });
        }
        if used <= 1 {
            return Err(Failure::new(
                ExitCode::Usage,
                anyhow!(
                    "the prompt needs {} tokens with one chunk, but the model's window of {window} leaves {budget} after --max-tokens {}",
                    tokens.len(),
                    args.max_tokens
                ),
            )
            .hint("shorten the question, lower --max-tokens, or use a model with a larger window"));
        }
        used -= 1;
    }
}

/// Recent tokens the repeat penalty looks at (llama.cpp's default).
const REPEAT_LAST_N: usize = 64;

fn generate(
    llm: &mut LocalLlm,
    args: &AskArgs,
    prepared: &Prepared,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation, Failure> {
    let options = GenerateOptions {
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        seed: args.seed,
        repeat_penalty: args.repeat_penalty as f32,
        repeat_last_n: REPEAT_LAST_N,
    };
    let fail = |e: writ_llm::LlmError| Failure::new(ExitCode::Error, e);
    let mut guide = if args.unconstrained {
        None
    } else {
        Some(llm.lark_guide(&prepared.grammar).map_err(fail)?)
    };
    llm.generate_guided(&prepared.prompt, &options, guide.as_mut(), on_text)
        .map_err(fail)
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
fn wire(item: &str, repo: &std::path::Path) -> Result<String, Vec<String>> {
    let mut v: Value = serde_json::from_str(item).map_err(|e| vec![e.to_string()])?;
    if v["kind"] != "edit" || v.get("diff").is_some() {
        return Ok(item.to_string());
    }
    let diff = edit_to_diff(&v, repo)?;
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
fn edit_to_diff(edit: &Value, repo: &std::path::Path) -> Result<String, Vec<String>> {
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
    let old = std::fs::read_to_string(repo.join(path))
        .map_err(|e| vec![format!("`{path}` cannot be read: {e}")])?;
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

/// Why an answer that is not a list of proposals is refused.
fn unusable(gen: &Generation, args: &AskArgs) -> Vec<String> {
    let mut reasons = Vec::new();
    match gen.stop {
        writ_llm::StopReason::MaxTokens => reasons.push(format!(
            "the model reached --max-tokens {} before finishing its answer",
            args.max_tokens
        )),
        writ_llm::StopReason::ContextFull => {
            reasons.push("the model filled its context window before finishing".into())
        }
        _ => {}
    }
    reasons.push(match serde_json::from_str::<Value>(&gen.text) {
        Err(e) => format!("the answer is not JSON: {e}"),
        Ok(_) => "the answer is not {\"proposals\": [...]} with at least one proposal".into(),
    });
    reasons
}

/// What `writ show` needs to reconstruct how a proposal came to be.
fn provenance(
    args: &AskArgs,
    llm: &LocalLlm,
    prepared: &Prepared,
    gen: &Generation,
    generation: i64,
) -> Value {
    let info = llm.info();
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
    json!({
        "via": "writ ask",
        "question": args.question,
        "retrieval": {
            "index_generation": generation,
            "mode": "hybrid",
            "k": args.k,
            "paths": args.paths,
            "langs": args.langs,
            "hits": hits,
        },
        "prompt": {
            "template": prompt::TEMPLATE_ID,
            "version": prompt::TEMPLATE_VERSION,
            "chat": info.template.name(),
            "max_proposals": args.max_proposals,
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
            "temperature": args.temperature,
            "seed": args.seed,
            "repeat_penalty": args.repeat_penalty,
            "repeat_last_n": REPEAT_LAST_N,
            "max_tokens": args.max_tokens,
            "constrained": !args.unconstrained,
            "grammar_sha256": writ_core::sha256_hex(prepared.grammar.as_bytes()),
        },
        "output": {
            "raw": gen.text,
            "stop": gen.stop.name(),
            "tokens": gen.tokens.len(),
        },
    })
}

fn print(args: &AskArgs, answer: &Answer) -> Result<(), Failure> {
    if args.gate.json {
        crate::cmd::print_json(&answer.to_json())?;
        return Ok(());
    }
    let lines = |id: i64| {
        answer
            .hits
            .iter()
            .find(|h| h.chunk_id == id)
            .map(|h| format!("{}:{}-{}", clean(&h.path), h.start_line, h.end_line))
            .unwrap_or_else(|| format!("chunk {id} (not in this run)"))
    };
    for (r, body) in answer.results.iter().zip(&answer.bodies) {
        let p: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let title = p["title"].as_str().unwrap_or("(not a proposal)");
        let kind = p["kind"].as_str().unwrap_or("?");
        outln!(
            "{}  {}  {}: {}",
            r.id,
            r.state.name(),
            clean(kind),
            clean(title)
        );
        for c in p["citations"].as_array().into_iter().flatten() {
            if let Some(id) = c.as_i64() {
                outln!("  cites {}", lines(id));
            }
        }
        for reason in &r.reasons {
            outln!("  refused: {}", clean(reason));
        }
        if let Some(d) = &r.decision {
            crate::review::print_decision(d);
        }
    }
    Ok(())
}

/// The exit code of an ask: 0 when everything was allowed, else that of
/// the most severe outcome (refused, then forbidden, then held).
fn worst(results: &[Intake]) -> ExitCode {
    let codes: Vec<ExitCode> = results.iter().map(|r| state_code(r.state)).collect();
    [ExitCode::Refused, ExitCode::Forbidden, ExitCode::Held]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

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
        let body = wire(&item.to_string(), dir.path()).unwrap();
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
        let twice = wire(&edit("a.py", "x = 1", "x = 2").to_string(), dir.path()).unwrap_err();
        assert!(twice[0].contains("2 times"), "{twice:?}");
        let none = wire(&edit("a.py", "y = 1", "y = 2").to_string(), dir.path()).unwrap_err();
        assert!(none[0].contains("does not occur"), "{none:?}");
        let out = wire(&edit("../a.py", "x", "y").to_string(), dir.path()).unwrap_err();
        assert!(out[0].contains("not inside"), "{out:?}");
        // Other kinds pass through untouched.
        let note = json!({ "kind": "note", "title": "t", "rationale": "r", "citations": [1], "text": "x" }).to_string();
        assert_eq!(wire(&note, dir.path()).unwrap(), note);
    }
}
