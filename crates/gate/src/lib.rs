//! The one door: every state change writ makes goes through this crate.
//!
//! [`Gate`] owns intake (parse, validate, compute facts, decide, record),
//! review (approve, reject), apply, rule-change drafting, and the read
//! views of the ledger (explain, proposals, actions, verify). It is the
//! only crate that depends on `writ-ledger` (`tests/boundaries.rs` checks
//! the edge), so the CLI, the HTTP server and MCP are front ends that can
//! only ask it.
//!
//! Invariants:
//! - every write derives the proposal's state from its own events (the
//!   ledger replays them) and refuses, recorded, when a cache disagrees;
//! - approval and apply re-run validation and the rules in force at that
//!   moment: a forbid refuses, a changed rule set is recorded and shown;
//! - files are read and written beneath the repository root by
//!   descriptor, never through a symbolic link ([`beneath`]), written
//!   atomically (temp file, fsync, rename), one apply at a time;
//! - git is asked with literal pathspecs and with the repository's hooks,
//!   fsmonitor and filters out of the way ([`git`]);
//! - a retrieval [`Run`] can only be built from search hits or from a
//!   recorded provenance, and the proposer's channel is computed by writ
//!   ([`Proposer`]), never taken from what a client says it is.
#![deny(missing_docs)]

mod apply;
mod beneath;
mod error;
mod git;
mod intake;
mod review;
mod rulesrc;
mod suggest;
mod views;

pub use apply::{Applied, ApplyOptions};
pub use error::GateError;
pub use git::user_name;
pub use intake::{Intake, Proposer, Run};
pub use review::Settled;
pub use suggest::file_diff;
pub use views::{ActionRow, ExplainView, Part, ProposalHead, VerifyView};
pub use writ_ledger::{
    Action, Checkpoint, Event, LedgerError, ProposalRow, ReplayReport, State, Tamper,
};

use std::path::{Path, PathBuf};

/// Name of the ledger file in the index folder.
pub const LEDGER_FILE: &str = "ledger.sqlite";

/// The gate of one repository: where its tree, index, ledger and rules are.
pub struct Gate {
    repo: PathBuf,
    index: PathBuf,
    rules: Option<PathBuf>,
    keys: Option<PathBuf>,
}

impl Gate {
    /// A gate over `repo`, with its index (and ledger) folder `index` and
    /// an explicit rules folder, if any (else `<repo>/rules` when it
    /// exists, else writ's built-in rules). Opens nothing yet.
    pub fn new(repo: PathBuf, index: PathBuf, rules: Option<PathBuf>) -> Gate {
        Gate {
            repo,
            index,
            rules,
            keys: None,
        }
    }

    /// Keeps the ledger's key in `dir` (outside the repository): every
    /// event is then authenticated, and a chain recomputed by someone who
    /// can write the database but not read the key fails `verify` (and so
    /// approve and apply). Without it the ledger is chained, not keyed.
    pub fn with_keys(mut self, dir: PathBuf) -> Gate {
        self.keys = Some(dir);
        self
    }

    /// The repository root.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// The index folder.
    pub fn index(&self) -> &Path {
        &self.index
    }

    /// The ledger for writing (created on first use).
    fn ledger_mut(&self) -> Result<writ_ledger::Ledger, GateError> {
        std::fs::create_dir_all(&self.index).map_err(|source| GateError::Io {
            path: self.index.clone(),
            source,
        })?;
        self.no_links()?;
        writ_index::ignore_self(&self.index);
        let path = self.index.join(LEDGER_FILE);
        Ok(match &self.keys {
            Some(dir) => writ_ledger::Ledger::open_keyed(&path, dir)?,
            None => writ_ledger::Ledger::open(&path)?,
        })
    }

    /// The existing ledger, for reading; [`GateError::NoLedger`] when
    /// there is none (read-only commands never create one, nor a key).
    fn ledger(&self) -> Result<writ_ledger::Ledger, GateError> {
        self.existing(false)
    }

    /// The existing ledger, for writing (approve, reject, apply): its key
    /// must be there, or is made for a ledger with no events yet.
    fn ledger_write(&self) -> Result<writ_ledger::Ledger, GateError> {
        self.existing(true)
    }

    /// Accepts the existing ledger's history as it is and keys it from its
    /// next event on (`writ verify --adopt-key`): for a ledger from before
    /// keys, or one whose key was lost. Check it with `verify` first.
    pub fn adopt_key(&self) -> Result<(), GateError> {
        self.no_links()?;
        let Some(dir) = &self.keys else {
            return Err(GateError::Invalid(
                "no key folder: set WRIT_KEY_DIR (or HOME)".into(),
            ));
        };
        match writ_ledger::Ledger::adopt_key(&self.index.join(LEDGER_FILE), dir) {
            Err(writ_ledger::LedgerError::Missing(_)) => {
                Err(GateError::NoLedger(self.index.clone()))
            }
            other => other.map(drop).map_err(Into::into),
        }
    }

    fn existing(&self, write: bool) -> Result<writ_ledger::Ledger, GateError> {
        self.no_links()?;
        let path = self.index.join(LEDGER_FILE);
        let opened = match &self.keys {
            Some(dir) => writ_ledger::Ledger::open_existing_keyed(&path, dir, write),
            None => writ_ledger::Ledger::open_existing(&path),
        };
        match opened {
            Err(writ_ledger::LedgerError::Missing(_)) => {
                Err(GateError::NoLedger(self.index.clone()))
            }
            other => Ok(other?),
        }
    }

    /// Refuses an index folder, or a file writ keeps in it, that is a
    /// symbolic link: a repository could ship `.writ/ledger.sqlite` (or
    /// the lock, the WAL) as a link to a path outside it.
    fn no_links(&self) -> Result<(), GateError> {
        if let Some(keys) = &self.keys {
            let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            if canon(keys).starts_with(canon(&self.repo)) {
                return Err(GateError::Invalid(format!(
                    "the key folder `{}` is inside the repository, where anything that can read the repository can read the ledger's key: set WRIT_KEY_DIR to a folder outside it",
                    keys.display()
                )));
            }
        }
        let names = [
            "",
            LEDGER_FILE,
            "ledger.sqlite-wal",
            "ledger.sqlite-shm",
            "ledger.sqlite-journal",
            apply::LOCK_FILE,
            ".gitignore",
        ];
        for name in names {
            let path = if name.is_empty() {
                self.index.clone()
            } else {
                self.index.join(name)
            };
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(GateError::Io {
                    path,
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "is a symbolic link: writ keeps its ledger in real files only (remove the link)",
                    ),
                });
            }
        }
        Ok(())
    }

    /// The index catalog, when there is one (citations are checked
    /// against it).
    fn catalog(&self) -> Option<writ_index::Catalog> {
        writ_index::Catalog::open_read_only(&self.index).ok()
    }
}
