//! The ledger's lifecycle, append-only storage and hash chain.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use writ_ledger::{allowed_transition, Judgement, Ledger, LedgerError, State};
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

/// Records the gate's decision on an edit of `target` under `RULES`.
fn gate(l: &mut Ledger, id: &str, target: &str) -> Result<State, LedgerError> {
    let rules = RuleSet::parse_str("r.toml", RULES).unwrap();
    let facts = Facts {
        kind: Kind::Edit,
        targets: vec![target.into()],
        ..Facts::default()
    };
    judge(l, id, &rules, &facts)
}

fn judge(l: &mut Ledger, id: &str, rules: &RuleSet, facts: &Facts) -> Result<State, LedgerError> {
    let sources = vec![("r.toml".to_string(), RULES.to_string())];
    let decision = rules.decide(facts);
    l.gate(
        id,
        &Judgement {
            decision: &decision,
            facts,
            sources: &sources,
        },
    )
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
    assert_eq!(gate(&mut l, &id, "a.md").unwrap(), State::Recorded);
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
    assert_eq!(gate(&mut l, &a, "src/x.rs").unwrap(), State::Held);
    assert_eq!(gate(&mut l, &b, "src/y.rs").unwrap(), State::Held);
    assert_eq!(
        l.review(&a, "ana", true, "looks right", None, "cli")
            .unwrap(),
        State::Recorded
    );
    assert_eq!(
        l.review(&b, "ana", false, "no", None, "cli").unwrap(),
        State::Rejected
    );
    assert!(l.action_of(&a).unwrap().is_some());
    assert!(l.action_of(&b).unwrap().is_none());
}

#[test]
fn every_illegal_transition_is_refused_and_recorded() {
    let (_d, mut l) = ledger();
    let forbidden = submit(&mut l);
    assert_eq!(gate(&mut l, &forbidden, ".env").unwrap(), State::Forbidden);
    let before = l.events(&forbidden).unwrap().len();
    // A forbidden proposal cannot be approved: that takes a rule change.
    let err = l
        .review(&forbidden, "ana", true, "please", None, "cli")
        .unwrap_err();
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
    gate(&mut l, &held, "src/x.rs").unwrap();
    assert!(gate(&mut l, &held, "a.md").is_err());
    assert!(l
        .applied(&held, "human:ana", serde_json::json!({}), None)
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
        gate(&mut l, &id, "src/x.rs").unwrap();
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
    assert!(gate(&mut l, &id, "a.md").is_err());
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
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
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
                _ => drop(judge(&mut l, &id, &rules, &facts)),
            }
            // Random follow-ups, legal or not.
            for _ in 0..(rng.next() % 3) {
                let _ = match rng.next() % 3 {
                    0 => l.review(&id, "r", rng.next().is_multiple_of(2), "why", None, "cli"),
                    1 => l.applied(&id, "human:r", serde_json::json!({}), None),
                    _ => judge(&mut l, &id, &rules, &facts),
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

/// The hash of an event as the ledger computes it, so a test can forge a
/// row whose hashes check out (an attacker who read the source).
fn forge_hash(fields: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for f in fields {
        h.update(&(f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

#[test]
fn forged_cache_rows_are_refused_by_triggers_and_caught_without_them() {
    let (_d, mut l) = ledger();
    let id = submit(&mut l);
    assert_eq!(gate(&mut l, &id, "src/x.rs").unwrap(), State::Held);
    let last: i64 = l
        .connection()
        .query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    // The triggers refuse a state or action row no event backs.
    let c = l.connection();
    assert!(c
        .execute(
            "UPDATE state SET state = 'recorded' WHERE proposal_id = ?1",
            [&id]
        )
        .is_err());
    assert!(c
        .execute(
            "INSERT INTO actions (id, proposal_id, seq, basis_seq) VALUES ('A1', ?1, ?2, ?2)",
            rusqlite::params![id, last]
        )
        .is_err());
    // With the triggers dropped, the forgery lands in the caches...
    c.execute_batch(&format!(
        "DROP TRIGGER state_from_chain_u; DROP TRIGGER actions_from_chain;
         UPDATE state SET state = 'recorded' WHERE proposal_id = '{id}';
         INSERT INTO actions (id, proposal_id, seq, basis_seq) VALUES ('A1', '{id}', {last}, {last});"
    ))
    .unwrap();
    // ...verify names it, and no write acts on it: applying is refused and
    // the refusal is recorded.
    let r = l.verify().unwrap();
    assert!(!r.ok());
    let t = r.tamper.unwrap();
    assert_eq!(
        (t.table, t.proposal.as_str()),
        ("state", id.as_str()),
        "{t}"
    );
    assert_eq!(
        l.derived_state(&id)
            .map_err(|e| e.to_string())
            .err()
            .map(|e| e.contains("state")),
        Some(true)
    );
    let e = l
        .applied(&id, "human:x", serde_json::json!({}), None)
        .unwrap_err();
    assert!(matches!(e, LedgerError::Tampered(_)), "{e}");
    let events = l.events(&id).unwrap();
    assert_eq!(events.last().unwrap().kind, "refused-transition");
}

#[test]
fn an_illegal_sequence_with_valid_hashes_fails_verify_naming_the_event() {
    let (_d, mut l) = ledger();
    let id = submit(&mut l);
    assert_eq!(gate(&mut l, &id, "src/x.rs").unwrap(), State::Held);
    let c = l.connection();
    let (seq, prev): (i64, String) = c
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // held -> recorded with no approval, hashes recomputed by the forger.
    let seq = seq + 1;
    let payload = "{}";
    let ph = blake3::hash(payload.as_bytes()).to_hex().to_string();
    let hash = forge_hash(&[
        &seq.to_string(),
        &id,
        "transition",
        "held",
        "recorded",
        "writ:ledger",
        "forged",
        &ph,
        "0",
        &prev,
    ]);
    c.execute(
        "INSERT INTO events (seq, proposal_id, kind, from_state, to_state, actor, reason, payload, payload_hash, at, prev_hash, hash)
         VALUES (?1, ?2, 'transition', 'held', 'recorded', 'writ:ledger', 'forged', ?3, ?4, 0, ?5, ?6)",
        rusqlite::params![seq, id, payload, ph, prev, hash],
    )
    .unwrap();
    let r = l.verify().unwrap();
    assert_eq!(r.first_broken, None, "the hashes check out: {r:?}");
    let t = r.tamper.expect("the replay catches it");
    assert_eq!((t.table, t.seq), ("events", Some(seq)), "{t}");
    assert!(t.problem.contains("held -> recorded"), "{t}");
}

#[test]
fn decisions_replay_from_recorded_facts_and_stored_rule_text() {
    let (_d, mut l) = ledger();
    for target in ["a.md", "src/x.rs", ".env"] {
        let id = submit(&mut l);
        gate(&mut l, &id, target).unwrap();
    }
    let r = l.replay().unwrap();
    assert_eq!(
        (r.same, r.differ.len(), r.without_facts),
        (3, 0, 0),
        "{r:?}"
    );
    // Rewriting the stored rule text is caught: it no longer hashes to the
    // set that decided.
    l.connection()
        .execute_batch("DROP TRIGGER rulesets_append_only_u; UPDATE rulesets SET sources = replace(sources, 'forbid', 'allow');")
        .unwrap();
    let r = l.replay().unwrap();
    assert_eq!(r.differ.len(), 3, "{r:?}");
    assert!(r.differ[0].problem.contains("rewritten"), "{r:?}");
}

#[test]
fn a_keyed_ledger_catches_a_chain_recomputed_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let mut l = Ledger::open_keyed(&path, keys.path()).unwrap();
    let id = submit(&mut l);
    assert_eq!(gate(&mut l, &id, "src/x.rs").unwrap(), State::Held);
    assert!(l.verify().unwrap().ok());
    // The key file is private and outside the ledger's folder.
    let key_file = std::fs::read_dir(keys.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // An approval appended with recomputed hashes but no key.
    let c = l.connection();
    let (seq, prev): (i64, String) = c
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let seq = seq + 1;
    let ph = blake3::hash(b"{}").to_hex().to_string();
    let hash = forge_hash(&[
        &seq.to_string(),
        &id,
        "refused-transition",
        "held",
        "approved",
        "human:ana",
        "x",
        &ph,
        "0",
        &prev,
    ]);
    c.execute(
        "INSERT INTO events (seq, proposal_id, kind, from_state, to_state, actor, reason, payload, payload_hash, at, prev_hash, hash)
         VALUES (?1, ?2, 'refused-transition', 'held', 'approved', 'human:ana', 'x', '{}', ?3, 0, ?4, ?5)",
        rusqlite::params![seq, id, ph, prev, hash],
    )
    .unwrap();
    drop(l);
    let l = Ledger::open_keyed(&path, keys.path()).unwrap();
    let r = l.verify().unwrap();
    assert_eq!(r.first_broken, Some(seq), "{r:?}");
    assert!(r.problem.unwrap().contains("not authenticated"));
    // Without its key a keyed ledger does not open.
    drop(l);
    std::fs::remove_file(&key_file).unwrap();
    assert!(matches!(
        Ledger::open_keyed(&path, keys.path()),
        Err(LedgerError::Key(_))
    ));
}

#[test]
fn a_ledger_with_history_and_no_key_is_adopted_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    // A ledger from before keys (or committed into a repository).
    let mut l = Ledger::open(&path).unwrap();
    let id = submit(&mut l);
    gate(&mut l, &id, "src/x.rs").unwrap();
    drop(l);
    // Reading creates no key; writing refuses until the history is adopted.
    assert!(Ledger::open_existing_keyed(&path, keys.path(), false).is_ok());
    assert_eq!(std::fs::read_dir(keys.path()).unwrap().count(), 0);
    let e = Ledger::open_keyed(&path, keys.path())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("adopt-key"), "{e}");
    Ledger::adopt_key(&path, keys.path()).unwrap();
    let mut l = Ledger::open_keyed(&path, keys.path()).unwrap();
    assert_eq!(
        l.review(&id, "ana", false, "no", None, "cli").unwrap(),
        State::Rejected
    );
    assert!(l.verify().unwrap().ok());
}

#[test]
fn two_first_uses_at_once_make_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (path, keys) = (path.clone(), keys.path().to_path_buf());
            std::thread::spawn(move || {
                let mut l = Ledger::open_keyed(&path, &keys).unwrap();
                let id = submit(&mut l);
                gate(&mut l, &id, "a.md").unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let l = Ledger::open_keyed(&path, keys.path()).unwrap();
    assert!(l.verify().unwrap().ok(), "{:?}", l.verify().unwrap());
    let key_files = std::fs::read_dir(keys.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "key")
        })
        .count();
    assert_eq!(key_files, 1);
}
