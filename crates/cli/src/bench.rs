//! `writ bench`: throughput and latency figures, reported, never asserted.

use crate::args::{BenchArgs, BenchWhat};
use crate::ctx::embedder as choice;
use crate::exit::{CmdResult, ExitCode, Failure};
use anyhow::{anyhow, Context};
use std::io::Write;
use std::time::Instant;
use writ_core::Embedder;
use writ_embed::{Forward, MiniLm};
use writ_index::{IndexOptions, Indexer, SearchOptions, Searcher};
use writ_service::models::{load_embedder, load_embedder_with, load_local_embedder};
use writ_service::{existing, find_repo, index_dir};

/// Seconds to embed `texts` 128 at a time, after a warm-up on the shortest.
fn time_embedding(embedder: &MiniLm, texts: &[&str]) -> Result<f64, Failure> {
    let warm: Vec<&str> = texts.iter().rev().take(8).copied().collect();
    embedder.embed(&warm).map_err(anyhow::Error::from)?;
    let start = Instant::now();
    for batch in texts.chunks(128) {
        embedder.embed(batch).map_err(anyhow::Error::from)?;
    }
    Ok(start.elapsed().as_secs_f64())
}

pub fn run(args: BenchArgs) -> CmdResult {
    match args.what {
        BenchWhat::Embed {
            corpus,
            texts_out,
            loc,
        } => {
            let root = existing(&crate::ctx::cwd()?, &corpus)?;
            let embedder = load_local_embedder(&choice(&loc))?;
            let scratch = std::env::temp_dir().join("writ-bench-unused");
            let indexer = Indexer::new(&root, &scratch, &embedder, IndexOptions::default());
            let texts = indexer.embed_texts();
            if texts.is_empty() {
                return Err(Failure::new(
                    ExitCode::NoInput,
                    anyhow!("no chunks in `{}`", root.display()),
                ));
            }
            if let Some(path) = &texts_out {
                let mut f = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                for t in &texts {
                    writeln!(f, "{}", serde_json::json!({ "text": t })).context("writing texts")?;
                }
            }
            let max = embedder.info().max_tokens;
            let mut lens: Vec<usize> = texts
                .iter()
                .map(|t| embedder.count_tokens(t).min(max))
                .collect();
            let tokens: usize = lens.iter().sum();
            lens.sort_unstable();
            let pct = |p: f64| lens[((lens.len() - 1) as f64 * p) as usize];
            // Same order and batching as the indexer: longest first, 128 per
            // call; writ's own forward, then candle-transformers' as the
            // in-process baseline.
            let mut order: Vec<&str> = texts.iter().map(String::as_str).collect();
            order.sort_by_key(|t| std::cmp::Reverse(t.len()));
            let fused = time_embedding(&embedder, &order)?;
            let line = |name: &str, secs: f64| {
                crate::out::outln!(
                    "{name}: {} texts, {} tokens, {:.2} s: {:.1} texts/s, {:.0} tokens/s",
                    texts.len(),
                    tokens,
                    secs,
                    texts.len() as f64 / secs,
                    tokens as f64 / secs
                )
            };
            let precision = embedder.info().precision;
            line(
                &format!("writ ({:?} forward, {precision})", embedder.forward()),
                fused,
            );
            drop(embedder);
            if !precision.is_f32() {
                let f32 = load_local_embedder(&writ_service::ModelChoice {
                    precision: Some(writ_core::Precision::F32),
                    ..choice(&loc)
                })?;
                let secs = time_embedding(&f32, &order)?;
                line("writ (Fused forward, f32)", secs);
                crate::out::outln!("ratio: {precision} is {:.2}x f32", secs / fused);
            }
            let candle =
                time_embedding(&load_embedder_with(&choice(&loc), Forward::Candle)?, &order)?;
            line("candle-transformers BertModel", candle);
            crate::out::outln!("ratio: writ is {:.2}x candle-transformers", candle / fused);
            crate::out::outln!(
                "token lengths (truncated at {max}): mean {:.0}, p10 {}, p50 {}, p90 {}, max {}; {} of {} texts at the cap",
                tokens as f64 / lens.len() as f64,
                pct(0.1),
                pct(0.5),
                pct(0.9),
                pct(1.0),
                lens.iter().filter(|&&l| l >= max).count(),
                lens.len()
            );
            Ok(ExitCode::Ok)
        }
        BenchWhat::Llm { model, tokens, loc } => llm(&loc, model.as_deref(), tokens),
        BenchWhat::Gate { events } => crate::bench_gate::run(events),
        BenchWhat::Vectors {
            from,
            counts,
            queries,
            work,
            json,
            build_only,
            query_only,
        } => crate::bench_vectors::run(
            crate::bench_vectors::Plan {
                from,
                counts,
                queries,
                work,
                json,
            },
            build_only,
            query_only,
        ),
        BenchWhat::Search { repo, queries, loc } => {
            let t0 = Instant::now();
            let repo = find_repo(&crate::ctx::cwd()?, repo.as_deref())?;
            let dir = index_dir(loc.index.as_deref(), &repo);
            let text = std::fs::read_to_string(&queries).map_err(|e| {
                Failure::new(ExitCode::NoInput, anyhow!("`{}`: {e}", queries.display()))
            })?;
            let queries: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let embedder = load_embedder(&choice(&loc).following(&dir))?;
            let mut searcher = Searcher::open(&dir, &*embedder)?;
            let opened = t0.elapsed().as_secs_f64() * 1000.0;
            let options = SearchOptions::default();
            let mut times = Vec::new();
            for q in &queries {
                let s = Instant::now();
                searcher.search(q, &options)?;
                times.push(s.elapsed().as_secs_f64() * 1000.0);
            }
            let first = times.first().copied().unwrap_or(0.0);
            let mut warm = times.iter().skip(1).copied().collect::<Vec<_>>();
            warm.sort_by(f64::total_cmp);
            let pct = |p: f64| {
                warm.get(((warm.len().max(1) - 1) as f64 * p) as usize)
                    .copied()
                    .unwrap_or(0.0)
            };
            crate::out::outln!(
                "search: cold {:.0} ms (model load + open {:.0} ms + first query {:.1} ms); warm over {} queries: p50 {:.1} ms, p99 {:.1} ms",
                opened + first,
                opened,
                first,
                warm.len(),
                pct(0.5),
                pct(0.99)
            );
            Ok(ExitCode::Ok)
        }
    }
}

/// The prompt of `../shared/eval/llamacpp_bench.py`, so both report on the
/// same tokens.
fn llamacpp_prompt(chat: writ_llm::ChatTemplate) -> String {
    let lines: Vec<String> = (0..40)
        .map(|i| format!("[{i}] src/module_{i}.py: def handler_{i}(request): return process(request, level={i})"))
        .collect();
    let user = format!(
        "Context:\n{}\nWhich handler uses level 7?",
        lines.join("\n")
    );
    chat.render(&[
        writ_llm::Message::new("system", "You are a helpful assistant."),
        writ_llm::Message::new("user", &user),
    ])
}

fn llm(loc: &crate::args::Locations, model: Option<&std::path::Path>, tokens: usize) -> CmdResult {
    use writ_llm::{GenerateOptions, LoadOptions, LocalLlm};
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t0 = Instant::now();
    let mut fast = writ_service::models::load_llm(&writ_service::ModelChoice {
        llm: model.map(std::path::Path::to_path_buf),
        ..choice(loc)
    })?;
    let load_fast = t0.elapsed().as_secs_f64();
    let path = fast.info().path.clone();
    let prompt = llamacpp_prompt(fast.info().template);
    let options = GenerateOptions {
        max_tokens: tokens,
        ..GenerateOptions::default()
    };
    let fail = |e: writ_llm::LlmError| Failure::new(ExitCode::Error, e);
    let report = |label: &str, g: &writ_llm::Generation| {
        crate::out::outln!(
            "writ (candle, {label}): prefill {} tok in {:.2}s = {:.0} tok/s; decode {} tok in {:.2}s = {:.1} tok/s ({threads} threads, stopped: {})",
            g.prompt_tokens,
            g.prefill_seconds,
            g.prompt_tokens as f64 / g.prefill_seconds.max(1e-9),
            g.tokens.len(),
            g.decode_seconds,
            g.tokens.len() as f64 / g.decode_seconds.max(1e-9),
            g.stop.name()
        );
    };
    // A short warm-up run, then the measured one.
    let timed = |llm: &mut LocalLlm| -> Result<writ_llm::Generation, Failure> {
        let warm = GenerateOptions {
            max_tokens: 4,
            ..options.clone()
        };
        llm.generate(&prompt, &warm, &mut |_| {}).map_err(fail)?;
        llm.generate(&prompt, &options, &mut |_| {}).map_err(fail)
    };
    let g = timed(&mut fast)?;
    report(
        &format!("Q4_1/Q5_0/Q5_1 re-encoded as Q8_0 at load, {load_fast:.1}s"),
        &g,
    );

    let paths: Vec<String> = (0..40).map(|i| format!("src/module_{i}.py")).collect();
    let passages: Vec<writ_ask::prompt::Passage<'_>> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| writ_ask::prompt::Passage {
            chunk: i as i64 + 1,
            path: p,
            start_line: 1,
            end_line: 1,
            symbol: None,
            language: "python",
            text: "",
        })
        .collect();
    let grammar =
        writ_ask::prompt::grammar(&passages, &writ_ask::prompt::Limits { max_proposals: 2 });
    let t = Instant::now();
    let mut guide = fast.lark_guide(&grammar).map_err(fail)?;
    let compile = t.elapsed().as_secs_f64();
    let g = fast
        .generate_guided(&prompt, &options, Some(&mut guide), &mut |_| {})
        .map_err(fail)?;
    report(
        &format!("same, held to the proposal grammar; grammar ready in {compile:.2}s"),
        &g,
    );
    drop(fast);

    let t0 = Instant::now();
    let mut exact = LocalLlm::load_with(&path, LoadOptions { requantize: false })
        .map_err(|e| Failure::new(ExitCode::Models, e))?;
    let load_exact = t0.elapsed().as_secs_f64();
    let g = timed(&mut exact)?;
    report(&format!("the file's own weights, {load_exact:.1}s"), &g);
    Ok(ExitCode::Ok)
}
