//! The OpenAPI 3.1 document of `/v1`, built from the same declarations the
//! server runs on rather than written beside them:
//!
//! - the operations, their methods, `operationId`s and the token each
//!   needs are the table ([`OPERATIONS`]) the router is built from;
//! - the statuses each operation can answer follow from that row: its
//!   access (401, 403), whether it takes a body (400, 413, 415), the Host
//!   check (421) and the failures it declares (400, 404, 409, 500, 503);
//! - the bounds of every request field are the service's
//!   ([`writ_service::bounds`]), the same constants MCP publishes and
//!   every front end enforces; the lists (states, languages) are checked
//!   against the parsers by the tests below.
//!
//! What a table cannot hold (summaries, parameters, response shapes) is
//! written here per `operationId`; a test fails when an operation lacks it.
//! `tests/schemathesis.rs` checks the whole against the running server.

use crate::auth::Access;
use crate::operations::{Operation, OPERATIONS, STATES};
use crate::MAX_BODY;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use writ_service::bounds::{self, K, MAX_PROPOSALS, MAX_TOKENS, SOURCE_CHARS};

/// The language names and short forms search's `langs` takes.
const LANGUAGES: [&str; 14] = [
    "rust",
    "python",
    "javascript",
    "typescript",
    "tsx",
    "go",
    "markdown",
    "text",
    "rs",
    "py",
    "js",
    "ts",
    "md",
    "txt",
];

/// The document, built once.
pub(crate) fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| build().to_string())
}

fn error_ref() -> Value {
    json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } })
}

/// Why an operation answers `status`.
fn why(status: u16, op: &Operation) -> &'static str {
    match status {
        400 if op.body => "the body or a parameter is malformed or out of bounds: the error names the field and its bounds",
        400 => "a parameter is malformed or out of bounds: the error names it and its bounds",
        401 if op.access == Access::Read => "missing or wrong bearer token (reads need one only with --allow-remote)",
        401 => "missing or wrong bearer token",
        403 if op.access == Access::Review => "the agent token (only the review token approves or rejects), or a cross-origin request from a browser",
        403 => "a cross-origin request from a browser",
        404 if op.id.starts_with("ask") => "nothing in the index matches the question",
        404 => "no such proposal, action or chunk, or nothing has been recorded here yet",
        409 if op.access == Access::Review => "the transition is not allowed now (the refusal is recorded in the ledger), or the rule set does not load",
        409 => "the rule set does not load",
        413 => "the request body is over 1 MiB",
        415 => "the request body is not `application/json`",
        421 => "the Host is not a loopback name (without --allow-remote)",
        500 => "an internal error; the details are in the server's log, not here",
        503 => "no index yet, the index is locked or was built with another model, a model is missing, or the ledger does not verify",
        _ => "error",
    }
}

/// Every status `op` can answer with other than its success.
pub(crate) fn failures(op: &Operation) -> Vec<u16> {
    let mut statuses = vec![421];
    match op.access {
        Access::Public => {}
        Access::Read => statuses.push(401),
        Access::Propose | Access::Review => statuses.extend([401, 403]),
    }
    if op.body {
        statuses.extend([400, 413, 415]);
    }
    statuses.extend(op.fails);
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// A response schema's `$ref`.
fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": schema(name) })
}

/// Links from a proposal (a body with its `id`) to what can be done next.
fn proposal_links(with_get: bool) -> Value {
    let id = json!({ "id": "$response.body#/id" });
    let mut links = Map::new();
    if with_get {
        links.insert(
            "GetProposal".into(),
            json!({ "operationId": "getProposal", "parameters": id, "description": "the proposal in full, with its events" }),
        );
    }
    links.insert(
        "Approve".into(),
        json!({ "operationId": "approveProposal", "parameters": id, "description": "a person approves it (when held)" }),
    );
    links.insert(
        "Reject".into(),
        json!({ "operationId": "rejectProposal", "parameters": id, "description": "a person rejects it (when held)" }),
    );
    links.insert(
        "Explain".into(),
        json!({ "operationId": "explain", "parameters": id, "description": "its causal chain: provenance, events, rules" }),
    );
    Value::Object(links)
}

fn id_parameter(description: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": description,
            "schema": { "type": "string", "minLength": 1 } })
}

fn body(name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema(name) } } })
}

/// What the table cannot say about an operation: its summary, parameters,
/// body and success. `None` for an operation not described (a test fails).
fn describe(op: &Operation) -> Option<Value> {
    let (summary, parameters, request, status, success, links) = match op.id {
        "openapi" => ("this document", json!([]), None, 200, json!({ "type": "object" }), None),
        "status" => (
            "index status: files, chunks, model, skipped and stale files",
            json!([]),
            None,
            200,
            json!({ "type": "object" }),
            None,
        ),
        "searchGet" => (
            "hybrid search (by meaning and by identifiers), best hits first",
            json!([
                { "name": "q", "in": "query", "required": true, "description": "what to look for",
                  "schema": bounds::text_schema("what to look for") },
                { "name": "k", "in": "query", "required": false, "description": "how many hits",
                  "schema": with_default(K.schema("how many hits"), bounds::DEFAULT_SEARCH_K) },
                { "name": "threshold", "in": "query", "required": false, "description": "drop hits whose cosine similarity is below this",
                  "schema": { "type": "number", "minimum": -1, "maximum": 1 } },
                { "name": "max_tokens", "in": "query", "required": false, "description": "the answer's token budget",
                  "schema": bounds::SEARCH_BUDGET.schema("the answer's token budget: hits are cut to snippets, then paged") },
                { "name": "snippets", "in": "query", "required": false, "description": "the first lines of each hit only",
                  "schema": { "type": "boolean" } },
                { "name": "tests", "in": "query", "required": false, "description": "rank tests like other code",
                  "schema": { "type": "boolean" } },
                { "name": "cursor", "in": "query", "required": false, "description": "a previous answer's next_cursor",
                  "schema": { "type": "string", "pattern": writ_service::search::CURSOR_PATTERN } },
            ]),
            None,
            200,
            schema("SearchAnswer"),
            None,
        ),
        "search" => (
            "hybrid search with path and language filters, best hits first",
            json!([]),
            Some(body("Search")),
            200,
            schema("SearchAnswer"),
            None,
        ),
        "ask" => (
            "writ's local model answers from retrieved context and proposes; every proposal is gated and recorded (slow on CPU)",
            json!([]),
            Some(body("Ask")),
            200,
            json!({ "type": "array", "items": { "type": "object" } }),
            None,
        ),
        "askStream" => (
            "as ask, the answer streamed as server-sent events while the model writes it: `token` events ({\"text\"}), then one `result` (what ask answers) or `error` ({\"error\", \"hint\", \"status\"}); a client that disconnects stops the model and the cut-short answer is recorded as refused",
            json!([]),
            Some(body("Ask")),
            200,
            json!({ "type": "string" }),
            None,
        ),
        "listProposals" => (
            "stored proposals, optionally in one state",
            json!([{ "name": "state", "in": "query", "required": false, "description": "only proposals in this state",
                     "schema": { "type": "string", "enum": STATES } }]),
            None,
            200,
            array_of("ProposalSummary"),
            None,
        ),
        "propose" => (
            "submit a proposal: validated, gated by the rules (allow, forbid, hold) and recorded; one that fails validation is recorded as refused. Nothing is applied.",
            json!([]),
            Some(body("Submission")),
            201,
            schema("Intake"),
            Some(proposal_links(true)),
        ),
        "getProposal" => (
            "one proposal in full: body, provenance, events, decision, patch",
            json!([id_parameter("a proposal id (P1)")]),
            None,
            200,
            schema("Proposal"),
            Some(proposal_links(false)),
        ),
        "approveProposal" => (
            "a person approves a held proposal; it is re-gated under the rules in force",
            json!([id_parameter("a proposal id (P1)")]),
            Some(body("Review")),
            200,
            schema("Settled"),
            None,
        ),
        "rejectProposal" => (
            "a person rejects a held proposal",
            json!([id_parameter("a proposal id (P1)")]),
            Some(body("Review")),
            200,
            schema("Settled"),
            None,
        ),
        "getChunk" => (
            "an indexed chunk: its location and text (what citations point at)",
            json!([{ "name": "id", "in": "path", "required": true, "description": "a chunk id (`chunk_id` of a hit)",
                     "schema": { "type": "integer", "minimum": 1, "maximum": i64::MAX } }]),
            None,
            200,
            schema("Chunk"),
            None,
        ),
        "explain" => (
            "why a proposal or action exists: provenance, every ledger event, the rules that decided",
            json!([id_parameter("a proposal id (P1) or an action id (A1)")]),
            None,
            200,
            json!({ "type": "object" }),
            None,
        ),
        "verify" => (
            "the ledger's hash chain, verified",
            json!([]),
            None,
            200,
            schema("Verify"),
            None,
        ),
        "listActions" => (
            "recorded actions",
            json!([]),
            None,
            200,
            json!({ "type": "array", "items": { "type": "object" } }),
            None,
        ),
        _ => return None,
    };
    let media = if op.id == "askStream" {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut ok = json!({
        "description": "success",
        "content": { media: { "schema": success } },
    });
    if let Some(links) = links {
        ok["links"] = links;
    }
    let mut responses = Map::new();
    responses.insert(status.to_string(), ok);
    for s in failures(op) {
        responses.insert(
            s.to_string(),
            json!({ "description": why(s, op), "content": error_ref() }),
        );
    }
    let mut operation = json!({
        "operationId": op.id,
        "summary": summary,
        "responses": responses,
    });
    if parameters.as_array().is_some_and(|p| !p.is_empty()) {
        operation["parameters"] = parameters;
    }
    if let Some(request) = request {
        operation["requestBody"] = request;
    }
    operation["security"] = match op.access {
        Access::Public => json!([]),
        // No token on loopback; either token with --allow-remote.
        Access::Read => json!([{}, { "bearer": [] }]),
        Access::Propose | Access::Review => json!([{ "bearer": [] }]),
    };
    Some(operation)
}

fn with_default(mut schema: Value, default: usize) -> Value {
    schema["default"] = json!(default);
    schema
}

fn strings(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "description": description })
}

/// The request and response shapes.
fn schemas() -> Value {
    let nullable = |t: &str| json!({ "type": [t, "null"] });
    json!({
        "Error": {
            "type": "object",
            "required": ["error", "hint"],
            "properties": {
                "error": { "type": "string", "description": "what is wrong, naming the field or the id" },
                "hint": { "type": ["string", "null"], "description": "what to do about it, when writ knows" },
            },
        },
        "Search": {
            "type": "object",
            "additionalProperties": false,
            "required": ["query"],
            "properties": {
                "query": bounds::text_schema("what to look for (words or identifiers)"),
                "k": with_default(K.schema("how many hits"), bounds::DEFAULT_SEARCH_K),
                "paths": strings("only files matching these globs (applied before the top k)"),
                "langs": { "type": "array", "items": { "type": "string", "enum": LANGUAGES },
                           "description": "only chunks in these languages" },
                "threshold": { "type": ["number", "null"], "minimum": -1, "maximum": 1,
                               "description": "drop hits whose cosine similarity to the query is below this" },
                "max_tokens": bounds::SEARCH_BUDGET.schema("the answer's token budget: hits are cut to snippets, then paged with next_cursor"),
                "snippets": { "type": "boolean", "description": "the first lines of each hit only" },
                "tests": { "type": "boolean", "description": "rank tests like other code (by default a test ranks a little lower unless the query speaks of tests)" },
                "cursor": { "type": ["string", "null"], "pattern": writ_service::search::CURSOR_PATTERN,
                            "description": "a previous answer's next_cursor; one from an index generation since replaced is a 409" },
            },
        },
        "SearchAnswer": {
            "type": "object",
            "required": ["generation", "hits", "truncated", "tokens"],
            "properties": {
                "generation": { "type": "integer", "description": "the index generation searched" },
                "indexed_at": { "type": ["integer", "null"], "description": "when it was built, seconds since the Unix epoch" },
                "hits": { "type": "array", "items": schema("Hit") },
                "truncated": { "type": "boolean", "description": "something was cut to fit the budget" },
                "next_cursor": { "type": ["string", "null"], "description": "pass as cursor for the hits after these" },
                "tokens": { "type": "integer", "description": "the answer's estimated size in tokens" },
            },
        },
        "Ask": {
            "type": "object",
            "additionalProperties": false,
            "required": ["question"],
            "properties": {
                "question": bounds::text_schema("the question about the repository"),
                "k": with_default(K.schema("how many hits to retrieve as context"), bounds::DEFAULT_ASK_K),
                "paths": strings("retrieve only from files matching these globs"),
                "max_proposals": with_default(MAX_PROPOSALS.schema("at most this many proposals"), bounds::DEFAULT_MAX_PROPOSALS),
                "max_tokens": with_default(MAX_TOKENS.schema("the model's answer budget in tokens"), bounds::DEFAULT_MAX_TOKENS),
            },
        },
        "Submission": {
            "type": "object",
            "additionalProperties": false,
            "required": ["source", "proposal"],
            "properties": {
                "source": {
                    "type": "string",
                    "minLength": SOURCE_CHARS.min,
                    "maxLength": SOURCE_CHARS.max,
                    "pattern": bounds::not_blank_pattern(),
                    "description": "who proposes, recorded as external:<source>",
                },
                "proposal": {
                    "type": "object",
                    "description": "the proposal (see `writ schema proposal`); any object is recorded, and one that fails validation is recorded as refused, with the reasons",
                },
            },
        },
        "Review": {
            "type": "object",
            "additionalProperties": false,
            "required": ["reviewer", "reason"],
            "properties": {
                "reviewer": bounds::text_schema("who reviews, recorded as human:<reviewer>"),
                "reason": bounds::text_schema("why, recorded in the ledger"),
            },
        },
        "Hit": {
            "type": "object",
            "required": ["path", "start_line", "end_line", "language", "score", "chunk_id", "text_hash", "text", "truncated", "stale"],
            "properties": {
                "path": { "type": "string" },
                "start_line": { "type": "integer" },
                "end_line": { "type": "integer" },
                "symbol": { "type": ["string", "null"] },
                "language": { "type": "string" },
                "score": { "type": "number", "description": "the fused score (reciprocal-rank fusion)" },
                "similarity": { "type": "number", "description": "cosine similarity to the query" },
                "vector_rank": { "type": "integer", "description": "rank in the vector engine's list" },
                "lexical_rank": { "type": "integer", "description": "rank in the lexical engine's list" },
                "bm25": { "type": "number", "description": "BM25 (lower is better)" },
                "chunk_id": { "type": "integer" },
                "text_hash": { "type": "string" },
                "text": { "type": "string" },
                "truncated": { "type": "boolean", "description": "text is a snippet of the chunk" },
                "stale": { "type": "boolean", "description": "the file changed since it was indexed" },
            },
        },
        "Intake": {
            "type": "object",
            "required": ["id", "state"],
            "properties": {
                "id": { "type": "string" },
                "state": { "type": "string", "enum": ["refused", "recorded", "forbidden", "held"] },
                "decision": nullable("object"),
                "facts": { "type": "object" },
                "reasons": { "type": "array", "items": { "type": "string" } },
            },
        },
        "ProposalSummary": {
            "type": "object",
            "required": ["id", "state", "kind", "title", "source"],
            "properties": {
                "id": { "type": "string" },
                "state": { "type": "string", "enum": STATES },
                "kind": { "type": "string" },
                "title": { "type": "string" },
                "source": { "type": "string" },
                "via": nullable("string"),
                "seq": { "type": "integer" },
            },
        },
        "Proposal": {
            "type": "object",
            "required": ["id", "state", "events"],
            "properties": {
                "id": { "type": "string" },
                "state": { "type": "string", "enum": STATES },
                "events": { "type": "array", "items": { "type": "object" } },
            },
        },
        "Settled": {
            "type": "object",
            "required": ["id", "state", "action", "ruleset_changed"],
            "properties": {
                "id": { "type": "string" },
                "state": { "type": "string", "enum": STATES },
                "action": { "type": ["string", "null"], "description": "the action recorded on approval" },
                "ruleset_changed": {
                    "type": ["array", "null"],
                    "items": { "type": "string" },
                    "minItems": 2,
                    "maxItems": 2,
                    "description": "the rule set's hash when held and now, when it changed in between",
                },
            },
        },
        "Chunk": {
            "type": "object",
            "required": ["id", "path", "start_line", "end_line", "language", "text"],
            "properties": {
                "id": { "type": "integer" },
                "path": { "type": "string" },
                "start_line": { "type": "integer" },
                "end_line": { "type": "integer" },
                "symbol": nullable("string"),
                "language": { "type": "string" },
                "text": { "type": "string" },
            },
        },
        "Verify": {
            "type": "object",
            "required": ["ok", "events", "head"],
            "properties": {
                "ok": { "type": "boolean" },
                "events": { "type": "integer" },
                "head": { "type": "string" },
                "first_broken": nullable("integer"),
                "problem": nullable("string"),
            },
        },
    })
}

fn build() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let Some(operation) = describe(op) else {
            continue;
        };
        let item = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        item[op.verb.key()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "writ",
            "version": "1",
            "description": format!("writ advises on a code repository and never acts on its own authority. \
    Routes that change state need `Authorization: Bearer <token>`: the index folder's `serve-token` (agents: propose, ask) \
    or the review token kept outside the repository in the key folder (people: approve, reject; the agent token is refused there with 403), \
    both mode 0600; with --allow-remote every route does. Without --allow-remote, a request whose Host is not 127.0.0.1, localhost or [::1] \
    (with or without the port), or that has no Host, is refused on every route with 421. \
    Errors are JSON, `{{\"error\", \"hint\"}}`, on every route and status: a method a route does not take is 405 with an `Allow` header, \
    an unknown route 404, a body that is not `application/json` 415, a body over {MAX_BODY} bytes 413. \
    Out-of-bounds input is a 400 naming the field and its bounds, never clamped; integers may be written `41` or `41.0`."),
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas(),
            "responses": {
                "MethodNotAllowed": {
                    "description": "a method the route does not take (any route)",
                    "headers": { "Allow": { "description": "the methods it takes", "schema": { "type": "string" } } },
                    "content": error_ref(),
                },
            },
        },
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_described_once() {
        let doc: Value = serde_json::from_str(document()).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for op in OPERATIONS {
            assert!(describe(op).is_some(), "{} has no description", op.id);
            assert!(seen.insert(op.id), "{} twice", op.id);
            let described = &doc["paths"][op.path][op.verb.key()];
            assert_eq!(described["operationId"], op.id);
            for s in failures(op) {
                assert!(
                    described["responses"].get(s.to_string()).is_some(),
                    "{} lacks {s}",
                    op.id
                );
            }
        }
        let count: usize = doc["paths"]
            .as_object()
            .map(|p| {
                p.values()
                    .filter_map(Value::as_object)
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(count, OPERATIONS.len());
    }

    #[test]
    fn the_lists_are_the_parsers() {
        for s in STATES {
            assert!(writ_gate::State::parse(s).is_some(), "{s}");
        }
        // A new state fails to compile here until it is listed above.
        let listed = |s: writ_gate::State| match s {
            writ_gate::State::Proposed
            | writ_gate::State::Refused
            | writ_gate::State::Allowed
            | writ_gate::State::Forbidden
            | writ_gate::State::Held
            | writ_gate::State::Approved
            | writ_gate::State::Rejected
            | writ_gate::State::Recorded
            | writ_gate::State::Applied => STATES.contains(&s.name()),
        };
        assert!(STATES
            .iter()
            .filter_map(|s| writ_gate::State::parse(s))
            .all(listed));
        for l in LANGUAGES {
            assert!(writ_core::Language::parse(l).is_some(), "{l}");
        }
        for l in writ_core::Language::ALL {
            assert!(LANGUAGES.contains(&l.name()), "{}", l.name());
        }
    }
}
