//! `writ mcp` driven by the official MCP Inspector's CLI (npm
//! `@modelcontextprotocol/inspector`, pinned and installed by the test
//! command's set-up): its strict schema-portability check of every tool,
//! a search, a proposal and a resource read, each through the Inspector's
//! own client.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{text, Repo};
use serde_json::Value;
use std::process::{Command, Output};

/// The Inspector's CLI against `writ mcp` in `repo`.
fn inspector(repo: &Repo, args: &[&str]) -> Output {
    let bin = std::env::var_os("WRIT_MCP_INSPECTOR").unwrap_or_else(|| {
        panic!("WRIT_MCP_INSPECTOR is not set: scripts/setup.sh (run by scripts/test.sh with WRIT_BROWSER=1) installs the Inspector and sets it")
    });
    let catalog = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--cli").args(args);
    // The Inspector starts the server with a clean environment: pass what
    // writ needs to find its models and the test's key folder.
    for var in ["WRIT_KEY_DIR", "WRIT_MODELS", "HOME"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.arg("-e").arg(format!("{var}={}", v.to_string_lossy()));
        }
    }
    cmd.arg(env!("CARGO_BIN_EXE_writ"))
        .args(["mcp", "--repo"])
        .arg(repo.path())
        .env("MCP_CATALOG_PATH", catalog.path().join("mcp.json"))
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "inspector failed ({:?}):\n{}\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

#[test]
fn the_inspector_lists_searches_proposes_and_reads() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "src/shop.py",
        "def total(prices):\n    \"\"\"Sum of prices.\"\"\"\n    return sum(prices)\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);

    // Every tool schema passes the Inspector's strict portability check
    // (exit 6 and the problems on stderr if one does not).
    let out = inspector(&repo, &["--strict", "--method", "tools/list"]);
    let tools = json_of(&out);
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["search", "ask", "propose", "explain", "status", "reindex"]
    );

    let out = inspector(
        &repo,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "search",
            "--tool-arg",
            "query=sum of prices",
            "--tool-arg",
            "k=1",
        ],
    );
    let r = json_of(&out);
    assert_eq!(r["isError"], false, "{r}");
    let answer = &r["structuredContent"]["result"];
    assert_eq!(answer["generation"], 1, "{r}");
    assert_eq!(answer["hits"][0]["path"], "src/shop.py", "{r}");
    assert_eq!(answer["hits"][0]["stale"], false, "{r}");
    let chunk = answer["hits"][0]["chunk_id"].as_i64().unwrap();

    let proposal = format!(
        r#"proposal={{"kind":"note","title":"what total does","rationale":"read it","citations":[{chunk}],"text":"total sums prices"}}"#
    );
    let out = inspector(
        &repo,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "propose",
            "--tool-arg",
            &proposal,
        ],
    );
    let r = json_of(&out);
    assert_eq!(r["isError"], false, "{r}");
    let intake = &r["structuredContent"]["result"];
    assert!(intake["id"].as_str().unwrap().starts_with('P'), "{r}");
    let rows = repo.writ_json(&["proposals"]);
    assert_eq!(rows[0]["source"], "external:mcp/inspector-cli", "{rows}");

    let out = inspector(
        &repo,
        &[
            "--method",
            "resources/read",
            "--uri",
            "writ://file/src/shop.py",
        ],
    );
    let r = json_of(&out);
    assert!(
        r["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("def total"),
        "{r}"
    );
}
