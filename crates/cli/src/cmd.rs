//! The commands: dispatch, and the index commands (index, search,
//! status). Each turns parsed arguments into library calls and output.

use crate::args::{Cli, Command, IndexArgs, Mode, SearchArgs, StatusArgs};
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::out::{outln, print_json};
use crate::term::clean;
use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, Read, Write};
use writ_index::{IndexOptions, Indexer, Progress, SearchMode, Searcher, WalkOptions};
use writ_service::models::load_embedder;
use writ_service::search::search_options;
use writ_service::{find_repo, index_dir};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Index(args) => index(args),
        Command::Search(args) => search(args),
        Command::Status(args) => status(args),
        Command::Bench(args) => crate::bench::run(args),
        Command::Eval(args) => crate::eval::run(args),
        Command::Rules(args) => crate::rules::rules(args),
        Command::Ask(args) => crate::ask::ask(args),
        Command::Proposals(args) => crate::show::proposals(args),
        Command::Show(args) => crate::show::show(args),
        Command::Propose(args) => crate::review::propose(args),
        Command::Serve(args) => crate::servers::serve(args),
        Command::Mcp(args) => crate::servers::mcp(args),
        Command::Review(args) => crate::review::review(args),
        Command::Explain(args) => crate::review::explain(args),
        Command::Verify(args) => crate::review::verify(args),
        Command::Actions(args) => crate::review::actions(args),
        Command::Apply(args) => crate::review::apply(args),
        Command::Schema { .. } => {
            print_json(&writ_proposal::schema())?;
            Ok(ExitCode::Ok)
        }
        Command::Config(args) => crate::settings::show(&args),
        Command::Models(args) => crate::models::models(args),
        Command::Completions { shell } => crate::docs::completions(shell),
        Command::Man { out } => crate::docs::man(out.as_deref()),
    }
}

fn index(args: IndexArgs) -> CmdResult {
    let root = crate::ctx::folder(args.path.as_deref())?;
    let dir = index_dir(args.loc.index.as_deref(), &root);
    let walk = WalkOptions {
        hidden: args.hidden,
        generated: args.generated,
        max_file_size: args.max_file_size,
        ..WalkOptions::default()
    };
    if !args.force {
        crate::ctx::guard_root(&root, &walk, "index")?;
    }
    // A rebuild is a new index: it takes the asked or the CPU's default
    // precision, not the old index's.
    let choice = crate::ctx::embedder(&args.loc);
    let choice = if args.rebuild {
        choice
    } else {
        choice.following(&dir)
    };
    let embedder = load_embedder(&choice)?;
    let now = embedder.info().precision;
    if let Some(old) = writ_service::models::index_precision(&dir).filter(|&p| p != now) {
        if args.rebuild && !args.estimate {
            eprintln!(
                "note: the index was built in {old}; this rebuild makes it {now} (`--precision {old}` keeps it); restart a running `writ serve` or `writ mcp` afterwards"
            );
        }
    }
    let options = IndexOptions {
        walk,
        rebuild: args.rebuild,
        ..IndexOptions::default()
    };
    if args.estimate {
        return estimate(
            &Indexer::new(&root, &dir, &*embedder, options),
            &root,
            args.json,
        );
    }
    // First Ctrl-C: finish the current batch and publish; second: leave now
    // (SQLite transactions keep the index whole either way).
    let cancel = crate::ctx::ctrl_c("writ");
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>9} [{bar:30}] {pos}/{len} {msg} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    // What computes the vectors, said once: the model, and where and in
    // which arithmetic it runs.
    let info = embedder.info();
    let engine = if !info.fingerprint.is_empty() {
        "on the embedding server".to_string()
    } else if info.precision.is_f32() {
        "on the CPU in f32".to_string()
    } else {
        format!(
            "on the CPU in {} ({})",
            info.precision,
            writ_embed::int8_kernel()
        )
    };
    let model = clean(&info.id);
    let progress = |p: Progress| match p {
        Progress::Scanned { files } => {
            bar.suspend(|| {
                eprintln!(
                    "writ: {files} files to look at in {} (unchanged ones are not re-embedded); embedding with {model} {engine}",
                    clean(&root.display().to_string())
                )
            });
            bar.set_prefix("scanned");
            bar.set_message(format!("{files} files"));
        }
        Progress::Chunking { done, total } => {
            bar.set_prefix("chunking");
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message("files");
        }
        Progress::Embedding { done, total } => {
            if bar.prefix() != "embedding" {
                bar.set_prefix("embedding");
                bar.reset();
            }
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message("chunks");
        }
        Progress::Publishing => bar.set_prefix("writing"),
    };
    let report = Indexer::new(&root, &dir, &*embedder, options).run(&cancel, &progress);
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        print_json(&report)?;
    } else {
        eprintln!(
            "indexed {} in {:.1}s: {} files scanned ({} added, {} changed, {} deleted, {} unchanged, {} skipped); \
             chunks: {} embedded, {} reused, {} removed, {} total; generation {}",
            clean(&dir.display().to_string()),
            report.seconds,
            report.files_scanned,
            report.files_added,
            report.files_changed,
            report.files_deleted,
            report.files_unchanged,
            report.files_skipped,
            report.chunks_embedded,
            report.chunks_reused,
            report.chunks_removed,
            report.chunks_total,
            report.generation
        );
        if report.vectors_rebuilt {
            eprintln!("note: the FAISS files did not match the catalog; rebuilt them from SQLite without re-embedding");
        }
        if !report.files_lossy.is_empty() {
            eprintln!(
                "note: invalid UTF-8 replaced in: {}",
                clean(&report.files_lossy.join(", "))
            );
        }
    }
    if report.interrupted {
        eprintln!(
            "writ: interrupted; {} files left stale, their finished vectors are kept; run `writ index` again to complete",
            report.files_pending
        );
        return Ok(ExitCode::Interrupted);
    }
    Ok(ExitCode::Ok)
}

/// `writ index --estimate`: what a run would do, nothing written.
fn estimate(indexer: &Indexer<'_>, root: &std::path::Path, json: bool) -> CmdResult {
    let e = indexer.estimate()?;
    if json {
        print_json(&e)?;
        return Ok(ExitCode::Ok);
    }
    let embed = if e.to_embed == e.chunks {
        "all of them to embed".to_string()
    } else {
        format!(
            "{} of them to embed ({} tokens), the rest already in the index",
            e.to_embed, e.tokens_to_embed
        )
    };
    outln!(
        "{}: {} files, {} chunks ({} tokens); {embed}",
        clean(&root.display().to_string()),
        e.files,
        e.chunks,
        e.tokens
    );
    if e.sample_chunks > 0 {
        outln!(
            "embedding measured at {:.0} tokens/s on {} sample chunks: about {} to embed them (walking and chunking took {:.1}s)",
            e.tokens_per_second,
            e.sample_chunks,
            duration(e.embed_seconds),
            e.scan_seconds
        );
    } else {
        outln!("nothing to embed: the index is up to date with this tree");
    }
    Ok(ExitCode::Ok)
}

/// `95 s`, `12 min`, `3.4 h`.
fn duration(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// The index's search mode for `--mode`.
fn mode(mode: Mode) -> SearchMode {
    match mode {
        Mode::Hybrid => SearchMode::Hybrid,
        Mode::Vector => SearchMode::Vector,
        Mode::Lexical => SearchMode::Lexical,
    }
}

fn search(args: SearchArgs) -> CmdResult {
    if let Some(q) = &args.query {
        writ_service::search::validate_query(q)?;
    }
    // The bounds every front end enforces, for --batch too.
    writ_service::SearchRequest {
        k: args.k,
        threshold: args.threshold,
        max_tokens: args.max_tokens,
        ..writ_service::SearchRequest::new("bounds")
    }
    .check()?;
    let repo = find_repo(&crate::ctx::cwd()?, args.repo.as_deref())?;
    let dir = index_dir(args.loc.index.as_deref(), &repo);
    writ_service::require_index(&dir)?;
    let mut options = search_options(args.k, &args.paths, &args.langs, mode(args.mode))?;
    options.min_similarity = args.threshold;
    options.tests = args.tests;
    let embedder = load_embedder(&crate::ctx::embedder(&args.loc).following(&dir))?;
    let mut searcher = Searcher::open(&dir, &*embedder)?;
    if searcher.vectors_rebuilt() {
        eprintln!("note: the FAISS files did not match the catalog; rebuilt them in memory from SQLite without re-embedding (`writ index` writes them back)");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(batch) = &args.batch {
        let input: Box<dyn Read> = if batch.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            let f = std::fs::File::open(batch).map_err(|e| {
                Failure::new(ExitCode::NoInput, anyhow!("`{}`: {e}", batch.display()))
            })?;
            Box::new(f)
        };
        let mut reader = std::io::BufReader::new(input);
        let mut pending: Vec<String> = Vec::new();
        let mut n = 0;
        loop {
            let mut line = String::new();
            let done = reader.read_line(&mut line).context("reading queries")? == 0;
            n += 1;
            let trimmed = line.trim();
            if !trimmed.is_empty() {
                match batch_query(trimmed, batch, n) {
                    Ok(query) => pending.push(query),
                    Err(e) => {
                        // The lines before a bad one are still answered.
                        answer_batch(&mut searcher, &repo, &options, &mut out, &pending)?;
                        return Err(e);
                    }
                }
            }
            // Queries already read are embedded together; a writer that
            // waits for each answer still gets it at once, as nothing here
            // waits for more input than one line.
            let more_buffered = reader.buffer().contains(&b'\n');
            if done || pending.len() >= BATCH_QUERIES || !more_buffered {
                answer_batch(&mut searcher, &repo, &options, &mut out, &pending)?;
                pending.clear();
            }
            if done {
                break;
            }
        }
        return Ok(ExitCode::Ok);
    }
    let req = writ_service::SearchRequest {
        k: args.k,
        paths: args.paths.clone(),
        langs: args.langs.clone(),
        threshold: args.threshold,
        max_tokens: args.max_tokens,
        snippets: args.snippets,
        tests: args.tests,
        cursor: args.cursor.clone(),
        ..writ_service::SearchRequest::new(args.query.unwrap_or_default())
    };
    let answer = writ_service::search::run(&mut searcher, &repo, &req, mode(args.mode))?;
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&answer).context("encoding hits")?
        )
        .context("writing")?;
        return Ok(ExitCode::Ok);
    }
    if answer.hits.is_empty() {
        eprintln!("no hits");
    }
    for h in &answer.hits {
        let hit = &h.hit;
        let similarity = hit
            .similarity
            .map_or_else(String::new, |s| format!("  cos {s:.3}"));
        writeln!(
            out,
            "{}:{}-{}  {:.4}{similarity}  {}{}",
            clean(&hit.path),
            hit.start_line,
            hit.end_line,
            hit.score,
            clean(hit.symbol.as_deref().unwrap_or("")),
            if h.stale {
                "  [stale: changed since indexed]"
            } else {
                ""
            }
        )
        .context("writing")?;
        for line in h.text.lines().filter(|l| !l.trim().is_empty()).take(2) {
            let short: String = line.chars().take(100).collect();
            writeln!(out, "    {}", crate::term::block(&short)).context("writing")?;
        }
    }
    if answer.hits.iter().any(|h| h.stale) {
        eprintln!(
            "note: some hits' files changed since they were indexed; run `writ index` to refresh"
        );
    }
    if let Some(c) = &answer.next_cursor {
        if answer.truncated {
            eprintln!("note: cut to --max-tokens; more with --cursor {c}");
        }
    }
    Ok(ExitCode::Ok)
}

fn status(args: StatusArgs) -> CmdResult {
    let repo = find_repo(&crate::ctx::cwd()?, args.repo.as_deref())?;
    let dir = index_dir(args.loc.index.as_deref(), &repo);
    let status = writ_index::status(&repo, &dir)?;
    if args.json {
        print_json(&status)?;
        return Ok(ExitCode::Ok);
    }
    outln!("index      {}", clean(&status.index_dir));
    outln!("generation {}", status.generation);
    outln!("files      {}", status.files);
    outln!(
        "chunks     {} ({} distinct vectors)",
        status.chunks,
        status.vectors
    );
    if let Some(m) = &status.manifest {
        outln!(
            "model      {} (dim {}, {}, sha256 {}), chunker {}, format {}",
            clean(&m.model.id),
            m.model.dim,
            m.model.precision,
            clean(m.model.sha256.get(..16).unwrap_or("")),
            clean(&m.chunker),
            m.format_version
        );
    }
    outln!(
        "on disk    {:.1} MiB",
        status.size_bytes as f64 / (1024.0 * 1024.0)
    );
    if let Some(t) = status.last_indexed {
        let age = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(t);
        outln!("indexed    {age}s ago (unix time {t})");
    }
    outln!(
        "skipped    {} files (reasons: writ status --json)",
        status.skipped.len()
    );
    if status.stale.is_empty() {
        outln!("stale      none: the index is up to date");
    } else {
        outln!(
            "stale      {} files; run `writ index` to update:",
            status.stale.len()
        );
        for s in status.stale.iter().take(20) {
            outln!("  {:<8} {}", s.change, clean(&s.path));
        }
    }
    Ok(ExitCode::Ok)
}

/// How many `--batch` queries are embedded together at most.
const BATCH_QUERIES: usize = 64;

/// One `--batch` line: a bare query, or a JSON object with a `query` field.
fn batch_query(line: &str, file: &std::path::Path, n: usize) -> Result<String, Failure> {
    if !line.starts_with('{') {
        return Ok(line.to_string());
    }
    let v: serde_json::Value = serde_json::from_str(line)
        .with_context(|| format!("{}:{n}: not a JSON object", file.display()))?;
    let query = v.get("query").and_then(|q| q.as_str()).map(str::to_string);
    Ok(query.ok_or_else(|| anyhow!("{}:{n}: no string `query` field", file.display()))?)
}

/// Prints one JSON line per query, in order, and flushes.
fn answer_batch(
    searcher: &mut Searcher<'_>,
    root: &std::path::Path,
    options: &writ_index::SearchOptions,
    out: &mut impl Write,
    queries: &[String],
) -> Result<(), Failure> {
    if queries.is_empty() {
        return Ok(());
    }
    let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
    for (query, hits) in refs.iter().zip(searcher.search_many(&refs, options)?) {
        let hits = writ_service::search::full_hits(searcher, root, hits)?;
        let line = serde_json::json!({ "query": query, "hits": hits });
        writeln!(out, "{line}").context("writing results")?;
    }
    out.flush().context("writing results")?;
    Ok(())
}
