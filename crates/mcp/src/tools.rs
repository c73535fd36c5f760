//! The MCP tools: their definitions (schemas every major client accepts,
//! with behaviour annotations) and their calls.
//!
//! Input schemas are flat: `"type": "object"` with `properties` and
//! `required`, and no `oneOf`, `const`, `$schema`, `$id` or decorative
//! `additionalProperties: false` anywhere (Gemini refuses them, and a
//! property without a `type` is sent as a string by schema-driven
//! clients). Strictness stays on this side: arguments are checked here
//! against the declared bounds, unknown fields are refused, and a proposal
//! is validated in full by the gate. Per the spec, arguments that do not fit
//! come back as a tool result with `isError: true` and the reason as text,
//! so the model sees it and can correct itself; only a call that is itself
//! malformed (no tool name, an unknown tool) is a protocol error.

use crate::rpc::{RpcError, INVALID_PARAMS};
use serde::Serialize;
use serde_json::{json, Map, Value};
use writ_service::bounds::{Bound, K, MAX_PROPOSALS, MAX_TOKENS};
use writ_service::{AskRequest, SearchRequest, Service, ServiceError};

/// `max_tokens` of search over MCP: a tool result carries the JSON twice
/// (as text and as `structuredContent`), so twice this stays under the
/// 25,000 tokens Claude Code accepts from a tool.
const SEARCH_TOKENS: Bound = Bound {
    field: "max_tokens",
    min: writ_service::search::MIN_BUDGET,
    max: 10_000,
};

/// Arguments that do not fit a tool's schema: returned to the model as an
/// `isError` result, never as a protocol error.
#[derive(Debug)]
pub struct ArgError(String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// An integer argument: its bounds are the service's ([`writ_service::bounds`]).
fn integer(bound: Bound, description: &str) -> Value {
    bound.schema(description)
}

fn strings(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "description": description })
}

/// Annotations of a tool that only reads.
fn read_only(title: &str) -> Value {
    json!({ "title": title, "readOnlyHint": true, "openWorldHint": false })
}

/// Annotations of a tool that records in the ledger but changes no file:
/// not read-only, not destructive, each call a new record.
fn records(title: &str) -> Value {
    json!({ "title": title, "readOnlyHint": false, "destructiveHint": false, "idempotentHint": false, "openWorldHint": false })
}

/// The tools with their input schemas and annotations, in a fixed order.
pub fn list() -> Value {
    let paths = strings("only files under these paths (globs allowed)");
    json!([
        {
            "name": "search",
            "title": "Search the repository",
            "description": "Find code and docs in the repository by meaning and by identifiers (hybrid). Returns the index generation and when it was built, and hits with path, lines, chunk_id, text, the fused score, the cosine similarity, each engine's rank, and `stale` when the file changed since it was indexed (call `reindex`). Sized to a token budget; `next_cursor` pages on.",
            "inputSchema": { "type": "object", "required": ["query"], "properties": {
                "query": { "type": "string", "minLength": 1, "description": "what to look for (words or identifiers)" },
                "k": integer(K, "how many hits (default 10)"),
                "paths": paths,
                "langs": strings("only these languages (rust, python, …)"),
                "threshold": { "type": "number", "minimum": -1, "maximum": 1, "description": "drop hits whose cosine similarity to the query is below this (0.3 is loose, 0.5 close)" },
                "max_tokens": integer(SEARCH_TOKENS, "the response's token budget (default 8000): hits are cut to snippets, then left for the next page (next_cursor)"),
                "snippets": { "type": "boolean", "description": "the first lines of each hit only" },
                "tests": { "type": "boolean", "description": "rank tests like other code (by default a test ranks a little lower unless the query speaks of tests)" },
                "cursor": { "type": "string", "description": "a previous response's next_cursor, for the hits after it" } } },
            "annotations": read_only("Search the repository"),
        },
        {
            "name": "ask",
            "title": "Ask writ's local model",
            "description": "Ask writ's local model: it retrieves context and proposes (notes, edits, commands); each proposal is gated and recorded. Slow on CPU.",
            "inputSchema": { "type": "object", "required": ["question"], "properties": {
                "question": { "type": "string", "minLength": 1, "description": "the question about the repository" },
                "k": integer(K, "how many hits to retrieve as context (default 6)"),
                "paths": paths,
                "max_proposals": integer(MAX_PROPOSALS, "at most this many proposals (default 2)"),
                "max_tokens": integer(MAX_TOKENS, "the model's token budget (default 1024)") } },
            "annotations": records("Ask writ's local model"),
        },
        {
            "name": "propose",
            "title": "Propose a change",
            "description": "Submit a proposal (kind edit|note|rule-change|command, title, rationale, citations as chunk ids from search, and diff|text|argv). writ validates it, its rules decide allow/forbid/hold, and the ledger records it. Nothing is applied by this call.",
            "inputSchema": { "type": "object", "required": ["proposal"], "properties": {
                "proposal": proposal_schema() } },
            "annotations": records("Propose a change"),
        },
        {
            "name": "explain",
            "title": "Explain a proposal or action",
            "description": "Why a proposal (P1) or action (A1) exists: its provenance, every ledger event, the rules that decided.",
            "inputSchema": { "type": "object", "required": ["id"], "properties": {
                "id": { "type": "string", "minLength": 1, "description": "a proposal id (P1) or an action id (A1)" } } },
            "annotations": read_only("Explain a proposal or action"),
        },
        {
            "name": "status",
            "title": "Index status",
            "description": "What the index holds: generation, files, chunks, model, skipped files with reasons, and the files changed since it was built (`stale`).",
            "inputSchema": { "type": "object", "properties": {} },
            "annotations": read_only("Index status"),
        },
        {
            "name": "reindex",
            "title": "Refresh the index",
            "description": "Re-index what changed since the last index (incremental: unchanged files are not re-embedded), so searches see the files as they are. Changes the index only, never a file or the ledger.",
            "inputSchema": { "type": "object", "properties": {} },
            "annotations": { "title": "Refresh the index", "readOnlyHint": false, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false },
        },
    ])
}

/// The proposal's schema as one flat object: the union of the properties
/// of writ's proposal schema (one `oneOf` branch per kind), `kind` as an
/// enum, required what every kind requires, and the field each kind needs
/// in the description. The gate validates against the full schema.
pub fn proposal_schema() -> Value {
    let full = writ_proposal::schema();
    let branches = full["oneOf"].as_array().cloned().unwrap_or_default();
    let mut properties = Map::new();
    let mut kinds = Vec::new();
    let mut needs = Vec::new();
    let mut common: Option<Vec<String>> = None;
    for branch in &branches {
        let kind = branch["properties"]["kind"]["const"]
            .as_str()
            .unwrap_or_default();
        kinds.push(json!(kind));
        let required: Vec<String> = branch["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        common = Some(match common {
            None => required.clone(),
            Some(c) => c.into_iter().filter(|r| required.contains(r)).collect(),
        });
        needs.push((kind.to_string(), required));
        if let Some(props) = branch["properties"].as_object() {
            for (name, prop) in props {
                if name != "kind" {
                    properties.entry(name.clone()).or_insert_with(|| flat(prop));
                }
            }
        }
    }
    let common = common.unwrap_or_default();
    let needs: Vec<String> = needs
        .into_iter()
        .map(|(kind, required)| {
            let extra: Vec<String> = required
                .into_iter()
                .filter(|r| !common.contains(r))
                .collect();
            format!("{kind} needs {}", extra.join(", "))
        })
        .collect();
    properties.insert(
        "kind".into(),
        json!({ "type": "string", "enum": kinds, "description": "what is proposed" }),
    );
    json!({
        "type": "object",
        "description": format!(
            "The proposal itself, a JSON object (not a string). {}. Citations are chunk ids from search.",
            needs.join("; ")
        ),
        "required": common,
        "properties": properties,
    })
}

/// One property without the keywords clients refuse: a `const` becomes a
/// typed value with its own bounds, nested objects lose decorative
/// `additionalProperties`.
fn flat(prop: &Value) -> Value {
    let Some(obj) = prop.as_object() else {
        return prop.clone();
    };
    let mut out = Map::new();
    for (key, value) in obj {
        match key.as_str() {
            "$schema" | "$id" | "additionalProperties" | "oneOf" => {}
            "const" => match value {
                Value::Number(n) => {
                    out.insert("type".into(), json!("integer"));
                    out.insert("minimum".into(), Value::Number(n.clone()));
                    out.insert("maximum".into(), Value::Number(n.clone()));
                }
                other => {
                    out.insert("type".into(), json!("string"));
                    out.insert("enum".into(), json!([other]));
                }
            },
            "items" | "properties" => {
                let inner = match value {
                    Value::Object(m) if key == "properties" => {
                        Value::Object(m.iter().map(|(k, v)| (k.clone(), flat(v))).collect())
                    }
                    v => flat(v),
                };
                out.insert(key.clone(), inner);
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// `args` as an object with no field outside `allowed`.
fn fields(tool: &str, args: Value, allowed: &[&str]) -> Result<Map<String, Value>, ArgError> {
    let Value::Object(map) = args else {
        return Err(ArgError(format!("{tool}: the arguments must be an object")));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ArgError(format!(
            "{tool}: unknown argument `{unknown}` (expected: {})",
            allowed.join(", ")
        )));
    }
    Ok(map)
}

fn not_empty(tool: &str, name: &str, value: &str) -> Result<(), ArgError> {
    writ_service::bounds::not_blank(name, value).map_err(|e| ArgError(format!("{tool}: {e}")))
}

/// Search arguments, within their declared bounds (the service's, checked
/// by the service's own reader).
pub fn search_args(args: Value) -> Result<SearchRequest, ArgError> {
    let mut req = SearchRequest::from_json(args).map_err(|e| ArgError(format!("search: {e}")))?;
    let budget = *req
        .max_tokens
        .get_or_insert(writ_service::search::MCP_DEFAULT_TOKENS);
    SEARCH_TOKENS
        .check(budget)
        .map_err(|e| ArgError(format!("search: {e}")))?;
    Ok(req)
}

/// Ask arguments, within their declared bounds.
pub fn ask_args(args: Value) -> Result<AskRequest, ArgError> {
    AskRequest::from_json(args).map_err(|e| ArgError(format!("ask: {e}")))
}

/// The proposal object of propose's arguments.
pub fn propose_args(args: Value) -> Result<Value, ArgError> {
    let mut map = fields("propose", args, &["proposal"])?;
    match map.remove("proposal") {
        Some(p @ Value::Object(_)) => Ok(p),
        Some(Value::String(_)) => Err(ArgError(
            "propose: `proposal` must be a JSON object, not a string holding one".into(),
        )),
        Some(_) => Err(ArgError("propose: `proposal` must be a JSON object".into())),
        None => Err(ArgError("propose: missing argument `proposal`".into())),
    }
}

/// The id of explain's arguments.
pub fn explain_args(args: Value) -> Result<String, ArgError> {
    let mut map = fields("explain", args, &["id"])?;
    match map.remove("id") {
        Some(Value::String(id)) => {
            not_empty("explain", "id", &id)?;
            Ok(id)
        }
        Some(_) => Err(ArgError("explain: `id` must be a string (P1, A1)".into())),
        None => Err(ArgError("explain: missing argument `id`".into())),
    }
}

/// A failure of the tool itself, as the model reads it.
fn failure_text(e: &ServiceError) -> String {
    let hint = e.hint().map(|h| format!(" (hint: {h})"));
    format!("{e}{}", hint.unwrap_or_default())
}

/// A typed answer as the JSON value a tool result carries.
fn value<T: Serialize>(v: Result<T, ServiceError>) -> Result<Value, ServiceError> {
    v.and_then(|v| {
        serde_json::to_value(v)
            .map_err(|e| ServiceError::Internal(format!("encoding the result: {e}")))
    })
}

fn error_result(text: String) -> Value {
    json!({ "content": [{ "type": "text", "text": text }], "isError": true })
}

/// What a call may use beyond its arguments: its cancellation flag and a
/// way to send notifications while it runs.
pub struct Call<'a> {
    /// Set when the client cancels the request.
    pub cancel: writ_llm::Cancel,
    /// Writes a notification to the client.
    pub notify: &'a mut dyn FnMut(Value),
    /// Set when the cancellation stopped the work (it then gets no
    /// response).
    pub stopped: &'a mut bool,
}

/// Progress notifications for a request that carries a progress token:
/// monotonic counts, at most a few a second.
struct Progress<'a, 'b> {
    token: Option<Value>,
    notify: &'a mut (dyn FnMut(Value) + 'b),
    count: u64,
    last: std::time::Instant,
}

impl Progress<'_, '_> {
    fn say(&mut self, message: &str, force: bool) {
        let Some(token) = &self.token else {
            return;
        };
        self.count += 1;
        if !force && self.last.elapsed() < std::time::Duration::from_millis(250) {
            return;
        }
        self.last = std::time::Instant::now();
        (self.notify)(json!({
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": { "progressToken": token, "progress": self.count, "message": message },
        }));
    }
}

/// `tools/call`: a result (possibly `isError`), or a protocol error for a
/// call that is malformed or names no tool of writ's.
pub fn call(
    service: &Service,
    client: &str,
    params: &Value,
    call: Call<'_>,
) -> Result<Value, RpcError> {
    let name = params["name"]
        .as_str()
        .ok_or_else(|| RpcError::new(INVALID_PARAMS, "tools/call needs a tool `name`"))?;
    let args = match params.get("arguments") {
        None | Some(Value::Null) => json!({}),
        Some(a @ Value::Object(_)) => a.clone(),
        Some(_) => {
            return Err(RpcError::new(
                INVALID_PARAMS,
                "tools/call `arguments` must be an object",
            ))
        }
    };
    let outcome: Result<Result<Value, ServiceError>, ArgError> = match name {
        "search" => search_args(args).map(|req| value(service.search(&req))),
        "ask" => ask_args(args).map(|req| {
            let token = params["_meta"]["progressToken"].clone();
            let mut progress = Progress {
                token: (token.is_string() || token.is_number()).then_some(token),
                notify: call.notify,
                count: 0,
                last: std::time::Instant::now(),
            };
            progress.say("retrieving context and loading the model", true);
            let mut pieces = 0u64;
            let cancel = call.cancel.clone();
            let answer = service.ask(&req, call.cancel, &mut |_| {
                pieces += 1;
                progress.say(&format!("generating: {pieces} pieces of text"), false);
            });
            if cancel.is_cancelled() {
                *call.stopped = true;
            } else {
                progress.say("gated and recorded", true);
            }
            answer.and_then(|answer| value(Ok(answer.items())))
        }),
        "propose" => propose_args(args)
            .map(|p| value(service.propose(&p, &writ_gate::Proposer::mcp(client)))),
        "explain" => explain_args(args).map(|id| value(service.explain(&id))),
        "status" => fields("status", args, &[]).map(|_| value(service.status())),
        "reindex" => fields("reindex", args, &[]).map(|_| value(service.reindex())),
        other => {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("unknown tool `{other}`"),
            ))
        }
    };
    Ok(match outcome {
        Err(bad) => error_result(bad.to_string()),
        Ok(Err(e)) => error_result(failure_text(&e)),
        Ok(Ok(v)) => json!({
            "content": [{ "type": "text", "text": v.to_string() }],
            "structuredContent": { "result": v },
            "isError": false,
        }),
    })
}
