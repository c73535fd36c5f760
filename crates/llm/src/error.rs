//! Why a model could not be loaded or run (shared by the model and the
//! grammar guide, so neither module imports the other for it).

use std::path::PathBuf;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The file could not be read.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The model file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a GGUF model writ can run.
    #[error("`{}` cannot be used: {message}", path.display())]
    Unsupported {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A remote endpoint could not be used (unreachable, an HTTP error, a
    /// timeout, a model it does not serve, a malformed stream).
    #[error("the model server at {url}: {message}")]
    Remote {
        /// The endpoint's base URL (without credentials).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Tokenizing or running the model failed.
    #[error("generation failed: {0}")]
    Run(String),
}
