//! `writ bench vectors`: the vector store alone at 100k, 1M, 3M vectors.
//!
//! Each count is built in its own folder (a catalog of real vectors
//! repeated and perturbed, the base segment as `writ index` builds it, a
//! one-file update), then queried by a fresh `writ` process after the
//! files were dropped from the page cache (`dd iflag=nocache`), so the
//! cold figure is a process that has not read the store. Reported, never
//! asserted.

use crate::exit::{CmdResult, ExitCode, Failure};
use crate::out::{outln, print_json};
use anyhow::{anyhow, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use writ_index::scale::{self, Built, Queried};

/// What to measure.
pub struct Plan {
    pub from: Option<PathBuf>,
    pub counts: Vec<usize>,
    pub queries: usize,
    pub work: Option<PathBuf>,
    pub json: bool,
}

pub fn run(plan: Plan, build_only: Option<PathBuf>, query_only: Option<PathBuf>) -> CmdResult {
    if let Some(dir) = query_only {
        let q = scale::query(&dir).map_err(anyhow::Error::from)?;
        print_json(&q)?;
        return Ok(ExitCode::Ok);
    }
    let Plan {
        from,
        counts,
        queries,
        work,
        json,
    } = plan;
    let from = match from {
        Some(f) => f,
        None => crate::ctx::cwd()?.join(".writ"),
    };
    let (dim, seeds) = scale::seeds(&from).map_err(|e| {
        Failure::new(ExitCode::NoInput, anyhow!("{e}"))
            .hint("give --from the folder of an index built with the real model (`writ index` writes <repo>/.writ)")
    })?;
    if seeds.is_empty() {
        return Err(Failure::new(
            ExitCode::NoInput,
            anyhow!("`{}` holds no vectors", from.display()),
        ));
    }
    if let Some(dir) = build_only {
        let count = counts.first().copied().unwrap_or(100_000);
        let b = scale::build(&dir, &seeds, dim, count, queries).map_err(anyhow::Error::from)?;
        print_json(&b)?;
        return Ok(ExitCode::Ok);
    }
    let work = work.unwrap_or_else(std::env::temp_dir);
    if !json {
        outln!(
            "vector store, {} seed vectors of dim {dim} from {}, {queries} queries of depth {} (recall on the top 10)",
            seeds.len() / dim,
            crate::term::clean(&from.display().to_string()),
            writ_index::DEPTH
        );
        outln!("  count      build   update   seg MiB   db MiB  build RSS   cold ms  1st p50  p50 ms   p99 ms  search RSS (anon+file)  recall@10  kind");
    }
    for &count in &counts {
        let dir = work.join(format!("writ-bench-vectors-{count}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let result = measure(&dir, &from, count, queries);
        let _ = std::fs::remove_dir_all(&dir);
        let (built, queried) = result?;
        if json {
            print_json(&serde_json::json!({ "build": built, "query": queried }))?;
        } else {
            outln!("{}", line(&built, &queried));
        }
    }
    Ok(ExitCode::Ok)
}

/// Builds and queries one count, each phase in a fresh `writ` process so
/// its memory and its cold start are its own.
fn measure(
    dir: &Path,
    from: &Path,
    count: usize,
    queries: usize,
) -> Result<(Built, Queried), Failure> {
    let built: Built = phase(&[
        "--build-only".as_ref(),
        dir.as_os_str(),
        "--from".as_ref(),
        from.as_os_str(),
        "--count".as_ref(),
        count.to_string().as_ref(),
        "--queries".as_ref(),
        queries.to_string().as_ref(),
    ])?;
    if !drop_cache(dir) {
        outln!("(the page cache could not be dropped with `dd iflag=nocache`: the cold figures below are warm)");
    }
    let queried: Queried = phase(&["--query-only".as_ref(), dir.as_os_str()])?;
    Ok((built, queried))
}

/// Runs `writ bench vectors ARGS` and reads its JSON answer.
fn phase<T: serde::de::DeserializeOwned>(args: &[&std::ffi::OsStr]) -> Result<T, Failure> {
    let exe = std::env::current_exe().context("finding the writ binary")?;
    let out = Command::new(exe)
        .args(["bench", "vectors"])
        .args(args)
        .output()
        .context("running a phase of the benchmark")?;
    if !out.status.success() {
        return Err(Failure::new(
            ExitCode::Error,
            anyhow!(
                "a phase of the benchmark failed: {}",
                crate::term::clean(String::from_utf8_lossy(&out.stderr).trim())
            ),
        ));
    }
    Ok(serde_json::from_slice(&out.stdout).context("reading a phase's answer")?)
}

/// Asks the kernel to drop `dir`'s files from the page cache (GNU dd's
/// `iflag=nocache count=0`); false when that did not work for every file.
fn drop_cache(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().all(|entry| {
        let mut arg = std::ffi::OsString::from("if=");
        arg.push(entry.path());
        Command::new("dd")
            .arg(arg)
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn line(b: &Built, q: &Queried) -> String {
    let mib = |x: u64| x as f64 / (1024.0 * 1024.0);
    format!(
        "{:>7}  {:>7.1}s  {:>6.3}s  {:>8.0}  {:>7.0}  {:>8.0}M  {:>8.0}  {:>7.2}  {:>6.2}  {:>7.2}  {:>6.0}M ({:.0}+{:.0})  {:>9.3}  {}, {} queries{}",
        b.count,
        b.build_seconds,
        b.update_seconds,
        mib(b.segment_bytes),
        mib(b.catalog_bytes),
        mib(b.peak_rss),
        q.cold_seconds * 1000.0,
        q.first_pass_p50_seconds * 1000.0,
        q.p50_seconds * 1000.0,
        q.p99_seconds * 1000.0,
        mib(q.peak_rss),
        mib(q.rss_anon),
        mib(q.rss_file),
        q.recall_at_10,
        if b.approximate { "IVF,SQ8 (mmap) + exact re-score" } else { "flat (exact)" },
        b.queries,
        if b.held_out_queries { "" } else { "; queries are perturbed copies of the seeds (too few seeds to hold any out): recall is flattered" }
    )
}
