//! The ledger's types (states, events, proposals, actions, errors) and
//! the hashing helpers every module shares; the `Ledger` itself is in
//! `store.rs`, which uses them, so no module needs `store.rs` for a type.

use rusqlite::{params, Transaction};
use serde::Serialize;
use std::path::PathBuf;
use writ_rules::{Decision, Facts};

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
    /// There is no ledger at that path (read-only commands never create one).
    #[error("no ledger at `{}`", .0.display())]
    Missing(PathBuf),
    /// The ledger's key cannot be read or made.
    #[error("the ledger's key: {0}")]
    Key(String),
    /// A row disagrees with the chain; nothing was changed.
    #[error("the ledger disagrees with its own chain: {0}")]
    Tampered(Tamper),
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
    pub(crate) id: String,
    pub(crate) proposal_id: String,
    pub(crate) seq: i64,
    pub(crate) basis_seq: i64,
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

/// The blake3 of a stored rule set's text, as decisions bind it.
pub(crate) fn rules_text_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// What the first event of a proposal binds into the chain: its body,
/// provenance, kind and title.
pub(crate) fn proposal_payload(kind: &str, title: &str, body: &str, provenance: &str) -> String {
    serde_json::json!({ "body": body, "provenance": provenance, "kind": kind, "title": title })
        .to_string()
}

/// Whether a proposal row is what its first event bound (older ledgers
/// bound only the body and provenance).
pub(crate) fn proposal_matches(
    payload: &str,
    kind: &str,
    title: &str,
    body: &str,
    provenance: &str,
) -> Result<(), String> {
    let bound: serde_json::Value = serde_json::from_str(payload)
        .map_err(|_| "the first event binds no proposal".to_string())?;
    let field = |name: &str| bound.get(name).and_then(|v| v.as_str());
    for (name, value, required) in [
        ("body", body, true),
        ("provenance", provenance, true),
        ("kind", kind, false),
        ("title", title, false),
    ] {
        match field(name) {
            Some(v) if v == value => {}
            None if !required => {}
            _ => return Err(format!("its `{name}` was changed")),
        }
    }
    Ok(())
}

/// What the gate decided and on what: the decision, every fact the rules
/// read, and the text of the rule set that decided (stored once, by hash).
pub struct Judgement<'a> {
    /// The rules' decision.
    pub decision: &'a Decision,
    /// The facts it was decided on.
    pub facts: &'a Facts,
    /// The rule set's files as (name, text).
    pub sources: &'a [(String, String)],
}

impl Judgement<'_> {
    /// The chained part: the decision, its facts, and the blake3 of the
    /// exact rule text stored under the decision's hash (comments and
    /// examples are outside the rule-set hash; this binds them too).
    pub(crate) fn payload(&self) -> serde_json::Value {
        serde_json::json!({
            "decision": self.decision,
            "facts": self.facts,
            "rules_text": rules_text_hash(&self.sources_text()),
        })
    }

    fn sources_text(&self) -> String {
        serde_json::to_string(self.sources).unwrap_or_default()
    }

    /// Stores the rule text under its own blake3 (two texts of one rule
    /// set, differing in comments or file names, are both kept).
    pub(crate) fn store_rules(&self, tx: &Transaction<'_>) -> Result<(), LedgerError> {
        let sources = self.sources_text();
        tx.execute(
            "INSERT OR IGNORE INTO rulesets (hash, sources) VALUES (?1, ?2)",
            params![rules_text_hash(&sources), sources],
        )?;
        Ok(())
    }
}

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

/// The fields of an event that its hash covers, in order.
#[allow(
    clippy::too_many_arguments,
    reason = "one argument per hashed field keeps the order explicit"
)]
pub(crate) fn event_hash(
    seq: i64,
    proposal_id: &str,
    kind: &str,
    from: &str,
    to: &str,
    actor: &str,
    reason: &str,
    payload_hash: &str,
    at: i64,
    prev: &str,
) -> String {
    let mut h = blake3::Hasher::new();
    for field in [
        seq.to_string().as_str(),
        proposal_id,
        kind,
        from,
        to,
        actor,
        reason,
        payload_hash,
        at.to_string().as_str(),
        prev,
    ] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().to_hex().to_string()
}
