//! End to end with the real binary and the real embedding model: an
//! agent's edit over `writ mcp` is held by `hold-agent-edits`; `writ rules
//! suggest` drafts an exception to that hold and an allow rule; once a
//! person approves and applies the draft, the same edit is allowed and any
//! other is still held. Also: `writ ask` prints each proposal's whole text,
//! and a repository's `writ.toml` tunes `ask` and `search`. Slow tier.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{spawn_with_stdin, text, wait_bounded, Repo};
use serde_json::{json, Value};
use std::time::Duration;

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "docs/guide.md",
        "# Guide\n\nThe cart adds prices.\nDiscounts apply last.\n",
    );
    repo.write(
        "src/cart.py",
        "def total(items):\n    \"\"\"The price of everything.\"\"\"\n    return sum(p for p in items)\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    repo
}

/// Each proposal sent by an MCP client in one `writ mcp` session: the
/// intake each tool call answered.
fn over_mcp(repo: &Repo, proposals: &[Value]) -> Vec<Value> {
    let mut lines = vec![
        json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": { "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "agent", "version": "1" } } }),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    ];
    for (n, p) in proposals.iter().enumerate() {
        lines.push(json!({ "jsonrpc": "2.0", "id": n + 1, "method": "tools/call", "params": { "name": "propose", "arguments": { "proposal": p } } }));
    }
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let child = spawn_with_stdin(repo.path(), &["mcp"], &input);
    let out = wait_bounded(child, Duration::from_secs(300)).expect("writ mcp finishes");
    let replies: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (1..=proposals.len())
        .map(|n| {
            let r = replies
                .iter()
                .find(|r| r["id"] == n)
                .unwrap_or_else(|| panic!("no reply {n}: {replies:?} {}", text(&out.stderr)));
            serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
        })
        .collect()
}

fn guide_edit(chunk: i64, new: &str) -> Value {
    json!({
        "kind": "edit", "title": "clarify the guide", "rationale": "r", "citations": [chunk],
        "diff": format!("--- a/docs/guide.md\n+++ b/docs/guide.md\n@@ -4 +4 @@\n-Discounts apply last.\n+{new}\n"),
    })
}

#[test]
fn a_drafted_exception_lets_the_same_agent_edit_through_and_nothing_else() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let chunk = common::chunk_id(&repo, "discounts apply last");
    let edit = guide_edit(chunk, "Discounts apply after tax.");
    let first = over_mcp(&repo, std::slice::from_ref(&edit));
    assert_eq!(first[0]["state"], "held", "{first:?}");
    let p1 = first[0]["id"].as_str().unwrap();
    assert_eq!(
        first[0]["decision"]["determining"][0]["id"],
        "hold-agent-edits"
    );

    let out = repo.writ(&["rules", "suggest", p1, "--as", "ana"]);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("[[exception]]"), "{shown}");
    assert!(shown.contains("rule = \"hold-agent-edits\""), "{shown}");
    let p2 = shown.split_whitespace().next().unwrap().to_string();
    let out = repo.writ(&[
        "review",
        "approve",
        &p2,
        "--reason",
        "the guide is fine",
        "--as",
        "ana",
    ]);
    common::assert_ok(&out, &["review", "approve"]);
    let out = repo.writ(&["apply", &p2]);
    common::assert_ok(&out, &["apply"]);
    repo.commit_all();
    let check = repo.writ(&["rules", "check"]);
    assert!(
        text(&check.stdout).contains("and 1 exception ok"),
        "{}",
        text(&check.stdout)
    );

    let again = over_mcp(
        &repo,
        &[
            edit,
            json!({
                "kind": "edit", "title": "a longer guide", "rationale": "r", "citations": [chunk],
                "diff": "--- a/docs/guide.md\n+++ b/docs/guide.md\n@@ -4 +4,2 @@\n-Discounts apply last.\n+Discounts apply after tax.\n+Shipping is free.\n",
            }),
        ],
    );
    assert_eq!(again[0]["state"], "recorded", "{again:?}");
    assert_eq!(
        again[0]["decision"]["excepted"][0]["rule"],
        "hold-agent-edits"
    );
    assert_eq!(again[1]["state"], "held", "{again:?}");
    assert_eq!(
        again[1]["decision"]["determining"][0]["id"],
        "hold-agent-edits"
    );
    assert!(repo.writ(&["verify", "--replay"]).status.success());
}

#[test]
fn ask_prints_each_proposals_whole_text_and_reads_the_repository_file() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    repo.write(
        "writ.toml",
        "[ask]\nk = 2\nmax_proposals = 1\nmax_tokens = 300\n[search]\nk = 1\n",
    );
    let hits = repo.search_hits(&["search", "price of everything"]);
    assert_eq!(
        hits.as_array().unwrap().len(),
        1,
        "search.k from writ.toml: {hits}"
    );
    let out = repo.writ(&["ask", "How is the total computed?"]);
    let shown = text(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 10 | 11 | 12)),
        "{}",
        text(&out.stderr)
    );
    let listed = repo.writ_json(&["proposals"]);
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 1, "max_proposals from writ.toml: {listed}");
    let id = rows[0]["id"].as_str().unwrap();
    let show = repo.writ_json(&["show", id]);
    let hits = show["provenance"]["retrieval"]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "ask.k from writ.toml: {show}");
    let body: Value = serde_json::from_str(show["body"].as_str().unwrap()).unwrap_or(Value::Null);
    let whole = |s: &str| {
        for line in s.lines().filter(|l| !l.trim().is_empty()) {
            let line = line.trim_end();
            assert!(
                shown.contains(&format!("    {line}")),
                "`{line}` not shown:\n{shown}"
            );
        }
    };
    if let Some(t) = body["text"].as_str() {
        whole(t);
    } else if let Some(argv) = body["argv"].as_array() {
        assert!(shown.contains("command (never run by writ):"), "{shown}");
        for a in argv {
            assert!(shown.contains(a.as_str().unwrap()), "{shown}");
        }
    } else if let Some(d) = body["diff"].as_str() {
        for line in d
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        {
            assert!(shown.contains(line), "`{line}` not shown:\n{shown}");
        }
    } else {
        // Not a proposal: what the model wrote is shown as written.
        assert!(shown.contains("as written:"), "{shown}");
    }
}
