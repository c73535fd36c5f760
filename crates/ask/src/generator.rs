//! The model behind `writ ask`, as a trait beside `writ_core::Embedder`:
//! the local GGUF model implements it, a scripted one stands in for tests,
//! and a remote endpoint can plug in the same way.

use serde_json::Value;
use writ_llm::{GenerateOptions, Generation, LlmError, LlmInfo, LocalLlm, RemoteLlm, StopReason};

/// What holds an answer to the proposal shape: the same shape twice, as
/// llguidance's Lark grammar (exact: citations, paths and `find` text of
/// this run's chunks) for the local model, and as a JSON Schema (what
/// OpenAI-compatible servers take) for a remote one.
#[derive(Debug, Clone, Copy)]
pub struct Constraint<'a> {
    /// The Lark grammar.
    pub grammar: &'a str,
    /// The JSON Schema.
    pub schema: &'a Value,
}

/// Something that continues a prompt, optionally held to a Lark grammar.
pub trait Generator: Send {
    /// The model's identity, recorded with every proposal it makes.
    fn info(&self) -> &LlmInfo;

    /// The prompt's token ids (to fit it in the window).
    fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError>;

    /// Generates a continuation of `prompt`, held to `constraint` when one
    /// is given (each backend takes the form it can enforce); `on_text`
    /// sees each piece of text as it is produced.
    fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        constraint: Option<&Constraint<'_>>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError>;
}

impl Generator for LocalLlm {
    fn info(&self) -> &LlmInfo {
        LocalLlm::info(self)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        LocalLlm::encode(self, text)
    }

    fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        constraint: Option<&Constraint<'_>>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError> {
        let mut guide = match constraint {
            Some(c) => Some(self.lark_guide(c.grammar)?),
            None => None,
        };
        self.generate_guided(prompt, options, guide.as_mut(), on_text)
    }
}

impl Generator for RemoteLlm {
    fn info(&self) -> &LlmInfo {
        RemoteLlm::info(self)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        // Only the count is used (to fit the window): an estimate.
        Ok((0..RemoteLlm::estimate_tokens(text) as u32).collect())
    }

    fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        constraint: Option<&Constraint<'_>>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError> {
        RemoteLlm::generate(self, prompt, options, constraint.map(|c| c.schema), on_text)
    }
}

/// A generator that answers every prompt with fixed text: the fast test
/// tier's model, and a way to replay a recorded answer through the gate.
/// Tokens are counted as whitespace-separated words; a grammar, when
/// given, must accept the text (else the generation fails, as a real
/// constrained model could not have written it).
pub struct Scripted {
    info: LlmInfo,
    answers: Vec<String>,
    next: usize,
}

impl Scripted {
    /// A generator that gives `answers` in turn (the last one repeats).
    pub fn new(answers: Vec<String>) -> Scripted {
        Scripted {
            info: LlmInfo {
                path: "scripted".into(),
                sha256: "0".repeat(64),
                architecture: "scripted".into(),
                name: "scripted".into(),
                context_length: 8192,
                template: writ_llm::ChatTemplate::ChatMl,
                tokenizer: "words".into(),
            },
            answers,
            next: 0,
        }
    }
}

impl Generator for Scripted {
    fn info(&self) -> &LlmInfo {
        &self.info
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        Ok((0..text.split_whitespace().count() as u32).collect())
    }

    fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        constraint: Option<&Constraint<'_>>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError> {
        let text = self
            .answers
            .get(self.next)
            .or(self.answers.last())
            .cloned()
            .unwrap_or_default();
        self.next += 1;
        if let Some(c) = constraint {
            if !writ_llm::grammar_accepts(c.grammar, &text)? {
                return Err(LlmError::Run(
                    "the scripted answer is not a sentence of the grammar".into(),
                ));
            }
        }
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        let kept = words.len().min(options.max_tokens);
        let text: String = words[..kept].concat();
        on_text(&text);
        Ok(Generation {
            prompt_tokens: self.encode(prompt)?.len(),
            tokens: (0..kept as u32).collect(),
            text,
            stop: if kept < words.len() {
                StopReason::MaxTokens
            } else {
                StopReason::Complete
            },
            prefill_seconds: 0.0,
            decode_seconds: 0.0,
            remote: None,
        })
    }
}
