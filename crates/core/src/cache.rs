//! The one place the model cache folder is resolved (the CLI, the server,
//! the tests and `models/fetch.sh` agree on it).

use std::path::{Path, PathBuf};

/// The model cache folder: `explicit` (`--models`), else `$WRIT_MODELS`,
/// else `$XDG_CACHE_HOME/writ/models`, else `~/.cache/writ/models`.
pub fn model_cache_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    let env = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
    if let Some(dir) = env("WRIT_MODELS") {
        return PathBuf::from(dir);
    }
    env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("writ")
        .join("models")
}
