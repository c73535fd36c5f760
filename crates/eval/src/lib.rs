//! Retrieval quality on a user's own repository.
//!
//! `writ eval` asks: on *this* code, with *this* model and settings, how
//! often does search find the function a description names? It builds the
//! tasks from the repository itself ([`tasks`]: each documented function's
//! first doc sentence is a query, answered by the function's lines, with
//! every doc blanked in a temporary copy), indexes the copy with writ, and
//! scores MRR@10, R@1 and R@10 per language and per mode, beside the
//! peers' baseline ([`baseline`]) rebuilt on the same files with the same
//! model.
//!
//! Invariant: the repository itself is only read; everything written goes
//! to a temporary folder (or the one the caller names).
#![deny(missing_docs)]

pub mod baseline;
mod run;
pub mod tasks;

pub use run::{evaluate, EvalOptions, LanguageScores, Miss, Report, Score, TopHit};

use std::path::{Path, PathBuf};

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Reading the repository or writing the copy failed.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The repository has no documented function writ can ask about.
    #[error(
        "no documented function in `{}` to ask about (writ reads Python docstrings, Rust `///`, Go `//` and JSDoc `/** */` above functions of at least four words, outside tests and docs)",
        root.display()
    )]
    NoTasks {
        /// The repository.
        root: PathBuf,
    },
    /// The folder named for the copy already holds something.
    #[error("`{}` is not empty: writ eval writes its copy only into a new or empty folder", path.display())]
    WorkDirUsed {
        /// The folder.
        path: PathBuf,
    },
    /// Stopped by the caller (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// Indexing or searching the copy failed.
    #[error(transparent)]
    Index(#[from] writ_index::IndexError),
    /// The embedding model failed.
    #[error(transparent)]
    Embed(#[from] writ_core::EmbedError),
}

impl EvalError {
    fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// This crate's results.
pub type Result<T> = std::result::Result<T, EvalError>;
