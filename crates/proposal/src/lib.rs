//! The proposal: the only thing a model (or any other proposer) can produce.
//!
//! A [`Proposal`] is the wire form: plain JSON, unknown fields refused. It
//! becomes a [`ValidProposal`] only through [`validate`], which checks the
//! schema rules, the citations, the diff and its paths; that type has no
//! other constructor, so nothing downstream can hold an unchecked proposal.
//!
//! Invariant: this crate does no I/O beyond reading the repository tree to
//! resolve paths; it knows nothing of models, rules, indexes or ledgers.
//!
//! ```
//! let json = r#"{"kind": "note", "title": "t", "rationale": "r", "citations": [], "text": "hello"}"#;
//! let p = writ_proposal::Proposal::from_json(json)?;
//! assert_eq!(p.kind, writ_proposal::Kind::Note);
//! # Ok::<(), writ_proposal::ParseError>(())
//! ```
#![deny(missing_docs)]

mod diff;
mod schema;
mod validate;

pub use diff::{parse_diff, DiffStats, FilePatch, Hunk, HunkLine};
pub use schema::schema;
pub use validate::{validate, Refusal, ValidProposal, ValidationContext};

use serde::{Deserialize, Serialize};

/// Version of the proposal record; bumped on any change to its fields.
pub const PROPOSAL_VERSION: u32 = 1;

/// What a proposal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Change files, as a unified diff.
    Edit,
    /// Tell the user something; changes nothing.
    Note,
    /// Suggest a command for a person to run; writ never runs it.
    Command,
    /// Change the rules themselves: a diff confined to the rules folder,
    /// drafted by `writ rules suggest` and reviewed like anything else.
    #[serde(rename = "rule-change")]
    RuleChange,
}

impl Kind {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Edit => "edit",
            Kind::Note => "note",
            Kind::Command => "command",
            Kind::RuleChange => "rule-change",
        }
    }

    /// True for kinds that carry a diff (`edit`, `rule-change`).
    pub fn has_diff(self) -> bool {
        matches!(self, Kind::Edit | Kind::RuleChange)
    }
}

/// A proposal as it arrives, from a model, a person or another tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// Record version (default: the current one).
    #[serde(default = "current_version")]
    pub version: u32,
    /// What is proposed.
    pub kind: Kind,
    /// One line saying what it is.
    pub title: String,
    /// Why: the proposer's reasoning, shown to reviewers.
    pub rationale: String,
    /// Chunk ids (from a retrieval run) the proposal relies on.
    pub citations: Vec<i64>,
    /// The unified diff, for `edit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The text, for `note`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The argument vector, for `command` (never executed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
}

fn current_version() -> u32 {
    PROPOSAL_VERSION
}

/// A proposal that is not even well-formed JSON of the right shape.
#[derive(Debug, thiserror::Error)]
#[error("not a proposal: {message}")]
pub struct ParseError {
    /// What serde said, with line and column.
    pub message: String,
}

impl Proposal {
    /// Parses the wire form; unknown fields and wrong types are errors.
    pub fn from_json(text: &str) -> Result<Proposal, ParseError> {
        serde_json::from_str(text).map_err(|e| ParseError {
            message: e.to_string(),
        })
    }

    /// The canonical JSON of this proposal (stable field order).
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
