//! Which rules are in force: the rule set and its text, as the gate
//! records it.

use crate::{Gate, GateError};
use std::path::PathBuf;
use writ_rules::RuleSet;

/// The rules in force, with the text they were parsed from.
pub(crate) struct InForce {
    pub set: RuleSet,
    pub sources: Vec<(String, String)>,
}

impl Gate {
    /// The folder a rule change writes to: `--rules`, else `<repo>/rules`.
    pub(crate) fn rules_dir(&self) -> PathBuf {
        self.rules
            .clone()
            .unwrap_or_else(|| self.repo.join("rules"))
    }

    /// The rules folder's path relative to the repository, when inside it.
    pub(crate) fn rules_rel(&self) -> Option<String> {
        let dir = self.rules_dir();
        let rel = dir.strip_prefix(&self.repo).ok()?;
        let rel = rel.to_string_lossy().replace('\\', "/");
        (!rel.is_empty()).then_some(rel)
    }

    /// The hash of the rules in force, or why they do not load (checked
    /// before work whose result would have nowhere to go, like `writ ask`).
    pub fn check_rules(&self) -> Result<String, GateError> {
        Ok(self.in_force()?.set.hash().to_string())
    }

    /// Loads the rules in force, refusing a folder that does not load.
    pub(crate) fn in_force(&self) -> Result<InForce, GateError> {
        let source =
            writ_rules::discover(&self.repo, self.rules.as_deref()).map_err(GateError::Rules)?;
        let sources = source.sources().map_err(GateError::Rules)?;
        let set = RuleSet::parse_many(&sources).map_err(GateError::Rules)?;
        Ok(InForce { set, sources })
    }
}
