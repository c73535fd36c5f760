//! One source for the proposal's shape: the JSON Schema (`writ schema
//! proposal`, the MCP tool, the OpenAPI document) is tested against the
//! Rust type it describes, so neither can drift without this failing.
//! (The ask grammar is tied to the same type in `writ-ask`'s tests.)

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use serde_json::{json, Value};
use std::collections::BTreeSet;
use writ_proposal::{schema, Kind, Proposal, PROPOSAL_VERSION};

/// Every kind; the `match` stops compiling when a kind is added.
fn every_kind() -> Vec<Kind> {
    let all = vec![Kind::Edit, Kind::Note, Kind::Command, Kind::RuleChange];
    for k in &all {
        match k {
            Kind::Edit | Kind::Note | Kind::Command | Kind::RuleChange => {}
        }
    }
    all
}

/// The struct's wire fields, from serialising one with every field set.
fn struct_fields() -> BTreeSet<String> {
    let full = Proposal {
        version: PROPOSAL_VERSION,
        kind: Kind::Note,
        title: "t".into(),
        rationale: "r".into(),
        citations: vec![1],
        diff: Some("d".into()),
        text: Some("x".into()),
        argv: Some(vec!["a".into()]),
    };
    serde_json::to_value(full)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn branches() -> Vec<Value> {
    schema()["oneOf"].as_array().unwrap().clone()
}

fn kind_of(branch: &Value) -> String {
    branch["properties"]["kind"]["const"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_schema_has_one_branch_per_kind_named_as_serde_names_it() {
    let in_schema: Vec<String> = branches().iter().map(kind_of).collect();
    let in_rust: Vec<String> = every_kind()
        .iter()
        .map(|k| {
            serde_json::to_value(k)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let (mut a, mut b) = (in_schema.clone(), in_rust.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b, "schema kinds vs serde's names of Kind");
    for k in every_kind() {
        assert_eq!(serde_json::to_value(k).unwrap(), json!(k.name()));
    }
}

#[test]
fn every_schema_property_is_a_field_of_the_struct() {
    let fields = struct_fields();
    for b in branches() {
        let props: BTreeSet<String> = b["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert!(
            props.is_subset(&fields),
            "{}: schema properties {props:?} not all in the struct's {fields:?}",
            kind_of(&b)
        );
        let required: BTreeSet<String> = b["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        assert!(required.is_subset(&props), "{}", kind_of(&b));
        assert_eq!(b["additionalProperties"], json!(false));
        assert_eq!(b["properties"]["version"]["const"], json!(PROPOSAL_VERSION));
    }
}

/// A minimal instance of a branch: each required property with a value
/// of its declared type.
fn instance(b: &Value) -> Value {
    let mut obj = serde_json::Map::new();
    for r in b["required"].as_array().unwrap() {
        let name = r.as_str().unwrap();
        let p = &b["properties"][name];
        let v = if let Some(c) = p.get("const") {
            c.clone()
        } else {
            match p["type"].as_str().unwrap() {
                "string" => json!("some text"),
                "array" if p["items"]["type"] == "integer" => json!([1]),
                "array" => json!(["ls"]),
                t => panic!("{name}: type {t} not covered here"),
            }
        };
        obj.insert(name.to_string(), v);
    }
    Value::Object(obj)
}

#[test]
fn what_the_schema_requires_the_struct_parses_and_what_it_forbids_the_struct_refuses() {
    for b in branches() {
        let good = instance(&b);
        let p = Proposal::from_json(&good.to_string())
            .unwrap_or_else(|e| panic!("{}: {e}: {good}", kind_of(&b)));
        assert_eq!(p.kind.name(), kind_of(&b));
        // Round trip: the struct writes back what the schema describes.
        let back = serde_json::to_value(&p).unwrap();
        for (k, v) in good.as_object().unwrap() {
            assert_eq!(&back[k], v, "{}: field {k}", kind_of(&b));
        }
        // additionalProperties: false <-> deny_unknown_fields.
        let mut extra = good.clone();
        extra["surprise"] = json!(1);
        assert!(Proposal::from_json(&extra.to_string()).is_err(), "{extra}");
        // Each required field is required by the struct too (the payload
        // fields are Options in Rust, required per kind by validation).
        for r in b["required"].as_array().unwrap() {
            let mut missing = good.clone();
            missing.as_object_mut().unwrap().remove(r.as_str().unwrap());
            let parsed = Proposal::from_json(&missing.to_string());
            let payload = ["diff", "text", "argv"].contains(&r.as_str().unwrap());
            assert!(
                parsed.is_err() || payload,
                "{}: the struct parses without `{r}`",
                kind_of(&b)
            );
        }
    }
}
