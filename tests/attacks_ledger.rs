//! Attacks on the ledger and on who decides (issue 10, items 1, 2, 4, 9 and
//! 10), end to end through the real `writ` binary on temp git repositories:
//! a forged state cache and action row (an attacker with write access to
//! `.writ/ledger.sqlite`), a rewritten proposal body, an approval after the
//! rules changed, read-only commands creating state, an MCP client calling
//! itself "human", and one real allowed proposal so that counting tests
//! elsewhere cannot pass vacuously.
//!
//! The contract: what `apply` and `review approve` act on is what the hash
//! chain says, not the cache tables or an unbound body; `writ verify` exits 9
//! naming a proposal whose cache or body disagrees with its events; an
//! approval re-runs the rules of the moment and is refused (and the refusal
//! recorded, naming the rule) when they forbid; `verify`, `review` and
//! `proposals` without an index exit 6 and create nothing; MCP proposals are
//! recorded `via` `writ mcp` and a client's self-chosen name decides nothing.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{edit_proposal, line_diff, propose_in, read, text, Repo};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A committed repository with a doc, a source file and a secret, indexed;
/// with the chunk id of the doc to cite.
fn indexed() -> (Repo, i64) {
    let repo = Repo::new();
    repo.write("docs/guide.md", "# Guide\n\nRun the tool.\n");
    repo.write("src/main.rs", "fn main() {}\n");
    repo.write("src/x.rs", "pub fn x() {}\n");
    repo.write(".env", "SECRET=1\n");
    repo.commit_all();
    repo.writ_json(&["index"]);
    let cid = common::chunk_id(&repo, "guide run the tool");
    (repo, cid)
}

fn ledger(repo: &Repo) -> rusqlite::Connection {
    rusqlite::Connection::open(repo.path().join(".writ/ledger.sqlite")).unwrap()
}

/// Runs `sql` as an attacker with write access: when a trigger refuses it,
/// drops every trigger on `table` and runs it again. A write that still
/// cannot happen (the table became a view, say) is reported and skipped:
/// the attack is then impossible, and the test goes on to check the rest.
fn force(conn: &rusqlite::Connection, table: &str, sql: &str) {
    if conn.execute_batch(sql).is_ok() {
        return;
    }
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1")
        .unwrap()
        .query_map([table], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in triggers {
        conn.execute_batch(&format!("DROP TRIGGER \"{t}\""))
            .unwrap();
    }
    if let Err(e) = conn.execute_batch(sql) {
        eprintln!("the forgery `{sql}` is impossible now ({e}); going on");
    }
}

/// Turns `pid` into a recorded action `A1` in the cache tables only.
fn forge_action(repo: &Repo, pid: &str) {
    let conn = ledger(repo);
    let last: i64 = conn
        .query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    force(
        &conn,
        "state",
        &format!("UPDATE state SET state = 'recorded' WHERE proposal_id = '{pid}'"),
    );
    force(
        &conn,
        "actions",
        &format!(
            "INSERT INTO actions (id, proposal_id, seq, basis_seq) VALUES ('A1', '{pid}', {last}, {last})"
        ),
    );
}

/// `writ verify` must exit 9 and name `pid`.
fn assert_verify_names(repo: &Repo, pid: &str) {
    let out = repo.writ(&["verify"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(9),
        "verify should find the forged ledger: {said}"
    );
    assert!(said.contains(pid), "verify should name {pid}: {said}");
}

#[test]
fn a_forged_state_cache_does_not_make_a_held_edit_applicable() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed();
    let (code, out, err) = propose_in(
        repo.path(),
        &edit_proposal(
            "src",
            &line_diff("src/main.rs", 1, "fn main() {}", "fn main() { backdoor() }"),
            &[cid],
        ),
    );
    assert_eq!(code, 10, "precondition: held: {out} {err}");
    forge_action(&repo, "P1");
    let applied = repo.writ(&["apply", "A1"]);
    assert_eq!(
        read(&repo, "src/main.rs"),
        "fn main() {}\n",
        "a held edit was applied on the strength of a forged state row"
    );
    assert!(!applied.status.success());
    assert_verify_names(&repo, "P1");
}

#[test]
fn a_forged_state_cache_does_not_make_a_forbidden_edit_applicable() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed();
    let (code, out, err) = propose_in(
        repo.path(),
        &edit_proposal(
            "env",
            &line_diff(".env", 1, "SECRET=1", "SECRET=attacker"),
            &[cid],
        ),
    );
    assert_eq!(code, 11, "precondition: forbidden: {out} {err}");
    forge_action(&repo, "P1");
    let applied = repo.writ(&["apply", "A1"]);
    assert_eq!(
        read(&repo, ".env"),
        "SECRET=1\n",
        "a forbidden edit was applied on the strength of a forged state row"
    );
    assert!(!applied.status.success());
    assert_verify_names(&repo, "P1");
}

#[test]
fn a_rewritten_proposal_body_is_never_applied_or_approved() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed();
    let doc = |new: &str, citations: &[i64]| {
        edit_proposal(
            "clarify",
            &line_diff("docs/guide.md", 3, "Run the tool.", new),
            citations,
        )
    };
    let (code, _, err) = propose_in(repo.path(), &doc("Run the tool on a path.", &[cid]));
    assert_eq!(code, 0, "precondition: P1 allowed: {err}");
    // Ungrounded: held.
    let (code, _, err) = propose_in(repo.path(), &doc("Run it.", &[]));
    assert_eq!(code, 10, "precondition: P2 held: {err}");
    let evil = edit_proposal(
        "clarify",
        &line_diff("src/main.rs", 1, "fn main() {}", "fn main() { backdoor() }"),
        &[cid],
    )
    .to_string()
    .replace('\'', "''");
    let conn = ledger(&repo);
    force(
        &conn,
        "proposals",
        &format!("UPDATE proposals SET body = '{evil}' WHERE id IN ('P1', 'P2')"),
    );
    drop(conn);
    let out = repo.writ(&["verify"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    let applied = repo.writ(&["apply", "A1"]);
    let approved = repo.writ(&[
        "review", "approve", "P2", "--reason", "ok", "--as", "tester",
    ]);
    let _ = repo.writ(&["apply", "P2"]);
    assert_eq!(
        read(&repo, "src/main.rs"),
        "fn main() {}\n",
        "a rewritten body reached the working tree"
    );
    assert!(
        !applied.status.success(),
        "apply of A1 should refuse a body that differs from its record"
    );
    assert!(
        !approved.status.success(),
        "approving P2 should refuse a body that differs from its record: {}",
        text(&approved.stdout)
    );
    assert_eq!(read(&repo, "docs/guide.md"), "# Guide\n\nRun the tool.\n");
}

#[test]
fn approval_reruns_the_rules_of_the_moment() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed();
    let (code, out, err) = propose_in(
        repo.path(),
        &edit_proposal(
            "x",
            &line_diff("src/x.rs", 1, "pub fn x() {}", "pub fn x() { backdoor() }"),
            &[cid],
        ),
    );
    assert_eq!(code, 10, "precondition: held: {out} {err}");
    // The rules change while it waits: src/x.rs is now forbidden.
    repo.write("rules/default.toml", include_str!("../rules/default.toml"));
    repo.write(
        "rules/local.toml",
        "[[rule]]\nid = \"forbid-x-rs\"\neffect = \"forbid\"\nwhy = \"x.rs is frozen\"\nwhen = { kind = [\"edit\"], paths_any = [\"src/x.rs\"] }\n",
    );
    repo.commit_all();
    let approved = repo.writ(&[
        "review", "approve", "P1", "--reason", "ok", "--as", "tester",
    ]);
    let _ = repo.writ(&["apply", "P1"]);
    assert_eq!(
        read(&repo, "src/x.rs"),
        "pub fn x() {}\n",
        "an edit the current rules forbid was approved and applied"
    );
    assert!(
        !approved.status.success(),
        "approval must re-run the rules: {}",
        text(&approved.stdout)
    );
    let chain = repo.writ_json(&["explain", "P1"]);
    // The refused approval is recorded (the apply attempted after it is
    // refused and recorded too, as the last event).
    let last = chain["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "refused-transition" && e["to"] == "approved")
        .unwrap_or_else(|| panic!("no refused approval in {chain}"))
        .clone();
    assert!(
        last.to_string().contains("forbid-x-rs"),
        "the refusal should name the rule: {last}"
    );
    assert!(repo.writ_json(&["actions"]).as_array().unwrap().is_empty());
}

#[test]
fn read_only_commands_create_no_state() {
    let repo = Repo::new();
    let mut problems = Vec::new();
    for args in [&["verify"][..], &["review"][..], &["proposals"][..]] {
        let out = repo.writ(args);
        if out.status.code() != Some(6) {
            problems.push(format!(
                "writ {args:?} exited {:?}, not 6 (no index yet): {}{}",
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr)
            ));
        }
        if repo.path().join(".writ").exists() {
            problems.push(format!("writ {args:?} created .writ/"));
            std::fs::remove_dir_all(repo.path().join(".writ")).unwrap();
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A scripted MCP client of `writ mcp` on stdio.
struct Mcp {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Mcp {
    fn start(repo: &Repo) -> Mcp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_writ"))
            .arg("mcp")
            .current_dir(repo.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Mcp {
            child,
            stdin,
            stdout,
            next: 1,
        }
    }

    fn send(&mut self, msg: &Value) {
        writeln!(self.stdin, "{msg}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_mcp_client_calling_itself_human_is_still_an_agent() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = Repo::new();
    repo.write("README.md", "# shop\n\nAdds up prices.\n");
    repo.write(
        "src/shop.py",
        "def total(prices):\n    return sum(prices)\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    let cid = common::chunk_id(&repo, "shop adds up prices");
    let mut c = Mcp::start(&repo);
    let init = c.call(
        "initialize",
        json!({ "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "human", "version": "1" } }),
    );
    assert!(init["result"].is_object(), "{init}");
    c.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
    let proposal = edit_proposal(
        "clarify",
        &line_diff(
            "README.md",
            3,
            "Adds up prices.",
            "Adds up a list of prices.",
        ),
        &[cid],
    );
    let reply = c.call(
        "tools/call",
        json!({ "name": "propose", "arguments": { "proposal": proposal } }),
    );
    drop(c);
    let intake: Value = serde_json::from_str(
        reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{reply}")),
    )
    .unwrap();
    let id = intake["id"].as_str().unwrap_or_else(|| panic!("{intake}"));
    let chain = repo.writ_json(&["explain", id]);
    let source = chain["proposal"]["source"].as_str().unwrap().to_string();
    let mut problems = Vec::new();
    if source.starts_with("human") {
        problems.push(format!(
            "a client's self-chosen name became a human source: {source}"
        ));
    }
    if chain["provenance"]["via"] != "writ mcp" {
        problems.push(format!(
            "MCP proposals are recorded via `writ mcp`, not {}",
            chain["provenance"]["via"]
        ));
    }
    if intake["state"] != "held" {
        problems.push(format!(
            "an MCP agent's edit, whatever it calls itself, waits for a person; it is {}",
            intake["state"]
        ));
    }
    let actions = repo.writ_json(&["actions"]);
    if !actions.as_array().unwrap().is_empty() {
        problems.push(format!("an action was recorded: {actions}"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(read(&repo, "README.md"), "# shop\n\nAdds up prices.\n");
}

#[test]
fn an_allowed_doc_edit_is_recorded_as_an_action() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // Guards the tests that count allowed proposals: this one really is.
    let (repo, cid) = indexed();
    let (code, out, err) = propose_in(
        repo.path(),
        &edit_proposal(
            "clarify",
            &line_diff(
                "docs/guide.md",
                3,
                "Run the tool.",
                "Run the tool on a path.",
            ),
            &[cid],
        ),
    );
    assert_eq!(
        (code, out["state"].as_str()),
        (0, Some("recorded")),
        "{out} {err}"
    );
    assert_eq!(
        out["decision"]["determining"][0]["id"],
        "allow-small-grounded-docs-and-tests"
    );
    let actions = repo.writ_json(&["actions"]);
    assert_eq!(actions[0]["action"], "A1", "{actions}");
    assert_eq!(actions[0]["proposal"], out["id"], "{actions}");
    common::assert_ok(&repo.writ(&["verify"]), &["verify"]);
    common::assert_ok(&repo.writ(&["apply", "A1"]), &["apply"]);
    assert_eq!(
        read(&repo, "docs/guide.md"),
        "# Guide\n\nRun the tool on a path.\n"
    );
}
