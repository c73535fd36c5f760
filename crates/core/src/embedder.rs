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
    /// For a model writ cannot hash (one behind a server): its unit
    /// vectors of [`PROBE_TEXTS`], concatenated, each component times
    /// 32767 rounded. Empty for a local model, whose weights' sha256 is
    /// its identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint: Vec<i16>,
    /// Arithmetic of the dense layers that made the vectors. Absent in
    /// manifests written before int8 existed, which were all f32.
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
}

/// Arithmetic of a local embedding model's dense layers. Vectors of one
/// model in two precisions differ (cosine about 0.99), so an index records
/// its precision and refuses the other, like another model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats throughout.
    #[default]
    F32,
    /// Weights in `i8` per output row, activations in `u8` per token,
    /// exact `i32` sums.
    Int8,
}

impl Precision {
    /// Whether this is [`Precision::F32`] (the value old manifests imply).
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// The name used in flags and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "int8" => Ok(Precision::Int8),
            other => Err(format!("precision `{other}` is not one of f32, int8")),
        }
    }
}

/// Fixed texts whose vectors identify a model writ cannot hash: code and
/// prose in several languages, so that another model (or another
/// quantisation of it) behind the same name gives other vectors.
pub const PROBE_TEXTS: [&str; 4] = [
    "def read_config(path):\n    \"\"\"Load the settings file.\"\"\"\n    with open(path) as f:\n        return json.load(f)",
    "fn parse_header(line: &str) -> Option<(&str, &str)> { line.split_once(':') }",
    "Retry the request with exponential backoff when the server is busy.",
    "SELECT id, name FROM users WHERE active = 1 ORDER BY name;",
];

/// Least cosine between a probe's vector when an index was built and
/// now for the two to count as one model: servers on GPUs vary in the
/// last bits with batch shape (cosine above 0.99999), while another model
/// or a coarser quantisation of the same one moves far more.
pub const FINGERPRINT_COSINE: f32 = 0.999;

impl ModelInfo {
    /// Whether vectors from `other` can be searched beside ours: the same
    /// id, weights, dimension, input limit and precision, and, for models identified
    /// by their vectors, fingerprints within [`FINGERPRINT_COSINE`].
    pub fn same_vectors(&self, other: &ModelInfo) -> bool {
        self.id == other.id
            && self.sha256 == other.sha256
            && self.dim == other.dim
            && self.max_tokens == other.max_tokens
            && self.precision == other.precision
            && fingerprints_agree(&self.fingerprint, &other.fingerprint, self.dim)
    }

    /// The least cosine between our fingerprint's probe vectors and
    /// `other`'s, when both have fingerprints of one shape.
    pub fn fingerprint_cosine(&self, other: &ModelInfo) -> Option<f32> {
        let (a, b) = (&self.fingerprint, &other.fingerprint);
        if a.is_empty() || a.len() != b.len() || self.dim == 0 || !a.len().is_multiple_of(self.dim)
        {
            return None;
        }
        let least = a
            .chunks(self.dim)
            .zip(b.chunks(self.dim))
            .map(|(x, y)| cosine(x, y))
            .fold(f64::INFINITY, f64::min);
        Some(least as f32)
    }

    /// The fingerprint of `vectors`, [`PROBE_TEXTS`]' unit vectors.
    pub fn fingerprint_of(vectors: &[f32]) -> Vec<i16> {
        vectors
            .iter()
            .map(|&x| (x.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .collect()
    }
}

/// Whether two fingerprints come from one model: both empty, or of one
/// length with every probe's cosine at least [`FINGERPRINT_COSINE`].
fn fingerprints_agree(a: &[i16], b: &[i16], dim: usize) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    if a.len() != b.len() || dim == 0 || !a.len().is_multiple_of(dim) {
        return false;
    }
    a.chunks(dim)
        .zip(b.chunks(dim))
        .all(|(x, y)| cosine(x, y) >= f64::from(FINGERPRINT_COSINE))
}

/// Cosine of two quantised vectors; 0 when either is zero.
fn cosine(x: &[i16], y: &[i16]) -> f64 {
    let (mut dot, mut xx, mut yy) = (0f64, 0f64, 0f64);
    for (&p, &q) in x.iter().zip(y) {
        let (p, q) = (f64::from(p), f64::from(q));
        dot += p * q;
        xx += p * p;
        yy += q * q;
    }
    if xx > 0.0 && yy > 0.0 {
        dot / (xx.sqrt() * yy.sqrt())
    } else {
        0.0
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    fn info(fingerprint: Vec<i16>) -> ModelInfo {
        ModelInfo {
            id: "remote:m".into(),
            sha256: "s".into(),
            dim: 2,
            max_tokens: 8,
            fingerprint,
            precision: Precision::F32,
        }
    }

    #[test]
    fn precision_is_part_of_the_identity_and_old_manifests_read_as_f32() {
        let f32 = info(Vec::new());
        let json = serde_json::to_string(&f32).unwrap();
        assert!(
            !json.contains("precision"),
            "f32 is written as before: {json}"
        );
        let old: ModelInfo =
            serde_json::from_str(r#"{"id":"remote:m","sha256":"s","dim":2,"max_tokens":8}"#)
                .unwrap();
        assert_eq!(old.precision, Precision::F32);
        let int8 = ModelInfo {
            precision: Precision::Int8,
            ..f32.clone()
        };
        assert!(!f32.same_vectors(&int8) && !int8.same_vectors(&f32));
        let json = serde_json::to_string(&int8).unwrap();
        assert!(json.contains(r#""precision":"int8""#), "{json}");
        assert_eq!("int8".parse::<Precision>(), Ok(Precision::Int8));
        assert!("bf16"
            .parse::<Precision>()
            .unwrap_err()
            .contains("f32, int8"));
    }

    #[test]
    fn fingerprints_tolerate_noise_and_refuse_another_model() {
        let built = info(ModelInfo::fingerprint_of(&[0.6, 0.8, 1.0, 0.0]));
        let noisy = info(ModelInfo::fingerprint_of(&[0.6001, 0.7999, 0.99999, 0.001]));
        let other = info(ModelInfo::fingerprint_of(&[0.8, 0.6, 1.0, 0.0]));
        assert!(built.same_vectors(&noisy));
        assert!(!built.same_vectors(&other));
        assert!(!built.same_vectors(&info(Vec::new())));
        assert!(!built.same_vectors(&info(vec![1, 2])));
        assert!(info(Vec::new()).same_vectors(&info(Vec::new())));
    }
}
