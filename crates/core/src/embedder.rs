//! The `Embedder` trait: text in, unit vectors out.

use serde::{Deserialize, Serialize};

/// Identity of an embedding model, recorded in the index manifest so that an
/// index is never searched with vectors from another model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Human-readable model id, e.g. `all-MiniLM-L6-v2`.
    pub id: String,
    /// sha256 of the weights file, lowercase hex.
    pub sha256: String,
    /// Dimension of the vectors the model produces.
    pub dim: usize,
    /// Longest input in tokens; longer inputs are truncated.
    pub max_tokens: usize,
}

/// An error from an embedding model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The tokenizer rejected the input.
    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
    /// The model's forward pass failed.
    #[error("model forward pass failed: {0}")]
    Model(String),
}

/// A sentence-embedding model.
///
/// Implementations return L2-normalised vectors, so inner product is cosine
/// similarity. `embed` must return exactly `texts.len() * info().dim` floats,
/// the vector of `texts[i]` at `i * dim`.
pub trait Embedder: Send + Sync {
    /// The model's identity.
    fn info(&self) -> &ModelInfo;

    /// Number of tokens `text` occupies before truncation, special tokens
    /// included. The chunker uses it to keep chunks within `max_tokens`.
    fn count_tokens(&self, text: &str) -> usize;

    /// Embeds `texts`, returning one flat row-major buffer.
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError>;
}
