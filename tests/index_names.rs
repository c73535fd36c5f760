//! File names the index must not confuse, and trees it must not choke on,
//! end to end: the real `writ` binary, real models, temp git repositories.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::Repo;
use std::os::unix::ffi::OsStrExt;

/// (path, reason) of each file `writ status --json` lists as skipped.
fn skipped(status: &serde_json::Value) -> Vec<(String, String)> {
    status["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every path in the catalog's `files` table.
fn catalog_paths(repo: &Repo) -> Vec<String> {
    let conn = rusqlite::Connection::open(repo.catalog()).unwrap();
    let mut stmt = conn
        .prepare("SELECT path FROM files ORDER BY path")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

#[test]
fn names_differing_only_in_invalid_utf8_are_never_merged() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = Repo::new();
    let raw = |name: &[u8]| repo.path().join(std::ffi::OsStr::from_bytes(name));
    std::fs::write(
        raw(b"a\xff.py"),
        "def first_parser(text):\n    return text.split()\n",
    )
    .unwrap();
    std::fs::write(
        raw(b"a\xfe.py"),
        "def second_parser(text):\n    return text.lower()\n",
    )
    .unwrap();
    std::fs::create_dir(raw(b"d\xff")).unwrap();
    std::fs::write(raw(b"d\xff/inner.py"), "def inner():\n    return 1\n").unwrap();
    repo.write("ok.py", "def ok():\n    return 3\n");

    let report = repo.writ_json(&["index"]);
    assert_eq!(report["files_added"], 1, "{report}");
    assert_eq!(report["files_skipped"], 3, "{report}");
    assert_eq!(catalog_paths(&repo), ["ok.py"]);

    let status = repo.writ_json(&["status"]);
    let reason = writ_index::NOT_UTF8.to_string();
    assert_eq!(
        skipped(&status),
        [
            ("a\\xfe.py".to_string(), reason.clone()),
            ("a\\xff.py".to_string(), reason.clone()),
            ("d\\xff/".to_string(), reason),
        ]
    );
    assert_eq!(status["stale"], serde_json::json!([]));
    let text = status.to_string();
    assert!(!text.contains('\u{fffd}'), "a lossy name: {text}");

    // Each run sees the same: nothing added, changed or deleted.
    let again = repo.writ_json(&["index"]);
    assert_eq!(again["files_unchanged"], 1, "{again}");
    for field in ["files_added", "files_changed", "files_deleted"] {
        assert_eq!(again[field], 0, "{field}: {again}");
    }
    assert_eq!(again["generation"], report["generation"], "{again}");
    let all = repo.search_hits(&["search", "def", "-k", "50", "--mode", "lexical"]);
    assert_eq!(common::hit_paths(&all), ["ok.py"]);
}

#[test]
fn a_tree_1500_folders_deep_is_indexed_and_reindexed() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // One-letter folders: 3,000 bytes of path, within Linux's PATH_MAX.
    let repo = Repo::new();
    let rel = format!("{}bottom.py", "d/".repeat(1500));
    repo.write(&rel, "def at_the_bottom():\n    return 'deep'\n");

    let first = repo.writ_json(&["index"]);
    assert_eq!(first["files_added"], 1, "{first}");
    assert_eq!(first["files_skipped"], 0, "{first}");
    // The no-op re-index and status must complete and agree.
    let again = repo.writ_json(&["index"]);
    assert_eq!(again["files_unchanged"], 1, "{again}");
    assert_eq!(again["chunks_embedded"], 0, "{again}");
    assert_eq!(again["generation"], first["generation"], "{again}");
    let status = repo.writ_json(&["status"]);
    assert_eq!(status["files"], 1, "{status}");
    assert_eq!(status["stale"], serde_json::json!([]), "{status}");
    assert_eq!(status["skipped"], serde_json::json!([]), "{status}");
    assert_eq!(catalog_paths(&repo), [rel]);
}
