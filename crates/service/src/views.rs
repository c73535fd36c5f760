//! Typed views of what is recorded: the rows and records front ends print
//! (CLI) or serialise (HTTP, MCP). Their JSON is the wire format.

use crate::{Places, ServiceError};
use serde::Serialize;
use serde_json::Value;
use writ_gate::State;

/// One stored proposal in a list.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalSummary {
    /// `P<n>`.
    pub id: String,
    /// Its state now.
    pub state: State,
    /// `edit`, `note`, `command`, `rule-change`, or `unknown`.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// Who proposed it.
    pub source: String,
    /// The front end it came through (`writ ask`, …), when recorded.
    pub via: Option<String>,
    /// Sequence number of its first event.
    pub seq: i64,
}

/// What an event of the chain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A transition of the lifecycle.
    Transition,
    /// An attempted transition the ledger refused (and recorded).
    RefusedTransition,
}

impl EventKind {
    /// The ledger's stored name, parsed.
    pub fn parse(name: &str) -> Option<EventKind> {
        match name {
            "transition" => Some(EventKind::Transition),
            "refused-transition" => Some(EventKind::RefusedTransition),
            _ => None,
        }
    }
}

/// One event of a proposal's chain.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// Sequence number.
    pub seq: i64,
    /// What it did.
    pub kind: EventKind,
    /// The state reached (or attempted).
    pub to: State,
    /// Who acted.
    pub actor: String,
    /// Why, in one line.
    pub reason: String,
    /// Details (decision, facts, validation reasons, review).
    pub payload: Value,
}

/// Rule sets a held proposal was decided under and that are in force.
#[derive(Debug, Clone, Serialize)]
pub struct RulesetDrift {
    /// The rule-set hash that decided.
    pub decided_under: String,
    /// The rule-set hash in force now.
    pub in_force: String,
}

/// What `show` re-checks on a `writ ask` record.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    /// The prompt rebuilt from the record and the index.
    pub prompt: String,
    /// The grammar rebuilt, and the raw output parsed by it.
    pub grammar: String,
    /// The model file hashed again.
    pub model: String,
}

/// One proposal with its provenance, events, recorded decision, the patch
/// as writ will apply it, and the re-computed checks.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalDetail {
    /// `P<n>`.
    pub id: String,
    /// Its state now.
    pub state: State,
    /// Who proposed it.
    pub source: String,
    /// Its kind (`unknown` when the body did not parse).
    pub kind: String,
    /// Its title.
    pub title: String,
    /// The proposal as received.
    pub body: String,
    /// How it came to be.
    pub provenance: Value,
    /// Its chain.
    pub events: Vec<EventView>,
    /// The gate's recorded decision.
    pub decision: Option<Value>,
    /// The patch rendered from the parsed diff: what a reviewer reads,
    /// never the proposer's raw text.
    pub patch: Option<String>,
    /// Set when the rules changed since a held proposal was decided.
    pub ruleset_drift: Option<RulesetDrift>,
    /// The re-computed checks.
    pub checks: Checks,
}

/// A chunk's location and text.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkView {
    /// Chunk id.
    pub id: i64,
    /// Path relative to the repository.
    pub path: String,
    /// First line.
    pub start_line: usize,
    /// Last line.
    pub end_line: usize,
    /// Qualified symbol.
    pub symbol: Option<String>,
    /// Language name.
    pub language: String,
    /// The text.
    pub text: String,
}

/// The ledger's verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyResult {
    /// True when the chain and the caches agree.
    pub ok: bool,
    /// Events checked.
    pub events: i64,
    /// Hash of the last event.
    pub head: String,
    /// The first event that does not check out.
    pub first_broken: Option<i64>,
    /// What is wrong.
    pub problem: Option<String>,
}

/// Stored proposals (optionally in one state), oldest first.
pub fn proposals(
    places: &Places,
    state: Option<State>,
) -> Result<Vec<ProposalSummary>, ServiceError> {
    let rows = places.gate().proposals(state)?;
    Ok(rows
        .into_iter()
        .map(|p| ProposalSummary {
            via: p
                .provenance
                .get("via")
                .and_then(Value::as_str)
                .map(str::to_string),
            id: p.id,
            state: p.state,
            kind: p.kind,
            title: p.title,
            source: p.source,
            seq: p.first_seq,
        })
        .collect())
}

/// One proposal in full (see [`ProposalDetail`]).
pub fn proposal(places: &Places, id: &str) -> Result<ProposalDetail, ServiceError> {
    let gate = places.gate();
    let p = gate.proposal(id)?;
    let mut events = Vec::new();
    for e in gate.events(&p.id)? {
        let (Some(kind), Some(to)) = (EventKind::parse(&e.kind), State::parse(&e.to)) else {
            return Err(ServiceError::Internal(format!(
                "event #{} has kind `{}` and state `{}`, which this writ does not know",
                e.seq, e.kind, e.to
            )));
        };
        events.push(EventView {
            seq: e.seq,
            kind,
            to,
            actor: e.actor,
            reason: e.reason,
            payload: e.payload,
        });
    }
    let decision = events
        .iter()
        .find_map(|e| e.payload.get("decision").cloned());
    let (prompt, grammar) = writ_ask::check::ask_record(&p.provenance, &places.index);
    let patch = writ_proposal::Proposal::from_json(&p.body)
        .ok()
        .and_then(|prop| prop.diff)
        .and_then(|d| writ_proposal::parse_diff(&d).ok())
        .map(|patches| patches.iter().map(|f| f.render()).collect::<String>());
    let ruleset_drift = if p.state == State::Held {
        gate.ruleset_drift(&p.id)
            .ok()
            .flatten()
            .map(|(then, now)| RulesetDrift {
                decided_under: then,
                in_force: now,
            })
    } else {
        None
    };
    Ok(ProposalDetail {
        checks: Checks {
            prompt,
            grammar,
            model: writ_ask::check::model_file(&p.provenance),
        },
        id: p.id,
        state: p.state,
        source: p.source,
        kind: p.kind,
        title: p.title,
        body: p.body,
        provenance: p.provenance,
        events,
        decision,
        patch,
        ruleset_drift,
    })
}

/// A chunk of the index.
pub fn chunk(places: &Places, id: i64) -> Result<ChunkView, ServiceError> {
    let catalog = writ_index::Catalog::open_read_only(&places.index)?;
    let rec = catalog
        .chunk_record(id)?
        .ok_or_else(|| ServiceError::not_found(format!("chunk {id} is not in the index")))?;
    Ok(ChunkView {
        id: rec.id,
        path: rec.path,
        start_line: rec.start_line,
        end_line: rec.end_line,
        symbol: rec.symbol,
        language: rec.language,
        text: rec.text,
    })
}

/// Recomputes the ledger's chain and compares its caches with it.
pub fn verify(places: &Places) -> Result<VerifyResult, ServiceError> {
    let report = places.gate().verify(false)?;
    Ok(VerifyResult {
        ok: report.ok(),
        events: report.count,
        first_broken: report.broken.as_ref().map(|b| b.0),
        problem: report
            .broken
            .as_ref()
            .map(|b| b.1.clone())
            .or(report.tamper.as_ref().map(ToString::to_string)),
        head: report.head,
    })
}
