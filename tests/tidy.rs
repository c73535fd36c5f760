//! House rules a reader relies on, checked over the source tree (in the
//! spirit of rust-analyzer's tidy tests): every Rust file says what it is
//! (`//!`), no test is marked ignored, no file grows past 800 lines without a
//! stated reason, libraries never print (stdout or stderr), the ledger is
//! reached only through the gate crate (the one door), in code as in
//! `Cargo.toml`, and no crate's modules import each other in a circle.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};
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
        // The test-support crate may say on stderr that it skipped a slow
        // test; every other library reports through return values and
        // callbacks.
        let library = name.starts_with("crates/")
            && !name.starts_with("crates/cli/")
            && !name.starts_with("crates/testkit/")
            && name.contains("/src/");
        if library {
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if !code.starts_with("//")
                    && ["println!(", " print!(", "eprintln!(", "eprint!(", "dbg!("]
                        .iter()
                        .any(|p| code.contains(p))
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

/// Top-level modules of one crate (`src/x.rs` or `src/x/…` is module
/// `x`), and the modules each refers to through `crate::`.
fn module_edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            // Code only: an intra-doc link in a comment is not an import.
            let text: String = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let targets = edges.entry(module.clone()).or_default();
            for piece in text.split("crate::").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // A module of this crate (a file or folder under src/).
                let is_module =
                    src.join(format!("{name}.rs")).is_file() || src.join(&name).is_dir();
                if is_module && name != module {
                    targets.insert(name);
                }
            }
        }
    }
    edges
}

/// A cycle in `edges`, if there is one, as the path around it.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

/// No crate's modules import each other in a circle (each module of the
/// binary is a leaf command or a helper the commands share, never both).
#[test]
fn no_module_imports_form_a_cycle() {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    crates.sort();
    assert!(crates.len() >= 10, "found {} crates", crates.len());
    let cycles: Vec<String> = crates
        .iter()
        .filter_map(|src| {
            cycle(&module_edges(src)).map(|c| format!("{}: {}", rel(src), c.join(" -> ")))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "module import cycles:\n{}",
        cycles.join("\n")
    );
}

/// The workspace denies `unsafe_code`; each place that allows it is listed
/// here, with what makes it sound, so a new one is a reviewed decision and
/// never a quiet `#[allow]`.
#[test]
fn unsafe_code_is_allowed_only_where_listed() {
    let listed: BTreeMap<&str, &str> = [
        (
            "crates/embed/src/kernels.rs",
            "gemm takes raw pointers; every strided view is bounds-checked first",
        ),
        (
            "crates/embed/src/int8.rs",
            "a target_feature (AVX-512 VNNI) kernel called after runtime detection",
        ),
        (
            "crates/index/src/vectors/segment.rs",
            "FAISS reads a memory-mapped file whose shape was checked in safe Rust",
        ),
    ]
    .into_iter()
    .collect();
    let mut found = BTreeMap::new();
    for path in rust_files() {
        if rel(&path) == "tests/tidy.rs" {
            continue; // this test names what it looks for
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let n = text
            .lines()
            .filter(|l| {
                let l = l.trim();
                l.starts_with("unsafe_code,") || l.contains("allow(unsafe_code")
            })
            .count();
        if n > 0 {
            found.insert(rel(&path), n);
        }
    }
    let allowed: BTreeSet<&str> = listed.keys().copied().collect();
    let got: BTreeSet<&str> = found.keys().map(String::as_str).collect();
    assert_eq!(
        got, allowed,
        "unsafe_code is allowed outside the list (or a listed file lost it): {found:?}"
    );
    for (file, n) in &found {
        assert_eq!(
            *n, 1,
            "{file} allows unsafe_code {n} times; one place per file"
        );
    }
}
