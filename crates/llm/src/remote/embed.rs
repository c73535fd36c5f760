//! An embedding model behind an OpenAI-compatible `POST /embeddings`
//! (text-embeddings-inference, vLLM, Ollama, llama.cpp's server): the
//! first step past one machine, when embedding compute is the wall.
//!
//! writ cannot hash weights it does not hold, so the model is identified
//! by what the server says it is and by what it does: its vectors of
//! [`writ_core::PROBE_TEXTS`], recorded in the index manifest. An index
//! built with one model is refused when the server later reports another
//! name or answers the probes with other vectors.
//!
//! Every answer is checked before it is believed: one vector per input, in
//! the order asked, all of one dimension, finite and not zero; and the
//! body's size is bounded by what was asked for.

use super::url::{base_url, redact};
use super::{quote, read_body_within, remote, unreachable};
use crate::error::LlmError;
use serde_json::{json, Value};
use std::time::Duration;
use writ_core::{EmbedError, Embedder, ModelInfo, PROBE_TEXTS};

/// The environment variable an embedding server's API key is read from
/// (never recorded).
pub const EMBED_API_KEY_ENV: &str = "WRIT_EMBED_API_KEY";

/// Most dimensions taken from a server.
const MAX_DIM: usize = 16_384;

/// Where the embedding server is and how to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEmbedSpec {
    /// The API's base URL (`http://127.0.0.1:8080/v1`); `/v1` is added
    /// when the URL has no path.
    pub url: String,
    /// The model id to ask for; `None`: the first the server lists.
    pub model: Option<String>,
    /// Longest chunk to send, in estimated tokens (one per 3 bytes, an
    /// overestimate for code, so a server's own limit is not reached).
    /// Default: 512.
    pub max_tokens: usize,
    /// Most texts per request. Default: 32.
    pub batch: usize,
    /// Longest wait for one request. Default: 120 s.
    pub timeout: Duration,
}

impl RemoteEmbedSpec {
    /// A spec for `url` with every default.
    pub fn new(url: impl Into<String>) -> RemoteEmbedSpec {
        RemoteEmbedSpec {
            url: url.into(),
            model: None,
            max_tokens: 512,
            batch: 32,
            timeout: Duration::from_secs(120),
        }
    }
}

/// A connected embedding server, checked against the probes.
pub struct RemoteEmbedder {
    agent: ureq::Agent,
    base: String,
    key: Option<String>,
    model: String,
    batch: usize,
    info: ModelInfo,
}

impl RemoteEmbedder {
    /// Connects: lists the server's models, picks the one asked for (or
    /// the first), and embeds the probe texts to learn the dimension and
    /// the fingerprint. Fails with a clear message when the server cannot
    /// be reached, does not serve that model, or answers out of shape.
    pub fn connect(spec: &RemoteEmbedSpec) -> Result<RemoteEmbedder, LlmError> {
        let base = base_url(&spec.url).map_err(|m| remote(&redact(&spec.url), m))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(spec.timeout))
            // The texts are the user's code: they go to the address the
            // user gave and nowhere a server points them.
            .max_redirects(0)
            .build()
            .into();
        let key = std::env::var(EMBED_API_KEY_ENV)
            .ok()
            .filter(|k| !k.is_empty());
        let mut this = RemoteEmbedder {
            agent,
            base: base.clone(),
            key,
            model: String::new(),
            batch: spec.batch.max(1),
            info: ModelInfo {
                id: String::new(),
                sha256: String::new(),
                dim: 0,
                max_tokens: spec.max_tokens.max(8),
                fingerprint: Vec::new(),
                precision: writ_core::Precision::F32,
            },
        };
        // A server without `/models` (text-embeddings-inference) is fine
        // when the model is named; its name is then checked by the probes'
        // request, which names it.
        let listed = match (this.models(), &spec.model) {
            (Ok(listed), _) => listed,
            (Err(Listing::Absent(_)), Some(m)) => vec![m.clone()],
            (Err(Listing::Absent(e) | Listing::Failed(e)), _) => return Err(e),
        };
        if let Some(bad) = listed.iter().find(|m| !plausible_id(m)) {
            return Err(remote(
                &base,
                format!(
                    "the server lists a model id writ will not record: `{}` (over 256 bytes, or control characters)",
                    quote(&bad.escape_default().to_string())
                ),
            ));
        }
        this.model = match &spec.model {
            Some(m) if listed.iter().any(|l| l == m) => m.clone(),
            Some(m) => {
                return Err(remote(
                    &base,
                    format!(
                        "the server does not serve model `{m}` (it lists: {})",
                        quote(&listed.join(", "))
                    ),
                ))
            }
            None => listed
                .first()
                .cloned()
                .ok_or_else(|| remote(&base, "the server lists no models".into()))?,
        };
        let probes = this.request(&PROBE_TEXTS, None)?;
        let dim = probes.len() / PROBE_TEXTS.len();
        this.info.id = format!("remote:{}", this.model);
        // Where the server runs does not change its vectors; the model
        // name and the probes' vectors do.
        this.info.sha256 =
            writ_core::sha256_hex(format!("remote-embedding\n{}", this.model).as_bytes());
        this.info.dim = dim;
        this.info.fingerprint = ModelInfo::fingerprint_of(&probes);
        Ok(this)
    }

    /// The model ids `GET /models` lists, as the server spells them.
    fn models(&self) -> Result<Vec<String>, Listing> {
        let mut req = self.agent.get(format!("{}/models", self.base));
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let resp = req
            .call()
            .map_err(|e| Listing::Failed(remote(&self.base, unreachable(&e))))?;
        if matches!(resp.status().as_u16(), 404 | 405) {
            return Err(Listing::Absent(remote(
                &self.base,
                "the server has no `/models` to list its models: name one with --embed-url-model"
                    .into(),
            )));
        }
        let body = read_body_within(resp, &self.base, 1 << 20).map_err(Listing::Failed)?;
        let v: Value = serde_json::from_str(&body).map_err(|e| {
            Listing::Failed(remote(
                &self.base,
                format!("`/models` did not answer JSON: {e}"),
            ))
        })?;
        Ok(v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect())
    }

    /// Unit vectors of `texts`, one request; `dim`, once known, is
    /// required of every vector.
    fn request(&self, texts: &[&str], dim: Option<usize>) -> Result<Vec<f32>, LlmError> {
        let body = json!({
            "model": self.model,
            "input": texts,
            "encoding_format": "float",
        });
        let mut req = self
            .agent
            .post(format!("{}/embeddings", self.base))
            .header("Content-Type", "application/json");
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let resp = req
            .send(body.to_string())
            .map_err(|e| remote(&self.base, unreachable(&e)))?;
        // A float in JSON takes at most about 25 bytes.
        let per_vector = dim.unwrap_or(MAX_DIM) as u64 * 25 + 256;
        let limit = per_vector * texts.len() as u64 + 64 * 1024;
        let text = read_body_within(resp, &self.base, limit)?;
        parse_vectors(&text, texts.len(), dim).map_err(|m| remote(&self.base, m))
    }
}

/// Why the model list is not at hand.
enum Listing {
    /// The server has no `/models`.
    Absent(LlmError),
    /// Any other failure.
    Failed(LlmError),
}

/// Whether a model id may be recorded: short, no control characters.
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control)
}

/// At most `max` bytes of `text`, cut at a character boundary: what a
/// local model's truncation does, so no request grows with a long line.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether an error is the server refusing an input as too long.
fn too_long(e: &LlmError) -> bool {
    let text = e.to_string().to_lowercase();
    text.contains("http 4")
        && [
            "token", "length", "too long", "context", "exceed", "maximum",
        ]
        .iter()
        .any(|w| text.contains(w))
}

/// The unit vectors in an `/embeddings` answer, in input order.
fn parse_vectors(body: &str, count: usize, dim: Option<usize>) -> Result<Vec<f32>, String> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| format!("`/embeddings` did not answer JSON: {e}"))?;
    let data = v["data"]
        .as_array()
        .ok_or("`/embeddings` answered without a `data` list")?;
    if data.len() != count {
        return Err(format!(
            "`/embeddings` answered {} vectors for {count} texts",
            data.len()
        ));
    }
    let mut rows: Vec<Option<Vec<f32>>> = vec![None; count];
    for (at, item) in data.iter().enumerate() {
        // `index` says which input a vector is for; without one, order.
        let i = match item.get("index") {
            None => at,
            Some(i) => i
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < count)
                .ok_or_else(|| format!("`/embeddings` answered an index out of range: {i}"))?,
        };
        let values = item["embedding"].as_array().ok_or(
            "`/embeddings` answered an `embedding` that is not a list of numbers \
             (a server that pools no tokens answers one vector per token: start it with mean pooling)",
        )?;
        let mut row = Vec::with_capacity(values.len());
        for x in values {
            let x = x
                .as_f64()
                .ok_or("`/embeddings` answered a vector with a value that is not a number (a server that pools no tokens answers one vector per token: start it with mean pooling)")?;
            row.push(x as f32);
        }
        let want = dim.unwrap_or(row.len());
        if row.is_empty() || row.len() != want || row.len() > MAX_DIM {
            return Err(format!(
                "`/embeddings` answered a vector of {} dimensions where {want} were expected",
                row.len()
            ));
        }
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err("`/embeddings` answered a zero or non-finite vector".into());
        }
        row.iter_mut().for_each(|x| *x /= norm);
        if rows[i].replace(row).is_some() {
            return Err(format!("`/embeddings` answered index {i} twice"));
        }
    }
    let first = rows.first().and_then(|r| r.as_ref()).map_or(0, Vec::len);
    let mut out = Vec::with_capacity(first * count);
    for row in rows {
        let row = row.ok_or("`/embeddings` left a text without a vector")?;
        if row.len() != first {
            return Err("`/embeddings` answered vectors of different dimensions".into());
        }
        out.extend(row);
    }
    Ok(out)
}

impl RemoteEmbedder {
    /// Vectors of `texts` in one request, or one request per text when
    /// the server refuses an input as too long (each then cut in half
    /// until it is taken, as a local model truncates).
    fn vectors(&self, texts: &[&str]) -> Result<Vec<f32>, LlmError> {
        let dim = Some(self.info.dim);
        match self.request(texts, dim) {
            Err(e) if too_long(&e) && texts.len() > 1 => {
                let mut out = Vec::with_capacity(texts.len() * self.info.dim);
                for text in texts {
                    out.extend(self.vectors(&[text])?);
                }
                Ok(out)
            }
            Err(e) if too_long(&e) && texts.first().is_some_and(|t| t.len() > 64) => {
                let half = cut(texts[0], texts[0].len() / 2);
                self.vectors(&[half])
            }
            other => other,
        }
    }

    /// Checks that the sentinel probe's vector is still the one recorded:
    /// a server that swapped models mid-run is caught before its vectors
    /// are stored.
    fn check_sentinel(&self, vector: &[f32]) -> Result<(), LlmError> {
        let dim = self.info.dim;
        let Some(recorded) = self.info.fingerprint.get(..dim) else {
            return Ok(());
        };
        let norm = recorded
            .iter()
            .map(|&x| f32::from(x) * f32::from(x))
            .sum::<f32>()
            .sqrt();
        let dot: f32 = vector
            .iter()
            .zip(recorded)
            .map(|(v, &r)| v * f32::from(r))
            .sum();
        let cosine = if norm > 0.0 { dot / norm } else { 0.0 };
        if cosine >= writ_core::FINGERPRINT_COSINE {
            return Ok(());
        }
        Err(remote(
            &self.base,
            format!(
                "the server's vector of writ's probe text changed during the run (cosine {cosine:.4}): \
                 another model now answers as `{}`; nothing from this batch was stored",
                quote(&self.model)
            ),
        ))
    }
}

impl Embedder for RemoteEmbedder {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// An estimate, one token per 3 bytes: servers do not share their
    /// tokenizer. Texts are also cut to 3 bytes per token before they are
    /// sent, and one the server still refuses as too long is cut further.
    fn count_tokens(&self, text: &str) -> usize {
        text.len().div_ceil(3)
    }

    /// Each request carries the first probe text too, whose vector must
    /// stay the recorded one.
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        let dim = self.info.dim;
        let max = self.info.max_tokens.saturating_mul(3);
        let mut out = Vec::with_capacity(texts.len() * dim);
        for batch in texts.chunks(self.batch) {
            let mut sent: Vec<&str> = batch.iter().map(|t| cut(t, max)).collect();
            sent.push(PROBE_TEXTS[0]);
            let vectors = self
                .vectors(&sent)
                .map_err(|e| EmbedError::Model(e.to_string()))?;
            let (answer, sentinel) = vectors.split_at(batch.len() * dim);
            self.check_sentinel(sentinel)
                .map_err(|e| EmbedError::Model(e.to_string()))?;
            out.extend_from_slice(answer);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    #[test]
    fn answers_are_put_in_input_order_and_normalised() {
        let body = r#"{"data":[{"index":1,"embedding":[0,2]},{"index":0,"embedding":[3,4]}]}"#;
        let v = parse_vectors(body, 2, None).unwrap();
        assert_eq!(v, vec![0.6, 0.8, 0.0, 1.0]);
    }

    #[test]
    fn answers_out_of_shape_are_refused() {
        let cases = [
            (r#"{"data":[{"embedding":[1,0]}]}"#, 2, "1 vectors for 2"),
            (
                r#"{"data":[{"index":5,"embedding":[1]}]}"#,
                1,
                "out of range",
            ),
            (
                r#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}"#,
                2,
                "twice",
            ),
            (
                r#"{"data":[{"embedding":[[1,2],[3,4]]}]}"#,
                1,
                "mean pooling",
            ),
            (r#"{"data":[{"embedding":[0,0]}]}"#, 1, "zero"),
            (
                r#"{"data":[{"embedding":[1,0]},{"embedding":[1]}]}"#,
                2,
                "different",
            ),
            (r#"{"error":"x"}"#, 1, "`data`"),
        ];
        for (body, n, says) in cases {
            let e = parse_vectors(body, n, None).unwrap_err();
            assert!(e.contains(says), "{body}: {e}");
        }
        let e = parse_vectors(r#"{"data":[{"embedding":[1,0,0]}]}"#, 1, Some(2)).unwrap_err();
        assert!(e.contains("3 dimensions where 2"), "{e}");
    }
}
