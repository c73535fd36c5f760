//! JSON-RPC 2.0 framing as MCP restricts it: what a message is, the error
//! codes writ answers with, and the protocol revisions it negotiates.
//!
//! MCP narrows JSON-RPC: a request id is a string or a number, never
//! `null`; a message without `id` is a notification; `params`, when
//! present, is an object. A message that is none of request, notification
//! or response is an Invalid Request (-32600), answered with its id when
//! it has a usable one and `null` otherwise.

use serde_json::{json, Value};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The message is not a valid request (no `method`, a `null` id, a batch
/// where batches are not allowed, a request out of the lifecycle).
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The params do not fit the method (unknown tool, missing `uri`).
pub const INVALID_PARAMS: i64 = -32602;
/// writ failed while answering.
pub const INTERNAL_ERROR: i64 = -32603;
/// MCP's code for a resource that does not exist (or that writ will not
/// serve: outside the repository, not indexed).
pub const RESOURCE_NOT_FOUND: i64 = -32002;

/// Protocol revisions this server speaks, newest first. The first is the
/// answer to a client asking for one writ does not know.
pub const VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The revision to answer a client that asked for `asked`: the same when
/// writ speaks it, else the newest writ speaks (the client then decides
/// whether it can go on).
pub fn negotiate(asked: Option<&str>) -> &'static str {
    VERSIONS
        .iter()
        .copied()
        .find(|v| Some(*v) == asked)
        .unwrap_or(VERSIONS[0])
}

/// Whether JSON-RPC batches are part of `version`: 2025-03-26 added them
/// and 2025-06-18 removed them again (2024-11-05 never had them).
pub fn batches_allowed(version: Option<&str>) -> bool {
    version == Some("2025-03-26")
}

/// A JSON-RPC error on its way to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The JSON-RPC error code (one of the constants above).
    pub code: i64,
    /// What went wrong, for a person reading the client's log.
    pub message: String,
    /// Structured detail (the `uri` of a missing resource, …).
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error with structured detail.
    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    /// The error response for request `id` (`null` when it is unknown).
    pub fn reply(&self, id: &Value) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        json!({ "jsonrpc": "2.0", "id": id, "error": error })
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

/// The success response for request `id`.
pub fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// One incoming message, classified.
#[derive(Debug)]
pub enum Message {
    /// A request: it gets exactly one response.
    Request {
        /// Its id (a string or a number).
        id: Value,
        /// The method asked for.
        method: String,
        /// Its params, `{}` when absent.
        params: Value,
    },
    /// A notification: it never gets a response.
    Notification,
    /// A response from the client (writ sends no requests): ignored.
    Response,
    /// Not a valid message: answered with this error and this id.
    Invalid {
        /// The message's id when it had a usable one, else `null`.
        id: Value,
        /// Why it is refused.
        error: RpcError,
    },
}

fn invalid(id: Value, message: impl Into<String>) -> Message {
    Message::Invalid {
        id,
        error: RpcError::new(INVALID_REQUEST, message),
    }
}

/// What kind of message `msg` is, checked against JSON-RPC 2.0 and MCP's
/// narrowing of it.
pub fn classify(msg: Value) -> Message {
    let Value::Object(mut obj) = msg else {
        return invalid(Value::Null, "a message is a JSON object");
    };
    // The id to answer with: a usable one, else null.
    let id = match obj.get("id") {
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
        Some(Value::Null) => {
            return invalid(Value::Null, "the request id must not be null (MCP)");
        }
        Some(_) => return invalid(Value::Null, "the request id must be a string or a number"),
        None => None,
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(reply_id, "`jsonrpc` must be \"2.0\"");
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => return invalid(reply_id, "`method` must be a string"),
        None if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) => {
            return Message::Response;
        }
        None => return invalid(reply_id, "the message has no `method`"),
    };
    // A notification is never answered, even when its params are wrong.
    let Some(id) = id else {
        return Message::Notification;
    };
    let params = match obj.remove("params") {
        None => json!({}),
        Some(p @ Value::Object(_)) => p,
        Some(_) => {
            return Message::Invalid {
                id,
                error: RpcError::new(INVALID_PARAMS, "`params` must be an object"),
            }
        }
    };
    Message::Request { id, method, params }
}
