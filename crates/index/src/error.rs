//! The index crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while indexing or searching.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Another process holds the index lock.
    #[error("index `{}` is locked by another writ process; wait for it to finish or remove the stale lock holder", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The index was built with another model or chunker.
    #[error("index `{}` was built with {found}, but writ is using {wanted}; re-index with `writ index --rebuild` or use the model (and `--precision`) the index was built with", path.display())]
    Mismatch {
        /// The index folder.
        path: PathBuf,
        /// What the index was built with.
        found: String,
        /// What writ is using now.
        wanted: String,
    },
    /// The index has a format this writ does not read.
    #[error("index `{}` has format version {found}, this writ reads version {wanted}; re-index with `writ index --rebuild`", path.display())]
    Format {
        /// The index folder.
        path: PathBuf,
        /// The format found.
        found: u32,
        /// The format this build reads.
        wanted: u32,
    },
    /// No index has been built yet.
    #[error("no index at `{}`; build one with `writ index`", path.display())]
    NotIndexed {
        /// The index folder.
        path: PathBuf,
    },
    /// The SQLite catalog failed.
    #[error("index catalog `{}`: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// FAISS failed.
    #[error("vector index `{}`: {message}", path.display())]
    Faiss {
        /// The FAISS file.
        path: PathBuf,
        /// What FAISS said.
        message: String,
    },
    /// A file could not be read or written.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The embedding model failed.
    #[error("embedding failed: {0}")]
    Embed(#[from] writ_core::EmbedError),
    /// A `--path` glob does not parse.
    #[error("bad path glob `{glob}`: {message}")]
    Glob {
        /// The glob.
        glob: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// Attaches a path to SQLite errors.
pub(crate) trait SqlContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| IndexError::Sqlite {
            path: path.to_path_buf(),
            source,
        })
    }
}
