//! `writ ask` on the command line: retrieve with the embedding model, run
//! the `writ-ask` pipeline on the local model or a remote endpoint
//! (`--llm-url`), stream the answer to stderr, print what the gate did
//! with each proposal. The pipeline itself is the `writ-ask` crate.

use crate::args::AskArgs;
use crate::exit::{state_code, CmdResult, ExitCode, Failure};
use crate::out::{outln, print_json};
use crate::term::{block, clean};
use anyhow::anyhow;
use serde_json::Value;
use writ_ask::{Answer, AskParams};
use writ_gate::Intake;
use writ_index::{SearchMode, Searcher};
use writ_service::search::search_options;

pub fn ask(args: AskArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let models = crate::ctx::models(&args.models);
    places.require_index()?;
    let params = AskParams {
        question: args.question.clone(),
        k: args.k,
        paths: args.paths.clone(),
        langs: args.langs.clone(),
        max_proposals: args.max_proposals,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        repeat_penalty: args.repeat_penalty,
        seed: args.seed,
        unconstrained: args.unconstrained,
        cancel: writ_llm::Cancel::new(),
    };
    // First Ctrl-C: stop generating and record the cut-short answer as
    // refused; second: leave now.
    let cancel = params.cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if cancel.is_cancelled() {
            std::process::exit(ExitCode::Interrupted as i32);
        }
        cancel.cancel();
        eprintln!("\nwrit: stopping the model; the cut-short answer is recorded as refused (Ctrl-C again to quit now)");
    });
    let options = search_options(params.k, &params.paths, &params.langs, SearchMode::Hybrid)?;
    let (hits, generation) = {
        let embedder =
            writ_service::models::load_embedder(&models.clone().following(&places.index))?;
        let mut searcher = Searcher::open(&places.index, &*embedder)?;
        (
            searcher.search(&params.question, &options)?,
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
    let gate = places.gate();
    gate.check_rules()?;
    let progress = spinner();
    let mut llm: Box<dyn writ_ask::Generator> = match &models.remote {
        Some(spec) => {
            progress.set_message(format!(
                "connecting to {}",
                clean(&writ_llm::redact(&spec.url))
            ));
            Box::new(writ_service::models::connect_llm(spec)?)
        }
        None => {
            progress.set_message("loading the model");
            Box::new(writ_service::models::load_llm(&models)?)
        }
    };
    progress.set_message(format!("reading the prompt ({})", clean(&llm.info().name)));
    // The answer streams to stderr as it is written where a person
    // watches (a terminal, or --verbose); piped, stderr stays quiet.
    let stream = args.verbose || std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut streaming = false;
    let answer = writ_ask::answer(
        &params,
        &gate,
        &places.index,
        hits,
        generation,
        &mut *llm,
        &mut |t| {
            if !stream {
                return;
            }
            if !streaming {
                progress.finish_and_clear();
                streaming = true;
            }
            // The model's text, streamed: escaped like any outside text.
            eprint!("{}", block(t));
        },
    )?;
    progress.finish_and_clear();
    report(&answer, streaming);
    print(&args, &answer)?;
    if answer.stats.stop == writ_llm::StopReason::Cancelled.name() {
        return Ok(ExitCode::Interrupted);
    }
    Ok(worst(&answer.results))
}

/// What the model did, on stderr.
fn report(answer: &Answer, verbose: bool) {
    if answer.used < answer.hits.len() {
        eprintln!(
            "writ: dropped the {} lowest-ranked of {} chunks so the prompt fits the model's {}-token window",
            answer.hits.len() - answer.used,
            answer.hits.len(),
            answer.stats.window
        );
    }
    if verbose {
        eprintln!();
    }
    let s = &answer.stats;
    if s.stop == "error" {
        eprintln!("writ: the model failed; the attempt is recorded as refused");
        return;
    }
    eprintln!(
        "writ: prompt {} tokens ({:.1} tok/s), generated {} tokens ({:.1} tok/s), stopped: {}",
        s.prompt_tokens,
        s.prompt_tokens as f64 / s.prefill_seconds.max(1e-9),
        s.generated,
        s.generated as f64 / s.decode_seconds.max(1e-9),
        s.stop
    );
}

/// A spinner on stderr until the answer starts to stream (indicatif
/// draws nothing when stderr is not a terminal).
fn spinner() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn print(args: &AskArgs, answer: &Answer) -> Result<(), Failure> {
    if args.gate.json {
        return print_json(&answer.items());
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
        outln!("{}", describe(r, body, &lines).trim_end());
        if let Some(d) = &r.decision {
            crate::review::print_decision(d);
        }
    }
    Ok(())
}

/// One proposal of an answer as people read it: its id, state, kind and
/// title, then what it says in full (a note's text, a command's argv, an
/// edit's diff as writ parsed it), indented under it, its citations and
/// why validation refused it. All of it is the model's text, escaped.
fn describe(r: &Intake, body: &str, lines: &dyn Fn(i64) -> String) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let p: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let title = p["title"].as_str().unwrap_or("(not a proposal)");
    let kind = p["kind"].as_str().unwrap_or("?");
    let _ = writeln!(
        out,
        "{}  {}  {}: {}",
        r.id,
        r.state.name(),
        clean(kind),
        clean(title)
    );
    match writ_proposal::Proposal::from_json(body) {
        Ok(prop) => {
            for (heading, text) in crate::review::content(&prop) {
                let _ = writeln!(out, "  {heading}:");
                indented(&mut out, &text);
            }
        }
        // Not a proposal: the recorded text itself, so nothing the model
        // wrote is hidden from whoever reads the answer.
        Err(_) if !body.trim().is_empty() => {
            let _ = writeln!(out, "  as written:");
            indented(&mut out, &block(body.trim_end()));
        }
        Err(_) => {}
    }
    for c in p["citations"].as_array().into_iter().flatten() {
        if let Some(id) = c.as_i64() {
            let _ = writeln!(out, "  cites {}", lines(id));
        }
    }
    for reason in &r.reasons {
        let _ = writeln!(out, "  refused: {}", clean(reason));
    }
    out
}

/// `text` (already escaped) indented under a heading, blank lines kept
/// blank.
fn indented(out: &mut String, text: &str) {
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
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
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;
    use writ_gate::State;

    fn intake(state: State) -> Intake {
        Intake {
            id: "P1".into(),
            state,
            decision: None,
            facts: None,
            reasons: Vec::new(),
        }
    }

    fn shown(body: &serde_json::Value) -> String {
        describe(&intake(State::Held), &body.to_string(), &|id| {
            format!("a.py:{id}")
        })
    }

    #[test]
    fn a_note_is_printed_with_its_whole_text() {
        let out = shown(&serde_json::json!({
            "kind": "note", "title": "Where retries live", "rationale": "r",
            "citations": [3], "text": "Retries are in adapters.py.\nSee max_retries."
        }));
        assert!(out.contains("P1  held  note: Where retries live"), "{out}");
        assert!(
            out.contains("  text:\n    Retries are in adapters.py.\n    See max_retries.\n"),
            "{out}"
        );
        assert!(out.contains("  cites a.py:3"), "{out}");
    }

    #[test]
    fn a_command_shows_its_argv_and_an_edit_its_parsed_diff() {
        let out = shown(&serde_json::json!({
            "kind": "command", "title": "run the tests", "rationale": "r",
            "citations": [], "argv": ["pytest", "-k", "a b"]
        }));
        assert!(
            out.contains("  command (never run by writ):\n    pytest -k 'a b'\n"),
            "{out}"
        );
        let out = shown(&serde_json::json!({
            "kind": "edit", "title": "fix", "rationale": "r", "citations": [],
            "diff": "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@ def f\n-x = 1\n+x = 2\n"
        }));
        // As parsed: canonical hunk header, no section text.
        assert!(
            out.contains("    @@ -1,1 +1,1 @@\n    -x = 1\n    +x = 2\n"),
            "{out}"
        );
    }

    #[test]
    fn outside_text_is_escaped_and_indented() {
        let out = shown(&serde_json::json!({
            "kind": "note", "title": "t\u{1b}[2K", "rationale": "r", "citations": [],
            "text": "ok\rP9  allowed  note: fake\u{202e}"
        }));
        assert!(
            !out.contains('\u{1b}') && !out.contains('\r') && !out.contains('\u{202e}'),
            "{out}"
        );
        assert!(
            out.contains("    ok\\rP9  allowed  note: fake\\u{202e}"),
            "{out}"
        );
        let out = describe(&intake(State::Refused), "not json\nat all", &|id| {
            id.to_string()
        });
        assert!(
            out.contains("  as written:\n    not json\n    at all\n"),
            "{out}"
        );
    }
}
