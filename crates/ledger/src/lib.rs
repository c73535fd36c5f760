//! The ledger: every proposal, decision, review and action, append-only and
//! hash-chained in SQLite, so anyone can reconstruct why an action exists.
//!
//! One lifecycle, one transition table ([`allowed_transition`]):
//! `proposed -> allowed | forbidden | held | refused`; `held -> approved |
//! rejected` (a person); `allowed | approved -> recorded` (the action);
//! `recorded -> applied`. Any other transition is refused, and the refusal
//! is itself recorded.
//!
//! Invariants:
//! - every state change is an event row in the same SQLite transaction as
//!   the state it produces; if the ledger write fails, the change did not
//!   happen;
//! - the chain is the truth: `state` and `actions` are caches that every
//!   write re-derives from the proposal's own events (replayed through the
//!   transition table) and that `verify` compares row by row; triggers
//!   reject UPDATE and DELETE on events, proposals, actions and rule sets,
//!   and a state or action row that no event backs;
//! - every gate decision keeps the facts the rules read and the rule set's
//!   text (stored once, by hash), so [`Ledger::replay`] can re-decide it;
//! - only this crate creates an [`Action`] (private fields and
//!   constructor), and only from an allow [`writ_rules::Decision`] or a
//!   recorded human approval.
#![deny(missing_docs)]

/// The hash of the chain before its first event.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

mod chain;
mod key;
mod replay;
mod rerun;
mod schema;
mod store;
mod types;
mod write;

pub use chain::{verify, Checkpoint, VerifyReport};
pub use replay::Tamper;
pub use rerun::{Replay, ReplayReport};
pub use store::{Action, Event, Judgement, Ledger, LedgerError, ProposalRow, State};

/// Whether `from -> to` is in the lifecycle (`None`: a new proposal).
pub fn allowed_transition(from: Option<State>, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (None, Proposed)
            | (Some(Proposed), Allowed | Forbidden | Held | Refused)
            | (Some(Held), Approved | Rejected)
            | (Some(Allowed | Approved), Recorded)
            | (Some(Recorded), Applied)
    )
}
