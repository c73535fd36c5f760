//! The command line's inputs turned into the service's: places from
//! `--repo`/`--index`/`--rules` and the current folder, model choices
//! from `--model`/`--models`/`--embed-model`.

use crate::args::{GateArgs, Locations, ModelArgs};
use crate::exit::{ExitCode, Failure};
use std::path::PathBuf;
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
    }
}

/// Which embedding model the index commands' flags choose.
pub fn embedder(loc: &Locations) -> ModelChoice {
    ModelChoice {
        llm: None,
        remote: None,
        cache: loc.models.clone(),
        embedder: loc.embed_model.clone(),
    }
}
