//! `writ mcp` with a scripted JSON-RPC client over stdio: initialize, a
//! call of every tool, resources, and refusals; the spec's rules on
//! framing, lifecycle, schemas and errors; and the official Python SDK as a
//! real client.

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
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

struct Client {
    child: Child,
    stdin: ChildStdin,
    /// The server's lines, read on a thread so that a missing answer fails
    /// the test instead of hanging it.
    lines: Receiver<String>,
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
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            lines,
            next: 1,
        }
    }

    fn send(&mut self, msg: &Value) {
        writeln!(self.stdin, "{msg}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Started and initialized at `version`.
    fn ready(repo: &Repo, version: &str) -> Client {
        let mut c = Client::start(repo);
        let init = c.call(
            "initialize",
            json!({ "protocolVersion": version, "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }),
        );
        assert_eq!(init["result"]["protocolVersion"], version, "{init}");
        c.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
        c
    }

    /// The next message from the server.
    fn reply(&mut self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("no answer from writ mcp: {e}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// `text` sent as one line, and the server's answer to it.
    fn raw(&mut self, text: &str) -> Value {
        writeln!(self.stdin, "{text}").unwrap();
        self.stdin.flush().unwrap();
        self.reply()
    }

    /// A request and its response (same id).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let v = self.reply();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], id, "{v}");
        v
    }

    /// The tool definitions, by name.
    fn tools(&mut self) -> Vec<Value> {
        let v = self.call("tools/list", json!({}));
        v["result"]["tools"].as_array().unwrap().clone()
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
    if writ_testkit::skip_slow_test() {
        return;
    }
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
    assert_eq!(
        names,
        ["search", "ask", "propose", "explain", "status", "reindex"]
    );

    let (err, status) = c.tool("status", json!({}));
    assert!(!err);
    assert_eq!(status["files"], 2);
    let (err, answer) = c.tool("search", json!({ "query": "sum of prices", "k": 1 }));
    assert!(!err);
    let hits = &answer["hits"];
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
        assert_eq!(r["error"]["code"], -32002, "{uri}: {r}");
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
    if writ_testkit::skip_slow_test() {
        return;
    }
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

/// A small indexed repository.
fn shop() -> Repo {
    let repo = Repo::new();
    repo.write(
        "src/shop.py",
        "def total(prices):\n    \"\"\"Sum of prices.\"\"\"\n    return sum(prices)\n",
    );
    repo.write("README.md", "# shop\n\nAdds up prices.\n");
    repo.commit_all();
    repo.writ_json(&["index"]);
    repo
}

/// A repository with nothing indexed: enough for framing and lifecycle.
fn bare() -> Repo {
    let repo = Repo::new();
    repo.write("README.md", "# shop\n");
    repo.commit_all();
    repo
}

/// Keywords Gemini and other schema-driven clients refuse in a tool schema.
const REFUSED_KEYWORDS: &[&str] = &[
    "oneOf",
    "anyOf",
    "allOf",
    "const",
    "$schema",
    "$id",
    "$ref",
    "additionalProperties",
];

/// Every schema node under `schema` (itself, its properties, its items).
fn schema_nodes<'a>(path: String, schema: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    out.push((path.clone(), schema));
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            schema_nodes(format!("{path}.{name}"), prop, out);
        }
    }
    if schema.get("items").is_some() {
        schema_nodes(format!("{path}[]"), &schema["items"], out);
    }
}

#[test]
fn tool_schemas_are_flat_typed_objects_every_client_accepts() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = bare();
    let mut c = Client::ready(&repo, "2025-06-18");
    for tool in c.tools() {
        let name = tool["name"].as_str().unwrap().to_string();
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{name}: {schema}");
        assert!(schema["properties"].is_object(), "{name}: {schema}");
        let mut nodes = Vec::new();
        schema_nodes(name.clone(), schema, &mut nodes);
        for (path, node) in nodes {
            assert!(node["type"].is_string(), "{path} has no type: {node}");
            for keyword in REFUSED_KEYWORDS {
                assert!(
                    node.get(*keyword).is_none(),
                    "{path} has `{keyword}`: {node}"
                );
            }
            for required in node["required"].as_array().into_iter().flatten() {
                let r = required.as_str().unwrap();
                assert!(
                    node["properties"].get(r).is_some(),
                    "{path}: required `{r}` undeclared"
                );
            }
        }
    }
}

#[test]
fn the_proposal_property_is_an_object_and_a_string_is_refused_to_the_model() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = bare();
    let mut c = Client::ready(&repo, "2025-06-18");
    let tools = c.tools();
    let propose = tools.iter().find(|t| t["name"] == "propose").unwrap();
    let proposal = &propose["inputSchema"]["properties"]["proposal"];
    assert_eq!(proposal["type"], "object", "{proposal}");
    assert_eq!(
        proposal["properties"]["kind"]["enum"],
        json!(["edit", "note", "rule-change", "command"])
    );
    for field in ["title", "rationale", "citations", "diff", "text", "argv"] {
        assert!(
            proposal["properties"][field]["type"].is_string(),
            "{field}: {proposal}"
        );
    }
    assert_eq!(
        proposal["required"],
        json!(["kind", "title", "rationale", "citations"])
    );
    // A client that still sends it as a string learns why, as a tool error.
    let as_string =
        json!({ "kind": "note", "title": "t", "rationale": "r", "citations": [1], "text": "x" })
            .to_string();
    let (err, text) = c.tool("propose", json!({ "proposal": as_string }));
    assert!(err);
    assert!(text.as_str().unwrap().contains("JSON object"), "{text}");
}

#[test]
fn tools_are_annotated_with_what_they_may_do() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = bare();
    let mut c = Client::ready(&repo, "2025-06-18");
    for tool in c.tools() {
        let a = &tool["annotations"];
        let name = tool["name"].as_str().unwrap();
        assert_eq!(a["openWorldHint"], false, "{name}: {a}");
        match name {
            "search" | "status" | "explain" => assert_eq!(a["readOnlyHint"], true, "{name}: {a}"),
            _ => {
                assert_eq!(a["readOnlyHint"], false, "{name}: {a}");
                assert_eq!(a["destructiveHint"], false, "{name}: {a}");
            }
        }
    }
}

#[test]
fn a_batch_is_one_invalid_request_from_2025_06_18_on_and_answered_in_2025_03_26() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = bare();
    let ping = |id: u64| json!({ "jsonrpc": "2.0", "id": id, "method": "ping" });
    for version in ["2025-06-18", "2025-11-25"] {
        let mut c = Client::ready(&repo, version);
        let r = c.raw(&json!([ping(10), ping(11)]).to_string());
        assert!(r.is_object(), "{version}: {r}");
        assert_eq!(r["error"]["code"], -32600, "{version}: {r}");
        assert_eq!(r["id"], Value::Null, "{version}: {r}");
    }
    let mut c = Client::ready(&repo, "2025-03-26");
    let batch = json!([ping(10), { "jsonrpc": "2.0", "method": "notifications/cancelled" }, ping(11),
        { "jsonrpc": "2.0", "id": 12, "method": "initialize", "params": {} }]);
    let r = c.raw(&batch.to_string());
    let replies = r.as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(replies.len(), 3, "{r}");
    assert_eq!(
        replies[0],
        json!({ "jsonrpc": "2.0", "id": 10, "result": {} })
    );
    assert_eq!(replies[1]["id"], 11);
    assert_eq!(
        replies[2]["error"]["code"], -32600,
        "initialize in a batch: {r}"
    );
    assert_eq!(c.raw("[]")["error"]["code"], -32600);
}

#[test]
fn a_message_without_method_is_an_invalid_request() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = bare();
    let mut c = Client::ready(&repo, "2025-06-18");
    let r = c.raw(r#"{"jsonrpc":"2.0","id":7,"params":{}}"#);
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert_eq!(r["id"], 7, "{r}");
    let r = c.raw(r#"{"jsonrpc":"2.0"}"#);
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert_eq!(r["id"], Value::Null, "{r}");
    let r = c.raw(r#"{"id":8,"method":"ping"}"#);
    assert_eq!(r["error"]["code"], -32600, "no jsonrpc: {r}");
}

#[test]
fn a_null_id_is_an_invalid_request_not_a_request() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = bare();
    let mut c = Client::ready(&repo, "2025-06-18");
    let r = c.raw(r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#);
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert_eq!(r["id"], Value::Null, "{r}");
    assert!(r.get("result").is_none(), "{r}");
    // A notification (no id at all) is not answered: the next line is the ping's.
    c.send(&json!({ "jsonrpc": "2.0", "method": "tools/list" }));
    assert_eq!(c.call("ping", json!({}))["result"], json!({}));
}

#[test]
fn before_initialize_only_initialize_and_ping_are_served() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = bare();
    let mut c = Client::start(&repo);
    for method in ["tools/list", "resources/list", "resources/templates/list"] {
        let r = c.call(method, json!({}));
        assert_eq!(r["error"]["code"], -32600, "{method}: {r}");
    }
    let r = c.call("tools/call", json!({ "name": "status", "arguments": {} }));
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert_eq!(c.call("ping", json!({}))["result"], json!({}));
    // A method writ does not have is not found, initialized or not (the SDK's
    // `server/discover` probe then falls back to `initialize`).
    assert_eq!(
        c.call("server/discover", json!({}))["error"]["code"],
        -32601
    );
    let init = c.call("initialize", json!({ "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }));
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert!(c.call("tools/list", json!({}))["result"]["tools"].is_array());
    let again = c.call(
        "initialize",
        json!({ "protocolVersion": "2025-06-18", "capabilities": {} }),
    );
    assert_eq!(again["error"]["code"], -32600, "{again}");
}

#[test]
fn the_protocol_version_is_the_clients_when_supported_else_the_latest() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = bare();
    for (asked, answered) in [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let mut c = Client::start(&repo);
        let init = c.call("initialize", json!({ "protocolVersion": asked, "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }));
        assert_eq!(
            init["result"]["protocolVersion"], answered,
            "{asked}: {init}"
        );
    }
}

#[test]
fn an_unknown_resource_is_resource_not_found() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = shop();
    let mut c = Client::ready(&repo, "2025-06-18");
    for uri in [
        "writ://file/nope.py",
        "file:///etc/passwd",
        "writ://file/../../etc/passwd",
    ] {
        let r = c.call("resources/read", json!({ "uri": uri }));
        assert_eq!(r["error"]["code"], -32002, "{uri}: {r}");
        assert_eq!(r["error"]["data"]["uri"], uri, "{r}");
    }
    // A read without a uri is a malformed request, not a missing resource.
    assert_eq!(c.call("resources/read", json!({}))["error"]["code"], -32602);
}

#[test]
fn resource_templates_name_the_indexed_files() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = shop();
    let mut c = Client::ready(&repo, "2025-06-18");
    let r = c.call("resources/templates/list", json!({}));
    let templates = r["result"]["resourceTemplates"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(templates.len(), 1, "{r}");
    assert_eq!(templates[0]["uriTemplate"], "writ://file/{path}");
    assert!(templates[0]["name"].is_string());
    // The template expanded by a strict RFC 6570 client encodes `/`.
    let read = c.call(
        "resources/read",
        json!({ "uri": "writ://file/src%2Fshop.py" }),
    );
    assert!(read["result"]["contents"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{read}"))
        .contains("def total"));
}

#[test]
fn inputs_outside_the_declared_bounds_are_refused_not_clamped() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = shop();
    let mut c = Client::ready(&repo, "2025-06-18");
    let tools = c.tools();
    let search =
        &tools.iter().find(|t| t["name"] == "search").unwrap()["inputSchema"]["properties"];
    assert_eq!(search["k"]["minimum"], 1);
    assert_eq!(search["k"]["maximum"], 50);
    assert_eq!(search["query"]["minLength"], 1);
    for (tool, args, word) in [
        ("search", json!({ "query": "prices", "k": 0 }), "`k`"),
        ("search", json!({ "query": "prices", "k": 100000 }), "`k`"),
        ("search", json!({ "query": "" }), "`query`"),
        ("search", json!({ "query": "   " }), "`query`"),
        (
            "ask",
            json!({ "question": "why?", "max_tokens": 5 }),
            "`max_tokens`",
        ),
        (
            "ask",
            json!({ "question": "why?", "max_proposals": 9 }),
            "`max_proposals`",
        ),
        ("ask", json!({ "question": "why?", "k": 0 }), "`k`"),
    ] {
        let (err, text) = c.tool(tool, args.clone());
        assert!(err, "{tool} {args} was served: {text}");
        assert!(
            text.as_str().unwrap_or_default().contains(word),
            "{tool} {args}: {text}"
        );
    }
    let (err, hits) = c.tool("search", json!({ "query": "prices", "k": 50 }));
    assert!(!err, "{hits}");
}

#[test]
fn bad_tool_arguments_are_tool_errors_the_model_sees() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = shop();
    let mut c = Client::ready(&repo, "2025-06-18");
    for (tool, args) in [
        ("search", json!({})),
        ("search", json!({ "query": "x", "limit": 3 })),
        ("search", json!({ "query": 5 })),
        ("ask", json!({ "question": "x", "temperature": 2 })),
        ("propose", json!({})),
        ("propose", json!({ "proposal": {}, "force": true })),
        ("explain", json!({})),
        ("explain", json!({ "id": 1 })),
        ("status", json!({ "verbose": true })),
    ] {
        let v = c.call("tools/call", json!({ "name": tool, "arguments": args }));
        assert!(
            v.get("error").is_none(),
            "{tool} {args}: a protocol error: {v}"
        );
        assert_eq!(v["result"]["isError"], true, "{tool} {args}: {v}");
        let text = v["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with(tool), "{tool} {args}: {text}");
    }
    // Protocol errors stay for calls that are malformed themselves.
    assert_eq!(
        c.call("tools/call", json!({ "name": "apply", "arguments": {} }))["error"]["code"],
        -32602
    );
    assert_eq!(
        c.call("tools/call", json!({ "arguments": {} }))["error"]["code"],
        -32602
    );
}

#[test]
fn the_official_python_sdk_drives_writ_mcp() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // The slow tier needs the real client: a missing one fails, never skips.
    let python = std::env::var_os("WRIT_MCP_SDK_PYTHON").unwrap_or_else(|| {
        panic!("WRIT_MCP_SDK_PYTHON is not set: scripts/setup.sh (run by scripts/test.sh) installs the MCP SDK in a venv and sets it")
    });
    let repo = shop();
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    );
    let logs = tempfile::tempdir().unwrap();
    let (out, err) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let child = Command::new(&python)
        .arg(root.join("tests/clients/mcp_sdk.py"))
        .arg(env!("CARGO_BIN_EXE_writ"))
        .arg(repo.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.to_string_lossy()));
    let status = common::wait_bounded(child, std::time::Duration::from_secs(300)).map(|o| o.status);
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "the MCP SDK client failed ({status:?}):\n{stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
    assert!(stdout.contains(" ok: "), "{stdout}");
}

/// A long `ask` tells a client that sent a progress token how it goes
/// (monotonic `notifications/progress` before the result), and a
/// `notifications/cancelled` naming it stops the model: no response for
/// it, the cut-short answer recorded as refused, the session still served.
#[test]
fn ask_reports_progress_and_a_cancellation_stops_it() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = shop();
    let mut c = Client::ready(&repo, "2025-06-18");
    let ask = |id: u64, token: &str| {
        json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "ask",
            "arguments": { "question": "What does total do? Explain it in detail.", "k": 2, "max_proposals": 1, "max_tokens": 400 },
            "_meta": { "progressToken": token } } })
    };

    // Progress, then the result.
    c.send(&ask(100, "run-1"));
    let mut progress = Vec::new();
    let result = loop {
        let m = c.reply();
        if m["method"] == "notifications/progress" {
            assert_eq!(m["params"]["progressToken"], "run-1", "{m}");
            progress.push(m["params"]["progress"].as_f64().unwrap());
            continue;
        }
        break m;
    };
    assert_eq!(result["id"], 100, "{result}");
    assert!(progress.len() >= 2, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");

    // Cancelled after its first progress: no answer for it, and the next
    // request is answered.
    c.send(&ask(200, "run-2"));
    let first = c.reply();
    assert_eq!(first["method"], "notifications/progress", "{first}");
    c.send(
        &json!({ "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": { "requestId": 200, "reason": "the user pressed stop" } }),
    );
    c.send(&json!({ "jsonrpc": "2.0", "id": 201, "method": "ping" }));
    loop {
        let m = c.reply();
        assert_ne!(m["id"], 200, "a cancelled request was answered: {m}");
        if m["id"] == 201 {
            break;
        }
    }
    // The attempt is in the ledger, refused, saying why.
    let rows = repo.writ_json(&["proposals", "--state", "refused"]);
    let last = rows.as_array().unwrap().last().unwrap().clone();
    let shown = repo.writ_json(&["show", last["id"].as_str().unwrap()]);
    assert!(
        shown.to_string().contains("cancelled before it finished"),
        "{shown}"
    );
}
