//! writ's shared vocabulary: plain-data types and the traits that let the
//! index and the CLI talk about models without depending on a model runtime.
//!
//! Invariant: this crate depends on no model runtime, store or index, so
//! every other crate may depend on it. Its I/O is [`sha256_file`],
//! which every model crate needs to identify its weights, and reading the
//! environment for [`model_cache_dir`].
//!
//! ```
//! use writ_core::Language;
//! assert_eq!(Language::from_path("src/lib.rs"), Some(Language::Rust));
//! assert_eq!(Language::Rust.name(), "rust");
//! ```
#![deny(missing_docs)]

mod cache;
mod embedder;
mod hash;
mod language;

pub use cache::model_cache_dir;
pub use embedder::{EmbedError, Embedder, ModelInfo, Precision, FINGERPRINT_COSINE, PROBE_TEXTS};
pub use hash::{sha256_file, sha256_file_uncached, sha256_hex};
pub use language::Language;
