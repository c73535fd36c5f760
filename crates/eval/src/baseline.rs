//! The peers' retrieval, rebuilt over the same files with the same model:
//! 40-line windows with the path prepended, exact cosine search (FAISS
//! flat inner product), Okapi BM25 on the same windows, and their
//! reciprocal-rank fusion. This is the baseline of `../shared/eval`, so
//! `writ eval` can say on a user's own code whether writ beats it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use writ_core::{EmbedError, Embedder};

/// Lines per window (the peers' default).
pub const WINDOW_LINES: usize = 40;
/// Texts per embedding call.
const BATCH: usize = 32;
/// Okapi BM25 parameters (rank_bm25's defaults).
const K1: f64 = 1.5;
const B: f64 = 0.75;
const EPSILON: f64 = 0.25;
/// Reciprocal-rank-fusion constant.
const RRF_K: f64 = 60.0;
/// How deep each engine ranks before fusion.
const DEPTH: usize = 100;

/// One window: a file's lines `start..=end` (1-based).
#[derive(Debug, Clone)]
pub struct Window {
    /// File path, relative to the root.
    pub path: String,
    /// First line, 1-based.
    pub start: usize,
    /// Last line, 1-based and inclusive.
    pub end: usize,
}

/// The three peer engines over one set of files.
pub struct Baseline {
    windows: Vec<Window>,
    vectors: Vec<f32>,
    dim: usize,
    postings: HashMap<String, Vec<(usize, u32)>>,
    lengths: Vec<f64>,
    average_length: f64,
    /// Mean IDF over the vocabulary: the floor of a word in over half the
    /// windows (rank_bm25's epsilon rule).
    average_idf: f64,
}

/// Top windows (indices) of each peer engine for one query.
pub struct Ranked {
    /// Cosine similarity.
    pub vector: Vec<usize>,
    /// BM25.
    pub lexical: Vec<usize>,
    /// Reciprocal-rank fusion of both.
    pub fused: Vec<usize>,
}

impl Baseline {
    /// Cuts `files` (path, text) into windows and embeds them; `None` when
    /// `cancel` was set between two batches.
    pub fn build(
        files: &[(String, String)],
        embedder: &dyn Embedder,
        cancel: &AtomicBool,
    ) -> Option<Result<Self, EmbedError>> {
        let mut windows = Vec::new();
        let mut texts = Vec::new();
        for (path, text) in files {
            let lines: Vec<&str> = text.lines().collect();
            for (i, window) in lines.chunks(WINDOW_LINES).enumerate() {
                if window.iter().all(|l| l.trim().is_empty()) {
                    continue;
                }
                windows.push(Window {
                    path: path.clone(),
                    start: i * WINDOW_LINES + 1,
                    end: i * WINDOW_LINES + window.len(),
                });
                texts.push(format!("{path}\n{}", window.join("\n")));
            }
        }
        let dim = embedder.info().dim;
        let mut vectors = Vec::with_capacity(texts.len() * dim);
        for batch in texts.chunks(BATCH) {
            if cancel.load(Ordering::SeqCst) {
                return None;
            }
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            let mut v = match embedder.embed(&refs) {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            for row in v.chunks_mut(dim) {
                normalize(row);
            }
            vectors.extend_from_slice(&v);
        }
        let mut postings: HashMap<String, Vec<(usize, u32)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(texts.len());
        for (doc, text) in texts.iter().enumerate() {
            let mut tf: HashMap<String, u32> = HashMap::new();
            let words = words(text);
            lengths.push(words.len() as f64);
            for w in words {
                *tf.entry(w).or_default() += 1;
            }
            for (w, n) in tf {
                postings.entry(w).or_default().push((doc, n));
            }
        }
        let average_length = lengths.iter().sum::<f64>() / lengths.len().max(1) as f64;
        let n = lengths.len() as f64;
        let average_idf = if postings.is_empty() {
            0.0
        } else {
            postings.values().map(|p| idf(n, p.len())).sum::<f64>() / postings.len() as f64
        };
        Some(Ok(Baseline {
            windows,
            vectors,
            dim,
            postings,
            lengths,
            average_length,
            average_idf,
        }))
    }

    /// The windows, indexed as [`Ranked`] refers to them.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Ranks the windows for a query and its (model) vector.
    pub fn rank(&self, query: &str, query_vector: &[f32], k: usize) -> Ranked {
        let mut q = query_vector.to_vec();
        normalize(&mut q);
        let mut sims: Vec<(usize, f32)> = self
            .vectors
            .chunks(self.dim)
            .enumerate()
            .map(|(i, v)| (i, v.iter().zip(&q).map(|(a, b)| a * b).sum()))
            .collect();
        sims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let vector: Vec<usize> = sims.iter().take(DEPTH).map(|(i, _)| *i).collect();
        let lexical = self.bm25(query);
        let mut fused: HashMap<usize, f64> = HashMap::new();
        for list in [&vector, &lexical] {
            for (rank, id) in list.iter().enumerate() {
                *fused.entry(*id).or_default() += 1.0 / (RRF_K + rank as f64 + 1.0);
            }
        }
        let mut fused: Vec<(usize, f64)> = fused.into_iter().collect();
        fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ranked {
            vector: vector.into_iter().take(k).collect(),
            lexical: lexical.into_iter().take(k).collect(),
            fused: fused.into_iter().take(k).map(|(i, _)| i).collect(),
        }
    }

    /// Okapi BM25, best first, at most [`DEPTH`] windows with a score.
    fn bm25(&self, query: &str) -> Vec<usize> {
        let n = self.lengths.len() as f64;
        let mut scores: HashMap<usize, f64> = HashMap::new();
        for w in words(query) {
            let Some(list) = self.postings.get(&w) else {
                continue;
            };
            let mut weight = idf(n, list.len());
            if weight < 0.0 {
                weight = EPSILON * self.average_idf;
            }
            for &(doc, tf) in list {
                let tf = f64::from(tf);
                let norm = K1 * (1.0 - B + B * self.lengths[doc] / self.average_length.max(1.0));
                *scores.entry(doc).or_default() += weight * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut ranked: Vec<(usize, f64)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().take(DEPTH).map(|(i, _)| i).collect()
    }
}

/// Okapi's inverse document frequency of a word in `df` of `n` windows.
fn idf(n: f64, df: usize) -> f64 {
    ((n - df as f64 + 0.5) / (df as f64 + 0.5)).ln()
}

/// Lower-cased runs of letters, digits and `_`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
