//! `writ mcp`: the Model Context Protocol over stdio (JSON-RPC 2.0, one
//! message per line).
//!
//! Tools: `search`, `ask`, `propose`, `explain`, `status`. Resources: the
//! indexed files of the repository (`writ://file/<path>`, also offered as
//! the template `writ://file/{path}`), read-only; a path that is not an
//! indexed file inside the repository is not found. An agent can only
//! propose: its proposals go through the same intake and gate as
//! `writ propose`, recorded as `external:mcp/<client name>`.
//!
//! The lifecycle is enforced: until `initialize` has been answered only
//! `initialize` and `ping` are served. The protocol revision is the
//! client's when writ speaks it, else writ's newest ([`rpc::VERSIONS`]).
//! JSON-RPC batches (a JSON array on one line) exist only in 2025-03-26:
//! there each message of the batch is answered in one array; under any
//! other revision, or before `initialize`, a batch is answered with a
//! single Invalid Request error (-32600, id `null`), since 2025-06-18
//! removed batching.

mod resources;
mod rpc;
mod tools;

pub use rpc::VERSIONS;

use rpc::{Message, RpcError, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::sync::{Arc, Mutex};
use writ_llm::Cancel;
use writ_service::Service;

/// The request being served and the flag that stops it, and the ids of
/// requests cancelled before they started; shared with the reader, which
/// sees a `notifications/cancelled` while the session is busy.
#[derive(Default)]
struct Cancels {
    in_flight: Option<(Value, Cancel)>,
    /// Cancelled before they were started (bounded: the oldest go first).
    early: std::collections::VecDeque<Value>,
}

/// [`Cancels`], shared.
type Shared = Arc<Mutex<Cancels>>;

/// Cancelled-before-started ids kept at most.
const EARLY_CANCELS: usize = 64;
/// The longest message line read; a longer one is answered as a parse
/// error and skipped.
const MAX_LINE: usize = 8 << 20;
/// Lines read ahead of the session at most.
const READ_AHEAD: usize = 64;

/// Serves MCP on `input`/`output` (stdin and stdout for `writ mcp`) until
/// the input closes; each message is one line, flushed. A reader thread
/// takes the input, so a client's cancellation of a long `ask` is seen
/// while it runs; progress notifications are written as it goes. A line
/// that is not UTF-8 or is too long is answered as a parse error and the
/// session goes on; when the input closes, the request in flight is
/// cancelled.
pub fn serve(
    service: Service,
    input: impl Read + Send + 'static,
    mut output: impl Write,
) -> std::io::Result<()> {
    let mut session = Session::new(service);
    let shared = Arc::clone(&session.cancels);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<String, String>>(READ_AHEAD);
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(input);
        loop {
            let mut raw = Vec::new();
            let read = (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut raw);
            match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = if raw.len() > MAX_LINE {
                // Skip the rest of an over-long line.
                let mut rest = Vec::new();
                let _ = reader.read_until(b'\n', &mut rest);
                Err(format!("a message longer than {MAX_LINE} bytes"))
            } else {
                String::from_utf8(raw).map_err(|_| "a message that is not UTF-8".to_string())
            };
            if let Ok(l) = &line {
                cancel_if_named(l, &shared);
            }
            if tx.send(line).is_err() {
                break;
            }
        }
        // The client has gone: nobody will read the answer.
        if let Ok(c) = shared.lock() {
            if let Some((_, cancel)) = &c.in_flight {
                cancel.cancel();
            }
        }
    });
    for line in rx {
        let reply = match line {
            Err(why) => {
                Some(RpcError::new(PARSE_ERROR, format!("parse error: {why}")).reply(&Value::Null))
            }
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => {
                let mut failed = None;
                let reply = session.handle_with(&line, &mut |note| {
                    if failed.is_none() {
                        if let Err(e) = writeln!(output, "{note}").and_then(|()| output.flush()) {
                            failed = Some(e);
                        }
                    }
                });
                if let Some(e) = failed {
                    return Err(e);
                }
                reply
            }
        };
        if let Some(reply) = reply {
            writeln!(output, "{reply}")?;
            output.flush()?;
        }
    }
    Ok(())
}

/// Sets the in-flight request's flag when `line` is a
/// `notifications/cancelled` naming it, or remembers the id when that
/// request has not started yet. A cancelled `ask` stops before the
/// model's next token, its cut-short answer recorded as refused, and, as
/// the spec asks, gets no response; a request cancelled before it started
/// is never run.
fn cancel_if_named(line: &str, shared: &Shared) {
    let Ok(msg) = serde_json::from_str::<Value>(line) else {
        return;
    };
    if msg["method"] != "notifications/cancelled" {
        return;
    }
    let id = &msg["params"]["requestId"];
    if !(id.is_string() || id.is_number()) {
        return;
    }
    if let Ok(mut c) = shared.lock() {
        match &c.in_flight {
            Some((current, cancel)) if current == id => cancel.cancel(),
            _ => {
                if c.early.len() >= EARLY_CANCELS {
                    c.early.pop_front();
                }
                c.early.push_back(id.clone());
            }
        }
    }
}

/// One client's connection: feed it lines, get replies.
pub struct Session {
    service: Service,
    client: String,
    /// The negotiated revision; `None` until `initialize` is answered.
    version: Option<&'static str>,
    /// The request being served, and early cancellations.
    cancels: Shared,
}

/// Methods served once initialized.
const METHODS: &[&str] = &[
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

impl Session {
    /// A session that has not been initialized yet.
    pub fn new(service: Service) -> Session {
        Session {
            service,
            client: "unknown".into(),
            version: None,
            cancels: Arc::new(Mutex::new(Cancels::default())),
        }
    }

    /// A flag that cancels request `id` when it is the one being served
    /// (what a `notifications/cancelled` naming it does).
    pub fn canceller(&self) -> impl Fn(&Value) + Send + 'static {
        let shared = Arc::clone(&self.cancels);
        move |id: &Value| {
            let line = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": id } });
            cancel_if_named(&line.to_string(), &shared);
        }
    }

    /// One incoming line; `None` when nothing is to be answered
    /// (notifications, responses, a batch of notifications).
    pub fn handle(&mut self, line: &str) -> Option<Value> {
        self.handle_with(line, &mut |_| {})
    }

    /// [`Session::handle`], writing notifications (progress) through
    /// `notify` while a request runs.
    pub fn handle_with(&mut self, line: &str, notify: &mut dyn FnMut(Value)) -> Option<Value> {
        let msg: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                return Some(
                    RpcError::new(PARSE_ERROR, format!("parse error: {e}")).reply(&Value::Null),
                )
            }
        };
        match msg {
            Value::Array(batch) => self.batch(batch, notify),
            one => self.one(one, false, notify),
        }
    }

    /// A JSON-RPC batch: answered message by message where the negotiated
    /// revision has batches, else refused as a whole.
    fn batch(&mut self, batch: Vec<Value>, notify: &mut dyn FnMut(Value)) -> Option<Value> {
        if !rpc::batches_allowed(self.version) {
            let version = self.version.unwrap_or("none negotiated yet");
            return Some(
                RpcError::new(
                    INVALID_REQUEST,
                    format!("JSON-RPC batches are not part of MCP {version} (removed in 2025-06-18): send one message per line"),
                )
                .reply(&Value::Null),
            );
        }
        if batch.is_empty() {
            return Some(RpcError::new(INVALID_REQUEST, "an empty batch").reply(&Value::Null));
        }
        let replies: Vec<Value> = batch
            .into_iter()
            .filter_map(|m| self.one(m, true, notify))
            .collect();
        (!replies.is_empty()).then_some(Value::Array(replies))
    }

    /// One message (alone or inside a batch).
    fn one(&mut self, msg: Value, in_batch: bool, notify: &mut dyn FnMut(Value)) -> Option<Value> {
        match rpc::classify(msg) {
            Message::Request { id, method, params } => {
                let cancel = Cancel::new();
                if let Ok(mut c) = self.cancels.lock() {
                    // Cancelled before it started: not run, not answered
                    // (`initialize` cannot be cancelled).
                    if let Some(i) = c.early.iter().position(|e| *e == id) {
                        c.early.remove(i);
                        if method != "initialize" {
                            return None;
                        }
                    }
                    c.in_flight = Some((id.clone(), cancel.clone()));
                }
                let mut stopped = false;
                let call = tools::Call {
                    cancel,
                    notify,
                    stopped: &mut stopped,
                };
                let result = self.request(&method, &params, in_batch, call);
                if let Ok(mut c) = self.cancels.lock() {
                    c.in_flight = None;
                }
                // Work the cancellation stopped gets no response; work
                // that finished before it is answered (the client ignores
                // a late answer, as the spec says).
                if stopped {
                    return None;
                }
                Some(match result {
                    Ok(result) => rpc::success(&id, result),
                    Err(e) => e.reply(&id),
                })
            }
            Message::Invalid { id, error } => Some(error.reply(&id)),
            // `notifications/initialized`, cancellations, …: nothing to
            // answer; responses: writ sends no requests.
            Message::Notification | Message::Response => None,
        }
    }

    fn request(
        &mut self,
        method: &str,
        params: &Value,
        in_batch: bool,
        call: tools::Call<'_>,
    ) -> Result<Value, RpcError> {
        match method {
            "initialize" if in_batch => Err(RpcError::new(
                INVALID_REQUEST,
                "`initialize` must not be part of a batch",
            )),
            "initialize" if self.version.is_some() => Err(RpcError::new(
                INVALID_REQUEST,
                "already initialized: `initialize` is sent once per connection",
            )),
            "initialize" => Ok(self.initialize(params)),
            "ping" => Ok(json!({})),
            m if !METHODS.contains(&m) => {
                Err(RpcError::new(METHOD_NOT_FOUND, format!("method `{m}` not found")))
            }
            m if self.version.is_none() => Err(RpcError::new(
                INVALID_REQUEST,
                format!("`{m}` before `initialize`: until it is answered only `initialize` and `ping` are served"),
            )),
            "tools/list" => Ok(json!({ "tools": tools::list() })),
            "tools/call" => tools::call(&self.service, &self.client, params, call),
            "resources/list" => resources::list(&self.service),
            "resources/templates/list" => Ok(resources::templates()),
            _ => resources::read(&self.service, params),
        }
    }

    fn initialize(&mut self, params: &Value) -> Value {
        if let Some(name) = params["clientInfo"]["name"].as_str() {
            self.client = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                .take(60)
                .collect();
        }
        let version = rpc::negotiate(params["protocolVersion"].as_str());
        self.version = Some(version);
        json!({
            "protocolVersion": version,
            "capabilities": { "tools": {}, "resources": {} },
            "serverInfo": { "name": "writ", "version": env!("CARGO_PKG_VERSION") },
            "instructions": "writ searches this repository and gates proposals. You can only propose: every proposal is validated, decided by the repository's rules and recorded; nothing you send changes a file.",
        })
    }
}
