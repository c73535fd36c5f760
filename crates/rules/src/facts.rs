//! Facts: what writ computed about a proposal, the only input of a rule.

use serde::{Deserialize, Serialize};
use writ_proposal::Kind;

/// Everything rules may look at. writ computes each fact from the proposal,
/// the repository and the retrieval run; `None` means writ could not
/// compute it, and `errors` says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Facts {
    /// The proposal's kind.
    pub kind: Kind,
    /// Repository-relative paths an edit touches (empty otherwise).
    pub targets: Vec<String>,
    /// Files the diff touches.
    pub files: usize,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
    /// Number of citations.
    pub citations: usize,
    /// Whether every cited chunk was among the retrieval run's hits.
    pub citations_in_run: Option<bool>,
    /// Lowest retrieval score (cosine similarity) among cited chunks.
    pub min_citation_score: Option<f32>,
    /// Whether the diff applies cleanly to the working tree.
    pub applies_cleanly: Option<bool>,
    /// Whether every target is tracked by git.
    pub targets_tracked: Option<bool>,
    /// Who proposed: `model:<sha256>`, `external:<name>`, `human:<name>`.
    pub proposer: String,
    /// Why a fact is `None`: (fact name, reason).
    pub errors: Vec<(String, String)>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            kind: Kind::Note,
            targets: Vec::new(),
            files: 0,
            added: 0,
            removed: 0,
            citations: 0,
            citations_in_run: None,
            min_citation_score: None,
            applies_cleanly: None,
            targets_tracked: None,
            proposer: String::new(),
            errors: Vec::new(),
        }
    }
}

impl Facts {
    /// Why `fact` is missing, for error messages.
    pub(crate) fn missing(&self, fact: &str) -> String {
        self.errors
            .iter()
            .find(|(f, _)| f == fact)
            .map(|(_, why)| format!("fact `{fact}` is unavailable: {why}"))
            .unwrap_or_else(|| format!("fact `{fact}` is unavailable"))
    }
}
