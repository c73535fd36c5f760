//! Test support for writ's crates: embedders that need no model files, no
//! network and no accelerator, so the index and everything above it can be
//! tested in milliseconds, and the switch of the slow tier
//! ([`skip_slow_test`]).
//!
//! - [`HashEmbedder`] is a deterministic stand-in for a sentence model:
//!   "feature hashing" of a bag of words. Each word (lowercased, and also
//!   split at camelCase, snake_case and digit boundaries) adds ±1 to a few
//!   hashed dimensions; the sum is L2-normalised. Texts that share words
//!   therefore come out more similar than texts that do not, the same text
//!   always gives the same vector, on every machine, and a query naming an
//!   identifier lands nearest the chunk that defines it.
//! - [`CountingEmbedder`] wraps any embedder and counts its `embed` calls and
//!   texts, so a test can assert that work was *not* redone (a FAISS
//!   rebuild from SQLite, an unchanged re-index).
//!
//! ```
//! use writ_core::Embedder;
//! use writ_testkit::HashEmbedder;
//! let e = HashEmbedder::new();
//! let v = e.embed(&["fn parse_config()", "parse the config", "draw a circle"]).unwrap();
//! let dim = e.info().dim;
//! let dot = |a: usize, b: usize| -> f32 {
//!     (0..dim).map(|i| v[a * dim + i] * v[b * dim + i]).sum()
//! };
//! assert!(dot(0, 1) > dot(0, 2));
//! ```
#![deny(missing_docs)]

mod slow;

pub use slow::{cookie_path, skip_slow_test, SLOW_TESTS};

use std::sync::atomic::{AtomicUsize, Ordering};
use writ_core::{EmbedError, Embedder, ModelInfo};

/// The model id [`HashEmbedder::new`] reports.
pub const HASH_EMBEDDER_ID: &str = "writ-testkit/hash-embedder";

/// The "weights" sha256 [`HashEmbedder`] reports: 64 lowercase hex digits,
/// as the index manifest expects, but of no file (there are no weights).
pub const HASH_EMBEDDER_SHA256: &str =
    "7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de";

/// Dimension of [`HashEmbedder::new`]'s vectors.
pub const DEFAULT_DIM: usize = 64;

/// Longest input [`HashEmbedder::new`] claims to take, in tokens (the real
/// default model's limit, so chunks come out the same sizes).
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// Dimensions each token adds to.
const BUCKETS_PER_TOKEN: u64 = 3;

/// A deterministic fake sentence model: hashed bag of words, L2-normalised.
///
/// Its identity ([`ModelInfo`]) is fixed unless changed with
/// [`HashEmbedder::with_id`], so an index built with one `HashEmbedder` is
/// accepted by another and refused by one with another id.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    info: ModelInfo,
}

impl Default for HashEmbedder {
    fn default() -> Self {
        HashEmbedder::new()
    }
}

impl HashEmbedder {
    /// The standard fake: id [`HASH_EMBEDDER_ID`], sha256
    /// [`HASH_EMBEDDER_SHA256`], dimension [`DEFAULT_DIM`], max tokens
    /// [`DEFAULT_MAX_TOKENS`].
    pub fn new() -> Self {
        HashEmbedder::with_dim(DEFAULT_DIM)
    }

    /// The standard fake with vectors of `dim` dimensions (at least 1).
    pub fn with_dim(dim: usize) -> Self {
        HashEmbedder {
            info: ModelInfo {
                id: HASH_EMBEDDER_ID.to_string(),
                sha256: HASH_EMBEDDER_SHA256.to_string(),
                dim: dim.max(1),
                max_tokens: DEFAULT_MAX_TOKENS,
                fingerprint: Vec::new(),
                precision: writ_core::Precision::F32,
            },
        }
    }

    /// The same vectors under another model id: a "different model" for
    /// tests of the index's refusal to mix models.
    pub fn with_id(mut self, id: &str) -> Self {
        self.info.id = id.to_string();
        self
    }

    /// The same vectors with another claimed input limit (the chunker cuts
    /// chunks to fit it).
    pub fn with_max_tokens(mut self, max_tokens: usize) -> Self {
        self.info.max_tokens = max_tokens;
        self
    }

    /// The unit vector of `text`. A text without words gets a fixed unit
    /// vector (the first axis).
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let dim = self.info.dim;
        let mut v = vec![0.0f32; dim];
        for token in tokens(text) {
            let mut h = fnv1a(token.as_bytes());
            for _ in 0..BUCKETS_PER_TOKEN {
                h = splitmix64(h);
                let bucket = (h % dim as u64) as usize;
                let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
                if let Some(x) = v.get_mut(bucket) {
                    *x += sign;
                }
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else if let Some(first) = v.first_mut() {
            *first = 1.0;
        }
        v
    }
}

impl Embedder for HashEmbedder {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Words plus 2, as a BERT tokenizer adds `[CLS]` and `[SEP]`.
    fn count_tokens(&self, text: &str) -> usize {
        words(text).count() + 2
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        Ok(texts.iter().flat_map(|t| self.vector(t)).collect())
    }
}

/// The tokens [`HashEmbedder`] hashes: every word (a run of letters, digits
/// and `_`) lowercased, followed by its camelCase / snake_case / digit
/// parts when it has more than one.
///
/// ```
/// assert_eq!(
///     writ_testkit::tokens("getUserName(x_y)"),
///     ["getusername", "get", "user", "name", "x_y", "x", "y"]
/// );
/// ```
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in words(text) {
        out.push(word.to_lowercase());
        let parts = parts(word);
        if parts.len() > 1 {
            out.extend(parts.iter().map(|p| p.to_lowercase()));
        }
    }
    out
}

/// Runs of letters, digits and underscores.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// `parseHTTPRequest2_fast` → `parse`, `HTTP`, `Request`, `2`, `fast`.
fn parts(word: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for segment in word.split('_').filter(|s| !s.is_empty()) {
        let chars: Vec<(usize, char)> = segment.char_indices().collect();
        let mut start = 0;
        for (i, pair) in chars.windows(2).enumerate() {
            let [(_, prev), (pos, c)] = [pair[0], pair[1]];
            let next = chars.get(i + 2).map(|x| x.1);
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_alphabetic() && c.is_ascii_digit())
                || (prev.is_ascii_digit() && c.is_alphabetic())
                || (prev.is_uppercase()
                    && c.is_uppercase()
                    && next.is_some_and(char::is_lowercase));
            if boundary {
                out.push(&segment[start..pos]);
                start = pos;
            }
        }
        out.push(&segment[start..]);
    }
    out
}

/// 64-bit FNV-1a: stable across runs, platforms and Rust versions (unlike
/// `std`'s `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One step of splitmix64: spreads FNV's low-entropy bits over all 64.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Wraps an embedder and counts what it is asked to embed.
///
/// `count_tokens` is passed through uncounted: only `embed` is model work.
#[derive(Debug, Default)]
pub struct CountingEmbedder<E> {
    inner: E,
    calls: AtomicUsize,
    texts: AtomicUsize,
}

impl<E: Embedder> CountingEmbedder<E> {
    /// Counts `inner`'s work, from zero.
    pub fn new(inner: E) -> Self {
        CountingEmbedder {
            inner,
            calls: AtomicUsize::new(0),
            texts: AtomicUsize::new(0),
        }
    }

    /// `embed` calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Texts embedded so far, over all calls.
    pub fn texts(&self) -> usize {
        self.texts.load(Ordering::SeqCst)
    }

    /// Sets both counts back to zero.
    pub fn reset(&self) {
        self.calls.store(0, Ordering::SeqCst);
        self.texts.store(0, Ordering::SeqCst);
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: Embedder> Embedder for CountingEmbedder<E> {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.inner.count_tokens(text)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        self.inner.embed(texts)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn norm(v: &[f32]) -> f32 {
        cos(v, v).sqrt()
    }

    #[test]
    fn vectors_are_unit_length_and_of_the_stated_dimension() {
        let e = HashEmbedder::new();
        let texts = ["fn main() {}", "", "   ()  ", "a", "the quick brown fox"];
        let flat = e.embed(&texts).unwrap();
        assert_eq!(flat.len(), texts.len() * e.info().dim);
        for v in flat.chunks(e.info().dim) {
            assert!((norm(v) - 1.0).abs() < 1e-5, "{v:?}");
        }
        assert_eq!(HashEmbedder::with_dim(8).vector("x").len(), 8);
    }

    #[test]
    fn text_without_words_gets_one_fixed_unit_vector() {
        let e = HashEmbedder::new();
        let empty = e.vector("");
        assert_eq!(empty, e.vector("{ } ;"));
        assert_eq!(empty[0], 1.0);
        assert!(empty[1..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn same_text_same_vector_and_embed_matches_vector() {
        let e = HashEmbedder::new();
        let flat = e.embed(&["parse_config(path)", "other"]).unwrap();
        assert_eq!(&flat[..64], e.vector("parse_config(path)").as_slice());
        assert_eq!(&flat[64..], HashEmbedder::new().vector("other").as_slice());
    }

    #[test]
    fn shared_words_are_more_similar_than_unrelated_text() {
        let e = HashEmbedder::new();
        let code = e.vector("def load_user_profile(user_id):\n    return db.get(user_id)");
        let query = e.vector("load user profile");
        let unrelated = e.vector("render the circle with a red brush");
        assert!(cos(&code, &query) > 0.3, "{}", cos(&code, &query));
        assert!(cos(&code, &query) > cos(&code, &unrelated) + 0.2);
        // camelCase and snake_case name the same words.
        let camel = e.vector("loadUserProfile");
        assert!(cos(&camel, &query) > cos(&camel, &unrelated) + 0.2);
    }

    #[test]
    fn words_split_at_case_and_digit_boundaries() {
        assert_eq!(
            tokens("parseHTTPRequest2_fast"),
            [
                "parsehttprequest2_fast",
                "parse",
                "http",
                "request",
                "2",
                "fast"
            ]
        );
        assert_eq!(tokens("plain words"), ["plain", "words"]);
        assert!(tokens(" ;; ").is_empty());
    }

    #[test]
    fn count_tokens_is_words_plus_two() {
        let e = HashEmbedder::new();
        assert_eq!(e.count_tokens(""), 2);
        assert_eq!(e.count_tokens("fn get_user(id: u32) -> User {"), 7);
    }

    #[test]
    fn identity_is_fixed_and_looks_like_a_real_model() {
        let e = HashEmbedder::new();
        let info = e.info();
        assert_eq!(info.id, HASH_EMBEDDER_ID);
        assert_eq!(info.sha256.len(), 64);
        assert!(info
            .sha256
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(
            (info.dim, info.max_tokens),
            (DEFAULT_DIM, DEFAULT_MAX_TOKENS)
        );
        assert_eq!(HashEmbedder::new().info(), info);

        let other = HashEmbedder::new().with_id("other-model");
        assert_ne!(other.info(), info);
        assert_eq!(other.vector("same words"), e.vector("same words"));
        assert_eq!(e.clone().with_max_tokens(64).info().max_tokens, 64);
    }

    #[test]
    fn counting_counts_embed_calls_and_texts_only() {
        let e = CountingEmbedder::new(HashEmbedder::new());
        assert_eq!(e.count_tokens("a b"), 4);
        assert_eq!((e.calls(), e.texts()), (0, 0));
        e.embed(&["a", "b", "c"]).unwrap();
        e.embed(&["d"]).unwrap();
        assert_eq!((e.calls(), e.texts()), (2, 4));
        assert_eq!(e.info(), e.inner().info());
        e.reset();
        assert_eq!((e.calls(), e.texts()), (0, 0));
    }
}
