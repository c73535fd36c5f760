//! MCP resources: the indexed files of the repository as
//! `writ://file/<path>`, read-only, and the template that names them.
//!
//! A URI that is not an indexed file inside the repository (outside it,
//! unindexed, swapped for a link, gone) is answered with MCP's Resource not
//! found (-32002) and the URI as data, as the spec asks.

use crate::rpc::{RpcError, INTERNAL_ERROR, INVALID_PARAMS, RESOURCE_NOT_FOUND};
use serde_json::{json, Value};
use writ_service::{ErrorKind, Service};

/// The most of a file `resources/read` returns: 20,000 tokens by writ's
/// estimate (three bytes a token), under the 25,000 a client accepts.
const MAX_RESOURCE_BYTES: usize = 60_000;

/// The scheme and prefix of every writ resource.
pub const PREFIX: &str = "writ://file/";

/// The URI of indexed file `rel`: bytes outside RFC 3986's unreserved set
/// (and `/`) are percent-encoded, so a name with a space is a valid URI.
pub fn uri(rel: &str) -> String {
    let mut out = String::from(PREFIX);
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The repository path a `writ://file/` URI names, percent-decoded (a
/// client expanding the `{path}` template encodes `/` as `%2F`).
fn path_of(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix(PREFIX)?.as_bytes();
    let mut bytes = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        if b == b'%' {
            let hex = rest.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(b);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

fn not_found(uri: &str, why: impl std::fmt::Display) -> RpcError {
    RpcError::new(RESOURCE_NOT_FOUND, format!("resource not found: {why}"))
        .with_data(json!({ "uri": uri }))
}

/// `resources/list`: every indexed file.
pub fn list(service: &Service) -> Result<Value, RpcError> {
    let files = service
        .indexed_files()
        .map_err(|e| RpcError::new(INTERNAL_ERROR, e.to_string()))?;
    let list: Vec<Value> = files
        .iter()
        .map(|f| json!({ "uri": uri(f), "name": f, "mimeType": "text/plain" }))
        .collect();
    Ok(json!({ "resources": list }))
}

/// `resources/templates/list`: the one template, `writ://file/{path}`.
pub fn templates() -> Value {
    json!({ "resourceTemplates": [{
        "uriTemplate": format!("{PREFIX}{{path}}"),
        "name": "file",
        "title": "An indexed file of the repository",
        "description": "The text of an indexed file, by its path relative to the repository root (as in search hits). Files outside the repository or not indexed are not served.",
        "mimeType": "text/plain",
    }] })
}

/// `resources/read`: the text of one indexed file.
pub fn read(service: &Service, params: &Value) -> Result<Value, RpcError> {
    let uri = params["uri"]
        .as_str()
        .ok_or_else(|| RpcError::new(INVALID_PARAMS, "resources/read needs a `uri` string"))?;
    let rel = path_of(uri).ok_or_else(|| {
        not_found(
            uri,
            format_args!("`{uri}` is not a writ resource ({PREFIX}<path>)"),
        )
    })?;
    let text = service.indexed_file(&rel).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotIndexed => not_found(uri, format_args!("{e}")),
        _ => RpcError::new(INTERNAL_ERROR, e.to_string()),
    })?;
    // A resource never exceeds what a client takes from one result: a
    // larger file is cut, and says so in its text and in `_meta`.
    let total = text.len();
    if total > MAX_RESOURCE_BYTES {
        let mut end = MAX_RESOURCE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let cut = format!(
            "{}\n… [writ: cut at {end} of {total} bytes; search with a path filter for the part you need]\n",
            &text[..end]
        );
        return Ok(
            json!({ "contents": [{ "uri": uri, "mimeType": "text/plain", "text": cut,
            "_meta": { "truncated": true, "bytes": total } }] }),
        );
    }
    Ok(json!({ "contents": [{ "uri": uri, "mimeType": "text/plain", "text": text }] }))
}
