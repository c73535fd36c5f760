//! The gate's one error type.

use std::path::PathBuf;

/// Why the gate did not do what was asked. Refusals that the ledger
/// recorded say so (their event is in the chain).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// There is no ledger yet; read-only commands never create one.
    #[error("no ledger in `{}` yet", .0.display())]
    NoLedger(PathBuf),
    /// The rule set does not load: nothing can be gated until it is fixed.
    #[error("the rule set is refused, nothing can be gated until it is fixed:\n{0}")]
    Rules(writ_rules::RuleErrors),
    /// The ledger refused or failed (unknown id, illegal transition,
    /// tampering, SQLite).
    #[error(transparent)]
    Ledger(#[from] writ_ledger::LedgerError),
    /// The ledger's chain does not verify: nothing is approved or applied
    /// on it.
    #[error("the ledger does not verify, so nothing is approved or applied: {0}")]
    Broken(String),
    /// A file or folder could not be read or written.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The request does not fit the proposal (e.g. a rule drafted from a
    /// note).
    #[error("{0}")]
    Invalid(String),
}

impl GateError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        use writ_ledger::LedgerError as L;
        match self {
            GateError::NoLedger(_) => {
                Some("nothing has been proposed here yet: run `writ index`, then `writ propose` or `writ ask`")
            }
            GateError::Rules(_) => Some("fix the rule files (`writ rules check`), then try again"),
            GateError::Ledger(L::Tampered(_)) | GateError::Broken(_) => Some(
                "the ledger was changed outside writ: `writ verify` names the row; restore it from a backup",
            ),
            GateError::Ledger(L::Unknown(_)) => Some("`writ proposals` lists the ids"),
            _ => None,
        }
    }
}
