//! A proposal left `proposed` (by an older writ, which recorded and
//! decided in two steps, or by a crash between them) is listed and gated
//! under the rules in force, by `regate` or by the next intake.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use writ_gate::{Gate, Proposer, State};

fn note(title: &str) -> String {
    serde_json::json!({"kind": "note", "title": title, "rationale": "r", "citations": [], "text": "t"})
        .to_string()
}

#[test]
fn a_proposal_left_undecided_is_gated_by_regate_and_by_the_next_intake() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let gate = Gate::new(repo.to_path_buf(), repo.join(".writ"), None);
    // Nothing proposed yet: no ledger, and reading creates none.
    assert!(matches!(
        gate.proposals(None),
        Err(writ_gate::GateError::NoLedger(_))
    ));
    assert!(!repo.join(".writ").exists());
    // Two proposals recorded but never decided, as an interrupted older
    // intake would leave them.
    let mut ledger = writ_ledger::Ledger::open(&repo.join(".writ/ledger.sqlite")).unwrap();
    let provenance = serde_json::json!({ "channel": "cli" });
    for t in ["a", "b"] {
        ledger
            .submit("external:old", "note", t, &note(t), &provenance)
            .unwrap();
    }
    drop(ledger);
    assert_eq!(gate.proposals(Some(State::Proposed)).unwrap().len(), 2);
    assert_eq!(gate.regate().unwrap(), 2);
    assert!(gate.proposals(Some(State::Proposed)).unwrap().is_empty());
    assert_eq!(gate.proposal("P1").unwrap().state, State::Held);

    let mut ledger = writ_ledger::Ledger::open(&repo.join(".writ/ledger.sqlite")).unwrap();
    ledger
        .submit("external:old", "note", "c", &note("c"), &provenance)
        .unwrap();
    drop(ledger);
    let fresh = gate
        .intake(&note("d"), &Proposer::cli("t"), serde_json::json!({}), None)
        .unwrap();
    assert_eq!(fresh.id, "P4");
    assert_eq!(gate.proposal("P3").unwrap().state, State::Held);
    assert!(gate.verify(true).unwrap().ok());
}
