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
mod int8;
mod kernels;
mod minilm;

pub use minilm::{Forward, LoadError, MiniLm, MiniLmOptions};
pub use writ_core::Precision;

/// The int8 kernel this CPU runs, in words (`writ index` says it).
pub fn int8_kernel() -> &'static str {
    if int8::Kernel::detect().accelerated() {
        "AVX-512 VNNI kernel"
    } else {
        "portable kernel, slower than f32 on this CPU"
    }
}

/// The precision a new index gets when none is asked for: int8 where the
/// CPU has an integer dot-product instruction writ uses (AVX-512 VNNI),
/// where it embeds 1.7x as fast as f32; f32 elsewhere, where int8 runs a
/// portable kernel (the same integer sums, slower than f32).
pub fn default_precision() -> Precision {
    if int8::Kernel::detect().accelerated() {
        Precision::Int8
    } else {
        Precision::F32
    }
}
pub use writ_core::sha256_file;
