//! Replaying the chain: a proposal's state is what its events say, never
//! what a cache row says.
//!
//! [`replay_one`] walks one proposal's events through the transition table
//! and re-checks each event's own hash and the proposal row its first event
//! binds. [`check_caches`] compares the `state` and `actions` caches with
//! the replay, row by row. Every write replays before it writes; `verify`
//! replays everything.

use crate::allowed_transition;
use crate::types::event_hash;
pub use crate::types::Tamper;
use crate::types::{proposal_matches, State};
use rusqlite::{Connection, OptionalExtension};

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
    mac: Option<String>,
    proposal_id: String,
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

/// The columns of `proposals` a replay checks: source, kind, title, body,
/// provenance.
type ProposalCols = (String, String, String, String, String);

const SELECT_EVENTS: &str = "SELECT proposal_id, seq, kind, from_state, to_state, actor, reason, payload, payload_hash, at, prev_hash, hash, mac FROM events";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        proposal_id: r.get(0)?,
        seq: r.get(1)?,
        kind: r.get(2)?,
        from: r.get(3)?,
        to: r.get(4)?,
        actor: r.get(5)?,
        reason: r.get(6)?,
        payload: r.get(7)?,
        payload_hash: r.get(8)?,
        at: r.get(9)?,
        prev_hash: r.get(10)?,
        hash: r.get(11)?,
        mac: r.get(12)?,
    })
}

/// Replays one proposal's events. `Ok(None)`: the proposal has no events
/// and no row.
pub(crate) fn replay_one(conn: &Connection, id: &str) -> Result<Option<Replayed>, ReplayError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT_EVENTS} WHERE proposal_id = ?1 ORDER BY seq"
    ))?;
    let rows: Vec<Row> = stmt
        .query_map([id], read_row)?
        .collect::<rusqlite::Result<_>>()?;
    let proposal: Option<ProposalCols> = conn
        .query_row(
            "SELECT source, kind, title, body, provenance FROM proposals WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let key = crate::key::current(conn)?;
    Ok(replay_rows(
        id,
        &rows,
        proposal.as_ref(),
        Some(key.as_ref()),
    )?)
}

/// Replays one proposal from its rows (in sequence order).
/// With `hashes` (`Some`, holding the connection's key if it has one),
/// each event's payload hash, event hash and MAC are checked too (a
/// whole-ledger verify has just done that over the chain, so it passes
/// `None`).
fn replay_rows(
    id: &str,
    rows: &[Row],
    proposal: Option<&ProposalCols>,
    hashes: Option<Option<&crate::key::Key>>,
) -> Result<Option<Replayed>, Tamper> {
    let Some(first) = rows.first() else {
        return match proposal {
            None => Ok(None),
            Some(_) => Err(tamper(
                "proposals",
                id,
                None,
                "a proposal row without any event".into(),
            )),
        };
    };
    let Some((source, kind, title, body, provenance)) = proposal else {
        return Err(tamper(
            "events",
            id,
            Some(first.seq),
            "events for a proposal that has no row".into(),
        ));
    };
    let mut state: Option<State> = None;
    let mut seq = first.seq;
    let mut action = None;
    for (n, e) in rows.iter().enumerate() {
        let fail = |problem: String| -> Tamper { tamper("events", id, Some(e.seq), problem) };
        if let Some(key) = hashes {
            if let Some(k) = key.filter(|k| e.seq >= k.from) {
                if e.mac.as_deref() != Some(crate::key::mac(&k.bytes, &e.hash).as_str()) {
                    return Err(fail(
                        "the event is not authenticated by this ledger's key".into(),
                    ));
                }
            }
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
            if &e.actor != source {
                return Err(tamper("proposals", id, Some(e.seq), format!(
                    "the source `{source}` differs from the proposer `{}` its first event recorded", e.actor
                )));
            }
            if let Err(why) = proposal_matches(&e.payload, kind, title, body, provenance) {
                return Err(tamper(
                    "proposals",
                    id,
                    Some(e.seq),
                    format!("the proposal differs from what its first event recorded: {why}"),
                ));
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

/// One proposal's cached state (state, seq) and action (id, seq, basis).
type Cached = (Option<(String, i64)>, Option<(String, i64, i64)>);

/// Compares one proposal's cache rows with its replay.
pub(crate) fn check_cache(
    conn: &Connection,
    id: &str,
    replayed: &Replayed,
) -> Result<(), ReplayError> {
    let state: Option<(String, i64)> = conn
        .query_row(
            "SELECT state, seq FROM state WHERE proposal_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let action: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT id, seq, basis_seq FROM actions WHERE proposal_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(compare(id, replayed, &(state, action))?)
}

fn compare(id: &str, replayed: &Replayed, cached: &Cached) -> Result<(), Tamper> {
    match &cached.0 {
        Some((s, seq)) if s == replayed.state.name() && *seq == replayed.seq => {}
        Some((s, seq)) => {
            return Err(tamper(
                "state",
                id,
                Some(*seq),
                format!(
                    "the cache says {s} (event #{seq}); the chain says {} (event #{})",
                    replayed.state.name(),
                    replayed.seq
                ),
            ))
        }
        None => return Err(tamper("state", id, None, "no state row".into())),
    }
    if cached.1 != replayed.action {
        let show = |a: &Option<(String, i64, i64)>| {
            a.as_ref().map_or("no action".into(), |(a, s, b)| {
                format!("{a} (event #{s}, basis #{b})")
            })
        };
        return Err(tamper(
            "actions",
            id,
            cached.1.as_ref().map(|c| c.1),
            format!(
                "the actions table says {}; the chain says {}",
                show(&cached.1),
                show(&replayed.action),
            ),
        ));
    }
    Ok(())
}

/// Replays every proposal and compares every cache row, in one read of
/// each table; the first disagreement found (in proposal order). The
/// events' own hashes are left to the chain pass that runs before it.
pub(crate) fn check_all(conn: &Connection) -> Result<Option<Tamper>, rusqlite::Error> {
    use std::collections::{BTreeSet, HashMap};
    let mut events: HashMap<String, Vec<Row>> = HashMap::new();
    for row in conn
        .prepare(&format!("{SELECT_EVENTS} ORDER BY seq"))?
        .query_map([], read_row)?
    {
        let row = row?;
        events.entry(row.proposal_id.clone()).or_default().push(row);
    }
    let proposals: HashMap<String, ProposalCols> = conn
        .prepare("SELECT id, source, kind, title, body, provenance FROM proposals")?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let states: HashMap<String, (String, i64)> = conn
        .prepare("SELECT proposal_id, state, seq FROM state")?
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
        .collect::<rusqlite::Result<_>>()?;
    let actions: HashMap<String, (String, i64, i64)> = conn
        .prepare("SELECT proposal_id, id, seq, basis_seq FROM actions")?
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
        .collect::<rusqlite::Result<_>>()?;
    let ids: BTreeSet<(usize, &String)> = events
        .keys()
        .chain(proposals.keys())
        .chain(states.keys())
        .chain(actions.keys())
        .map(|id| (id.len(), id))
        .collect();
    for (_, id) in ids {
        let rows = events.get(id).map_or(&[][..], Vec::as_slice);
        let outcome = match replay_rows(id, rows, proposals.get(id), None) {
            Ok(Some(r)) => compare(id, &r, &(states.get(id).cloned(), actions.get(id).cloned())),
            Ok(None) => Err(tamper(
                "state",
                id,
                None,
                "a cache row for a proposal that does not exist".into(),
            )),
            Err(t) => Err(t),
        };
        if let Err(t) = outcome {
            return Ok(Some(t));
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
