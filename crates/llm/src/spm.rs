//! SentencePiece-style tokenizers (`tokenizer.ggml.model = "llama"`:
//! Gemma, Llama 2, Phi-3) rebuilt from a GGUF's token list and scores.
//!
//! llama.cpp tokenizes these by repeatedly merging the adjacent pair whose
//! joined piece has the highest score, leftmost first, and falls back to
//! `<0xXX>` byte tokens for what no piece covers. The same result comes
//! from a BPE model whose merges are every split of every piece into two
//! pieces, ranked by the joined piece's score (what `tokenizers` itself
//! does to convert a SentencePiece model). Control tokens become special
//! added tokens; user-defined ones (Gemma's `\n`, HTML tags) are matched
//! whole before the pieces, as llama.cpp does.

use candle_core::quantized::gguf_file::{Content, Value};
use std::collections::HashMap;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, Tokenizer};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// The longest piece split into merges.
const MAX_PIECE_BYTES: usize = 256;

/// The word-boundary mark SentencePiece puts where a space was.
const SPACE: &str = "\u{2581}";

fn array<'c>(content: &'c Content, key: &str) -> Result<&'c Vec<Value>, String> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| format!("the GGUF has no `{key}`"))?
        .to_vec()
        .map_err(|e| format!("`{key}`: {e}"))
}

fn flag(content: &Content, key: &str, default: bool) -> bool {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(default)
}

/// Builds the tokenizer of a SentencePiece-model GGUF.
pub(crate) fn tokenizer(content: &Content) -> Result<Tokenizer, String> {
    let tokens: Vec<String> = array(content, "tokenizer.ggml.tokens")?
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let scores: Vec<f32> = array(content, "tokenizer.ggml.scores")?
        .iter()
        .map(|v| v.to_f32().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let types: Vec<i32> = array(content, "tokenizer.ggml.token_type")?
        .iter()
        .map(|v| v.to_i32().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if scores.len() != tokens.len() || types.len() != tokens.len() {
        return Err("token, score and type lists differ in length".into());
    }
    let unk = content
        .metadata
        .get("tokenizer.ggml.unknown_token_id")
        .and_then(|v| v.to_u32().ok())
        .and_then(|id| tokens.get(id as usize))
        .cloned()
        .or_else(|| {
            types
                .iter()
                .position(|&t| t == UNKNOWN)
                .and_then(|i| tokens.get(i).cloned())
        })
        .unwrap_or_else(|| "<unk>".into());

    let mut vocab: HashMap<String, u32> = HashMap::with_capacity(tokens.len());
    for (id, t) in tokens.iter().enumerate() {
        // The first id of a piece wins (a list may repeat a piece).
        vocab.entry(t.clone()).or_insert(id as u32);
    }
    let merges = merges(&tokens, &scores, &types, &vocab);
    let bpe = BPE::builder()
        .vocab_and_merges(
            vocab
                .into_iter()
                .collect::<tokenizers::models::bpe::Vocab>(),
            merges,
        )
        .unk_token(unk)
        .fuse_unk(true)
        .byte_fallback(true)
        .build()
        .map_err(|e| format!("building the tokenizer: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);

    let prefix = flag(content, "tokenizer.ggml.add_space_prefix", true);
    let replace: NormalizerWrapper = Replace::new(" ", SPACE).map_err(|e| e.to_string())?.into();
    let normalizer: NormalizerWrapper = if prefix {
        NormalizerSequence::new(vec![Prepend::new(SPACE.into()).into(), replace]).into()
    } else {
        replace
    };
    tokenizer
        .with_normalizer(Some(normalizer))
        .map_err(|e| e.to_string())?;
    let mut decoders: Vec<DecoderWrapper> = vec![
        Replace::new(SPACE, " ").map_err(|e| e.to_string())?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));

    let control: Vec<AddedToken> = kind(&tokens, &types, CONTROL)
        .map(|t| AddedToken::from(t, true).normalized(false))
        .collect();
    let user: Vec<AddedToken> = kind(&tokens, &types, USER_DEFINED)
        .map(|t| AddedToken::from(t, false).normalized(false))
        .collect();
    tokenizer
        .add_special_tokens(control)
        .map_err(|e| e.to_string())?;
    tokenizer.add_tokens(user).map_err(|e| e.to_string())?;
    Ok(tokenizer)
}

fn kind<'t>(tokens: &'t [String], types: &'t [i32], want: i32) -> impl Iterator<Item = &'t str> {
    tokens
        .iter()
        .zip(types)
        .filter(move |(_, &t)| t == want)
        .map(|(s, _)| s.as_str())
}

/// Every split of a normal piece into two normal pieces, ranked by the
/// joined piece's score (highest first), then by its id.
fn merges(
    tokens: &[String],
    scores: &[f32],
    types: &[i32],
    vocab: &HashMap<String, u32>,
) -> Vec<(String, String)> {
    let normal = |s: &str| {
        vocab
            .get(s)
            .is_some_and(|&id| types.get(id as usize) == Some(&NORMAL))
    };
    let mut ranked: Vec<(f32, u32, u32, u32)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        // Pieces are short (SentencePiece's default limit is 16
        // characters); a long one from a hostile file is no merge.
        if types.get(id) != Some(&NORMAL)
            || vocab.get(piece) != Some(&(id as u32))
            || piece.len() > MAX_PIECE_BYTES
        {
            continue;
        }
        for (at, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(at);
            if normal(left) && normal(right) {
                if let (Some(&l), Some(&r)) = (vocab.get(left), vocab.get(right)) {
                    ranked.push((scores[id], id as u32, l, r));
                }
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    ranked
        .into_iter()
        .map(|(_, _, l, r)| (tokens[l as usize].clone(), tokens[r as usize].clone()))
        .collect()
}
