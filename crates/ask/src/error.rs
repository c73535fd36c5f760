//! What can go wrong in an ask, typed so each front end maps it once.

use thiserror::Error;

/// An ask that could not produce a record.
#[derive(Debug, Error)]
pub enum AskError {
    /// The question and one chunk do not fit the model's window.
    #[error("the prompt needs {needed} tokens with one chunk, but the model's window of {window} leaves {budget} after max_tokens {max_tokens}")]
    PromptTooLong {
        /// Tokens of the smallest prompt.
        needed: usize,
        /// The model's context window.
        window: usize,
        /// What is left for the prompt after the answer's budget.
        budget: usize,
        /// The answer's budget.
        max_tokens: usize,
    },
    /// The model failed (tokenizer, grammar compiler, forward pass).
    #[error("the model failed: {0}")]
    Model(#[from] writ_llm::LlmError),
    /// Recording failed (the gate refused to write, the ledger is broken).
    #[error(transparent)]
    Gate(#[from] writ_gate::GateError),
}

impl AskError {
    /// A fix the user can make, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            AskError::PromptTooLong { .. } => Some(
                "shorten the question, lower max_tokens, or use a model with a larger window"
                    .into(),
            ),
            AskError::Gate(e) => e.hint().map(String::from),
            AskError::Model(_) => None,
        }
    }
}
