//! House rules a reader relies on, checked over the source tree (in the
//! spirit of rust-analyzer's tidy tests): every Rust file says what it is
//! (`//!`), no test is marked ignored, no file grows past 800 lines without a
//! stated reason, libraries never print, and the ledger is reached only
//! through the gate crate (the one door), in code as in `Cargo.toml`.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::path::{Path, PathBuf};

/// The workspace root, read at run time (a binary built from another clone
/// into a shared target folder must look at this one).
fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Every `.rs` file under `crates/` and `tests/`.
fn rust_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("crates"), root().join("tests")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(out.len() > 50, "found only {} Rust files", out.len());
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

#[test]
fn the_house_rules_hold() {
    let mut problems = Vec::new();
    for file in rust_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = rel(&file);
        if !text.starts_with("//!") {
            problems.push(format!("{name}: does not start with a `//!` doc comment"));
        }
        if text.contains(&["#[", "ignore"].concat()) {
            problems.push(format!("{name}: an ignored test (fix it or delete it)"));
        }
        let lines = text.lines().count();
        if lines > 800 && !text.contains("tidy: long file:") {
            problems.push(format!(
                "{name}: {lines} lines; split it, or say why not with a `tidy: long file:` comment"
            ));
        }
        let library = name.starts_with("crates/")
            && !name.starts_with("crates/cli/")
            && name.contains("/src/");
        if library {
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if !code.starts_with("//")
                    && (code.contains("println!(") || code.contains(" print!("))
                {
                    problems.push(format!("{name}:{}: a library prints", n + 1));
                }
            }
        }
        let door = name.starts_with("crates/ledger/") || name.starts_with("crates/gate/");
        if !door && text.contains(&["writ_", "ledger::"].concat()) {
            problems.push(format!(
                "{name}: reaches the ledger directly; only writ-gate may (the one door)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
