//! The proposal's JSON Schema, published by `writ schema proposal` and used
//! to constrain model output.

use serde_json::{json, Value};

/// JSON Schema (draft 2020-12) of the proposal wire form.
pub fn schema() -> Value {
    let base = |kind: &str, field: &str, field_schema: Value| {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["kind", "title", "rationale", "citations", field],
            "properties": {
                "version": { "const": crate::PROPOSAL_VERSION },
                "kind": { "const": kind },
                "title": { "type": "string", "minLength": 1, "maxLength": 200 },
                "rationale": { "type": "string", "minLength": 1 },
                "citations": { "type": "array", "items": { "type": "integer", "minimum": 1 } },
                field: field_schema,
            }
        })
    };
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "writ:proposal:v1",
        "title": "writ proposal",
        "description": "What a model or tool may propose to writ. Nothing in it is ever executed: edits are recorded, and applied only by `writ apply` after the gate.",
        "oneOf": [
            base("edit", "diff", json!({ "type": "string", "minLength": 1, "description": "unified diff, paths relative to the repository" })),
            base("note", "text", json!({ "type": "string", "minLength": 1 })),
            base("rule-change", "diff", json!({ "type": "string", "minLength": 1, "description": "unified diff to *.toml files in the rules folder" })),
            base("command", "argv", json!({ "type": "array", "minItems": 1, "items": { "type": "string" }, "description": "suggested command; writ never runs it" })),
        ]
    })
}
