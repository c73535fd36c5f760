//! A model behind an OpenAI-compatible endpoint (llama.cpp's server,
//! Ollama, vLLM, LM Studio, a hosted API): `POST /chat/completions`,
//! streamed as server-sent events, held to a JSON Schema through
//! `response_format` where the server takes one.
//!
//! What comes back is text, nothing more: the caller parses, validates and
//! gates it exactly as it does the local model's. The server is outside
//! writ, so every string from it is treated as hostile: bounded in size,
//! and never trusted for anything but the answer text it carries.

mod embed;
mod sse;
mod url;

use crate::chat::ChatTemplate;
use crate::error::LlmError;
use crate::types::{GenerateOptions, Generation, LlmInfo, RemoteRecord, StopReason};
pub use embed::{RemoteEmbedSpec, RemoteEmbedder, EMBED_API_KEY_ENV};
use serde_json::{json, Value};
use sse::{Stream, MAX_LINE_BYTES};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};
use url::base_url;
pub use url::redact;

/// The environment variable an API key is read from (never recorded).
pub const API_KEY_ENV: &str = "WRIT_LLM_API_KEY";

/// Most bytes of answer text taken from a server, at most (a runaway
/// stream is cut): also at most 16 bytes per token of `max_tokens`.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Most lines without answer text (keep-alives, empty chunks) in a row.
const MAX_EMPTY_LINES: usize = 10_000;
/// How often a waiting generation looks at its cancel flag.
const POLL: Duration = Duration::from_millis(100);
/// How long to wait for the last chunks (usage, `[DONE]`) once the
/// server has said the answer is finished.
const GRACE: Duration = Duration::from_secs(2);
/// Most bytes of a server's error body quoted back to the user.
const MAX_QUOTED: usize = 300;

/// Where the remote model is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// The API's base URL (`http://127.0.0.1:8080/v1`); `/v1` is added
    /// when the URL has no path.
    pub url: String,
    /// The model id to ask for; `None`: the first the server lists.
    pub model: Option<String>,
    /// The context window to plan prompts for, in tokens (servers do not
    /// report it). Default: 8192.
    pub context: usize,
    /// Longest wait for the next piece of a response. Default: 120 s.
    pub idle_timeout: Duration,
    /// Longest a whole answer may take, however busy the stream looks.
    /// Default: 600 s.
    pub deadline: Duration,
    /// Whether to send the answer's JSON Schema as `response_format`.
    /// Default: true; a server that rejects it fails the ask with its
    /// error, and `false` sends none (the output is still validated).
    pub constrain: bool,
}

impl RemoteSpec {
    /// A spec for `url` with every default.
    pub fn new(url: impl Into<String>) -> RemoteSpec {
        RemoteSpec {
            url: url.into(),
            model: None,
            context: 8192,
            idle_timeout: Duration::from_secs(120),
            deadline: Duration::from_secs(600),
            constrain: true,
        }
    }
}

/// A connected remote model.
pub struct RemoteLlm {
    agent: ureq::Agent,
    base: String,
    key: Option<String>,
    spec: RemoteSpec,
    info: LlmInfo,
    /// The `response_format` dialect this server took, once known.
    dialect: Option<Dialect>,
}

/// A way of asking for schema-held output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    JsonSchema,
    JsonObject,
    None,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::JsonSchema => "json_schema",
            Dialect::JsonObject => "json_object+schema",
            Dialect::None => "none",
        }
    }

    fn format(self, schema: Option<&Value>) -> Option<Value> {
        let s = schema?;
        match self {
            Dialect::JsonSchema => Some(json!({
                "type": "json_schema",
                "json_schema": { "name": "proposals", "strict": true, "schema": s },
            })),
            Dialect::JsonObject => Some(json!({ "type": "json_object", "schema": s })),
            Dialect::None => None,
        }
    }
}

/// What earlier dialects were told, for an error message.
fn rejections(rejected: &[String]) -> String {
    if rejected.is_empty() {
        String::new()
    } else {
        format!(" (after these were rejected: {})", rejected.join("; "))
    }
}

/// At most [`MAX_QUOTED`] bytes of `text`, cut at a character boundary.
fn quote(text: &str) -> String {
    let mut end = text.len().min(MAX_QUOTED);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < text.len() { " …" } else { "" };
    format!("{}{cut}", text[..end].trim())
}

impl RemoteLlm {
    /// Connects: lists the server's models and picks the one asked for
    /// (or the first). Fails with a clear message when the server cannot
    /// be reached or does not serve that model.
    pub fn connect(spec: RemoteSpec) -> Result<RemoteLlm, LlmError> {
        let base = base_url(&spec.url).map_err(|m| remote(&redact(&spec.url), m))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(spec.idle_timeout))
            .timeout_global(Some(spec.deadline))
            // The prompt carries the user's code: it goes to the address
            // the user gave and nowhere a server points it.
            .max_redirects(0)
            .build()
            .into();
        let key = std::env::var(API_KEY_ENV).ok().filter(|k| !k.is_empty());
        let mut this = RemoteLlm {
            agent,
            base: base.clone(),
            key,
            dialect: None,
            info: LlmInfo {
                path: base.clone().into(),
                sha256: String::new(),
                architecture: "remote".into(),
                name: String::new(),
                context_length: spec.context,
                template: ChatTemplate::Messages,
                tokenizer: "estimate: 1 token per 3 bytes".into(),
            },
            spec,
        };
        let listed = this.models()?;
        let model = match &this.spec.model {
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
        this.info.name = model.clone();
        // The proposer's identity: this endpoint and this model id.
        this.info.sha256 = writ_core::sha256_hex(format!("remote\n{base}\n{model}").as_bytes());
        Ok(this)
    }

    /// The model's identity (`architecture` is `remote`, `path` the
    /// endpoint, `name` the model id).
    pub fn info(&self) -> &LlmInfo {
        &self.info
    }

    /// Estimated token count: servers do not share their tokenizer, so
    /// prompts are planned with a deliberately high estimate.
    pub fn estimate_tokens(text: &str) -> usize {
        text.len().div_ceil(3)
    }

    fn get(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        req
    }

    /// Sends a JSON body; any HTTP status comes back as a response.
    fn post(&self, path: &str, body: &Value) -> Result<ureq::http::Response<ureq::Body>, LlmError> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .header("Accept", "text/event-stream");
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        req.send(body.to_string())
            .map_err(|e| remote(&self.base, unreachable(&e)))
    }

    /// The model ids `GET /models` lists.
    fn models(&self) -> Result<Vec<String>, LlmError> {
        let resp = self
            .get("/models")
            .call()
            .map_err(|e| remote(&self.base, unreachable(&e)))?;
        let body = read_body(resp, &self.base)?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| remote(&self.base, format!("`/models` did not answer JSON: {e}")))?;
        Ok(v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect())
    }

    /// Generates an answer to the conversation `prompt` (as
    /// [`ChatTemplate::Messages`] renders it), held to `schema` when the
    /// spec constrains; `on_text` sees each piece as it streams in.
    pub fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        schema: Option<&Value>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError> {
        let messages: Vec<Value> = serde_json::from_str(prompt)
            .map_err(|e| LlmError::Run(format!("the prompt is not a message list: {e}")))?;
        let request = json!({
            "model": self.info.name,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature.unwrap_or(0.0),
            "seed": options.seed,
            "stream": true,
        });
        let schema = schema.filter(|_| self.spec.constrain);
        let started = Instant::now();
        // The dialects of `response_format`, most specific first: OpenAI's
        // (vLLM, Ollama, LM Studio, llama.cpp's own server), then the
        // `json_object` + `schema` one (llama-cpp-python, Together), then
        // none. A server whose error names the format is asked the next;
        // any other error fails the ask. A dialect that held is remembered;
        // `none` never is (the next ask tries the schema again).
        let dialects: Vec<Dialect> = match (schema, self.dialect) {
            (None, _) => vec![Dialect::None],
            (Some(_), Some(d)) => vec![d],
            (Some(_), None) => vec![Dialect::JsonSchema, Dialect::JsonObject, Dialect::None],
        };
        let mut refused = Vec::new();
        let mut taken = None;
        for d in dialects {
            let mut sent = request.clone();
            if let Some(format) = d.format(schema) {
                sent["response_format"] = format;
            }
            let mut body = sent.clone();
            body["messages"] = Value::Array(messages.clone());
            let resp = self.post("/chat/completions", &body)?;
            refuse_redirect(&resp, &self.base)?;
            let status = resp.status().as_u16();
            if status < 400 {
                taken = Some((d, sent, resp));
                break;
            }
            let text = format!("HTTP {status}: {}", error_text(resp));
            let lower = text.to_lowercase();
            let about_format = ["response_format", "json_schema", "schema", "grammar"]
                .iter()
                .any(|w| lower.contains(w));
            if about_format && d != Dialect::None {
                refused.push(format!("{}: {text}", d.name()));
                continue;
            }
            return Err(remote(
                &self.base,
                format!("the server answered {text}{}", rejections(&refused)),
            ));
        }
        let Some((dialect, request, resp)) = taken else {
            return Err(remote(
                &self.base,
                format!("every request was rejected{}", rejections(&refused)),
            ));
        };
        if schema.is_some() && dialect != Dialect::None {
            self.dialect = Some(dialect);
        }
        let streamed = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| !t.starts_with("application/json"));
        let limit =
            MAX_ANSWER_BYTES.min(options.max_tokens.saturating_mul(16).saturating_add(1024));
        let mut stream = Stream::default();
        let mut first: Option<f64> = None;
        let stop = if streamed {
            let lines = sse::lines(resp.into_body().into_reader());
            self.read_stream(&lines, &mut stream, options, started, limit, &mut |piece| {
                first.get_or_insert_with(|| started.elapsed().as_secs_f64());
                on_text(piece);
            })?
        } else {
            // A server that ignores `stream: true`: one whole completion.
            let text = read_body(resp, &self.base)?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| remote(&self.base, format!("the answer is not JSON: {e}")))?;
            if let Some(piece) = stream.whole(&v)? {
                first = Some(started.elapsed().as_secs_f64());
                on_text(&piece);
            }
            stream.stop.unwrap_or(StopReason::EndOfTurn)
        };
        if stream.text.len() > limit {
            let mut end = limit;
            while !stream.text.is_char_boundary(end) {
                end -= 1;
            }
            stream.text.truncate(end);
        }
        let prefill_seconds = first.unwrap_or_else(|| started.elapsed().as_secs_f64());
        let record = RemoteRecord {
            endpoint: self.base.clone(),
            model: stream
                .model
                .clone()
                .unwrap_or_else(|| self.info.name.clone()),
            request,
            response_id: stream.id.clone(),
            fingerprint: stream.fingerprint.clone(),
            constraint: dialect.name(),
            refused,
        };
        let prompt_tokens = stream
            .prompt_tokens
            .unwrap_or_else(|| RemoteLlm::estimate_tokens(prompt))
            .min(self.info.context_length.max(1) * 4);
        // The server's count, but never more than was asked for (a count
        // is only a number: it must not size anything).
        let generated = stream
            .completion_tokens
            .unwrap_or(stream.pieces)
            .min(options.max_tokens);
        Ok(Generation {
            prompt_tokens,
            tokens: (0..generated as u32).collect(),
            text: stream.text,
            stop,
            prefill_seconds,
            decode_seconds: started.elapsed().as_secs_f64() - prefill_seconds,
            remote: Some(record),
        })
    }

    /// Reads the event stream until the answer ends, looking at the cancel
    /// flag, the idle timeout and the deadline while it waits.
    fn read_stream(
        &self,
        lines: &std::sync::mpsc::Receiver<sse::Line>,
        stream: &mut Stream,
        options: &GenerateOptions,
        started: Instant,
        limit: usize,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<StopReason, LlmError> {
        let mut heard = Instant::now();
        let mut empty = 0usize;
        let fail = |m: String| Err(remote(&self.base, m));
        loop {
            if options.cancel.is_cancelled() {
                // Dropping the receiver ends the reader; the connection
                // closes and the server stops generating.
                return Ok(StopReason::Cancelled);
            }
            if started.elapsed() > self.spec.deadline {
                return fail(format!(
                    "no complete answer within {} s",
                    self.spec.deadline.as_secs()
                ));
            }
            let wait = if stream.stop.is_some() { GRACE } else { POLL };
            let line = match lines.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(stop) = stream.stop {
                        // Finished, and nothing more came: done.
                        return Ok(stop);
                    }
                    if heard.elapsed() > self.spec.idle_timeout {
                        return fail(format!(
                            "nothing from the server for {} s",
                            self.spec.idle_timeout.as_secs()
                        ));
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
                // The agent's own clocks (which also end a read that blocks).
                Ok(Err(e)) if e.contains("timeout: global") => {
                    return fail(format!(
                        "no complete answer within {} s",
                        self.spec.deadline.as_secs()
                    ))
                }
                Ok(Err(e)) if e.contains("timeout") => {
                    return fail(format!(
                        "nothing from the server for {} s",
                        self.spec.idle_timeout.as_secs()
                    ))
                }
                Ok(Err(e)) => return fail(format!("reading the stream: {e}")),
                Ok(Ok(line)) => line,
            };
            heard = Instant::now();
            let Some(line) = line else {
                // The end of the stream.
                if let Some(piece) = stream.dispatch()? {
                    on_text(&piece);
                }
                return match stream.stop {
                    Some(stop) => Ok(stop),
                    None if stream.done => Ok(StopReason::EndOfTurn),
                    // Cut off: a server that failed after sending its
                    // headers (llama-cpp-python does this) or a dropped
                    // connection. Not an answer.
                    None => fail(format!(
                        "the stream ended before the answer finished (no finish_reason, no [DONE]) after {} bytes; the server's log may say why",
                        stream.text.len()
                    )),
                };
            };
            match stream.feed(&line)? {
                Some(piece) => {
                    empty = 0;
                    on_text(&piece);
                }
                None => {
                    empty += 1;
                    if empty > MAX_EMPTY_LINES {
                        return fail(format!(
                            "{MAX_EMPTY_LINES} lines in a row without answer text"
                        ));
                    }
                }
            }
            if stream.done {
                return Ok(stream.stop.unwrap_or(StopReason::EndOfTurn));
            }
            if stream.text.len() > limit {
                return Ok(StopReason::MaxTokens);
            }
        }
    }
}

/// A redirect is an error naming where it pointed (writ follows none).
fn refuse_redirect(resp: &ureq::http::Response<ureq::Body>, base: &str) -> Result<(), LlmError> {
    let status = resp.status().as_u16();
    if !(300..400).contains(&status) {
        return Ok(());
    }
    let to = resp
        .headers()
        .get("location")
        .map(|v| quote(&redact(&String::from_utf8_lossy(v.as_bytes()))))
        .unwrap_or_default();
    Err(remote(
        base,
        format!(
            "the server answered HTTP {status}, pointing to `{to}`; writ follows no redirects (what it sends carries your code): give writ the final address"
        ),
    ))
}

/// Reads a (bounded) response body as text.
fn read_body(resp: ureq::http::Response<ureq::Body>, base: &str) -> Result<String, LlmError> {
    read_body_within(resp, base, MAX_LINE_BYTES)
}

/// Reads a response body of at most `limit` bytes as text; a redirect or
/// an HTTP error is an error quoting the server's message.
fn read_body_within(
    resp: ureq::http::Response<ureq::Body>,
    base: &str,
    limit: u64,
) -> Result<String, LlmError> {
    refuse_redirect(&resp, base)?;
    let status = resp.status().as_u16();
    let text = resp
        .into_body()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(|e| remote(base, format!("reading the response: {e}")))?;
    if status >= 400 {
        return Err(remote(
            base,
            format!(
                "the server answered HTTP {status}: {}",
                server_message(&text)
            ),
        ));
    }
    Ok(text)
}

/// The message of an error response, read within bounds.
fn error_text(resp: ureq::http::Response<ureq::Body>) -> String {
    let body = resp
        .into_body()
        .with_config()
        .limit(MAX_LINE_BYTES)
        .read_to_string()
        .unwrap_or_default();
    server_message(&body)
}

/// The message of an OpenAI-style error body, or the body itself, quoted.
fn server_message(body: &str) -> String {
    let v: Option<Value> = serde_json::from_str(body).ok();
    let msg = v.as_ref().and_then(|v| {
        v["error"]["message"]
            .as_str()
            .or_else(|| v["error"].as_str())
            .or_else(|| v["message"].as_str())
            .or_else(|| v["detail"].as_str())
            .map(String::from)
    });
    quote(&msg.unwrap_or_else(|| body.to_string()))
}

/// A transport failure in words a user can act on.
fn unreachable(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("no answer in time ({t})"),
        ureq::Error::Io(io) => format!("cannot reach the server: {io}"),
        ureq::Error::HostNotFound => "the host name does not resolve".into(),
        other => format!("the request failed: {other}"),
    }
}

fn remote(url: &str, message: String) -> LlmError {
    LlmError::Remote {
        url: url.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    #[test]
    fn server_messages_are_quoted_short() {
        assert_eq!(
            server_message(r#"{"error":{"message":"no such model"}}"#),
            "no such model"
        );
        assert_eq!(server_message(r#"{"detail":"bad"}"#), "bad");
        let long = "é".repeat(400);
        assert!(server_message(&long).len() <= MAX_QUOTED + 4);
    }
}
