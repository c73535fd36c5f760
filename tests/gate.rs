//! The gate end to end through the CLI, in a temp git repository:
//! propose, gate, review, approve, apply, explain, verify.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{text, Repo};
use serde_json::json;

fn repo() -> (Repo, i64) {
    let repo = Repo::new();
    repo.write("docs/guide.md", "# Guide\n\nRun the tool.\n");
    repo.write("src/main.rs", "fn main() {}\n");
    repo.write(".env", "SECRET=1\n");
    repo.write(".github/workflows/ci.yml", "on: push\n");
    repo.commit_all();
    repo.writ_json(&["index"]);
    let hits = repo.search_hits(&["search", "guide run the tool", "-k", "1"]);
    let cid = hits[0]["chunk_id"].as_i64().unwrap();
    (repo, cid)
}

fn edit(path: &str, old: &str, new: &str, citations: &[i64]) -> serde_json::Value {
    json!({
        "kind": "edit",
        "title": format!("edit {path}"),
        "rationale": "because",
        "citations": citations,
        "diff": format!("--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n"),
    })
}

/// `writ propose --json` of `proposal`: (exit code, output).
fn propose(repo: &Repo, proposal: &serde_json::Value) -> (i32, serde_json::Value) {
    let file = repo.path().join(format!("p{}.json", rand_suffix()));
    std::fs::write(&file, proposal.to_string()).unwrap();
    let out = repo.writ(&[
        "propose",
        "--file",
        file.to_str().unwrap(),
        "--source",
        "test-agent",
        "--json",
    ]);
    std::fs::remove_file(&file).unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap(), v)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn default_rules_decide_by_path_kind_and_grounding() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = repo();
    let doc = json!({"kind": "edit", "title": "clarify", "rationale": "terse", "citations": [cid],
        "diff": "--- a/docs/guide.md\n+++ b/docs/guide.md\n@@ -1,3 +1,3 @@\n # Guide\n \n-Run the tool.\n+Run the tool on a path.\n"});
    let (code, out) = propose(&repo, &doc);
    assert_eq!(
        (code, out["state"].as_str()),
        (0, Some("recorded")),
        "{out}"
    );
    assert_eq!(
        out["decision"]["determining"][0]["id"],
        "allow-small-grounded-docs-and-tests"
    );

    let (code, out) = propose(&repo, &edit(".env", "SECRET=1", "SECRET=2", &[cid]));
    assert_eq!(
        (code, out["state"].as_str()),
        (11, Some("forbidden")),
        "{out}"
    );
    // explain shows the text of the rule that decided, from the rule set
    // the ledger stored under the decision's hash.
    let id = out["id"].as_str().unwrap();
    let shown = common::text(&repo.writ(&["explain", id]).stdout);
    assert!(
        shown.contains("| [[rule]]") && shown.contains("id = \"forbid-secrets\""),
        "{shown}"
    );
    let (code, out) = propose(
        &repo,
        &edit(
            ".github/workflows/ci.yml",
            "on: push",
            "on: pull_request",
            &[cid],
        ),
    );
    assert_eq!((code, out["state"].as_str()), (10, Some("held")), "{out}");
    assert_eq!(
        out["decision"]["determining"][0]["id"],
        "hold-ci-build-and-dependencies"
    );
    let (code, out) = propose(
        &repo,
        &json!({"kind": "command", "title": "t", "rationale": "r", "citations": [], "argv": ["rm", "-rf", "/"]}),
    );
    assert_eq!((code, out["state"].as_str()), (10, Some("held")), "{out}");
    let (code, out) = propose(
        &repo,
        &edit("src/main.rs", "fn main() {}", "fn main() { }", &[cid]),
    );
    assert_eq!(
        (code, out["decision"]["reason"].as_str()),
        (10, Some("no rule matched: held by default")),
        "{out}"
    );
    // Ungrounded doc edit: held, not allowed.
    let (code, _) = propose(&repo, &edit("docs/guide.md", "# Guide", "# The guide", &[]));
    assert_eq!(code, 10);
}

#[test]
fn invalid_proposals_are_recorded_as_refused_with_reasons() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = repo();
    std::os::unix::fs::symlink("/etc", repo.path().join("etc-link")).unwrap();
    let cases = [
        (
            edit("../outside.md", "a", "b", &[cid]),
            "leaves the repository",
        ),
        (
            json!({"kind": "edit", "title": "t", "rationale": "r", "citations": [], "diff": "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n"}),
            "is absolute",
        ),
        (edit("etc-link/passwd", "a", "b", &[cid]), "symbolic link"),
        (
            edit("docs/guide.md", "a", "b", &[424242]),
            "citation 424242 names no chunk",
        ),
        (
            json!({"kind": "edit", "title": "t", "rationale": "r", "citations": [], "diff": "this is not a diff"}),
            "the diff is malformed",
        ),
        (
            json!({"kind": "note", "title": "t", "rationale": "r", "citations": [], "text": "x", "confidence": 0.99}),
            "unknown field `confidence`",
        ),
    ];
    for (proposal, reason) in cases {
        let (code, out) = propose(&repo, &proposal);
        assert_eq!(
            (code, out["state"].as_str()),
            (12, Some("refused")),
            "{out}"
        );
        let reasons = out["reasons"].to_string();
        assert!(reasons.contains(reason), "{reason}: {reasons}");
        let explained = repo.writ_json(&["explain", out["id"].as_str().unwrap()]);
        assert_eq!(explained["events"][1]["to"], "refused", "{explained}");
    }
    assert!(repo.writ_json(&["actions"]).as_array().unwrap().is_empty());
    common::assert_ok(&repo.writ(&["verify"]), &["verify"]);
}

#[test]
fn review_approve_apply_explain_verify() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = repo();
    let (_, held) = propose(
        &repo,
        &edit(
            "src/main.rs",
            "fn main() {}",
            "fn main() { println!(\"hi\"); }",
            &[cid],
        ),
    );
    let id = held["id"].as_str().unwrap().to_string();
    let queue = repo.writ_json(&["review"]);
    assert_eq!(queue[0]["id"], id.as_str());
    let show = repo.writ(&["review", "show", &id]);
    assert!(text(&show.stdout).contains("+fn main() { println!(\"hi\"); }"));
    assert!(
        text(&show.stdout).contains(&format!("citation {cid}: docs/guide.md:")),
        "{}",
        text(&show.stdout)
    );

    let out = repo.writ(&[
        "review",
        "approve",
        &id,
        "--reason",
        "small and right",
        "--as",
        "ana",
    ]);
    common::assert_ok(&out, &["review", "approve"]);
    assert!(
        text(&out.stdout).contains("recorded by ana: action A1"),
        "{}",
        text(&out.stdout)
    );
    let actions = repo.writ_json(&["actions"]);
    assert_eq!(actions[0]["action"], "A1");
    common::assert_ok(&repo.writ(&["apply", "A1"]), &["apply"]);
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/main.rs")).unwrap(),
        "fn main() { println!(\"hi\"); }\n"
    );

    let chain = repo.writ_json(&["explain", "A1"]);
    let tos: Vec<&str> = chain["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(tos, ["proposed", "held", "approved", "recorded", "applied"]);
    assert_eq!(chain["events"][2]["actor"], "human:ana");
    assert!(chain["prompt"]
        .as_str()
        .unwrap()
        .starts_with("not applicable"));
    assert_eq!(chain["action"]["basis_seq"], chain["events"][2]["seq"]);
    // The decision can be reconstructed: the facts the rules read, the
    // approval re-decided under the rules in force, the text of each rule
    // that matched, and a replay that re-decides all three (gate, approval,
    // apply) the same way.
    let gated = &chain["events"][1]["payload"];
    assert_eq!(gated["facts"]["targets"][0], "src/main.rs", "{gated}");
    assert_eq!(gated["facts"]["channel"], "cli", "{gated}");
    let approval = &chain["events"][2]["payload"];
    assert_eq!(
        approval["regate"]["decision"]["outcome"], "hold",
        "{approval}"
    );
    let shown = common::text(&repo.writ(&["explain", "P1"]).stdout);
    assert!(
        shown.contains("facts: ") && shown.contains("channel=\"cli\""),
        "{shown}"
    );
    let replay = repo.writ(&["verify", "--replay"]);
    common::assert_ok(&replay, &["verify", "--replay"]);
    assert!(
        common::text(&replay.stdout).contains("3 decisions re-decided the same, 0 differ"),
        "{}",
        common::text(&replay.stdout)
    );

    let cp = repo.path().join("checkpoint.json");
    common::assert_ok(
        &repo.writ(&["verify", "--checkpoint", cp.to_str().unwrap()]),
        &["verify"],
    );
    common::assert_ok(
        &repo.writ(&["verify", "--checkpoint", cp.to_str().unwrap()]),
        &["verify"],
    );
    // The index folder ignores itself.
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(
        !text(&status.stdout).contains(".writ"),
        "{}",
        text(&status.stdout)
    );
}

#[test]
fn approval_rechecks_and_forbidden_cannot_be_approved() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = repo();
    let (_, held) = propose(
        &repo,
        &edit("src/main.rs", "fn main() {}", "fn main() { }", &[cid]),
    );
    let id = held["id"].as_str().unwrap();
    // The tree moves on: the diff no longer applies, so approval is refused.
    repo.write("src/main.rs", "fn main() { todo!() }\n");
    let out = repo.writ(&["review", "approve", id, "--reason", "ok", "--as", "ana"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("re-check failed"),
        "{}",
        text(&out.stderr)
    );
    let (_, forbidden) = propose(&repo, &edit(".env", "SECRET=1", "SECRET=2", &[cid]));
    let fid = forbidden["id"].as_str().unwrap();
    let out = repo.writ(&[
        "review", "approve", fid, "--reason", "please", "--as", "ana",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("forbidden to approved"),
        "{}",
        text(&out.stderr)
    );
    for pid in [id, fid] {
        let chain = repo.writ_json(&["explain", pid]);
        let last = chain["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["kind"].as_str(), last["to"].as_str()),
            (Some("refused-transition"), Some("approved")),
            "{chain}"
        );
    }
    assert!(repo.writ_json(&["actions"]).as_array().unwrap().is_empty());
}

#[test]
fn tampering_is_caught_by_verify_with_its_sequence_number() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = repo();
    propose(
        &repo,
        &edit("src/main.rs", "fn main() {}", "fn main() { }", &[cid]),
    );
    let cp = repo.path().join("cp.json");
    common::assert_ok(
        &repo.writ(&["verify", "--checkpoint", cp.to_str().unwrap()]),
        &["verify"],
    );
    let conn = rusqlite::Connection::open(repo.path().join(".writ/ledger.sqlite")).unwrap();
    conn.execute_batch("DROP TRIGGER events_append_only_u; UPDATE events SET actor = 'human:mallory' WHERE seq = 2;").unwrap();
    drop(conn);
    let out = repo.writ(&["verify"]);
    assert_eq!(out.status.code(), Some(9));
    assert!(
        text(&out.stderr).contains("broken at event #2"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_broken_rule_file_gates_nothing_and_names_file_line() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = repo();
    repo.write(
        "rules/bad.toml",
        "[[rule]]\nid = \"x\"\neffect = \"allow\"\nwhy = \"y\"\nwhen = { pathz = [\"**\"] }\n",
    );
    let file = repo.path().join("p.json");
    std::fs::write(
        &file,
        edit("docs/guide.md", "# Guide", "# G", &[cid]).to_string(),
    )
    .unwrap();
    let out = repo.writ(&["propose", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(8));
    let err = text(&out.stderr);
    assert!(
        err.contains("rules/bad.toml:5:") && err.contains("unknown field `pathz`"),
        "{err}"
    );
    // Refused at load, before anything is recorded: no proposal waits on a
    // rule set that cannot decide it.
    let out = repo.writ(&["proposals", "--json"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stdout));
}

#[test]
fn always_allow_is_a_reviewed_rule_change_not_a_silent_allow_list() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = repo();
    let proposal = edit("src/main.rs", "fn main() {}", "fn main() { }", &[cid]);
    let (code, _) = propose(&repo, &proposal);
    assert_eq!(code, 10);
    let out = repo.writ(&["rules", "suggest", "P1", "--as", "ana", "--json"]);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    let suggested: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        suggested["decision"]["determining"][0]["id"],
        "hold-rule-changes"
    );
    // Nothing changed in the rules until a person approves and applies it.
    assert!(!repo.path().join("rules").exists());
    let (code, _) = propose(&repo, &proposal);
    assert_eq!(code, 10, "still held before approval");
    common::assert_ok(
        &repo.writ(&["review", "approve", "P2", "--reason", "fine", "--as", "ana"]),
        &["approve"],
    );
    common::assert_ok(&repo.writ(&["apply", "P2"]), &["apply"]);
    common::assert_ok(
        &repo.writ(&["rules", "check", "--rules", "rules"]),
        &["rules", "check"],
    );
    repo.commit_all();
    let (code, out) = propose(&repo, &proposal);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["decision"]["determining"][0]["id"], "allow-like-P1");
    // A relative --rules folder works too (it is resolved before comparing
    // the rule change's targets with it).
    // Suggesting again drafts and records nothing: the rules in force
    // already allow it.
    let out = repo.writ(&["rules", "suggest", "P1", "--rules", "rules", "--as", "ana"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the rules in force now already allow P1"),
        "{}",
        text(&out.stderr)
    );
    let listed = repo.writ_json(&["proposals"]);
    assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");
    // The built-in defaults came along: secrets are still forbidden.
    let (code, _) = propose(&repo, &edit(".env", "SECRET=1", "SECRET=2", &[cid]));
    assert_eq!(code, 11);
}

#[test]
fn a_rule_change_outside_the_rules_folder_or_breaking_them_is_refused() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, _) = repo();
    let outside = json!({"kind": "rule-change", "title": "t", "rationale": "r", "citations": [],
        "diff": "--- a/src/main.rs\n+++ b/src/main.rs\n@@ -1 +1 @@\n-fn main() {}\n+fn main() { }\n"});
    let (code, out) = propose(&repo, &outside);
    assert_eq!(code, 12, "{out}");
    assert!(
        out["reasons"]
            .to_string()
            .contains("may only touch *.toml files directly in `rules/`"),
        "{out}"
    );
    // With no rules folder yet, a change that does not carry the built-in
    // rules along would silently drop them.
    let dropping = json!({"kind": "rule-change", "title": "t", "rationale": "r", "citations": [],
        "diff": "--- /dev/null\n+++ b/rules/local.toml\n@@ -0,0 +1,5 @@\n+[[rule]]\n+id = \"x\"\n+effect = \"allow\"\n+why = \"y\"\n+when = {}\n"});
    let (code, out) = propose(&repo, &dropping);
    assert_eq!(code, 12, "{out}");
    assert!(
        out["reasons"]
            .to_string()
            .contains("would replace writ's built-in rules"),
        "{out}"
    );
    repo.write(
        "rules/default.toml",
        "[[rule]]\nid = \"h\"\neffect = \"hold\"\nwhy = \"w\"\nwhen = {}\n",
    );
    let broken = json!({"kind": "rule-change", "title": "t", "rationale": "r", "citations": [],
        "diff": "--- /dev/null\n+++ b/rules/local.toml\n@@ -0,0 +1,2 @@\n+[[rule]]\n+id = 3\n"});
    let (code, out) = propose(&repo, &broken);
    assert_eq!(code, 12, "{out}");
    assert!(
        out["reasons"]
            .to_string()
            .contains("the rules would not load after this change"),
        "{out}"
    );
}

#[test]
fn sigkill_during_proposals_leaves_every_proposal_in_a_defined_state() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = repo();
    let file = repo.path().join("p.json");
    // An edit the default rules allow from the command line, so a killed
    // intake could leave an allow without its action if the two were not
    // one transaction (a held edit could not show that).
    std::fs::write(
        &file,
        edit("docs/guide.md", "# Guide", "# The guide", &[cid]).to_string(),
    )
    .unwrap();
    // Start proposals and kill them at staggered moments, several at once.
    for round in 0..6u64 {
        let children: Vec<_> = (0..3)
            .map(|_| {
                common::writ_cmd(repo.path(), &["propose", "--file", file.to_str().unwrap()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(5 + round * 7));
        for mut c in children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    common::assert_ok(&repo.writ(&["verify"]), &["verify"]);
    let conn = rusqlite::Connection::open(repo.path().join(".writ/ledger.sqlite")).unwrap();
    // Every proposal has a state, and it is the target of its last transition.
    let orphans: i64 = conn
        .query_row("SELECT COUNT(*) FROM proposals p LEFT JOIN state s ON s.proposal_id = p.id WHERE s.state IS NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(orphans, 0);
    let mismatched: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM state s WHERE s.state != (SELECT to_state FROM events e WHERE e.proposal_id = s.proposal_id AND e.kind = 'transition' ORDER BY seq DESC LIMIT 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mismatched, 0);
    // A killed intake never leaves an allowed proposal without its action.
    let allowed_without_action: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM state s WHERE s.state IN ('allowed', 'approved')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(allowed_without_action, 0);
    let actions_without_allow: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM actions a WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = a.basis_seq AND e.to_state = 'allowed')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(actions_without_allow, 0);
    // And the ledger still works afterwards: the same edit is allowed and
    // recorded (the test is not vacuous), and any intake the kills left
    // `proposed` is gated with it.
    let (code, out) = propose(
        &repo,
        &edit("docs/guide.md", "# Guide", "# The guide", &[cid]),
    );
    assert_eq!(
        (code, out["state"].as_str()),
        (0, Some("recorded")),
        "{out}"
    );
    let pending: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM state WHERE state = 'proposed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        pending, 0,
        "interrupted intakes are re-gated by the next one"
    );
    let (code, _) = propose(
        &repo,
        &edit("src/main.rs", "fn main() {}", "fn main() { }", &[cid]),
    );
    assert_eq!(code, 10);
}

#[test]
fn concurrent_proposers_are_all_recorded() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // Regression: deferred ledger transactions made 7 of 8 concurrent
    // `writ propose` fail with "database is locked", losing the proposals.
    let (repo, cid) = repo();
    let file = repo.path().join("p.json");
    std::fs::write(
        &file,
        edit("src/main.rs", "fn main() {}", "fn main() { }", &[cid]).to_string(),
    )
    .unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            common::writ_cmd(repo.path(), &["propose", "--file", file.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    }
    let queue = repo.writ_json(&["review"]);
    assert_eq!(queue.as_array().unwrap().len(), 8);
    common::assert_ok(&repo.writ(&["verify"]), &["verify"]);
}
