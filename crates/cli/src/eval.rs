//! `writ eval`: retrieval quality on the user's own repository.

use crate::args::EvalArgs;
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::out::{outln, print_json};
use crate::term::clean;
use anyhow::anyhow;
use std::path::Path;
use writ_eval::{EvalError, EvalOptions, Report, Score};
use writ_index::WalkOptions;
use writ_service::index_dir;
use writ_service::models::load_embedder;

/// Runs `writ eval`.
pub fn run(args: EvalArgs) -> CmdResult {
    let root = crate::ctx::folder(args.path.as_deref())?;
    if let Some(keep) = &args.keep {
        check_keep(keep, &root)?;
    }
    let walk = WalkOptions {
        hidden: args.hidden,
        generated: args.generated,
        ..WalkOptions::default()
    };
    if !args.force {
        crate::ctx::guard_root(&root, &walk, "eval")?;
    }
    let embedder = load_embedder(&crate::ctx::embedder(&args.loc))?;
    let options = EvalOptions {
        walk,
        max_queries: args.max_queries,
        baseline: !args.no_baseline,
        misses: args.misses,
        exclude: Some(index_dir(args.loc.index.as_deref(), &root)),
        work_dir: args.keep.clone(),
        ..EvalOptions::default()
    };
    let progress = |line: &str| eprintln!("writ eval: {line}");
    // First Ctrl-C: stop after the current batch and clean up; second: now.
    let cancel = crate::ctx::ctrl_c("writ eval");
    let report =
        writ_eval::evaluate(&root, &*embedder, &options, &cancel, &progress).map_err(failure)?;
    if args.json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(ExitCode::Ok)
}

/// `--keep DIR` must be new or empty, and outside the repository (a copy
/// inside it would be indexed with it).
fn check_keep(keep: &Path, root: &Path) -> Result<(), Failure> {
    let shown = clean(&keep.display().to_string()).into_owned();
    let used = match std::fs::read_dir(keep) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(
                Failure::new(ExitCode::Error, anyhow!("--keep `{shown}`: {e}"))
                    .hint("name a new or empty folder you can read and write"),
            )
        }
    };
    if used {
        return Err(Failure::new(
            ExitCode::Error,
            anyhow!("--keep `{shown}` is not an empty folder"),
        )
        .hint("name a new or empty folder: writ writes corpus/, index/ and tasks.jsonl into it"));
    }
    // `..` after a folder that does not exist yet is resolved only when it
    // is created; refused, so the check below sees the real place.
    if keep
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(
            Failure::new(ExitCode::Error, anyhow!("--keep `{shown}` contains `..`"))
                .hint("name the folder by a path without `..`"),
        );
    }
    // The deepest existing ancestor, resolved, tells where it will be.
    let absolute = crate::ctx::cwd()?.join(keep);
    let resolved = absolute.ancestors().find_map(|a| {
        a.canonicalize()
            .ok()
            .map(|c| c.join(absolute.strip_prefix(a).unwrap_or(Path::new(""))))
    });
    if resolved.is_some_and(|r| r.starts_with(root)) {
        return Err(Failure::new(
            ExitCode::Error,
            anyhow!("--keep `{shown}` is inside the repository being evaluated"),
        )
        .hint("name a folder outside it: a copy inside would be indexed with the repository"));
    }
    Ok(())
}

fn failure(e: EvalError) -> Failure {
    match e {
        EvalError::Index(e) => e.into(),
        EvalError::Interrupted => Failure::new(ExitCode::Interrupted, e),
        EvalError::NoTasks { .. } => Failure::new(ExitCode::NoInput, e)
            .hint("point writ eval at a repository whose functions carry doc comments"),
        other => Failure::new(ExitCode::Error, other),
    }
}

fn print_report(r: &Report) {
    outln!(
        "writ eval {}: {} files, {} chunks ({} peer windows); {} documented functions, {} asked; {:.1}s",
        clean(&r.root),
        r.files,
        r.chunks,
        r.windows,
        r.tasks_found,
        r.tasks,
        r.seconds
    );
    outln!();
    outln!(
        "{:<12} {:>5}  {:<12} {:>7} {:>6} {:>6}",
        "language",
        "n",
        "mode",
        "MRR@10",
        "R@1",
        "R@10"
    );
    let mut groups: Vec<(&str, usize, &[Score])> = r
        .languages
        .iter()
        .map(|l| (l.language.as_str(), l.n, l.scores.as_slice()))
        .collect();
    if r.languages.len() > 1 {
        groups.push(("all", r.tasks, &r.overall));
    }
    for (language, n, scores) in groups {
        for (i, s) in scores.iter().enumerate() {
            let (l, n) = if i == 0 {
                (language.to_string(), n.to_string())
            } else {
                (String::new(), String::new())
            };
            outln!(
                "{l:<12} {n:>5}  {:<12} {:>7.3} {:>6.3} {:>6.3}",
                s.mode,
                s.mrr10,
                s.r1,
                s.r10
            );
        }
    }
    if r.misses.is_empty() {
        return;
    }
    outln!();
    outln!("worst misses (not in hybrid's top 10; those another mode found first):");
    for m in &r.misses {
        let found: Vec<String> = m
            .ranks
            .iter()
            .filter_map(|(mode, rank)| rank.map(|r| format!("{mode} #{r}")))
            .collect();
        outln!("  \"{}\"", clean(&m.task.query));
        outln!(
            "    answer {}:{}-{}; found by: {}",
            clean(&m.task.path),
            m.task.start,
            m.task.end,
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        );
        if let Some(t) = &m.top {
            outln!(
                "    hybrid's first: {}:{}-{} {}",
                clean(&t.path),
                t.start_line,
                t.end_line,
                clean(t.symbol.as_deref().unwrap_or(""))
            );
        }
    }
}
