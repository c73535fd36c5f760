//! The dependency graph enforces writ's invariants (ARCHITECTURE.md): a
//! crate cannot do what it cannot reach.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};

/// The host platform, from `rustc -vV` (other platforms' crates need not
/// be downloaded to answer).
fn host() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_string()
}

/// Package name -> names of its normal (non-dev) dependencies, from `cargo metadata`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", &host()])
        // The run-time variable: a binary built from another clone into the
        // shared target directory must look at this one.
        .current_dir(std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
            || env!("CARGO_MANIFEST_DIR").into(),
            std::path::PathBuf::from,
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| names[d["pkg"].as_str().unwrap()].clone())
                .collect();
            (names[n["id"].as_str().unwrap()].clone(), deps)
        })
        .collect()
}

fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(p) = stack.pop() {
        for d in graph.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    seen
}

/// Fails naming each crate in `banned` that `from` can reach.
fn assert_cannot_reach(from: &str, banned: &[&str]) {
    let reached = reachable(&graph(), from);
    let bad: Vec<&&str> = banned.iter().filter(|b| reached.contains(**b)).collect();
    assert!(bad.is_empty(), "{from} reaches {bad:?}");
}

#[test]
fn the_rule_crate_cannot_reach_models_indexes_or_stores() {
    assert_cannot_reach(
        "writ-rules",
        &[
            "candle-core",
            "candle-transformers",
            "faiss",
            "rusqlite",
            "writ-index",
            "writ-embed",
            "tokenizers",
        ],
    );
}

#[test]
fn the_proposal_crate_is_plain_data() {
    assert_cannot_reach(
        "writ-proposal",
        &[
            "candle-core",
            "faiss",
            "rusqlite",
            "writ-rules",
            "writ-index",
            "writ-embed",
        ],
    );
}

#[test]
fn the_index_never_loads_a_model_itself() {
    assert_cannot_reach(
        "writ-index",
        &["candle-core", "writ-embed", "writ-rules", "writ-proposal"],
    );
}

#[test]
fn the_inference_crate_can_only_generate() {
    assert_cannot_reach(
        "writ-llm",
        &[
            "writ-ledger",
            "writ-rules",
            "writ-index",
            "writ-proposal",
            "rusqlite",
            "faiss",
        ],
    );
}

#[test]
fn the_ledger_cannot_reach_a_model() {
    assert_cannot_reach(
        "writ-ledger",
        &["candle-core", "writ-llm", "writ-embed", "faiss"],
    );
}

/// The one door: only the gate crate depends on the ledger, so the CLI,
/// the server and MCP can change state only through `writ-gate`.
#[test]
fn only_the_gate_crate_depends_on_the_ledger() {
    let g = graph();
    let direct: Vec<&String> = g
        .iter()
        .filter(|(_, deps)| deps.contains("writ-ledger"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(direct, ["writ-gate"], "direct dependents of writ-ledger");
}

#[test]
fn the_gate_cannot_reach_a_model() {
    assert_cannot_reach(
        "writ-gate",
        &["candle-core", "writ-llm", "writ-embed", "tokenizers"],
    );
}

/// The front ends are thin and separate: the HTTP server and MCP are
/// crates over the service that cannot reach each other, the command
/// line's parser or its terminal output; the service cannot reach a web
/// framework or the command line.
#[test]
fn the_front_ends_are_separate_crates_over_the_service() {
    assert_cannot_reach("writ-serve", &["writ-mcp", "writ", "clap", "indicatif"]);
    assert_cannot_reach(
        "writ-mcp",
        &["writ-serve", "writ", "axum", "clap", "indicatif"],
    );
    assert_cannot_reach(
        "writ-service",
        &[
            "writ-serve",
            "writ-mcp",
            "writ",
            "axum",
            "tokio",
            "clap",
            "indicatif",
        ],
    );
}

/// The ask pipeline sees retrieval only as hits and the model only
/// through its `Generator` trait: it cannot load an embedding model, and
/// it reaches the ledger only through the gate.
#[test]
fn the_ask_pipeline_sees_hits_and_a_generator() {
    assert_cannot_reach("writ-ask", &["writ-embed", "writ-service", "axum", "clap"]);
    let g = graph();
    assert!(
        !g["writ-ask"].contains("writ-ledger"),
        "writ-ask depends on the ledger directly"
    );
}

/// The eval only reads a repository and searches a copy: it cannot reach
/// the gate, the ledger, a model loader or a front end, so measuring can
/// change no state and propose nothing.
#[test]
fn the_eval_can_only_measure() {
    assert_cannot_reach(
        "writ-eval",
        &[
            "writ-gate",
            "writ-ledger",
            "writ-embed",
            "writ-llm",
            "writ-service",
            "writ",
            "clap",
        ],
    );
}
