//! writ's shared vocabulary: plain-data types and the traits that let the
//! index and the CLI talk about models without depending on a model runtime.
//!
//! Invariant: this crate does no I/O and depends on no model runtime, store
//! or index, so every other crate may depend on it.
//!
//! ```
//! use writ_core::Language;
//! assert_eq!(Language::from_path("src/lib.rs"), Some(Language::Rust));
//! assert_eq!(Language::Rust.name(), "rust");
//! ```
#![deny(missing_docs)]

mod embedder;
mod language;

pub use embedder::{EmbedError, Embedder, ModelInfo};
pub use language::Language;
