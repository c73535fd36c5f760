//! One search result: what `search` returns and `links` reorders.

use serde::Serialize;

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Path relative to the repository root.
    pub path: String,
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, inclusive.
    pub end_line: usize,
    /// Qualified symbol, if any.
    pub symbol: Option<String>,
    /// Language name.
    pub language: String,
    /// Fused score (higher is better): reciprocal-rank fusion in hybrid
    /// mode (a chunk a doc named, moved up to the doc's place, takes a score
    /// between its new neighbours'), cosine similarity in vector mode,
    /// negated BM25 in lexical mode.
    pub score: f64,
    /// Stable chunk id, the handle proposals cite.
    pub chunk_id: i64,
    /// Cosine similarity to the query (from the stored vector), in every
    /// mode but lexical: the one score with the same scale on every query,
    /// and the one `min_similarity` thresholds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// Rank (1 = best) in the vector engine's list, when it ranked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_rank: Option<usize>,
    /// Rank (1 = best) in the lexical engine's list, when it ranked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lexical_rank: Option<usize>,
    /// SQLite FTS5's BM25 (lower is better), when the lexical engine
    /// ranked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25: Option<f64>,
    /// The chunk's text.
    #[serde(skip)]
    pub text: String,
    /// blake3 of the chunk's language, symbol and text (the catalog's
    /// content hash): what a recorded citation pins.
    pub text_hash: String,
}
