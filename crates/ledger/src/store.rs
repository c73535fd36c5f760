//! The SQLite store: proposals, events, the state cache and actions.

use crate::chain::{Checkpoint, VerifyReport};
use crate::replay::{check_cache, replay_one, ReplayError};
use crate::schema::SCHEMA;
pub use crate::types::{Action, Event, Judgement, LedgerError, ProposalRow, State};
use crate::write::{derive, gate_event, refuse_in, submit_in, transition_in, Derived};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};

/// The ledger of one repository.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl Ledger {
    /// Opens (creating) the ledger database at `path`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        Self::setup(Connection::open(path)?, path)
    }

    /// Opens (creating) the ledger at `path` with its key from `key_dir`
    /// (created for a new ledger): every event it appends carries a MAC,
    /// and `verify` checks them.
    /// A ledger with events and no key (from before keys, or copied in)
    /// is refused until adopted ([`Ledger::adopt_key`]).
    pub fn open_keyed(path: &Path, key_dir: &Path) -> Result<Ledger, LedgerError> {
        let ledger = Self::open(path)?;
        crate::key::attach(&ledger.conn, path, key_dir, crate::key::Mode::Write)?;
        Ok(ledger)
    }

    /// [`Ledger::open_existing`] with its key from `key_dir`, for writing
    /// (as [`Ledger::open_keyed`]) or, with `write` false, for reading:
    /// then no key is ever created, and a ledger without MACs reads
    /// unkeyed.
    pub fn open_existing_keyed(
        path: &Path,
        key_dir: &Path,
        write: bool,
    ) -> Result<Ledger, LedgerError> {
        let ledger = Self::open_existing(path)?;
        let mode = if write {
            crate::key::Mode::Write
        } else {
            crate::key::Mode::Read
        };
        crate::key::attach(&ledger.conn, path, key_dir, mode)?;
        Ok(ledger)
    }

    /// Accepts an existing ledger's history as it is and keys every event
    /// from the next one on (a ledger from before keys, or one whose key
    /// was lost: its old events stay covered by the chain only).
    pub fn adopt_key(path: &Path, key_dir: &Path) -> Result<Ledger, LedgerError> {
        let ledger = Self::open_existing(path)?;
        crate::key::attach(&ledger.conn, path, key_dir, crate::key::Mode::Adopt)?;
        Ok(ledger)
    }

    /// Opens an existing ledger; [`LedgerError::Missing`] when there is
    /// none (nothing is created).
    pub fn open_existing(path: &Path) -> Result<Ledger, LedgerError> {
        if !path.is_file() {
            return Err(LedgerError::Missing(path.to_path_buf()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::setup(Connection::open_with_flags(path, flags)?, path)
    }

    fn setup(conn: Connection, path: &Path) -> Result<Ledger, LedgerError> {
        // The busy timeout first: the WAL switch of a new ledger needs the
        // lock that a concurrent first user may hold (making its key, say),
        // and without a timeout it fails at once with "database is locked".
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // A brand-new file starts in rollback-journal mode, where SQLite
        // returns BUSY at once (not after the timeout) when two first users
        // would deadlock on lock upgrades; retry the setup briefly then.
        let mut tries = 0;
        loop {
            let done = conn
                .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
                .and_then(|()| conn.execute_batch(SCHEMA));
            match done {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 100 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10 + tries));
                }
                other => break other?,
            }
        }
        let has_mac = |conn: &Connection| -> rusqlite::Result<bool> {
            conn.query_row(
                "SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'mac'",
                [],
                |r| r.get::<_, i64>(0).map(|n| n > 0),
            )
        };
        if !has_mac(&conn)? {
            // Under the write lock, so two first opens add it once.
            conn.execute_batch("BEGIN IMMEDIATE")?;
            if !has_mac(&conn)? {
                conn.execute_batch("ALTER TABLE events ADD COLUMN mac TEXT")?;
            }
            conn.execute_batch("COMMIT")?;
        }
        Ok(Ledger {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// A write transaction that takes the write lock at once (IMMEDIATE):
    /// every write here reads (the last hash, the next id) before it writes,
    /// and a deferred transaction upgrading to a writer fails with "database
    /// is locked" instead of waiting, so concurrent proposers would lose
    /// proposals. With the lock taken up front they queue on the busy timeout.
    fn write(&mut self) -> rusqlite::Result<Transaction<'_>> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection (read-only use: verification, tests).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Records a new proposal (state `proposed`); returns its id. Prefer
    /// [`Ledger::submit_gated`] and [`Ledger::submit_refused`], which leave
    /// no moment at which the proposal waits undecided.
    pub fn submit(
        &mut self,
        source: &str,
        kind: &str,
        title: &str,
        body: &str,
        provenance: &serde_json::Value,
    ) -> Result<String, LedgerError> {
        let tx = self.write()?;
        let id = submit_in(&tx, source, kind, title, body, provenance)?;
        tx.commit()?;
        Ok(id)
    }

    /// Records a new proposal and the gate's decision on it in one
    /// transaction: it is never seen `proposed`. Returns its id and state.
    #[allow(
        clippy::too_many_arguments,
        reason = "the proposal's columns and its judgement"
    )]
    pub fn submit_gated(
        &mut self,
        source: &str,
        kind: &str,
        title: &str,
        body: &str,
        provenance: &serde_json::Value,
        judgement: &Judgement<'_>,
    ) -> Result<(String, State), LedgerError> {
        let tx = self.write()?;
        let id = submit_in(&tx, source, kind, title, body, provenance)?;
        let (to, actor, reason, payload) = gate_event(judgement);
        let state = transition_in(&tx, &id, to, &actor, &reason, payload, Some(judgement))??;
        tx.commit()?;
        Ok((id, state))
    }

    /// Records a new proposal refused by validation in one transaction.
    #[allow(
        clippy::too_many_arguments,
        reason = "the proposal's columns and the reasons"
    )]
    pub fn submit_refused(
        &mut self,
        source: &str,
        kind: &str,
        title: &str,
        body: &str,
        provenance: &serde_json::Value,
        reasons: &[String],
    ) -> Result<(String, State), LedgerError> {
        let tx = self.write()?;
        let id = submit_in(&tx, source, kind, title, body, provenance)?;
        let payload = serde_json::json!({ "validation": "refused", "reasons": reasons });
        let state = transition_in(
            &tx,
            &id,
            State::Refused,
            "writ:validator",
            &reasons.join("; "),
            payload,
            None,
        )??;
        tx.commit()?;
        Ok((id, state))
    }

    /// Records a validation failure: `proposed -> refused`.
    pub fn refuse(&mut self, id: &str, reasons: &[String]) -> Result<State, LedgerError> {
        let payload = serde_json::json!({ "validation": "refused", "reasons": reasons });
        self.transition(
            id,
            State::Refused,
            "writ:validator",
            &reasons.join("; "),
            payload,
            None,
        )
    }

    /// Records the gate's decision; an allow decision records its action in
    /// the same transaction. Returns the state after.
    pub fn gate(&mut self, id: &str, judgement: &Judgement<'_>) -> Result<State, LedgerError> {
        let (to, actor, reason, payload) = gate_event(judgement);
        self.transition(id, to, &actor, &reason, payload, Some(judgement))
    }

    /// Records a person's review of a held proposal; an approval records
    /// the action in the same transaction.
    ///
    /// `regate` is the rules' decision at the moment of approval, kept with
    /// the review (the caller refuses an approval the rules now forbid);
    /// `channel` is the front end the reviewer used (`cli`, `http`).
    pub fn review(
        &mut self,
        id: &str,
        reviewer: &str,
        approve: bool,
        reason: &str,
        regate: Option<&Judgement<'_>>,
        channel: &str,
    ) -> Result<State, LedgerError> {
        let to = if approve {
            State::Approved
        } else {
            State::Rejected
        };
        let mut payload = serde_json::json!({ "review": if approve { "approved" } else { "rejected" }, "reviewer": reviewer, "channel": channel });
        if let Some(j) = regate {
            payload["regate"] = j.payload();
        }
        self.transition(
            id,
            to,
            &format!("human:{reviewer}"),
            reason,
            payload,
            regate,
        )
    }

    /// Records that a recorded action's edit was applied.
    ///
    /// `regate` is the rules' decision at the moment of apply, kept (with
    /// its rule text) under the event's `regate`.
    pub fn applied(
        &mut self,
        id: &str,
        actor: &str,
        mut detail: serde_json::Value,
        regate: Option<&Judgement<'_>>,
    ) -> Result<State, LedgerError> {
        if let Some(j) = regate {
            detail["regate"] = j.payload();
        }
        self.transition(
            id,
            State::Applied,
            actor,
            "the edit was applied to the working tree",
            detail,
            regate,
        )
    }

    /// Records a refusal of `to` without changing state (e.g. an approval
    /// whose re-checks failed), and returns it as an error.
    pub fn refuse_transition(
        &mut self,
        id: &str,
        to: State,
        actor: &str,
        reason: &str,
    ) -> LedgerError {
        match self.record_refusal(id, to, actor, reason) {
            Ok(e) | Err(e) => e,
        }
    }

    fn record_refusal(
        &mut self,
        id: &str,
        to: State,
        actor: &str,
        reason: &str,
    ) -> Result<LedgerError, LedgerError> {
        let tx = self.write()?;
        let from = match derive(&tx, id) {
            Ok(from) => from,
            Err(Derived::Tampered(from, t)) => {
                let why = format!("{reason}; and the ledger disagrees with its chain: {t}");
                refuse_in(&tx, id, from, to, actor, &why)?;
                tx.commit()?;
                return Ok(LedgerError::Tampered(t));
            }
            Err(Derived::Error(e)) => return Err(e),
        };
        let refusal = refuse_in(&tx, id, from, to, actor, reason)?;
        tx.commit()?;
        Ok(refusal)
    }

    /// The one door for state changes: checks the transition table, appends
    /// the event, updates the state cache and, for `allowed`/`approved`,
    /// records the action, all in one transaction. A refusal is committed
    /// (it is an event); a failure rolls everything back.
    fn transition(
        &mut self,
        id: &str,
        to: State,
        actor: &str,
        reason: &str,
        payload: serde_json::Value,
        judgement: Option<&Judgement<'_>>,
    ) -> Result<State, LedgerError> {
        let tx = self.write()?;
        let outcome = transition_in(&tx, id, to, actor, reason, payload, judgement)?;
        tx.commit()?;
        outcome
    }

    /// A proposal with its current state.
    pub fn proposal(&self, id: &str) -> Result<ProposalRow, LedgerError> {
        let id = self.resolve(id)?;
        self.conn
            .query_row(
                &format!("{SELECT_PROPOSALS} WHERE p.id = ?1"),
                [&id],
                row_to_proposal,
            )
            .optional()?
            .ok_or(LedgerError::Unknown(id))
    }

    /// Accepts a proposal id or an action id; returns the proposal id.
    pub fn resolve(&self, id: &str) -> Result<String, LedgerError> {
        if id.starts_with('A') {
            let pid: Option<String> = self
                .conn
                .query_row("SELECT proposal_id FROM actions WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            return pid.ok_or_else(|| LedgerError::Unknown(id.to_string()));
        }
        Ok(id.to_string())
    }

    /// Proposals, oldest first, optionally in one state.
    pub fn proposals(&self, state: Option<State>) -> Result<Vec<ProposalRow>, LedgerError> {
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT_PROPOSALS} WHERE ?1 IS NULL OR s.state = ?1 ORDER BY first"
        ))?;
        let rows = stmt.query_map([state.map(State::name)], row_to_proposal)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every event of a proposal, in order.
    pub fn events(&self, id: &str) -> Result<Vec<Event>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, proposal_id, kind, from_state, to_state, actor, reason, payload, at, hash
             FROM events WHERE proposal_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([id], |r| {
            let payload: String = r.get(7)?;
            Ok(Event {
                seq: r.get(0)?,
                proposal_id: r.get(1)?,
                kind: r.get(2)?,
                from: r.get(3)?,
                to: r.get(4)?,
                actor: r.get(5)?,
                reason: r.get(6)?,
                payload: serde_json::from_str(&payload)
                    .unwrap_or(serde_json::Value::String(payload)),
                at: r.get(8)?,
                hash: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every action, oldest first.
    pub fn actions(&self) -> Result<Vec<Action>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, proposal_id, seq, basis_seq FROM actions ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok(Action {
                id: r.get(0)?,
                proposal_id: r.get(1)?,
                seq: r.get(2)?,
                basis_seq: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The action of a proposal, if one was recorded.
    pub fn action_of(&self, proposal_id: &str) -> Result<Option<Action>, LedgerError> {
        Ok(self
            .actions()?
            .into_iter()
            .find(|a| a.proposal_id == proposal_id))
    }

    /// A proposal's state as its own events say, after checking the caches
    /// agree ([`LedgerError::Tampered`] when they do not).
    pub fn derived_state(&self, id: &str) -> Result<State, LedgerError> {
        // One snapshot: a writer committing between the reads would look
        // like a cache that disagrees with its chain.
        let snapshot = self.conn.unchecked_transaction()?;
        let replayed = match replay_one(&snapshot, id) {
            Ok(Some(r)) => r,
            Ok(None) => return Err(LedgerError::Unknown(id.to_string())),
            Err(ReplayError::Sqlite(e)) => return Err(e.into()),
            Err(ReplayError::Tamper(t)) => return Err(LedgerError::Tampered(t)),
        };
        match check_cache(&snapshot, id, &replayed) {
            Ok(()) => Ok(replayed.state),
            Err(ReplayError::Sqlite(e)) => Err(e.into()),
            Err(ReplayError::Tamper(t)) => Err(LedgerError::Tampered(t)),
        }
    }

    /// Re-decides every recorded decision from its recorded facts and the
    /// rule set stored under its hash.
    pub fn replay(&self) -> Result<crate::ReplayReport, LedgerError> {
        let snapshot = self.conn.unchecked_transaction()?;
        crate::rerun::replay(&snapshot)
    }

    /// The text of a stored rule set, as (file name, text) pairs, by the
    /// blake3 of its text (a decision's `rules_text`).
    pub fn ruleset(&self, hash: &str) -> Result<Option<Vec<(String, String)>>, LedgerError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT sources FROM rulesets WHERE hash = ?1",
                [hash],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Recomputes the chain.
    pub fn verify(&self) -> Result<VerifyReport, LedgerError> {
        // One read transaction: every table is read from the same snapshot
        // while writers go on (WAL).
        let snapshot = self.conn.unchecked_transaction()?;
        crate::chain::verify(&snapshot)
    }

    /// The hash of event `seq`, for checkpoint checks.
    pub fn hash_at(&self, seq: i64) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT hash FROM events WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// A checkpoint of the current head.
    pub fn checkpoint(&self) -> Result<Checkpoint, LedgerError> {
        let r = self.verify()?;
        Ok(Checkpoint {
            count: r.count,
            head: r.head,
        })
    }
}

/// The columns `row_to_proposal` reads, with each proposal's state and
/// first sequence number (`first`).
const SELECT_PROPOSALS: &str =
    "SELECT p.id, p.source, p.kind, p.title, p.body, p.provenance, s.state,
        (SELECT MIN(seq) FROM events e WHERE e.proposal_id = p.id) AS first
    FROM proposals p JOIN state s ON s.proposal_id = p.id";

fn row_to_proposal(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProposalRow> {
    let prov: String = r.get(5)?;
    let state: String = r.get(6)?;
    Ok(ProposalRow {
        id: r.get(0)?,
        source: r.get(1)?,
        kind: r.get(2)?,
        title: r.get(3)?,
        body: r.get(4)?,
        provenance: serde_json::from_str(&prov).unwrap_or(serde_json::Value::Null),
        state: State::parse(&state).unwrap_or(State::Proposed),
        first_seq: r.get(7)?,
    })
}
