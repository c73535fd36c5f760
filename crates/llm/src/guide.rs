//! Constrained decoding: the model may only write what a grammar allows.
//!
//! A JSON Schema is compiled by llguidance over the model's own vocabulary
//! (the token bytes come from the tokenizer writ already uses, so the trie
//! and the model agree). At every step the tokens the grammar cannot accept
//! are masked out before sampling, so the output parses by construction and
//! generation ends when the grammar is complete.

use crate::error::LlmError;
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use std::sync::Arc;
use tokenizers::Tokenizer;

/// The model's vocabulary as llguidance sees it.
struct Vocabulary {
    trie: TokTrie,
    tokenizer: Tokenizer,
}

impl TokenizerEnv for Vocabulary {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        let text = String::from_utf8_lossy(s);
        self.tokenizer
            .encode(text.as_ref(), false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }
}

/// Compiles grammars for one tokenizer; built once per loaded model.
pub(crate) struct GuideFactory {
    factory: ParserFactory,
}

impl GuideFactory {
    /// Builds the token trie from `tokenizer`; `end` is the end-of-turn
    /// token that closes a complete output.
    pub(crate) fn new(tokenizer: &Tokenizer, end: TokenId) -> Result<GuideFactory, LlmError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            LlmError::Run(format!("constrained decoding unavailable: {what}: {e}"))
        };
        let json = tokenizer
            .to_string(false)
            .map_err(|e| fail("serialising the tokenizer", &e))?;
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| fail("reading the tokenizer", &e))?;
        let words = llguidance::token_bytes_from_tokenizer_json(&value)
            .map_err(|e| fail("token bytes", &e))?;
        let mut info = TokRxInfo::new(words.len() as u32, end);
        info.tok_end_of_turn = Some(end);
        let trie = TokTrie::from(&info, &words);
        let env: TokEnv = Arc::new(Vocabulary {
            trie,
            tokenizer: tokenizer.clone(),
        });
        let mut factory =
            ParserFactory::new_simple(&env).map_err(|e| fail("grammar compiler", &e))?;
        factory.quiet();
        Ok(GuideFactory { factory })
    }

    /// A fresh guide for one generation following `schema`, written
    /// compactly (no free whitespace between JSON tokens).
    pub(crate) fn json(&self, schema: &serde_json::Value) -> Result<Guide, LlmError> {
        let mut schema = schema.clone();
        if let Some(obj) = schema.as_object_mut() {
            obj.insert(
                "x-guidance".into(),
                serde_json::json!({ "whitespace_flexible": false }),
            );
        }
        let grammar = TopLevelGrammar::from_json_schema(schema);
        let parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| LlmError::Run(format!("the schema cannot be compiled: {e}")))?;
        Ok(Guide {
            matcher: Matcher::new(Ok(parser)),
        })
    }
}

impl GuideFactory {
    /// A fresh guide for one generation following a Lark grammar
    /// (llguidance's dialect: `%json {…}` rules, `%regex {…}` terminals).
    pub(crate) fn lark(&self, grammar: &str) -> Result<Guide, LlmError> {
        let grammar = TopLevelGrammar::from_lark(grammar.to_string());
        let parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| LlmError::Run(format!("the grammar cannot be compiled: {e}")))?;
        Ok(Guide {
            matcher: Matcher::new(Ok(parser)),
        })
    }
}

/// The grammar state of one constrained generation.
pub struct Guide {
    matcher: Matcher,
}

impl Guide {
    /// Masks `logits` in place: tokens the grammar cannot take next become
    /// negative infinity.
    pub(crate) fn mask(&mut self, logits: &mut [f32]) -> Result<(), LlmError> {
        let allowed = self
            .matcher
            .compute_mask()
            .map_err(|e| LlmError::Run(format!("grammar: {e}")))?;
        for (id, l) in logits.iter_mut().enumerate() {
            if id >= allowed.len() || !allowed.is_allowed(id as TokenId) {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    /// Advances the grammar by the sampled token.
    pub(crate) fn accept(&mut self, token: TokenId) -> Result<(), LlmError> {
        self.matcher
            .consume_token(token)
            .map_err(|e| LlmError::Run(format!("grammar: {e}")))
    }

    /// True once the grammar is complete (nothing more may follow).
    pub(crate) fn is_complete(&self) -> bool {
        self.matcher.is_stopped()
    }
}

/// Whether `text` is a complete sentence of the Lark `grammar`, checked
/// byte by byte without any model: to test grammars, and to re-check a
/// recorded output against the grammar it was generated under.
pub fn grammar_accepts(grammar: &str, text: &str) -> Result<bool, LlmError> {
    let env = llguidance::toktrie::ApproximateTokEnv::single_byte_env();
    let mut factory = ParserFactory::new_simple(&env)
        .map_err(|e| LlmError::Run(format!("grammar compiler: {e}")))?;
    factory.quiet();
    let parser = factory
        .create_parser(TopLevelGrammar::from_lark(grammar.to_string()))
        .map_err(|e| LlmError::Run(format!("the grammar cannot be compiled: {e}")))?;
    let mut matcher = Matcher::new(Ok(parser));
    for b in text.bytes() {
        let taken = matcher
            .try_consume_tokens(&[TokenId::from(b)])
            .map_err(|e| LlmError::Run(format!("grammar: {e}")))?;
        if taken != 1 {
            return Ok(false);
        }
    }
    Ok(matcher.is_stopped()
        || matcher
            .is_accepting()
            .map_err(|e| LlmError::Run(format!("grammar: {e}")))?)
}
