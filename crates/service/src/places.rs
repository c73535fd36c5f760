//! Where one repository's index, ledger, rules and keys live. Paths come
//! in as parameters (the current folder is the caller's to give).

use crate::ServiceError;
use std::path::{Path, PathBuf};
use writ_gate::Gate;

/// Where the gate's inputs live.
#[derive(Debug, Clone)]
pub struct Places {
    /// The repository root (canonical).
    pub repo: PathBuf,
    /// The index folder (`<repo>/.writ` unless given).
    pub index: PathBuf,
    /// A rules folder given explicitly, else discovery decides.
    pub rules: Option<PathBuf>,
}

impl Places {
    /// Resolves an explicit repository (else the nearest folder upwards
    /// from `cwd` holding `.writ`, else `cwd`), index and rules folder.
    pub fn resolve(
        cwd: &Path,
        repo: Option<&Path>,
        index: Option<&Path>,
        rules: Option<&Path>,
    ) -> Result<Places, ServiceError> {
        let repo = find_repo(cwd, repo)?;
        let index = index_dir(index, &repo);
        // A given rules folder is made absolute and canonical, so a rule
        // change's targets can be checked against it relative to the repo.
        let rules = rules.map(|r| r.canonicalize().unwrap_or_else(|_| cwd.join(r)));
        Ok(Places { repo, index, rules })
    }

    /// The gate over these places, with the ledger's key kept in
    /// [`key_dir`] (outside any repository).
    pub fn gate(&self) -> Gate {
        let gate = Gate::new(self.repo.clone(), self.index.clone(), self.rules.clone());
        match key_dir() {
            Some(dir) => gate.with_keys(dir),
            None => gate,
        }
    }

    /// Fails with the index's own error when there is no index yet.
    pub fn require_index(&self) -> Result<(), ServiceError> {
        require_index(&self.index)
    }
}

/// Fails with the index's own error when `index` holds no index yet: the
/// one "not indexed" check of every command and route that searches.
pub fn require_index(index: &Path) -> Result<(), ServiceError> {
    if index.join(writ_index::CATALOG_FILE).is_file() {
        Ok(())
    } else {
        Err(writ_index::IndexError::NotIndexed {
            path: index.to_path_buf(),
        }
        .into())
    }
}

/// Where ledger keys and the review token live: `$WRIT_KEY_DIR`, else
/// `$XDG_DATA_HOME/writ/keys`, else `~/.local/share/writ/keys`.
pub fn key_dir() -> Option<PathBuf> {
    let env = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    env("WRIT_KEY_DIR")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("writ/keys")))
        .or_else(|| env("HOME").map(|h| h.join(".local/share/writ/keys")))
}

/// The repository root: `explicit` (canonical), else the nearest folder
/// upwards from `cwd` that holds `.writ`, else `cwd`.
pub fn find_repo(cwd: &Path, explicit: Option<&Path>) -> Result<PathBuf, ServiceError> {
    if let Some(p) = explicit {
        return existing(cwd, p);
    }
    // Canonical, like an explicit repository, so paths built from it
    // compare with other canonical paths (the rules folder, diff targets).
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
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

/// `path` (relative to `cwd`), canonicalised, or a not-found error naming
/// it as given.
pub fn existing(cwd: &Path, path: &Path) -> Result<PathBuf, ServiceError> {
    cwd.join(path)
        .canonicalize()
        .map_err(|e| ServiceError::NotFound {
            message: format!("`{}` does not exist or cannot be read: {e}", path.display()),
            hint: Some("give the path of a repository or folder to index".into()),
        })
}

/// The index folder: `explicit`, else `<repo>/.writ`.
pub fn index_dir(explicit: Option<&Path>, repo: &Path) -> PathBuf {
    explicit.map_or_else(|| repo.join(".writ"), Path::to_path_buf)
}
