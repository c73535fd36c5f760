//! A model behind an OpenAI-compatible endpoint (llama.cpp's server,
//! Ollama, vLLM, LM Studio, a hosted API): `POST /chat/completions`,
//! streamed as server-sent events, held to a JSON Schema through
//! `response_format` where the server takes one.
//!
//! What comes back is text, nothing more: the caller parses, validates and
//! gates it exactly as it does the local model's. The server is outside
//! writ, so every string from it is treated as hostile: bounded in size,
//! and never trusted for anything but the answer text it carries.

use crate::chat::ChatTemplate;
use crate::error::LlmError;
use crate::model::{GenerateOptions, Generation, LlmInfo, StopReason};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

/// The environment variable an API key is read from (never recorded).
pub const API_KEY_ENV: &str = "WRIT_LLM_API_KEY";

/// Most bytes of answer text taken from a server (a runaway stream is cut).
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Most bytes of one SSE line or of a non-streamed body.
const MAX_LINE_BYTES: u64 = 1 << 20;
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
            constrain: true,
        }
    }
}

/// What a remote generation records beside its text: enough to say which
/// server and model wrote it and how it was asked, not enough to redo it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRecord {
    /// The endpoint (without credentials).
    pub endpoint: String,
    /// The model id the server reported in its response.
    pub model: String,
    /// The request's parameters, without the messages (recorded apart).
    pub request: Value,
    /// The response's `id`.
    pub response_id: Option<String>,
    /// The response's `system_fingerprint`, where the server gives one.
    pub fingerprint: Option<String>,
    /// How the output was constrained: `json_schema` (OpenAI's
    /// `response_format`), `json_object+schema` or `none`.
    pub constraint: &'static str,
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

/// `url` as it may be shown: any `user:password@` replaced by `***@`
/// (a spinner, an error message, a record never carry credentials).
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let sep = if rest.contains('/') { "/" } else { "" };
    if scheme.is_empty() {
        format!("{authority}{sep}{path}")
    } else {
        format!("{scheme}://{authority}{sep}{path}")
    }
}

/// The base URL as used: scheme http or https, no credentials, no query,
/// no trailing slash, `/v1` when there was no path.
fn base_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let shown = redact(url);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{shown}` is not a URL (http://host:port/v1)"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{shown}`: only http and https are spoken"));
    }
    if rest.contains(['?', '#']) {
        return Err(format!("`{shown}`: a base URL takes no query or fragment"));
    }
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() || host.contains('@') {
        return Err(format!(
            "`{shown}`: give the host without credentials (an API key goes in ${API_KEY_ENV})"
        ));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the URL holds control characters or spaces".into());
    }
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "v1" } else { path };
    Ok(format!("{scheme}://{host}/{path}"))
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
        // none. A server that rejects one (HTTP 400 or 422) is asked the
        // next; the one it took is remembered and recorded.
        let dialects: Vec<Dialect> = match (schema, self.dialect) {
            (None, _) => vec![Dialect::None],
            (Some(_), Some(d)) => vec![d],
            (Some(_), None) => vec![Dialect::JsonSchema, Dialect::JsonObject, Dialect::None],
        };
        let mut rejected = Vec::new();
        let mut taken = None;
        for d in dialects {
            let mut sent = request.clone();
            if let Some(format) = d.format(schema) {
                sent["response_format"] = format;
            }
            let mut body = sent.clone();
            body["messages"] = Value::Array(messages.clone());
            let resp = self.post("/chat/completions", &body)?;
            let status = resp.status().as_u16();
            if status < 400 {
                taken = Some((d, sent, resp));
                break;
            }
            let text = format!("HTTP {status}: {}", error_text(resp));
            // A rejection of the format: 400 or 422, or (llama-cpp-python
            // answers its validation errors with 500) any error that names it.
            let about_format = text.contains("response_format") || text.contains("json_schema");
            if (matches!(status, 400 | 422) || about_format) && d != Dialect::None {
                rejected.push(format!("{}: {text}", d.name()));
                continue;
            }
            return Err(remote(
                &self.base,
                format!("the server answered {text}{}", rejections(&rejected)),
            ));
        }
        let Some((dialect, request, resp)) = taken else {
            return Err(remote(
                &self.base,
                format!("every request was rejected{}", rejections(&rejected)),
            ));
        };
        if schema.is_some() {
            self.dialect = Some(dialect);
        }
        let mut stream = Stream::default();
        let mut reader = BufReader::new(resp.into_body().into_reader());
        let mut first: Option<f64> = None;
        let stop = loop {
            if options.cancel.is_cancelled() {
                // Dropping the response closes the connection: the server
                // stops generating.
                break StopReason::Cancelled;
            }
            let mut line = Vec::new();
            let n = (&mut reader)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut line)
                .map_err(|e| remote(&self.base, format!("reading the stream: {e}")))?;
            if n == 0 {
                match stream.stop {
                    Some(stop) => break stop,
                    // Cut off: a server that failed after sending its
                    // headers (llama-cpp-python does this) or a dropped
                    // connection. Not an answer.
                    None if !stream.done => {
                        return Err(remote(
                            &self.base,
                            format!(
                                "the stream ended before the answer finished (no finish_reason, no [DONE]) after {} bytes; the server's log may say why",
                                stream.text.len()
                            ),
                        ))
                    }
                    None => break StopReason::EndOfTurn,
                }
            }
            let line = String::from_utf8_lossy(&line);
            match stream.feed(line.trim_end_matches(['\r', '\n']))? {
                Some(piece) => {
                    first.get_or_insert_with(|| started.elapsed().as_secs_f64());
                    on_text(&piece);
                }
                None if stream.done => break stream.stop.unwrap_or(StopReason::EndOfTurn),
                None => {}
            }
            if stream.text.len() > MAX_ANSWER_BYTES {
                break StopReason::MaxTokens;
            }
        };
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
        };
        let prompt_tokens = stream
            .prompt_tokens
            .unwrap_or_else(|| RemoteLlm::estimate_tokens(prompt));
        let generated = stream.completion_tokens.unwrap_or(stream.pieces);
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
}

/// The state of one server-sent event stream of chat completion chunks.
#[derive(Debug, Default)]
struct Stream {
    text: String,
    pieces: usize,
    id: Option<String>,
    model: Option<String>,
    fingerprint: Option<String>,
    stop: Option<StopReason>,
    prompt_tokens: Option<usize>,
    completion_tokens: Option<usize>,
    done: bool,
}

impl Stream {
    /// Takes one line of the stream; returns the new answer text it held.
    fn feed(&mut self, line: &str) -> Result<Option<String>, LlmError> {
        let Some(data) = line.strip_prefix("data:") else {
            // Comments, `event:` and `id:` lines, blank separators.
            return Ok(None);
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::Run(format!("the server streamed a chunk that is not JSON: {e}"))
        })?;
        if let Some(err) = v.get("error") {
            return Err(LlmError::Run(format!(
                "the server reported an error mid-stream: {}",
                server_message(&err.to_string())
            )));
        }
        let text = |k: &str| v[k].as_str().map(quote);
        self.id = self.id.take().or_else(|| text("id"));
        self.model = self.model.take().or_else(|| text("model"));
        self.fingerprint = self
            .fingerprint
            .take()
            .or_else(|| text("system_fingerprint"));
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.prompt_tokens = u["prompt_tokens"].as_u64().map(|n| n as usize);
            self.completion_tokens = u["completion_tokens"].as_u64().map(|n| n as usize);
        }
        let choice = &v["choices"][0];
        match choice["finish_reason"].as_str() {
            Some("length") => self.stop = Some(StopReason::MaxTokens),
            Some(_) => self.stop = Some(StopReason::EndOfTurn),
            None => {}
        }
        let piece = choice["delta"]["content"]
            .as_str()
            .or_else(|| choice["text"].as_str())
            .unwrap_or("");
        if piece.is_empty() {
            return Ok(None);
        }
        self.pieces += 1;
        self.text.push_str(piece);
        Ok(Some(piece.to_string()))
    }
}

/// Reads a (bounded) response body as text.
fn read_body(resp: ureq::http::Response<ureq::Body>, base: &str) -> Result<String, LlmError> {
    let status = resp.status().as_u16();
    let text = resp
        .into_body()
        .with_config()
        .limit(MAX_LINE_BYTES)
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
    fn base_urls_are_normalised_and_credentials_refused() {
        assert_eq!(
            base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(base_url("http://h:1/v1/").unwrap(), "http://h:1/v1");
        assert_eq!(
            base_url("https://api.x/openai/v1").unwrap(),
            "https://api.x/openai/v1"
        );
        assert!(base_url("ftp://h/v1").is_err());
        let creds = base_url("http://user:secret@h/v1").unwrap_err();
        assert!(
            creds.contains(API_KEY_ENV) && !creds.contains("secret"),
            "{creds}"
        );
        assert_eq!(redact("https://a:b@h:1/v1"), "https://***@h:1/v1");
        assert_eq!(redact("h:1"), "h:1");
        assert!(base_url("http://h/v1?key=1").is_err());
        assert!(base_url("h:8080").is_err());
        assert!(base_url("http://h/v1\n").is_ok());
        assert!(base_url("http://h/v 1").is_err());
    }

    #[test]
    fn a_stream_is_read_piece_by_piece() {
        let mut s = Stream::default();
        let lines = [
            ": keep-alive",
            r#"data: {"id":"c1","model":"m","system_fingerprint":"fp","choices":[{"delta":{"role":"assistant"}}]}"#,
            "",
            r#"data: {"id":"c1","choices":[{"delta":{"content":"{\"pro"}}]}"#,
            r#"data: {"id":"c1","choices":[{"delta":{"content":"posals\":[]}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#,
            "data: [DONE]",
        ];
        let mut seen = Vec::new();
        for l in lines {
            if let Some(p) = s.feed(l).unwrap() {
                seen.push(p);
            }
        }
        assert_eq!(seen, ["{\"pro", "posals\":[]}"]);
        assert_eq!(s.text, "{\"proposals\":[]}");
        assert!(s.done);
        assert_eq!(s.stop, Some(StopReason::EndOfTurn));
        assert_eq!(
            (s.id.as_deref(), s.model.as_deref()),
            (Some("c1"), Some("m"))
        );
        assert_eq!(s.fingerprint.as_deref(), Some("fp"));
        assert_eq!((s.prompt_tokens, s.completion_tokens), (Some(12), Some(5)));
        let mut cut = Stream::default();
        cut.feed(r#"data: {"choices":[{"delta":{"content":"x"},"finish_reason":"length"}]}"#)
            .unwrap();
        assert_eq!(cut.stop, Some(StopReason::MaxTokens));
        assert!(Stream::default().feed("data: {oops").is_err());
        assert!(Stream::default()
            .feed(r#"data: {"error":{"message":"boom"}}"#)
            .unwrap_err()
            .to_string()
            .contains("boom"));
    }

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
