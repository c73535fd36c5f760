//! Local language models: a quantized GGUF file in, text out.
//!
//! [`LocalLlm`] loads the llama family (SmolLM2, Llama 3.x), Qwen2, Qwen3,
//! Gemma 3 and Phi-3 from a single GGUF file ([`ARCHITECTURES`]): weights
//! of any quant type candle reads (Q4_0, Q4_1, Q4_K, Q5_K, Q6_K, Q8_0, ...),
//! tokenizer (from the GGUF metadata: byte-level BPE with the pre-tokenizer
//! corrected per family, or SentencePiece) and chat template per family. Decoding is
//! greedy unless a seed and temperature are given, bounded by a token limit,
//! stops on end-of-turn tokens, and reuses the KV cache within one call.
//! [`LocalLlm::json_guide`] constrains generation to a JSON Schema
//! (llguidance), so structured output parses by construction.
//!
//! [`RemoteLlm`] asks an OpenAI-compatible endpoint instead, streamed and
//! held to a JSON Schema where the server takes one.
//!
//! Invariant: this crate only generates text. It cannot reach the ledger,
//! the rules, the index or any store (checked over `cargo metadata`).
#![deny(missing_docs)]

mod blocks;
mod chat;
mod error;
mod gemma3;
mod guide;
mod linear;
mod llama;
mod model;
mod remote;
mod spm;
mod tokenizer;
mod types;

pub use chat::{ChatTemplate, Message};
pub use error::LlmError;
pub use guide::{grammar_accepts, Guide};
pub use model::{LoadOptions, LocalLlm, ARCHITECTURES, MAX_CONTEXT, SLOW_TYPES};
pub use remote::{
    redact, RemoteEmbedSpec, RemoteEmbedder, RemoteLlm, RemoteSpec, API_KEY_ENV, EMBED_API_KEY_ENV,
};
pub use tokenizer::tokenizer_from_gguf;
pub use types::{Cancel, GenerateOptions, Generation, LlmInfo, RemoteRecord, StopReason};
