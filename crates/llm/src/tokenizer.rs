//! The tokenizer from GGUF metadata, with the pre-tokenizer of each family.

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::Tokenizer;

/// Builds the tokenizer stored in a GGUF file: byte-level BPE (`gpt2`)
/// through candle, SentencePiece (`llama`) in [`crate::spm`].
///
/// candle maps pre-tokenizer types it does not know (such as SmolLM2's
/// `smollm`) to GPT-2's with a prefix space, which yields other ids than
/// the model was trained with. Here `smollm` splits digits one by one and
/// then applies byte-level BPE without a prefix space (as llama.cpp does),
/// and plain `gpt2` uses no prefix space either.
pub fn tokenizer_from_gguf(content: &Content) -> Result<Tokenizer, String> {
    let model = content
        .metadata
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_else(|| "gpt2".into());
    if model == "llama" {
        return crate::spm::tokenizer(content);
    }
    let mut tokenizer = Tokenizer::from_gguf(content).map_err(|e| e.to_string())?;
    let pre = content
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_else(|| "gpt2".into());
    match pre.as_str() {
        "smollm" => {
            let seq = Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ]);
            tokenizer.with_pre_tokenizer(Some(seq));
        }
        "gpt2" | "default" => {
            tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        }
        _ => {}
    }
    Ok(tokenizer)
}
