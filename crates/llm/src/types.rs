//! What generation takes and gives, shared by the local and the remote
//! model (so neither module imports the other): a model's identity, the
//! options, the cancel flag, why generation stopped, and its result.

use crate::chat::ChatTemplate;
use serde_json::Value;
use std::path::PathBuf;

/// Identity of a loaded model, recorded with every proposal it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmInfo {
    /// The GGUF file.
    pub path: PathBuf,
    /// sha256 of the file.
    pub sha256: String,
    /// `general.architecture`: one of [`ARCHITECTURES`].
    pub architecture: String,
    /// `general.name`.
    pub name: String,
    /// Context window in tokens.
    pub context_length: usize,
    /// The chat format.
    pub template: ChatTemplate,
    /// Where the tokenizer came from: `gguf` (the file's metadata) or the
    /// path of a `tokenizer.json` beside it.
    pub tokenizer: String,
}

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to generate. Default: 256.
    pub max_tokens: usize,
    /// Sampling temperature; `None` (the default) is greedy decoding.
    pub temperature: Option<f64>,
    /// Seed for sampling (ignored when greedy). Default: 0.
    pub seed: u64,
    /// Divides (or, when negative, multiplies) the logits of tokens seen in
    /// the last `repeat_last_n` generated tokens, as llama.cpp does; 1.0
    /// turns it off. Default: 1.0. Deterministic, so greedy runs still
    /// reproduce.
    pub repeat_penalty: f32,
    /// How many recent generated tokens the penalty looks at. Default: 64.
    pub repeat_last_n: usize,
    /// Stops the generation before its next token when set (Ctrl-C, an
    /// MCP client's cancellation). Default: never.
    pub cancel: Cancel,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            temperature: None,
            seed: 0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            cancel: Cancel::default(),
        }
    }
}

/// A flag shared with whoever may stop a generation; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A flag not yet set.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the generation to stop before its next token.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether it was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Two flags are equal when they are the same flag.
impl PartialEq for Cancel {
    fn eq(&self, other: &Cancel) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-turn token.
    EndOfTurn,
    /// `max_tokens` reached.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// The grammar of a constrained generation is complete.
    Complete,
    /// Stopped by its [`Cancel`] flag.
    Cancelled,
}

impl StopReason {
    /// A stable name for records (`end-of-turn`, `max-tokens`, ...).
    pub fn name(self) -> &'static str {
        match self {
            StopReason::EndOfTurn => "end-of-turn",
            StopReason::MaxTokens => "max-tokens",
            StopReason::ContextFull => "context-full",
            StopReason::Complete => "complete",
            StopReason::Cancelled => "cancelled",
        }
    }
}

/// The result of one generation.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Generated token ids (without the stop token).
    pub tokens: Vec<u32>,
    /// Generated text.
    pub text: String,
    /// Why it stopped.
    pub stop: StopReason,
    /// Seconds spent on the prompt.
    pub prefill_seconds: f64,
    /// Seconds spent generating.
    pub decode_seconds: f64,
    /// Which server and model wrote it, for a remote model.
    pub remote: Option<RemoteRecord>,
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
    /// What the server refused before it took `constraint`: one line per
    /// dialect it rejected, with its reason.
    pub refused: Vec<String>,
}
