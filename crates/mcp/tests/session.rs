//! The MCP session in process, with no model files and no network: a temp
//! repository indexed with the fake `HashEmbedder`, a scripted model, and
//! lines fed to `Session::handle`. Version negotiation and the lifecycle,
//! flat tool schemas, tool calls (search, propose, ask, explain) and bad
//! arguments as `isError` results, resources, batches by revision, and
//! notifications that get no reply.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Once, OnceLock};
use writ_ask::{Generator, Scripted};
use writ_mcp::Session;
use writ_service::{Places, Service};
use writ_testkit::HashEmbedder;

const SHOP: &str = "def total(prices):\n    \"\"\"Sum of prices.\"\"\"\n    return sum(prices)\n";

/// One key folder for the process (the gate reads `WRIT_KEY_DIR`), set
/// before any test reads it.
fn keys() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("writ-mcp-session-keys");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("WRIT_KEY_DIR", &dir);
    });
}

fn embedder() -> &'static HashEmbedder {
    static E: OnceLock<HashEmbedder> = OnceLock::new();
    E.get_or_init(HashEmbedder::new)
}

/// A session over an indexed temp repository (`indexed`) or one with no
/// index.
struct Client {
    _tmp: tempfile::TempDir,
    session: Session,
    next: u64,
    /// What the scripted model answers (read when the first ask loads it).
    script: Arc<Mutex<String>>,
}

impl Client {
    fn new(indexed: bool) -> Client {
        keys();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap().join("repo");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/shop.py"), SHOP).unwrap();
        std::fs::write(root.join("README.md"), "# shop\n\nAdds up prices.\n").unwrap();
        if indexed {
            let options = writ_index::IndexOptions::default();
            writ_index::Indexer::new(&root, &root.join(".writ"), embedder(), options)
                .run(&AtomicBool::new(false), &|_| {})
                .unwrap();
        }
        let places = Places::resolve(&root, Some(&root), None, None).unwrap();
        let script = Arc::new(Mutex::new(String::new()));
        let answer = Arc::clone(&script);
        let load: writ_service::GeneratorLoader = Box::new(move || {
            let text = answer.lock().unwrap().clone();
            Ok(Box::new(Scripted::new(vec![text])) as Box<dyn Generator>)
        });
        let service = Service::with_models(places, embedder(), load);
        Client {
            _tmp: tmp,
            session: Session::new(service),
            next: 1,
            script,
        }
    }

    /// `initialize` asking for `version`, as client `test-agent`.
    fn init(&mut self, version: &str) -> Value {
        let info = json!({ "name": "test-agent", "version": "1" });
        let params = json!({ "protocolVersion": version, "capabilities": {}, "clientInfo": info });
        self.call("initialize", params)
    }

    /// Started and initialized at `version` (the `initialized`
    /// notification sent, and not answered).
    fn ready(version: &str) -> Client {
        let mut c = Client::new(true);
        let init = c.init(version);
        assert_eq!(init["result"]["protocolVersion"], version, "{init}");
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        assert_eq!(c.raw(&initialized.to_string()), None);
        c
    }

    fn raw(&mut self, line: &str) -> Option<Value> {
        self.session.handle(line)
    }

    /// A request and its response (same id).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let v = self
            .raw(&msg.to_string())
            .unwrap_or_else(|| panic!("no answer to {msg}"));
        assert_eq!(
            (&v["jsonrpc"], &v["id"]),
            (&json!("2.0"), &json!(id)),
            "{v}"
        );
        v
    }

    /// A tool call: (isError, the JSON of its text, or the text).
    fn tool(&mut self, name: &str, arguments: Value) -> (bool, Value) {
        let v = self.call(
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        );
        assert!(v.get("error").is_none(), "{name}: a protocol error: {v}");
        let r = &v["result"];
        let text = r["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"));
        let payload = serde_json::from_str(text).unwrap_or(Value::String(text.to_string()));
        (r["isError"] == true, payload)
    }
}

fn code(v: &Value) -> i64 {
    v["error"]["code"].as_i64().unwrap_or_else(|| panic!("{v}"))
}

/// The error code and id of a reply that must be an error.
fn refusal(reply: Option<Value>) -> (i64, Value) {
    let v = reply.unwrap_or_else(|| panic!("no reply"));
    (code(&v), v["id"].clone())
}

/// `key` of every item of the array `v`.
fn each<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    let items = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
    items.iter().map(|i| i[key].as_str().unwrap()).collect()
}

#[test]
fn the_version_is_the_clients_when_writ_speaks_it_else_its_newest() {
    for (asked, answered) in [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2024-11-05"),
        ("2099-01-01", writ_mcp::VERSIONS[0]),
    ] {
        let mut c = Client::new(false);
        let init = c.init(asked)["result"].clone();
        assert_eq!(init["protocolVersion"], answered, "{asked}: {init}");
        assert_eq!(init["serverInfo"]["name"], "writ");
        assert!(init["capabilities"]["tools"].is_object(), "{init}");
    }
}

#[test]
fn before_initialize_only_initialize_and_ping_are_served() {
    let mut c = Client::new(false);
    for method in "tools/list resources/list resources/templates/list resources/read".split(' ') {
        assert_eq!(code(&c.call(method, json!({}))), -32600, "{method}");
    }
    let call = c.call("tools/call", json!({ "name": "status", "arguments": {} }));
    assert_eq!(code(&call), -32600, "{call}");
    assert_eq!(c.call("ping", json!({}))["result"], json!({}));
    assert_eq!(code(&c.call("no/such", json!({}))), -32601);
    assert!(c.init("2025-06-18")["result"].is_object());
    assert!(c.call("tools/list", json!({}))["result"]["tools"].is_array());
    assert_eq!(code(&c.init("2025-06-18")), -32600, "initialized twice");
}

/// Keywords schema-driven clients refuse in a tool schema.
const REFUSED: &str = "oneOf anyOf allOf const $schema $id $ref additionalProperties";

/// Checks `schema` and every schema under it (properties, items).
fn flat(path: &str, schema: &Value) {
    assert!(schema["type"].is_string(), "{path} has no type: {schema}");
    for keyword in REFUSED.split(' ') {
        assert!(schema.get(keyword).is_none(), "{path}: {keyword}");
    }
    for r in schema["required"].as_array().into_iter().flatten() {
        let declared = schema["properties"].get(r.as_str().unwrap());
        assert!(declared.is_some(), "{path}: {r} undeclared");
    }
    for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
        flat(&format!("{path}.{name}"), prop);
    }
    if let Some(items) = schema.get("items") {
        flat(&format!("{path}[]"), items);
    }
}

#[test]
fn tool_schemas_are_flat_typed_objects() {
    let mut c = Client::ready("2025-06-18");
    let tools = c.call("tools/list", json!({}))["result"]["tools"].clone();
    let names = each(&tools, "name");
    assert_eq!(
        names,
        ["search", "ask", "propose", "explain", "status", "reindex"]
    );
    for tool in tools.as_array().unwrap() {
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{tool}");
        assert!(schema["properties"].is_object(), "{tool}");
        flat(tool["name"].as_str().unwrap(), schema);
    }
}

#[test]
fn an_agent_searches_and_proposes_and_its_proposals_are_held_as_external_mcp() {
    let mut c = Client::ready("2025-06-18");
    let (err, status) = c.tool("status", json!({}));
    assert!(!err, "{status}");
    assert_eq!(status["files"], 2);
    let (err, answer) = c.tool("search", json!({ "query": "sum of prices total", "k": 1 }));
    assert!(!err, "{answer}");
    assert_eq!(answer["generation"], 1, "{answer}");
    let hits = &answer["hits"];
    assert_eq!(hits[0]["path"], "src/shop.py", "{hits}");
    assert!(
        hits[0]["text"].as_str().unwrap().contains("def total"),
        "{hits}"
    );
    let chunk = hits[0]["chunk_id"].as_i64().unwrap();

    let note = json!({ "kind": "note", "title": "explain total", "rationale": "r", "citations": [chunk], "text": "total sums prices" });
    let (err, intake) = c.tool("propose", json!({ "proposal": note }));
    assert!(!err, "{intake}");
    assert_eq!(intake["state"], "held", "{intake}");
    let (err, chain) = c.tool("explain", json!({ "id": intake["id"] }));
    assert!(!err, "{chain}");
    assert_eq!(
        chain["proposal"]["source"], "external:mcp/test-agent",
        "{chain}"
    );

    // An edit, whatever name the agent gives, is held for a person.
    let diff = writ_gate::file_diff(
        "src/shop.py",
        SHOP,
        &SHOP.replace("sum(prices)", "sum(prices, 0)"),
    );
    let edit = json!({ "kind": "edit", "title": "start at 0", "rationale": "r", "citations": [chunk], "diff": diff });
    let (err, intake) = c.tool("propose", json!({ "proposal": edit }));
    assert!(!err, "{intake}");
    assert_eq!(intake["state"], "held", "{intake}");
    assert!(
        intake["decision"].to_string().contains("hold-agent-edits"),
        "{intake}"
    );
    // One that leaves the repository is refused and recorded.
    let escape = json!({ "kind": "edit", "title": "x", "rationale": "r", "citations": [chunk],
        "diff": "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n" });
    let (err, refused) = c.tool("propose", json!({ "proposal": escape }));
    assert!(!err, "{refused}");
    assert_eq!(refused["state"], "refused", "{refused}");
}

#[test]
fn ask_records_the_scripted_models_proposal_through_the_tool() {
    let mut c = Client::ready("2025-06-18");
    let (_, answer) = c.tool("search", json!({ "query": "total prices", "k": 10 }));
    let chunk = answer["hits"][0]["chunk_id"].as_i64().unwrap();
    let answer = json!({ "proposals": [{ "kind": "note", "title": "sums", "citations": [chunk], "rationale": "the code", "text": "total sums prices" }] });
    *c.script.lock().unwrap() = answer.to_string();
    let ask = json!({ "question": "how is total computed", "k": 10, "max_proposals": 1 });
    let (err, items) = c.tool("ask", ask);
    assert!(!err, "{items}");
    assert_eq!(items[0]["result"]["state"], "held", "{items}");
    assert_eq!(items[0]["proposal"]["title"], "sums", "{items}");
}

#[test]
fn bad_arguments_are_tool_errors_the_model_sees() {
    let mut c = Client::ready("2025-06-18");
    let as_string =
        json!({ "kind": "note", "title": "t", "rationale": "r", "citations": [1], "text": "x" })
            .to_string();
    for (tool, args, word) in [
        ("search", json!({}), "query"),
        ("search", json!({ "query": "x", "limit": 3 }), "limit"),
        ("search", json!({ "query": "prices", "k": 0 }), "`k`"),
        ("search", json!({ "query": "  " }), "`query`"),
        (
            "ask",
            json!({ "question": "why?", "max_tokens": 5 }),
            "`max_tokens`",
        ),
        ("propose", json!({ "proposal": as_string }), "JSON object"),
        ("propose", json!({ "proposal": {}, "force": true }), "force"),
        ("explain", json!({ "id": 1 }), "`id`"),
        ("status", json!({ "verbose": true }), "verbose"),
    ] {
        let (err, text) = c.tool(tool, args.clone());
        assert!(err, "{tool} {args} was served: {text}");
        let text = text.as_str().unwrap_or_default();
        assert!(
            text.starts_with(tool) && text.contains(word),
            "{tool} {args}: {text}"
        );
    }
    // A call that is malformed itself is a protocol error.
    for params in [
        json!({ "name": "apply", "arguments": {} }),
        json!({ "arguments": {} }),
    ] {
        assert_eq!(code(&c.call("tools/call", params)), -32602);
    }
}

#[test]
fn resources_are_the_indexed_files_and_nothing_else() {
    let mut c = Client::ready("2025-06-18");
    let list = c.call("resources/list", json!({}));
    assert_eq!(
        each(&list["result"]["resources"], "uri"),
        ["writ://file/README.md", "writ://file/src/shop.py"]
    );
    for uri in ["writ://file/src/shop.py", "writ://file/src%2Fshop.py"] {
        let read = c.call("resources/read", json!({ "uri": uri }));
        assert_eq!(read["result"]["contents"][0]["text"], SHOP, "{uri}: {read}");
    }
    let templates = c.call("resources/templates/list", json!({}));
    assert_eq!(
        templates["result"]["resourceTemplates"][0]["uriTemplate"],
        "writ://file/{path}"
    );
    for uri in [
        "writ://file/nope.py",
        "file:///etc/passwd",
        "writ://file/../../etc/passwd",
        "writ://file/.writ/ledger.sqlite",
    ] {
        let r = c.call("resources/read", json!({ "uri": uri }));
        assert_eq!(code(&r), -32002, "{uri}: {r}");
        assert_eq!(r["error"]["data"]["uri"], uri, "{r}");
    }
    assert_eq!(code(&c.call("resources/read", json!({}))), -32602);
}

#[test]
fn a_batch_is_refused_from_2025_06_18_on_and_answered_in_2025_03_26() {
    let ping = |id: u64| json!({ "jsonrpc": "2.0", "id": id, "method": "ping" });
    let batch =
        json!([ping(10), { "jsonrpc": "2.0", "method": "notifications/cancelled" }, ping(11)])
            .to_string();
    for version in ["2025-06-18", "2025-11-25", "2024-11-05"] {
        let mut c = Client::ready(version);
        assert_eq!(refusal(c.raw(&batch)), (-32600, Value::Null), "{version}");
    }
    assert_eq!(refusal(Client::new(false).raw(&batch)).0, -32600);
    let mut c = Client::ready("2025-03-26");
    let pong = |id: u64| json!({ "jsonrpc": "2.0", "id": id, "result": {} });
    assert_eq!(c.raw(&batch), Some(json!([pong(10), pong(11)])));
    assert_eq!(refusal(c.raw("[]")).0, -32600);
    let notes = json!([{ "jsonrpc": "2.0", "method": "notifications/cancelled" }]).to_string();
    assert_eq!(c.raw(&notes), None, "notifications only");
}

#[test]
fn notifications_and_responses_get_no_reply_and_bad_framing_is_answered() {
    let mut c = Client::ready("2025-06-18");
    for line in [
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
        r#"{"jsonrpc":"2.0","method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/x","params":"not an object"}"#,
        r#"{"jsonrpc":"2.0","id":5,"result":{}}"#,
    ] {
        assert_eq!(c.raw(line), None, "{line}");
    }
    for (line, want) in [
        ("{not json", (-32700, Value::Null)),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            (-32600, Value::Null),
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"params":{}}"#,
            (-32600, json!(7)),
        ),
        (r#"{"id":8,"method":"ping"}"#, (-32600, json!(8))),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/list","params":[1]}"#,
            (-32602, json!(9)),
        ),
    ] {
        assert_eq!(refusal(c.raw(line)), want, "{line}");
    }
}
