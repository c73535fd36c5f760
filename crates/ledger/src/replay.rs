//! Replaying the chain: a proposal's state is what its events say, never
//! what a cache row says.
//!
//! [`replay_one`] walks one proposal's events through the transition table
//! and re-checks each event's own hash and the proposal row its first event
//! binds. [`check_caches`] compares the `state` and `actions` caches with
//! the replay, row by row. Every write replays before it writes; `verify`
//! replays everything.

use crate::allowed_transition;
use crate::chain::event_hash;
use crate::store::{proposal_matches, State};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

/// Something in the ledger that disagrees with its own chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tamper {
    /// The table whose row disagrees (`events`, `proposals`, `state`,
    /// `actions`, `rulesets`).
    pub table: &'static str,
    /// The proposal concerned.
    pub proposal: String,
    /// The event concerned, when one is.
    pub seq: Option<i64>,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "table `{}`, proposal `{}`", self.table, self.proposal)?;
        if let Some(seq) = self.seq {
            write!(f, ", event #{seq}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// What the chain says about one proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// The state after its last transition.
    pub state: State,
    /// The sequence number of that transition.
    pub seq: i64,
    /// The action its chain recorded: (id, recorded seq, basis seq).
    pub action: Option<(String, i64, i64)>,
}

struct Row {
    seq: i64,
    kind: String,
    from: Option<String>,
    to: String,
    actor: String,
    reason: String,
    payload: String,
    payload_hash: String,
    at: i64,
    prev_hash: String,
    hash: String,
}

fn tamper(table: &'static str, id: &str, seq: Option<i64>, problem: String) -> Tamper {
    Tamper {
        table,
        proposal: id.to_string(),
        seq,
        problem,
    }
}

/// Replays one proposal's events. `Ok(None)`: the proposal has no events
/// and no row.
pub(crate) fn replay_one(conn: &Connection, id: &str) -> Result<Option<Replayed>, ReplayError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, from_state, to_state, actor, reason, payload, payload_hash, at, prev_hash, hash
         FROM events WHERE proposal_id = ?1 ORDER BY seq",
    )?;
    let rows: Vec<Row> = stmt
        .query_map([id], |r| {
            Ok(Row {
                seq: r.get(0)?,
                kind: r.get(1)?,
                from: r.get(2)?,
                to: r.get(3)?,
                actor: r.get(4)?,
                reason: r.get(5)?,
                payload: r.get(6)?,
                payload_hash: r.get(7)?,
                at: r.get(8)?,
                prev_hash: r.get(9)?,
                hash: r.get(10)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let proposal: Option<(String, String, String, String, String)> = conn
        .query_row(
            "SELECT source, kind, title, body, provenance FROM proposals WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some(first) = rows.first() else {
        return match proposal {
            None => Ok(None),
            Some(_) => Err(tamper(
                "proposals",
                id,
                None,
                "a proposal row without any event".into(),
            )
            .into()),
        };
    };
    let Some((source, kind, title, body, provenance)) = proposal else {
        return Err(tamper(
            "events",
            id,
            Some(first.seq),
            "events for a proposal that has no row".into(),
        )
        .into());
    };
    let mut state: Option<State> = None;
    let mut seq = first.seq;
    let mut action = None;
    for (n, e) in rows.iter().enumerate() {
        let fail =
            |problem: String| -> ReplayError { tamper("events", id, Some(e.seq), problem).into() };
        if blake3::hash(e.payload.as_bytes()).to_hex().as_str() != e.payload_hash {
            return Err(fail("payload does not match its hash".into()));
        }
        let recomputed = event_hash(
            e.seq,
            id,
            &e.kind,
            e.from.as_deref().unwrap_or(""),
            &e.to,
            &e.actor,
            &e.reason,
            &e.payload_hash,
            e.at,
            &e.prev_hash,
        );
        if recomputed != e.hash {
            return Err(fail("event hash does not match its fields".into()));
        }
        let to = State::parse(&e.to).ok_or_else(|| fail(format!("unknown state `{}`", e.to)))?;
        let from = match &e.from {
            None => None,
            Some(f) => Some(State::parse(f).ok_or_else(|| fail(format!("unknown state `{f}`")))?),
        };
        if from != state {
            return Err(fail(format!(
                "the event says it starts from {}, but the chain is at {}",
                from.map_or("(new)", State::name),
                state.map_or("(new)", State::name)
            )));
        }
        if n == 0 {
            if e.kind != "transition" || to != State::Proposed {
                return Err(fail("a proposal's first event must receive it".into()));
            }
            if e.actor != source {
                return Err(tamper("proposals", id, Some(e.seq), format!(
                    "the source `{source}` differs from the proposer `{}` its first event recorded", e.actor
                )).into());
            }
            if let Err(why) = proposal_matches(&e.payload, &kind, &title, &body, &provenance) {
                return Err(tamper(
                    "proposals",
                    id,
                    Some(e.seq),
                    format!("the proposal differs from what its first event recorded: {why}"),
                )
                .into());
            }
        }
        if e.kind == "refused-transition" {
            continue;
        }
        if !allowed_transition(state, to) {
            return Err(fail(format!(
                "{} -> {} is not in the lifecycle",
                state.map_or("(new)", State::name),
                to.name()
            )));
        }
        if to == State::Recorded {
            let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
            let action_id = payload.get("action").and_then(|a| a.as_str());
            let basis = payload.get("basis_seq").and_then(|b| b.as_i64());
            match (action_id, basis) {
                (Some(a), Some(b)) if b == seq => action = Some((a.to_string(), e.seq, b)),
                _ => {
                    return Err(fail(
                        "the recorded event does not name its action and the decision it rests on"
                            .into(),
                    ))
                }
            }
        }
        if to == State::Allowed && !e.actor.starts_with("rules:") {
            return Err(fail(format!(
                "an allow decision by `{}`, not by the rules",
                e.actor
            )));
        }
        if to == State::Approved && !e.actor.starts_with("human:") {
            return Err(fail(format!(
                "an approval by `{}`, not by a person",
                e.actor
            )));
        }
        state = Some(to);
        seq = e.seq;
    }
    let state =
        state.ok_or_else(|| tamper("events", id, Some(first.seq), "no transition".into()))?;
    Ok(Some(Replayed { state, seq, action }))
}

/// Compares one proposal's cache rows with its replay.
pub(crate) fn check_cache(
    conn: &Connection,
    id: &str,
    replayed: &Replayed,
) -> Result<(), ReplayError> {
    let cached: Option<(String, i64)> = conn
        .query_row(
            "SELECT state, seq FROM state WHERE proposal_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match cached {
        Some((s, seq)) if s == replayed.state.name() && seq == replayed.seq => {}
        Some((s, seq)) => {
            return Err(tamper(
                "state",
                id,
                Some(seq),
                format!(
                    "the cache says {s} (event #{seq}); the chain says {} (event #{})",
                    replayed.state.name(),
                    replayed.seq
                ),
            )
            .into())
        }
        None => return Err(tamper("state", id, None, "no state row".into()).into()),
    }
    let cached: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT id, seq, basis_seq FROM actions WHERE proposal_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if cached != replayed.action {
        return Err(tamper(
            "actions",
            id,
            cached.as_ref().map(|c| c.1),
            format!(
                "the actions table says {}; the chain says {}",
                cached.map_or("no action".into(), |(a, s, b)| format!(
                    "{a} (event #{s}, basis #{b})"
                )),
                replayed
                    .action
                    .as_ref()
                    .map_or("no action".into(), |(a, s, b)| format!(
                        "{a} (event #{s}, basis #{b})"
                    )),
            ),
        )
        .into());
    }
    Ok(())
}

/// Replays every proposal and compares every cache row; the first
/// disagreement found.
pub(crate) fn check_all(conn: &Connection) -> Result<Option<Tamper>, rusqlite::Error> {
    let mut ids: Vec<String> = conn
        .prepare("SELECT proposal_id FROM events UNION SELECT id FROM proposals UNION SELECT proposal_id FROM state UNION SELECT proposal_id FROM actions")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.sort_by_key(|id| (id.len(), id.clone()));
    for id in ids {
        let outcome = match replay_one(conn, &id) {
            Ok(Some(r)) => check_cache(conn, &id, &r),
            Ok(None) => Err(tamper(
                "state",
                &id,
                None,
                "a cache row for a proposal that does not exist".into(),
            )
            .into()),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {}
            Err(ReplayError::Tamper(t)) => return Ok(Some(t)),
            Err(ReplayError::Sqlite(e)) => return Err(e),
        }
    }
    Ok(None)
}

/// A replay that found tampering, or could not read.
#[derive(Debug)]
pub(crate) enum ReplayError {
    Tamper(Tamper),
    Sqlite(rusqlite::Error),
}

impl From<Tamper> for ReplayError {
    fn from(t: Tamper) -> Self {
        ReplayError::Tamper(t)
    }
}

impl From<rusqlite::Error> for ReplayError {
    fn from(e: rusqlite::Error) -> Self {
        ReplayError::Sqlite(e)
    }
}
