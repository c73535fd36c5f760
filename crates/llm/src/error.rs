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

impl LlmError {
    /// A candle failure, as its first line only: candle appends a
    /// backtrace (with the build machine's paths) under RUST_BACKTRACE,
    /// which belongs in no message or record.
    pub(crate) fn candle(e: candle_core::Error) -> LlmError {
        let text = e.to_string();
        LlmError::Run(text.lines().next().unwrap_or("").trim().to_string())
    }
}
