//! `writ mcp` with a scripted JSON-RPC client over stdio: initialize, a
//! call of every tool, resources, and refusals.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::Repo;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Client {
    fn start(repo: &Repo) -> Client {
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
        Client {
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

    /// A request and its response (same id).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], id, "{v}");
        v
    }

    /// A tool call's result payload (the JSON inside its text content).
    fn tool(&mut self, name: &str, arguments: Value) -> (bool, Value) {
        let v = self.call(
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        );
        let r = &v["result"];
        let text = r["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"));
        let payload = serde_json::from_str(text).unwrap_or(Value::String(text.to_string()));
        (r["isError"] == true, payload)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_agent_can_search_ask_propose_and_explain_but_only_propose() {
    let repo = Repo::new();
    repo.write(
        "src/shop.py",
        "def total(prices):\n    \"\"\"Sum of prices.\"\"\"\n    return sum(prices)\n",
    );
    repo.write("README.md", "# shop\n\nAdds up prices.\n");
    repo.commit_all();
    repo.writ_json(&["index"]);
    let mut c = Client::start(&repo);

    let init = c.call(
        "initialize",
        json!({ "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "test-agent", "version": "1" } }),
    );
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "writ");
    c.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
    let tools = c.call("tools/list", json!({}));
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["search", "ask", "propose", "explain", "status"]);

    let (err, status) = c.tool("status", json!({}));
    assert!(!err);
    assert_eq!(status["files"], 2);
    let (err, hits) = c.tool("search", json!({ "query": "sum of prices", "k": 1 }));
    assert!(!err);
    assert_eq!(hits[0]["path"], "src/shop.py");
    let chunk = hits[0]["chunk_id"].as_i64().unwrap();

    // A proposal from the agent: gated and recorded under its name.
    let proposal = json!({ "kind": "note", "title": "explain total", "rationale": "r", "citations": [chunk], "text": "total sums prices" });
    let (err, intake) = c.tool("propose", json!({ "proposal": proposal }));
    assert!(!err, "{intake}");
    let id = intake["id"].as_str().unwrap().to_string();
    assert_eq!(intake["state"], "held");
    // One that tries to leave the repository is refused and recorded.
    let escape = json!({ "kind": "edit", "title": "x", "rationale": "r", "citations": [chunk],
        "diff": "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n" });
    let (_, refused) = c.tool("propose", json!({ "proposal": escape }));
    assert_eq!(refused["state"], "refused", "{refused}");
    assert!(refused["reasons"]
        .to_string()
        .contains("leaves the repository"));

    let (err, chain) = c.tool("explain", json!({ "id": id }));
    assert!(!err);
    assert_eq!(chain["proposal"]["source"], "external:mcp/test-agent");

    let (err, answer) = c.tool("ask", json!({ "question": "How is the total computed?", "k": 2, "max_proposals": 1, "max_tokens": 200 }));
    assert!(!err, "{answer}");
    assert!(!answer.as_array().unwrap().is_empty());
    assert!(answer[0]["result"]["id"].is_string());

    // Resources: indexed files only, nothing outside.
    let list = c.call("resources/list", json!({}));
    let uris: Vec<&str> = list["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, ["writ://file/README.md", "writ://file/src/shop.py"]);
    let read = c.call(
        "resources/read",
        json!({ "uri": "writ://file/src/shop.py" }),
    );
    assert!(read["result"]["contents"][0]["text"]
        .as_str()
        .unwrap()
        .contains("def total"));
    for uri in [
        "writ://file/../../etc/passwd",
        "file:///etc/passwd",
        "writ://file/.git/config",
    ] {
        let r = c.call("resources/read", json!({ "uri": uri }));
        assert_eq!(r["error"]["code"], -32602, "{uri}: {r}");
    }
    assert_eq!(c.call("no/such", json!({}))["error"]["code"], -32601);
    assert_eq!(
        c.call("tools/call", json!({ "name": "apply", "arguments": {} }))["error"]["code"],
        -32602
    );

    drop(c);
    // Nothing was applied: no file changed, the ledger verifies.
    let diff = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&diff.stdout).trim(), "");
    assert_eq!(repo.writ(&["verify"]).status.code(), Some(0));
}

#[test]
fn a_resource_swapped_for_a_link_is_never_read_through_it() {
    let repo = Repo::new();
    repo.write("README.md", "# shop\n\nAdds up prices.\n");
    repo.write("secret.env", "TOKEN=hunter2\n");
    repo.write(".gitignore", "secret.env\n");
    repo.commit_all();
    repo.writ_json(&["index"]);
    // After indexing, the indexed file becomes a link to a secret.
    repo.remove("README.md");
    std::os::unix::fs::symlink("secret.env", repo.path().join("README.md")).unwrap();
    let mut c = Client::start(&repo);
    c.call(
        "initialize",
        json!({ "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }),
    );
    let r = c.call("resources/read", json!({ "uri": "writ://file/README.md" }));
    assert!(r["error"].is_object(), "{r}");
    assert!(!r.to_string().contains("hunter2"), "{r}");
}
