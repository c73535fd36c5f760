//! Where the gate lives for this invocation, and how its outcomes map to
//! exit codes. The gate itself is the `writ-gate` crate: the one door.

use crate::exit::{ExitCode, Failure};
use std::path::PathBuf;
use writ_gate::{Gate, GateError, State};

/// Where the gate's inputs live.
pub struct Places {
    pub repo: PathBuf,
    pub index: PathBuf,
    /// A rules folder given with `--rules`, else discovery decides.
    pub rules: Option<PathBuf>,
}

impl Places {
    /// Resolves `--repo`, `--index` and `--rules`.
    pub fn from_args(args: &crate::args::GateArgs) -> Result<Places, Failure> {
        let repo = crate::models::find_repo(args.repo.as_deref())?;
        let index = args.index.clone().unwrap_or_else(|| repo.join(".writ"));
        // A given --rules folder is made absolute and canonical, so a rule
        // change's targets can be checked against it relative to the repo.
        let rules = args
            .rules
            .as_ref()
            .map(|r| r.canonicalize().unwrap_or_else(|_| r.clone()));
        Ok(Places { repo, index, rules })
    }

    /// The gate over these places, with the ledger's key kept in
    /// `$WRIT_KEY_DIR`, else `$XDG_DATA_HOME/writ/keys`, else
    /// `~/.local/share/writ/keys` (outside any repository).
    pub fn gate(&self) -> Gate {
        let gate = Gate::new(self.repo.clone(), self.index.clone(), self.rules.clone());
        match key_dir() {
            Some(dir) => gate.with_keys(dir),
            None => gate,
        }
    }
}

/// Where ledger keys (and the review token) live (see [`Places::gate`]).
pub fn key_dir() -> Option<PathBuf> {
    let env = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    env("WRIT_KEY_DIR")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("writ/keys")))
        .or_else(|| env("HOME").map(|h| h.join(".local/share/writ/keys")))
}

/// The exit code and hint for a gate error (one place for every command).
pub fn gate_err(e: GateError) -> Failure {
    use writ_gate::LedgerError as L;
    let code = match &e {
        GateError::NoLedger(_) => ExitCode::NotIndexed,
        GateError::Rules(_) => ExitCode::Rules,
        GateError::Broken(_) | GateError::Ledger(L::Tampered(_)) => ExitCode::Verify,
        GateError::Ledger(L::Unknown(_)) => ExitCode::NoInput,
        _ => ExitCode::Error,
    };
    let hint = e.hint();
    let f = Failure::new(code, e);
    match hint {
        Some(h) => f.hint(h),
        None => f,
    }
}

impl From<GateError> for Failure {
    fn from(e: GateError) -> Failure {
        gate_err(e)
    }
}

/// The exit code that tells a script what happened to a proposal.
pub fn state_code(state: State) -> ExitCode {
    match state {
        State::Held => ExitCode::Held,
        State::Forbidden => ExitCode::Forbidden,
        State::Refused => ExitCode::Refused,
        _ => ExitCode::Ok,
    }
}
