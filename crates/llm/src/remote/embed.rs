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
use super::{error_text, quote, refuse_redirect, remote, unreachable};
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
    /// Longest wait for one request. Default: 300 s.
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
            timeout: Duration::from_secs(300),
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
            },
        };
        let listed = this.models()?;
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

    /// The endpoint, with any credentials in it hidden.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// The model id `GET /models` lists, as the server spells it.
    fn models(&self) -> Result<Vec<String>, LlmError> {
        let mut req = self.agent.get(format!("{}/models", self.base));
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let resp = req
            .call()
            .map_err(|e| remote(&self.base, unreachable(&e)))?;
        let body = self.read(resp, 1 << 20)?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| remote(&self.base, format!("`/models` did not answer JSON: {e}")))?;
        Ok(v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect())
    }

    /// Reads a body of at most `limit` bytes; an HTTP error is an error
    /// quoting the server's message.
    fn read(&self, resp: ureq::http::Response<ureq::Body>, limit: u64) -> Result<String, LlmError> {
        refuse_redirect(&resp, &self.base)?;
        let status = resp.status().as_u16();
        if status >= 400 {
            return Err(remote(
                &self.base,
                format!("the server answered HTTP {status}: {}", error_text(resp)),
            ));
        }
        resp.into_body()
            .with_config()
            .limit(limit)
            .read_to_string()
            .map_err(|e| remote(&self.base, format!("reading the response: {e}")))
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
        let text = self.read(resp, limit)?;
        parse_vectors(&text, texts.len(), dim).map_err(|m| remote(&self.base, m))
    }
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

impl Embedder for RemoteEmbedder {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// An estimate, one token per 3 bytes: servers do not share their
    /// tokenizer, and chunks planned with a high estimate stay within the
    /// server's limit.
    fn count_tokens(&self, text: &str) -> usize {
        text.len().div_ceil(3)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len() * self.info.dim);
        for batch in texts.chunks(self.batch) {
            let vectors = self
                .request(batch, Some(self.info.dim))
                .map_err(|e| EmbedError::Model(e.to_string()))?;
            out.extend(vectors);
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
