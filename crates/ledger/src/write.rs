//! Writing the chain: the functions every write transaction is made of.
//!
//! Each runs inside a caller's IMMEDIATE transaction: a proposal's first
//! event ([`submit_in`]), a transition checked against the state replayed
//! from the proposal's own events ([`transition_in`], [`derive`]), a
//! refusal ([`refuse_in`]), and the one function that appends an event
//! and moves the state cache ([`append`]).

use crate::allowed_transition;
use crate::replay::{check_cache, replay_one, ReplayError, Tamper};
use crate::types::event_hash;
use crate::types::{proposal_payload, Judgement, LedgerError, State};
use crate::GENESIS;
use rusqlite::{params, OptionalExtension, Transaction};
use writ_rules::Outcome;

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Appends a refused-transition event (the state does not move) and
/// returns the error that reports it.
pub(crate) fn refuse_in(
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

/// Why a proposal's state could not be derived.
pub(crate) enum Derived {
    /// The chain (or a cache) disagrees; the state the chain reached, to
    /// record the refusal from.
    Tampered(State, Tamper),
    /// Unknown id, or SQLite failed.
    Error(LedgerError),
}

/// A proposal's state, from its own events: the chain is replayed through
/// the transition table and the caches compared with it. A broken chain is
/// refused without a record (there is no sound state to record from); a
/// cache that disagrees with a sound chain is refused with one.
pub(crate) fn derive(tx: &Transaction<'_>, id: &str) -> Result<State, Derived> {
    let replayed = match replay_one(tx, id) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Derived::Error(LedgerError::Unknown(id.to_string()))),
        Err(ReplayError::Sqlite(e)) => return Err(Derived::Error(e.into())),
        Err(ReplayError::Tamper(t)) => return Err(Derived::Error(LedgerError::Tampered(t))),
    };
    match check_cache(tx, id, &replayed) {
        Ok(()) => Ok(replayed.state),
        Err(ReplayError::Sqlite(e)) => Err(Derived::Error(e.into())),
        Err(ReplayError::Tamper(t)) => Err(Derived::Tampered(replayed.state, t)),
    }
}

/// Appends one event (and, for a transition, moves the state cache).
#[allow(
    clippy::too_many_arguments,
    reason = "each argument is one column of the event"
)]
pub(crate) fn append(
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
    let mac = crate::key::current(tx)?
        .filter(|k| seq >= k.from)
        .map(|k| crate::key::mac(&k.bytes, &hash));
    tx.execute(
        "INSERT INTO events (seq, proposal_id, kind, from_state, to_state, actor, reason, payload, payload_hash, at, prev_hash, hash, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![seq, id, kind, from.map(State::name), to.name(), actor, reason, payload, payload_hash, at, prev, hash, mac],
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

/// The event a gate decision becomes: (state, actor, reason, payload).
pub(crate) fn gate_event(judgement: &Judgement<'_>) -> (State, String, String, serde_json::Value) {
    let decision = judgement.decision;
    let to = match decision.outcome() {
        Outcome::Allow => State::Allowed,
        Outcome::Forbid => State::Forbidden,
        Outcome::Hold => State::Held,
    };
    let mut payload = judgement.payload();
    payload["validation"] = "passed".into();
    (
        to,
        format!("rules:{}", decision.ruleset_hash()),
        decision.reason().to_string(),
        payload,
    )
}

/// Inserts a proposal and its first event; returns its id.
pub(crate) fn submit_in(
    tx: &Transaction<'_>,
    source: &str,
    kind: &str,
    title: &str,
    body: &str,
    provenance: &serde_json::Value,
) -> Result<String, LedgerError> {
    let n: i64 = tx.query_row("SELECT COUNT(*) FROM proposals", [], |r| r.get(0))?;
    let id = format!("P{}", n + 1);
    let prov = provenance.to_string();
    tx.execute(
        "INSERT INTO proposals (id, source, kind, title, body, provenance) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, source, kind, title, body, prov],
    )?;
    append(
        tx,
        &id,
        "transition",
        None,
        State::Proposed,
        source,
        "proposal received",
        &proposal_payload(kind, title, body, &prov),
    )?;
    Ok(id)
}

/// One transition inside `tx`. The outer error means roll back (SQLite
/// failed, or the chain is unsound and nothing was written); the inner one
/// is a refusal that was appended, which `transition` commits (for a new
/// proposal, `submit_gated`/`submit_refused` roll it back with the
/// proposal: a refusal there can only mean a tampered ledger).
#[allow(
    clippy::too_many_arguments,
    reason = "each argument is one part of the event"
)]
pub(crate) fn transition_in(
    tx: &Transaction<'_>,
    id: &str,
    to: State,
    actor: &str,
    reason: &str,
    payload: serde_json::Value,
    judgement: Option<&Judgement<'_>>,
) -> Result<Result<State, LedgerError>, LedgerError> {
    let from = match derive(tx, id) {
        Ok(from) => from,
        Err(Derived::Tampered(from, t)) => {
            let why = format!("the ledger disagrees with its chain: {t}");
            refuse_in(tx, id, from, to, actor, &why)?;
            return Ok(Err(LedgerError::Tampered(t)));
        }
        Err(Derived::Error(e)) => return Err(e),
    };
    if !allowed_transition(Some(from), to) {
        let why = format!("{} -> {} is not in the lifecycle", from.name(), to.name());
        return Ok(Err(refuse_in(tx, id, from, to, actor, &why)?));
    }
    if let Some(j) = judgement {
        j.store_rules(tx)?;
    }
    let basis = append(
        tx,
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
            tx,
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
    Ok(Ok(state))
}
