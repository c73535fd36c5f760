//! The SQLite store: proposals, events, the state cache and actions.

use crate::allowed_transition;
use crate::chain::{event_hash, Checkpoint, VerifyReport, GENESIS};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use std::path::{Path, PathBuf};
use writ_rules::{Decision, Outcome};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    provenance TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    proposal_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('transition', 'refused-transition')),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    at INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_proposal ON events(proposal_id);
CREATE TABLE IF NOT EXISTS state (proposal_id TEXT PRIMARY KEY, state TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    proposal_id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    basis_seq INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_append_only_u BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_d BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS proposals_append_only_u BEFORE UPDATE ON proposals BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS proposals_append_only_d BEFORE DELETE ON proposals BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS actions_append_only_u BEFORE UPDATE ON actions BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS actions_append_only_d BEFORE DELETE ON actions BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
";

/// A proposal's state in the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Received, not yet gated.
    Proposed,
    /// Failed validation; never gated.
    Refused,
    /// An allow decision (becomes `recorded` in the same transaction).
    Allowed,
    /// A forbid decision.
    Forbidden,
    /// Waiting for a person.
    Held,
    /// A person approved it (becomes `recorded` in the same transaction).
    Approved,
    /// A person rejected it.
    Rejected,
    /// An action exists for it.
    Recorded,
    /// Its edit was applied to the working tree.
    Applied,
}

impl State {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            State::Proposed => "proposed",
            State::Refused => "refused",
            State::Allowed => "allowed",
            State::Forbidden => "forbidden",
            State::Held => "held",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Recorded => "recorded",
            State::Applied => "applied",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<State> {
        [
            State::Proposed,
            State::Refused,
            State::Allowed,
            State::Forbidden,
            State::Held,
            State::Approved,
            State::Rejected,
            State::Recorded,
            State::Applied,
        ]
        .into_iter()
        .find(|st| st.name() == s)
    }
}

/// Ledger failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// SQLite failed; nothing was recorded.
    #[error("ledger database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No proposal or action has that id.
    #[error("no proposal or action `{0}` in the ledger")]
    Unknown(String),
    /// The transition is not in the lifecycle; the refusal was recorded.
    #[error(
        "`{id}` cannot go from {from} to {to}: {reason} (the refusal is recorded as event {seq})"
    )]
    Refused {
        /// Proposal id.
        id: String,
        /// Current state.
        from: String,
        /// Attempted state.
        to: String,
        /// Why.
        reason: String,
        /// The event recording the refusal.
        seq: i64,
    },
}

/// One row of the chain.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Sequence number, from 1.
    pub seq: i64,
    /// The proposal.
    pub proposal_id: String,
    /// `transition` or `refused-transition`.
    pub kind: String,
    /// State before (`None` for a new proposal).
    pub from: Option<String>,
    /// State after (or attempted).
    pub to: String,
    /// Who: `external:<name>`, `model:<sha>`, `rules:<hash>`, `human:<name>`, `writ:<part>`.
    pub actor: String,
    /// Why, in one line.
    pub reason: String,
    /// Details (decision, validation reasons, review), JSON.
    pub payload: serde_json::Value,
    /// Unix seconds.
    pub at: i64,
    /// This event's hash.
    pub hash: String,
}

/// A stored proposal.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalRow {
    /// Id (`P<n>`).
    pub id: String,
    /// Who proposed.
    pub source: String,
    /// Kind, or `unknown` when the body did not parse.
    pub kind: String,
    /// Title.
    pub title: String,
    /// The proposal as received.
    pub body: String,
    /// How it came to be (retrieval run, prompt, model… or the CLI), JSON.
    pub provenance: serde_json::Value,
    /// Current state.
    pub state: State,
    /// Sequence number of its first event.
    pub first_seq: i64,
}

/// A recorded action: the only thing writ may later apply.
///
/// INVARIANT (actions-from-decisions): constructed only inside this crate,
/// in the transaction that records an allow decision or a human approval.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    id: String,
    proposal_id: String,
    seq: i64,
    basis_seq: i64,
}

impl Action {
    /// Action id (`A<n>`).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The proposal it carries out.
    pub fn proposal_id(&self) -> &str {
        &self.proposal_id
    }
    /// The event that recorded it.
    pub fn seq(&self) -> i64 {
        self.seq
    }
    /// The event it rests on: the allow decision or the approval.
    pub fn basis_seq(&self) -> i64 {
        self.basis_seq
    }
}

/// What the first event of a proposal binds into the chain.
pub(crate) fn proposal_payload(body: &str, provenance: &str) -> String {
    serde_json::json!({ "body": body, "provenance": provenance }).to_string()
}

/// The ledger of one repository.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Ledger {
    /// Opens (creating) the ledger database at `path`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;",
        )?;
        conn.execute_batch(SCHEMA)?;
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

    /// Records a new proposal (state `proposed`); returns its id.
    pub fn submit(
        &mut self,
        source: &str,
        kind: &str,
        title: &str,
        body: &str,
        provenance: &serde_json::Value,
    ) -> Result<String, LedgerError> {
        let tx = self.write()?;
        let n: i64 = tx.query_row("SELECT COUNT(*) FROM proposals", [], |r| r.get(0))?;
        let id = format!("P{}", n + 1);
        let prov = provenance.to_string();
        tx.execute(
            "INSERT INTO proposals (id, source, kind, title, body, provenance) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, source, kind, title, body, prov],
        )?;
        append(
            &tx,
            &id,
            "transition",
            None,
            State::Proposed,
            source,
            "proposal received",
            &proposal_payload(body, &prov),
        )?;
        tx.commit()?;
        Ok(id)
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
        )
    }

    /// Records the gate's decision; an allow decision records its action in
    /// the same transaction. Returns the state after.
    pub fn gate(&mut self, id: &str, decision: &Decision) -> Result<State, LedgerError> {
        let to = match decision.outcome() {
            Outcome::Allow => State::Allowed,
            Outcome::Forbid => State::Forbidden,
            Outcome::Hold => State::Held,
        };
        let actor = format!("rules:{}", decision.ruleset_hash());
        let payload = serde_json::json!({ "validation": "passed", "decision": decision });
        self.transition(id, to, &actor, decision.reason(), payload)
    }

    /// Records a person's review of a held proposal; an approval records
    /// the action in the same transaction.
    pub fn review(
        &mut self,
        id: &str,
        reviewer: &str,
        approve: bool,
        reason: &str,
    ) -> Result<State, LedgerError> {
        let to = if approve {
            State::Approved
        } else {
            State::Rejected
        };
        let payload = serde_json::json!({ "review": if approve { "approved" } else { "rejected" }, "reviewer": reviewer });
        self.transition(id, to, &format!("human:{reviewer}"), reason, payload)
    }

    /// Records that a recorded action's edit was applied.
    pub fn applied(
        &mut self,
        id: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<State, LedgerError> {
        self.transition(
            id,
            State::Applied,
            actor,
            "the edit was applied to the working tree",
            detail,
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
        let from = current(&tx, id)?.ok_or_else(|| LedgerError::Unknown(id.to_string()))?;
        let refusal = refuse_in(&tx, id, from, to, actor, reason)?;
        tx.commit()?;
        Ok(refusal)
    }

    /// The one door for state changes: checks the transition table, appends
    /// the event, updates the state cache and, for `allowed`/`approved`,
    /// records the action, all in one transaction.
    fn transition(
        &mut self,
        id: &str,
        to: State,
        actor: &str,
        reason: &str,
        payload: serde_json::Value,
    ) -> Result<State, LedgerError> {
        let tx = self.write()?;
        let from = current(&tx, id)?.ok_or_else(|| LedgerError::Unknown(id.to_string()))?;
        if !allowed_transition(Some(from), to) {
            let why = format!("{} -> {} is not in the lifecycle", from.name(), to.name());
            let refusal = refuse_in(&tx, id, from, to, actor, &why)?;
            tx.commit()?;
            return Err(refusal);
        }
        let basis = append(
            &tx,
            id,
            "transition",
            Some(from),
            to,
            actor,
            reason,
            &payload.to_string(),
        )?;
        let mut state = to;
        if matches!(to, State::Allowed | State::Approved) {
            // INVARIANT (actions-from-decisions): the only construction site.
            let n: i64 = tx.query_row("SELECT COUNT(*) FROM actions", [], |r| r.get(0))?;
            let action_id = format!("A{}", n + 1);
            let detail = serde_json::json!({ "action": action_id, "basis_seq": basis }).to_string();
            let seq = append(
                &tx,
                id,
                "transition",
                Some(to),
                State::Recorded,
                "writ:ledger",
                &format!("action {action_id} recorded from event {basis}"),
                &detail,
            )?;
            tx.execute(
                "INSERT INTO actions (id, proposal_id, seq, basis_seq) VALUES (?1, ?2, ?3, ?4)",
                params![action_id, id, seq, basis],
            )?;
            state = State::Recorded;
        }
        tx.commit()?;
        Ok(state)
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

    /// Recomputes the chain.
    pub fn verify(&self) -> Result<VerifyReport, LedgerError> {
        crate::chain::verify(&self.conn)
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

/// Appends a refused-transition event (the state does not move) and
/// returns the error that reports it.
fn refuse_in(
    tx: &Transaction<'_>,
    id: &str,
    from: State,
    to: State,
    actor: &str,
    reason: &str,
) -> Result<LedgerError, LedgerError> {
    let seq = append(
        tx,
        id,
        "refused-transition",
        Some(from),
        to,
        actor,
        reason,
        "{}",
    )?;
    Ok(LedgerError::Refused {
        id: id.into(),
        from: from.name().into(),
        to: to.name().into(),
        reason: reason.into(),
        seq,
    })
}

fn current(tx: &Transaction<'_>, id: &str) -> Result<Option<State>, LedgerError> {
    let s: Option<String> = tx
        .query_row(
            "SELECT state FROM state WHERE proposal_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(s.and_then(|s| State::parse(&s)))
}

/// Appends one event (and, for a transition, moves the state cache).
#[allow(
    clippy::too_many_arguments,
    reason = "each argument is one column of the event"
)]
fn append(
    tx: &Transaction<'_>,
    id: &str,
    kind: &str,
    from: Option<State>,
    to: State,
    actor: &str,
    reason: &str,
    payload: &str,
) -> Result<i64, LedgerError> {
    let (last_seq, prev): (i64, String) = tx
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS.to_string()));
    let seq = last_seq + 1;
    let at = now();
    let payload_hash = blake3::hash(payload.as_bytes()).to_hex().to_string();
    let from_name = from.map(State::name).unwrap_or("");
    let hash = event_hash(
        seq,
        id,
        kind,
        from_name,
        to.name(),
        actor,
        reason,
        &payload_hash,
        at,
        &prev,
    );
    tx.execute(
        "INSERT INTO events (seq, proposal_id, kind, from_state, to_state, actor, reason, payload, payload_hash, at, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![seq, id, kind, from.map(State::name), to.name(), actor, reason, payload, payload_hash, at, prev, hash],
    )?;
    if kind == "transition" {
        tx.execute(
            "INSERT INTO state (proposal_id, state, seq) VALUES (?1, ?2, ?3)
             ON CONFLICT(proposal_id) DO UPDATE SET state = excluded.state, seq = excluded.seq",
            params![id, to.name(), seq],
        )?;
    }
    Ok(seq)
}
