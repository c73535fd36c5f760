//! `writ rules suggest` (`Gate::draft_rule`) drafts a change that lets the
//! held proposal through: approved and applied, the same proposal is then
//! allowed, and one outside the drafted shape is still held. Where no rule
//! change may let it through, nothing is drafted or recorded. No model, no
//! index: the retrieval run is a recorded provenance, as `writ ask` writes.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use writ_gate::{ApplyOptions, Gate, GateError, Proposer, Run, State};
use writ_rules::{Channel, Outcome};

const MODEL: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

struct Fixture {
    _dir: tempfile::TempDir,
    _keys: tempfile::TempDir,
    gate: Gate,
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args("-c core.hooksPath=/dev/null -c commit.gpgsign=false".split(' '))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let repo = dir.path().canonicalize().unwrap();
    for (rel, text) in [
        ("docs/guide.md", "one\n"),
        ("docs/other.md", "one\n"),
        ("docs/conf.py", "x = 1\n"),
        ("src/lib.rs", "fn a() {}\n"),
        (".env", "A=1\n"),
    ] {
        std::fs::create_dir_all(repo.join(rel).parent().unwrap()).unwrap();
        std::fs::write(repo.join(rel), text).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "t@writ.invalid"]);
    git(&repo, &["config", "user.name", "t"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "tree"]);
    let gate =
        Gate::new(repo.clone(), repo.join(".writ"), None).with_keys(keys.path().to_path_buf());
    Fixture {
        _dir: dir,
        _keys: keys,
        gate,
    }
}

fn edit(path: &str, old: &str, new: &str) -> String {
    json!({
        "kind": "edit", "title": format!("edit {path}"), "rationale": "r", "citations": [1],
        "diff": format!("--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n"),
    })
    .to_string()
}

/// The provenance `writ ask` records: the retrieval run the citations
/// come from.
fn asked() -> Value {
    json!({ "retrieval": { "embedder": "bge-test", "hits": [{ "chunk": 1, "similarity": 0.9 }] } })
}

/// Sends `body` through the gate as `who` would, with a run when the
/// proposal came from `writ ask`.
fn propose(f: &Fixture, body: &str, who: &Proposer) -> (String, State, Option<Outcome>) {
    let provenance = asked();
    let run = Run::from_provenance(&provenance).unwrap();
    let i = f.gate.intake(body, who, provenance, Some(&run)).unwrap();
    let outcome = i.decision.as_ref().map(writ_rules::Decision::outcome);
    (i.id, i.state, outcome)
}

fn model() -> Proposer {
    Proposer::model(MODEL)
}

/// Approves and applies the drafted rule change `id`.
fn approve_and_apply(f: &Fixture, id: &str) {
    let settled = f
        .gate
        .settle(id, "ana", true, "fine", Channel::Cli)
        .unwrap();
    assert_eq!(settled.state, State::Recorded, "{settled:?}");
    f.gate
        .apply(id, "human:ana", ApplyOptions::default())
        .unwrap();
}

fn refused(f: &Fixture, id: &str) -> String {
    let before = f.gate.proposals(None).unwrap().len();
    let e = f.gate.draft_rule(id, "ana").unwrap_err();
    assert!(matches!(e, GateError::Invalid(_)), "{e}");
    assert_eq!(
        f.gate.proposals(None).unwrap().len(),
        before,
        "nothing is recorded when nothing is drafted"
    );
    e.to_string()
}

#[test]
fn a_model_edit_held_by_a_hold_rule_is_let_through_by_an_exception_and_nothing_else_is() {
    let f = fixture();
    let body = edit("docs/guide.md", "one", "two");
    let (p1, state, _) = propose(&f, &body, &model());
    assert_eq!(state, State::Held);
    let (draft, diff) = f.gate.draft_rule(&p1, "ana").unwrap();
    assert_eq!(
        draft.state,
        State::Held,
        "a rule change is held for a person"
    );
    let d = draft.decision.as_ref().unwrap();
    assert_eq!(d.determining()[0].id, "hold-rule-changes");
    assert!(
        diff.contains("+[[exception]]\n+rule = \"hold-model-edits\""),
        "{diff}"
    );
    assert!(diff.contains("+id = \"allow-like-P1\""), "{diff}");
    assert!(diff.contains(&format!("\"model:{MODEL}\"")), "{diff}");
    assert!(
        diff.contains("+++ b/rules/default.toml"),
        "the built-in rules come along: {diff}"
    );

    // Before the change is applied nothing differs.
    let (_, state, _) = propose(&f, &body, &model());
    assert_eq!(state, State::Held);

    approve_and_apply(&f, &draft.id);
    let local = std::fs::read_to_string(f.gate.repo().join("rules/local.toml")).unwrap();
    assert!(local.contains("[[exception]]"), "{local}");

    // The same proposal is now allowed, an exception lifting the hold.
    let (again, state, outcome) = propose(&f, &body, &model());
    assert_eq!((state, outcome), (State::Recorded, Some(Outcome::Allow)));
    let decision = f.gate.recorded_decision(&again).unwrap().unwrap();
    assert_eq!(
        decision["excepted"][0]["rule"], "hold-model-edits",
        "{decision}"
    );
    assert_eq!(
        decision["determining"][0]["id"], "allow-like-P1",
        "{decision}"
    );

    // Outside the shape the hold stands: another file, a bigger change,
    // another model, another channel.
    let bigger = json!({
        "kind": "edit", "title": "t", "rationale": "r", "citations": [1],
        "diff": "--- a/docs/guide.md\n+++ b/docs/guide.md\n@@ -1 +1,2 @@\n-one\n+two\n+three\n",
    })
    .to_string();
    for (body, who, rule) in [
        (
            edit("docs/other.md", "one", "two"),
            model(),
            "hold-model-edits",
        ),
        (bigger, model(), "hold-model-edits"),
        (body.clone(), Proposer::model("0123"), "hold-model-edits"),
        (body.clone(), Proposer::mcp("claude"), "hold-agent-edits"),
    ] {
        let (id, state, _) = propose(&f, &body, &who);
        assert_eq!(state, State::Held, "{body}");
        let decision = f.gate.recorded_decision(&id).unwrap().unwrap();
        assert_eq!(decision["determining"][0]["id"], rule, "{decision}");
    }
    assert!(f.gate.verify(true).unwrap().ok());
}

#[test]
fn a_cli_edit_held_by_default_gets_an_allow_rule_only() {
    let f = fixture();
    let body = edit("src/lib.rs", "fn a() {}", "fn a() { b() }");
    let (p1, state, _) = propose(&f, &body, &Proposer::cli("ana"));
    assert_eq!(state, State::Held);
    let (draft, diff) = f.gate.draft_rule(&p1, "ana").unwrap();
    assert!(!diff.contains("[[exception]]"), "{diff}");
    assert!(diff.contains("paths_all = [\"src/lib.rs\"]"), "{diff}");
    approve_and_apply(&f, &draft.id);
    let (_, state, _) = propose(&f, &body, &Proposer::cli("ana"));
    assert_eq!(state, State::Recorded);
    let (_, state, _) = propose(
        &f,
        &edit("docs/conf.py", "x = 1", "x = 2"),
        &Proposer::cli("ana"),
    );
    assert_eq!(state, State::Held);
}

#[test]
fn nothing_is_drafted_where_no_rule_change_may_let_it_through() {
    let f = fixture();
    // Forbidden.
    let (id, state, _) = propose(&f, &edit(".env", "A=1", "A=2"), &Proposer::cli("ana"));
    assert_eq!(state, State::Forbidden);
    let e = refused(&f, &id);
    assert!(e.contains("forbidden by `forbid-secrets`"), "{e}");
    // Held by a rule on the file itself (and by the model rule).
    let (id, _, _) = propose(&f, &edit("docs/conf.py", "x = 1", "x = 2"), &model());
    let e = refused(&f, &id);
    assert!(e.contains("`hold-executed-by-tools`"), "{e}");
    assert!(
        !e.contains("`hold-model-edits`"),
        "only the rule kept is named: {e}"
    );
    // A command, a note, a rule change.
    let command = json!({"kind": "command", "title": "t", "rationale": "r", "citations": [], "argv": ["make"]});
    let (id, _, _) = propose(&f, &command.to_string(), &Proposer::cli("ana"));
    assert!(refused(&f, &id).contains("is a command"));
    let note =
        json!({"kind": "note", "title": "t", "rationale": "r", "citations": [1], "text": "x"});
    let (id, _, _) = propose(&f, &note.to_string(), &model());
    assert!(refused(&f, &id).contains("is a note"));
    let (p1, _, _) = propose(&f, &edit("docs/guide.md", "one", "two"), &model());
    let (draft, _) = f.gate.draft_rule(&p1, "ana").unwrap();
    assert!(refused(&f, &draft.id).contains("a person always decides a rule change"));
    // An edit that cites nothing.
    let uncited = json!({
        "kind": "edit", "title": "t", "rationale": "r", "citations": [],
        "diff": "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1 +1 @@\n-fn a() {}\n+fn a() { c() }\n",
    });
    let (id, _, _) = propose(&f, &uncited.to_string(), &Proposer::cli("ana"));
    assert!(refused(&f, &id).contains("cites no chunk"));
}
