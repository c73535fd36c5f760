//! A property test of the one door (proptest, with shrinking): random
//! sequences of intake, approval, rejection, apply, rule-set changes and
//! single-row tampering of any ledger table (its triggers dropped).
//!
//! After any sequence: either `verify` fails naming the tampered row (and
//! approve and apply refuse), or every recorded or applied proposal rests
//! on an allow decision by the rules, or on an approval the rules in force
//! did not forbid, and the caches equal the replayed chain.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use proptest::prelude::*;
use std::path::Path;
use std::process::Command;
use writ_gate::{ApplyOptions, Gate, Proposer, State};

const RULES: [&str; 3] = [
    // Docs allowed, source held, secrets forbidden.
    "[[rule]]\nid = \"allow-docs\"\neffect = \"allow\"\nwhy = \"w\"\nwhen = { kind = [\"edit\"], paths_all = [\"docs/**\"] }\n\n[[rule]]\nid = \"forbid-env\"\neffect = \"forbid\"\nwhy = \"w\"\nwhen = { kind = [\"edit\"], paths_any = [\"**/.env\"] }\n",
    // Source forbidden from now on.
    "[[rule]]\nid = \"forbid-src\"\neffect = \"forbid\"\nwhy = \"w\"\nwhen = { kind = [\"edit\"], paths_any = [\"src/**\"] }\n",
    // Everything held.
    "[[rule]]\nid = \"hold-all\"\neffect = \"hold\"\nwhy = \"w\"\nwhen = { kind = [\"edit\", \"note\"] }\n",
];

const TARGETS: [&str; 3] = ["docs/a.md", "src/x.rs", ".env"];

#[derive(Debug, Clone)]
enum Op {
    Propose { target: usize, note: bool },
    Approve(usize),
    Reject(usize),
    Apply(usize),
    Rules(usize),
    Tamper { table: usize, row: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, any::<bool>()).prop_map(|(target, note)| Op::Propose { target, note }),
        2 => (0..8usize).prop_map(Op::Approve),
        1 => (0..8usize).prop_map(Op::Reject),
        2 => (0..8usize).prop_map(Op::Apply),
        1 => (0..3usize).prop_map(Op::Rules),
        1 => (0..5usize, 0..8usize).prop_map(|(table, row)| Op::Tamper { table, row }),
    ]
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["config", "user.email", "t@writ.invalid"]);
    git(p, &["config", "user.name", "t"]);
    for t in TARGETS {
        std::fs::create_dir_all(p.join(t).parent().unwrap()).unwrap();
        std::fs::write(p.join(t), "one\n").unwrap();
    }
    std::fs::create_dir_all(p.join("rules")).unwrap();
    std::fs::write(p.join("rules/default.toml"), RULES[0]).unwrap();
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "init"]);
    dir
}

fn proposal(target: &str, note: bool, n: usize) -> String {
    if note {
        return serde_json::json!({"kind": "note", "title": format!("n{n}"), "rationale": "r", "citations": [], "text": "t"}).to_string();
    }
    serde_json::json!({
        "kind": "edit", "title": format!("e{n}"), "rationale": "r", "citations": [],
        "diff": format!("--- a/{target}\n+++ b/{target}\n@@ -1 +1 @@\n-one\n+two {n}\n"),
    })
    .to_string()
}

/// One single-row change behind writ's back (every trigger dropped first);
/// true when a row really changed.
fn tamper(db: &Path, table: usize, row: usize) -> bool {
    let c = rusqlite::Connection::open(db).unwrap();
    let ids: Vec<String> = c
        .prepare("SELECT id FROM proposals ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    if ids.is_empty() {
        return false;
    }
    let id = &ids[row % ids.len()];
    let triggers: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in triggers {
        c.execute_batch(&format!("DROP TRIGGER \"{t}\"")).unwrap();
    }
    let changed = match table {
        0 => c.execute(
            "UPDATE state SET state = CASE state WHEN 'recorded' THEN 'applied' ELSE 'recorded' END WHERE proposal_id = ?1",
            [id],
        ),
        1 => c.execute(
            "INSERT OR IGNORE INTO actions (id, proposal_id, seq, basis_seq) SELECT 'A999', ?1, MAX(seq), MAX(seq) FROM events WHERE proposal_id = ?1",
            [id],
        ),
        2 => c.execute("UPDATE proposals SET body = body || ' ' WHERE id = ?1", [id]),
        3 => c.execute(
            "UPDATE events SET reason = reason || '!' WHERE seq = (SELECT MAX(seq) FROM events WHERE proposal_id = ?1)",
            [id],
        ),
        _ => c.execute("DELETE FROM state WHERE proposal_id = ?1", [id]),
    };
    changed.unwrap() > 0
}

fn check(gate: &Gate, tampered: bool) -> Result<(), TestCaseError> {
    let v = match gate.verify(true) {
        Ok(v) => v,
        Err(writ_gate::GateError::NoLedger(_)) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(e.to_string())),
    };
    if tampered {
        prop_assert!(!v.ok(), "a tampered ledger verified: {v:?}");
        prop_assert!(v.broken.is_some() || v.tamper.is_some(), "{v:?}");
        for p in ["P1", "P2", "P3"] {
            prop_assert!(
                gate.settle(p, "r", true, "ok", writ_rules::Channel::Cli)
                    .is_err(),
                "approve on a tampered ledger"
            );
            prop_assert!(
                gate.apply(p, "human:r", ApplyOptions::default()).is_err(),
                "apply on a tampered ledger"
            );
        }
        return Ok(());
    }
    prop_assert!(v.ok(), "{v:?}");
    for p in gate.proposals(None).unwrap() {
        if !matches!(p.state, State::Recorded | State::Applied) {
            continue;
        }
        let events = gate.events(&p.id).unwrap();
        let basis = events
            .iter()
            .find(|e| e.kind == "transition" && (e.to == "allowed" || e.to == "approved"))
            .ok_or_else(|| TestCaseError::fail(format!("{} recorded without a basis", p.id)))?;
        if basis.to == "allowed" {
            prop_assert!(basis.actor.starts_with("rules:"));
            prop_assert_eq!(basis.payload["decision"]["outcome"].as_str(), Some("allow"));
        } else {
            prop_assert!(basis.actor.starts_with("human:"));
            prop_assert_ne!(
                basis.payload["regate"]["decision"]["outcome"].as_str(),
                Some("forbid")
            );
            prop_assert!(events.iter().any(|e| e.to == "held" && e.seq < basis.seq));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_door_holds_under_any_sequence(ops in proptest::collection::vec(op(), 1..14)) {
        let dir = repo();
        let repo = dir.path();
        let gate = Gate::new(repo.to_path_buf(), repo.join(".writ"), None);
        let db = repo.join(".writ/ledger.sqlite");
        let mut tampered = false;
        for (n, op) in ops.iter().enumerate() {
            match op {
                Op::Propose { target, note } => {
                    let r = gate.intake(&proposal(TARGETS[*target], *note, n), &Proposer::cli("t"), serde_json::json!({}), None);
                    if !tampered {
                        prop_assert!(r.is_ok(), "{r:?}");
                    }
                }
                Op::Approve(i) => drop(gate.settle(&format!("P{}", i + 1), "ana", true, "ok", writ_rules::Channel::Cli)),
                Op::Reject(i) => drop(gate.settle(&format!("P{}", i + 1), "ana", false, "no", writ_rules::Channel::Cli)),
                Op::Apply(i) => drop(gate.apply(&format!("P{}", i + 1), "human:ana", ApplyOptions::default())),
                Op::Rules(i) => std::fs::write(repo.join("rules/default.toml"), RULES[*i]).unwrap(),
                Op::Tamper { table, row } => {
                    if db.exists() {
                        tampered |= tamper(&db, *table, *row);
                    }
                }
            }
            check(&gate, tampered)?;
        }
    }
}
