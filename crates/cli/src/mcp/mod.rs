//! `writ mcp`: the Model Context Protocol over stdio (JSON-RPC 2.0, one
//! message per line).
//!
//! Tools: `search`, `ask`, `propose`, `explain`, `status`. Resources: the
//! indexed files of the repository (`writ://file/<path>`), read-only; a
//! path that is not an indexed file inside the repository is refused. An
//! agent can only propose: its proposals go through the same intake and
//! gate as `writ propose`, recorded as `external:mcp/<client name>`.

use crate::args::McpArgs;
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::gate::Places;
use crate::service::{AskRequest, SearchRequest, Service};
use serde_json::{json, Value};
use std::io::{BufRead, Write};

/// Protocol revisions this server speaks, newest first.
const VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];
const RESOURCE_PREFIX: &str = "writ://file/";

pub fn mcp(args: McpArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    let service = Service::open(places, args.models)?;
    let mut session = Session {
        service,
        client: "unknown".into(),
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| Failure::new(ExitCode::Error, e))?;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(reply) = session.handle(&line) {
            let mut out = stdout.lock();
            writeln!(out, "{reply}")
                .and_then(|()| out.flush())
                .map_err(|e| Failure::new(ExitCode::Error, e))?;
        }
    }
    Ok(ExitCode::Ok)
}

struct Session {
    service: Service,
    client: String,
}

fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message.into() } })
}

impl Session {
    /// One incoming message; `None` for notifications.
    fn handle(&mut self, line: &str) -> Option<Value> {
        let msg: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return Some(error(&Value::Null, -32700, format!("parse error: {e}"))),
        };
        let id = msg.get("id").cloned();
        let method = msg["method"].as_str().unwrap_or("");
        let params = msg.get("params").cloned().unwrap_or(json!({}));
        let Some(id) = id else {
            return None; // a notification (`notifications/initialized`, …)
        };
        let result = match method {
            "initialize" => Ok(self.initialize(&params)),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": tools() })),
            "tools/call" => self.call(&params),
            "resources/list" => self.resources(),
            "resources/read" => self.read(&params),
            other => Err((-32601, format!("method `{other}` not found"))),
        };
        Some(match result {
            Ok(r) => json!({ "jsonrpc": "2.0", "id": id, "result": r }),
            Err((code, message)) => error(&id, code, message),
        })
    }

    fn initialize(&mut self, params: &Value) -> Value {
        if let Some(name) = params["clientInfo"]["name"].as_str() {
            self.client = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                .take(60)
                .collect();
        }
        let asked = params["protocolVersion"].as_str().unwrap_or("");
        let version = VERSIONS
            .iter()
            .find(|v| **v == asked)
            .unwrap_or(&VERSIONS[0]);
        json!({
            "protocolVersion": version,
            "capabilities": { "tools": {}, "resources": {} },
            "serverInfo": { "name": "writ", "version": env!("CARGO_PKG_VERSION") },
            "instructions": "writ searches this repository and gates proposals. You can only propose: every proposal is validated, decided by the repository's rules and recorded; nothing you send changes a file.",
        })
    }

    fn call(&self, params: &Value) -> Result<Value, (i64, String)> {
        let name = params["name"].as_str().unwrap_or("");
        let args = params.get("arguments").cloned().unwrap_or(json!({}));
        let outcome: Result<Value, Failure> = match name {
            "search" => match serde_json::from_value::<SearchRequest>(args) {
                Ok(req) => self.service.search_json(&req),
                Err(e) => return Err((-32602, format!("search arguments: {e}"))),
            },
            "ask" => match serde_json::from_value::<AskRequest>(args) {
                Ok(req) => self.service.ask(&req),
                Err(e) => return Err((-32602, format!("ask arguments: {e}"))),
            },
            "propose" => match args.get("proposal") {
                Some(p) => self
                    .service
                    .propose(p, &writ_gate::Proposer::mcp(&self.client))
                    .map(|i| serde_json::to_value(i).unwrap_or(Value::Null)),
                None => return Err((-32602, "propose needs `proposal`".into())),
            },
            "explain" => match args["id"].as_str() {
                Some(id) => self
                    .service
                    .places
                    .gate()
                    .explain(id)
                    .map_err(Failure::from),
                None => return Err((-32602, "explain needs `id`".into())),
            },
            "status" => self.service.status(),
            other => return Err((-32602, format!("unknown tool `{other}`"))),
        };
        Ok(match outcome {
            Ok(v) => json!({
                "content": [{ "type": "text", "text": v.to_string() }],
                "structuredContent": { "result": v },
                "isError": false,
            }),
            Err(f) => json!({
                "content": [{ "type": "text", "text": format!("{:#}{}", f.error, f.hint.map(|h| format!(" (hint: {h})")).unwrap_or_default()) }],
                "isError": true,
            }),
        })
    }

    fn resources(&self) -> Result<Value, (i64, String)> {
        let files = self
            .service
            .indexed_files()
            .map_err(|f| (-32603, format!("{:#}", f.error)))?;
        let list: Vec<Value> = files
            .iter()
            .map(|f| json!({ "uri": format!("{RESOURCE_PREFIX}{f}"), "name": f, "mimeType": "text/plain" }))
            .collect();
        Ok(json!({ "resources": list }))
    }

    fn read(&self, params: &Value) -> Result<Value, (i64, String)> {
        let uri = params["uri"].as_str().unwrap_or("");
        let rel = uri.strip_prefix(RESOURCE_PREFIX).ok_or((
            -32602,
            format!("`{uri}` is not a writ resource (writ://file/<path>)"),
        ))?;
        let text = self
            .service
            .indexed_file(rel)
            .map_err(|f| (-32602, format!("{:#}", f.error)))?;
        Ok(json!({ "contents": [{ "uri": uri, "mimeType": "text/plain", "text": text }] }))
    }
}

/// The tools with their input schemas.
fn tools() -> Value {
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    json!([
        {
            "name": "search",
            "description": "Find code and docs in the repository by meaning and by identifiers (hybrid). Returns hits with path, lines, chunk_id and text.",
            "inputSchema": { "type": "object", "required": ["query"], "additionalProperties": false, "properties": {
                "query": { "type": "string" }, "k": { "type": "integer", "minimum": 1, "maximum": 50 },
                "paths": strings, "langs": strings } },
        },
        {
            "name": "ask",
            "description": "Ask writ's local model: it retrieves context and proposes (notes, edits, commands); each proposal is gated and recorded. Slow on CPU.",
            "inputSchema": { "type": "object", "required": ["question"], "additionalProperties": false, "properties": {
                "question": { "type": "string" }, "k": { "type": "integer" }, "paths": strings,
                "max_proposals": { "type": "integer", "minimum": 1, "maximum": 5 },
                "max_tokens": { "type": "integer", "minimum": 16, "maximum": 2048 } } },
        },
        {
            "name": "propose",
            "description": "Submit a proposal (see writ's proposal schema: kind edit|note|command, title, rationale, citations as chunk ids from search, diff|text|argv). writ validates it, its rules decide allow/forbid/hold, and the ledger records it. Nothing is applied by this call.",
            "inputSchema": { "type": "object", "required": ["proposal"], "additionalProperties": false, "properties": {
                "proposal": writ_proposal::schema() } },
        },
        {
            "name": "explain",
            "description": "Why a proposal (P1) or action (A1) exists: its provenance, every ledger event, the rules that decided.",
            "inputSchema": { "type": "object", "required": ["id"], "additionalProperties": false, "properties": { "id": { "type": "string" } } },
        },
        {
            "name": "status",
            "description": "What the index holds: files, chunks, model, skipped files with reasons.",
            "inputSchema": { "type": "object", "additionalProperties": false, "properties": {} },
        },
    ])
}
