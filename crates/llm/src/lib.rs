//! Local language models: a quantized GGUF file in, text out.
//!
//! [`LocalLlm`] loads the llama family (SmolLM2, Llama 3.x) and Qwen2 from a
//! single GGUF file: weights, tokenizer (from the GGUF metadata, with the
//! pre-tokenizer corrected per model family) and chat template. Decoding is
//! greedy unless a seed and temperature are given, bounded by a token limit,
//! stops on end-of-turn tokens, and reuses the KV cache within one call.
//! [`LocalLlm::json_guide`] constrains generation to a JSON Schema
//! (llguidance), so structured output parses by construction.
//!
//! Invariant: this crate only generates text. It cannot reach the ledger,
//! the rules, the index or any store (checked over `cargo metadata`).
#![deny(missing_docs)]

mod chat;
mod error;
mod guide;
mod model;
mod tokenizer;

pub use chat::{ChatTemplate, Message};
pub use error::LlmError;
pub use guide::{grammar_accepts, Guide};
pub use model::{Cancel, GenerateOptions, Generation, LlmInfo, LoadOptions, LocalLlm, StopReason};
pub use tokenizer::tokenizer_from_gguf;
