//! `writ ask` as a library: retrieval hits become a prompt within the
//! model's window ([`prompt`]), a [`Generator`] writes an answer held to a
//! per-run grammar, and every proposal in it goes to the gate's intake with
//! the run as provenance ([`answer`]). The model's output is only ever text
//! handed to the gate; nothing here writes a file or prints.
//!
//! [`check`] rebuilds a recorded prompt and grammar from the record and the
//! index, so `writ show` can say whether a record still holds.

pub mod check;
mod error;
mod generator;
mod pipeline;
pub mod prompt;

pub use error::AskError;
pub use generator::{Constraint, Generator, Scripted};
pub use pipeline::{answer, Answer, AskParams, GenStats, MAX_K, MAX_PROPOSALS, MAX_TOKENS};
