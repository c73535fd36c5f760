//! The command line's inputs turned into the service's: places from
//! `--repo`/`--index`/`--rules` and the current folder, model choices
//! from `--model`/`--models`/`--embed-model`.

use crate::args::{GateArgs, Locations, ModelArgs};
use crate::exit::{ExitCode, Failure};
use crate::term::clean;
use anyhow::anyhow;
use std::path::PathBuf;
use writ_index::WalkOptions;
use writ_service::{ModelChoice, Places};

/// The current folder (the one thing the binary reads for libraries).
pub fn cwd() -> Result<PathBuf, Failure> {
    std::env::current_dir().map_err(|e| Failure::new(ExitCode::Error, e))
}

/// Resolves `--repo`, `--index` and `--rules`.
pub fn places(args: &GateArgs) -> Result<Places, Failure> {
    Ok(Places::resolve(
        &cwd()?,
        args.repo.as_deref(),
        args.index.as_deref(),
        args.rules.as_deref(),
    )?)
}

/// Which models `--model`, `--models` and `--embed-model` choose.
pub fn models(args: &ModelArgs) -> ModelChoice {
    ModelChoice {
        llm: args.model.clone(),
        remote: args.llm_url.as_ref().map(|url| {
            let mut spec = writ_llm::RemoteSpec::new(url.clone());
            spec.model = args.llm_model.clone();
            spec
        }),
        cache: args.models.clone(),
        embedder: args.embed_model.clone(),
        remote_embedder: remote_embedder(args.embed_url.as_ref(), args.embed_url_model.as_ref()),
        precision: None,
        index: None,
    }
}

/// The embedding server `--embed-url` and `--embed-url-model` name.
fn remote_embedder(
    url: Option<&String>,
    model: Option<&String>,
) -> Option<writ_llm::RemoteEmbedSpec> {
    url.map(|url| {
        let mut spec = writ_llm::RemoteEmbedSpec::new(url.clone());
        spec.model = model.cloned();
        spec
    })
}

/// Which embedding model the index commands' flags choose.
pub fn embedder(loc: &Locations) -> ModelChoice {
    ModelChoice {
        llm: None,
        remote: None,
        cache: loc.models.clone(),
        embedder: loc.embed_model.clone(),
        remote_embedder: remote_embedder(loc.embed_url.as_ref(), loc.embed_url_model.as_ref()),
        precision: loc.precision.map(Into::into),
        index: None,
    }
}

/// Folders that are not repositories index at most this many files
/// without `--force`.
const LOOSE_FOLDER_FILES: usize = 20_000;

/// Refuses `/`, the home folder, and a large folder that is not a git
/// repository: indexing one by mistake embeds for hours and fills the disk.
pub fn guard_root(root: &std::path::Path, walk: &WalkOptions, verb: &str) -> Result<(), Failure> {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .and_then(|h| h.canonicalize().ok());
    let what = if root.parent().is_none() {
        Some("the file system's root")
    } else if home.as_deref() == Some(root) {
        Some("your home folder")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(Failure::new(
            ExitCode::Error,
            anyhow!(
                "refusing to {verb} `{}`: it is {what}",
                clean(&root.display().to_string())
            ),
        )
        .hint(format!(
            "run `writ {verb}` inside a repository, or add --force if you mean it"
        )));
    }
    let git = std::fs::symlink_metadata(root.join(".git"));
    if git.is_ok_and(|m| m.is_dir() || m.is_file()) {
        return Ok(());
    }
    let n = writ_index::count_files(root, walk, LOOSE_FOLDER_FILES + 1);
    if n > LOOSE_FOLDER_FILES {
        return Err(Failure::new(
            ExitCode::Error,
            anyhow!(
                "refusing to {verb} `{}`: it is not a git repository and holds more than {LOOSE_FOLDER_FILES} files",
                clean(&root.display().to_string())
            ),
        )
        .hint("index the repository you mean (a folder with .git), add ignore rules (.writignore), or add --force"));
    }
    Ok(())
}

/// A flag the first Ctrl-C sets (saying `who` stops after the current
/// batch); the second exits at once with the interrupted code.
pub fn ctrl_c(who: &'static str) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&cancel);
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(ExitCode::Interrupted as i32);
        }
        eprintln!("\n{who}: stopping after the current batch (Ctrl-C again to quit now)");
    });
    cancel
}

/// The folder a command works on (`.` when not given), resolved; a path
/// that is not a folder is refused, its name escaped.
pub fn folder(path: Option<&std::path::Path>) -> Result<PathBuf, Failure> {
    let root = writ_service::existing(&cwd()?, path.unwrap_or(std::path::Path::new(".")))?;
    if !root.is_dir() {
        return Err(Failure::new(
            ExitCode::NoInput,
            anyhow!("`{}` is not a folder", clean(&root.display().to_string())),
        ));
    }
    Ok(root)
}
