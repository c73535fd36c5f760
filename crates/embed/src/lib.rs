//! Sentence embeddings on the CPU with candle.
//!
//! [`MiniLm`] loads a BERT-family sentence-transformer (all-MiniLM-L6-v2 by
//! default) from a directory holding `config.json`, `tokenizer.json` and
//! `model.safetensors`, and implements [`writ_core::Embedder`]: truncation at
//! 256 tokens, mean pooling over the attention mask, L2 normalisation. Inputs
//! are sorted by token length and batched under a token budget.
//!
//! The forward pass is writ's own (`fused`): the weights candle loads, no
//! padding, fused bias/activation, vectorised kernels and candle's `gemm`,
//! about 2x candle-transformers' `BertModel` on the same texts, which stays
//! available ([`Forward::Candle`]) as the reference it is tested against and
//! for checkpoints the fused pass does not cover.
//!
//! ```no_run
//! use writ_core::Embedder;
//! let model = writ_embed::MiniLm::load(std::path::Path::new("models/all-minilm-l6-v2"))?;
//! let v = model.embed(&["How do I open a file?"])?;
//! assert_eq!(v.len(), model.info().dim);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod fused;
mod kernels;
mod minilm;

pub use minilm::{Forward, LoadError, MiniLm, MiniLmOptions};
pub use writ_core::sha256_file;
