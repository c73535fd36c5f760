//! The ledger's lifecycle, append-only storage and hash chain.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use writ_ledger::{allowed_transition, Ledger, LedgerError, State};
use writ_proposal::Kind;
use writ_rules::{Facts, RuleSet};

const RULES: &str = r#"
[[rule]]
id = "allow-docs"
effect = "allow"
why = "docs are fine"
when = { kind = ["edit"], paths_all = ["**/*.md"] }

[[rule]]
id = "forbid-env"
effect = "forbid"
why = "secrets"
when = { kind = ["edit"], paths_any = ["**/.env"] }
"#;

fn decide(target: &str) -> writ_rules::Decision {
    let rules = RuleSet::parse_str("r.toml", RULES).unwrap();
    rules.decide(&Facts {
        kind: Kind::Edit,
        targets: vec![target.into()],
        ..Facts::default()
    })
}

fn ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
    (dir, l)
}

fn submit(l: &mut Ledger) -> String {
    l.submit(
        "external:test",
        "edit",
        "t",
        "{\"kind\":\"edit\"}",
        &serde_json::json!({"via": "test"}),
    )
    .unwrap()
}

#[test]
fn allow_records_an_action_in_the_same_step() {
    let (_d, mut l) = ledger();
    let id = submit(&mut l);
    assert_eq!(l.gate(&id, &decide("a.md")).unwrap(), State::Recorded);
    let action = l.action_of(&id).unwrap().unwrap();
    let events = l.events(&id).unwrap();
    let basis = events.iter().find(|e| e.seq == action.basis_seq()).unwrap();
    assert_eq!(
        (basis.to.as_str(), basis.actor.starts_with("rules:")),
        ("allowed", true)
    );
    assert_eq!(events.last().unwrap().to, "recorded");
    assert!(l.verify().unwrap().ok());
}

#[test]
fn held_then_approved_records_an_action_rejected_does_not() {
    let (_d, mut l) = ledger();
    let a = submit(&mut l);
    let b = submit(&mut l);
    assert_eq!(l.gate(&a, &decide("src/x.rs")).unwrap(), State::Held);
    assert_eq!(l.gate(&b, &decide("src/y.rs")).unwrap(), State::Held);
    assert_eq!(
        l.review(&a, "ana", true, "looks right").unwrap(),
        State::Recorded
    );
    assert_eq!(l.review(&b, "ana", false, "no").unwrap(), State::Rejected);
    assert!(l.action_of(&a).unwrap().is_some());
    assert!(l.action_of(&b).unwrap().is_none());
}

#[test]
fn every_illegal_transition_is_refused_and_recorded() {
    let (_d, mut l) = ledger();
    let forbidden = submit(&mut l);
    assert_eq!(
        l.gate(&forbidden, &decide(".env")).unwrap(),
        State::Forbidden
    );
    let before = l.events(&forbidden).unwrap().len();
    // A forbidden proposal cannot be approved: that takes a rule change.
    let err = l.review(&forbidden, "ana", true, "please").unwrap_err();
    assert!(matches!(err, LedgerError::Refused { .. }), "{err}");
    let events = l.events(&forbidden).unwrap();
    assert_eq!(events.len(), before + 1);
    let refusal = events.last().unwrap();
    assert_eq!(
        (
            refusal.kind.as_str(),
            refusal.to.as_str(),
            refusal.actor.as_str()
        ),
        ("refused-transition", "approved", "human:ana")
    );
    assert_eq!(l.proposal(&forbidden).unwrap().state, State::Forbidden);
    // Gating twice, applying an unrecorded proposal, refusing after gating.
    let held = submit(&mut l);
    l.gate(&held, &decide("src/x.rs")).unwrap();
    assert!(l.gate(&held, &decide("a.md")).is_err());
    assert!(l
        .applied(&held, "human:ana", serde_json::json!({}))
        .is_err());
    assert!(l.refuse(&held, &["late".into()]).is_err());
    assert_eq!(l.proposal(&held).unwrap().state, State::Held);
    assert!(l.verify().unwrap().ok());
}

#[test]
fn the_transition_table_is_exactly_the_lifecycle() {
    use State::*;
    let all = [
        Proposed, Refused, Allowed, Forbidden, Held, Approved, Rejected, Recorded, Applied,
    ];
    let legal: Vec<(Option<State>, State)> = vec![
        (None, Proposed),
        (Some(Proposed), Allowed),
        (Some(Proposed), Forbidden),
        (Some(Proposed), Held),
        (Some(Proposed), Refused),
        (Some(Held), Approved),
        (Some(Held), Rejected),
        (Some(Allowed), Recorded),
        (Some(Approved), Recorded),
        (Some(Recorded), Applied),
    ];
    for from in std::iter::once(None).chain(all.iter().copied().map(Some)) {
        for to in all {
            assert_eq!(
                allowed_transition(from, to),
                legal.contains(&(from, to)),
                "{from:?} -> {to:?}"
            );
        }
    }
}

#[test]
fn update_and_delete_are_rejected() {
    let (_d, mut l) = ledger();
    let id = submit(&mut l);
    let c = l.connection();
    for sql in [
        "UPDATE events SET reason = 'x'",
        "DELETE FROM events",
        "UPDATE proposals SET title = 'x'",
        "DELETE FROM proposals",
    ] {
        let e = c.execute(sql, []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(l.events(&id).unwrap().len(), 1);
}

#[test]
fn a_row_edited_behind_writs_back_fails_verify_at_its_sequence_number() {
    let (_d, mut l) = ledger();
    for _ in 0..3 {
        let id = submit(&mut l);
        l.gate(&id, &decide("src/x.rs")).unwrap();
    }
    assert!(l.verify().unwrap().ok());
    let c = l.connection();
    c.execute_batch("DROP TRIGGER events_append_only_u; UPDATE events SET reason = 'nothing to see' WHERE seq = 4;").unwrap();
    let r = l.verify().unwrap();
    assert_eq!(r.first_broken, Some(4), "{r:?}");
    // Rewriting a proposal's body is caught through its first event.
    let (_d2, mut l2) = ledger();
    let id = submit(&mut l2);
    l2.connection()
        .execute_batch(&format!("DROP TRIGGER proposals_append_only_u; UPDATE proposals SET body = '{{}}' WHERE id = '{id}';"))
        .unwrap();
    assert_eq!(l2.verify().unwrap().first_broken, Some(1));
}

#[test]
fn a_failed_write_leaves_no_half_transition() {
    let (_d, mut l) = ledger();
    let id = submit(&mut l);
    // Make the action insert fail: the allow event and the state change must
    // roll back with it.
    l.connection().execute_batch("CREATE TRIGGER boom BEFORE INSERT ON actions BEGIN SELECT RAISE(ABORT, 'disk full'); END;").unwrap();
    assert!(l.gate(&id, &decide("a.md")).is_err());
    assert_eq!(l.proposal(&id).unwrap().state, State::Proposed);
    assert_eq!(l.events(&id).unwrap().len(), 1);
    assert!(l.verify().unwrap().ok());
}

/// A small deterministic generator, so failures reproduce by seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

#[test]
fn property_no_action_without_an_allow_or_approval_before_it() {
    let effects = ["allow", "forbid", "hold"];
    let globs = ["**/*.md", "src/**", "**/.env", "**"];
    let targets = ["a.md", "src/x.rs", ".env", "docs/b.md"];
    for seed in 1..=40u64 {
        let mut rng = Rng(seed * 0x9E37_79B9_7F4A_7C15);
        let mut src = String::new();
        for i in 0..(1 + rng.next() % 4) {
            src += &format!(
                "[[rule]]\nid = \"r{i}\"\neffect = \"{}\"\nwhy = \"w\"\nwhen = {{ kind = [\"edit\"], paths_any = [\"{}\"] }}\n",
                rng.pick(&effects),
                rng.pick(&globs)
            );
        }
        let rules = RuleSet::parse_str("p.toml", &src).unwrap();
        let (_d, mut l) = ledger();
        for _ in 0..12 {
            let id = submit(&mut l);
            let facts = Facts {
                kind: Kind::Edit,
                targets: vec![(*rng.pick(&targets)).into()],
                ..Facts::default()
            };
            match rng.next() % 5 {
                0 => drop(l.refuse(&id, &["bad".into()])),
                _ => drop(l.gate(&id, &rules.decide(&facts))),
            }
            // Random follow-ups, legal or not.
            for _ in 0..(rng.next() % 3) {
                let _ = match rng.next() % 3 {
                    0 => l.review(&id, "r", rng.next().is_multiple_of(2), "why"),
                    1 => l.applied(&id, "human:r", serde_json::json!({})),
                    _ => l.gate(&id, &rules.decide(&facts)),
                };
            }
        }
        assert!(l.verify().unwrap().ok(), "seed {seed}");
        for action in l.actions().unwrap() {
            let events = l.events(action.proposal_id()).unwrap();
            let basis = events.iter().find(|e| e.seq == action.basis_seq()).unwrap();
            let ok = (basis.to == "allowed" && basis.actor.starts_with("rules:"))
                || (basis.to == "approved" && basis.actor.starts_with("human:"));
            assert!(
                ok && basis.kind == "transition" && basis.seq < action.seq(),
                "seed {seed}: {basis:?}"
            );
            // The explain chain is complete: received, decided, recorded.
            let tos: Vec<&str> = events
                .iter()
                .filter(|e| e.kind == "transition")
                .map(|e| e.to.as_str())
                .collect();
            assert_eq!(tos[0], "proposed", "seed {seed}");
            assert!(tos.contains(&"recorded"), "seed {seed}");
        }
    }
}
