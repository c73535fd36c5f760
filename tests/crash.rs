//! Crash safety on real third-party code (requests 2.32.3, fetched by the
//! test command): SIGKILL or Ctrl-C mid-index leaves an index that searches
//! still use and that the next `writ index` completes, keeping the vectors
//! already computed.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{copy_tree, corpus, writ_cmd, Repo};
use std::time::{Duration, Instant};

fn vectors(repo: &Repo) -> i64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        repo.catalog(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return 0;
    };
    conn.query_row("SELECT COUNT(*) FROM vectors", [], |r| r.get(0))
        .unwrap_or(0)
}

/// A repo indexed once (generation 1), then grown by the corpus.
fn grown_repo() -> (Repo, i64) {
    let repo = Repo::new();
    repo.write(
        "first.py",
        "def first_function():\n    return 'the very first function'\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    let before = vectors(&repo);
    copy_tree(&corpus(), repo.path());
    (repo, before)
}

/// Starts `writ index` and waits until it has committed some vectors.
fn start_and_wait(repo: &Repo, before: i64) -> std::process::Child {
    let mut child = writ_cmd(repo.path(), &["index"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while vectors(repo) <= before {
        assert!(Instant::now() < deadline, "no vectors committed in 300 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "indexing finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

#[test]
fn sigkill_mid_index_then_search_and_finish() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, before) = grown_repo();
    let mut child = start_and_wait(&repo, before);
    // A search during indexing sees the last complete generation.
    let hits = repo.search_hits(&["search", "the very first function", "-k", "1"]);
    assert_eq!(hits[0]["path"], "first.py", "{hits}");
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = vectors(&repo);
    assert!(kept > before);

    let hits = repo.search_hits(&["search", "the very first function", "-k", "1"]);
    assert_eq!(hits[0]["path"], "first.py", "{hits}");
    let report = repo.writ_json(&["index"]);
    assert!(
        report["chunks_reused"].as_i64().unwrap() >= kept - before,
        "{report}"
    );
    assert_eq!(report["files_pending"], 0);
    let hits = repo.search_hits(&[
        "search",
        "prepare the body of a multipart request",
        "-k",
        "5",
    ]);
    assert!(
        common::hit_paths(&hits)
            .iter()
            .any(|p| p.starts_with("src/requests/")),
        "{hits}"
    );
}

#[test]
fn ctrl_c_stops_after_the_batch_and_keeps_the_work() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, before) = grown_repo();
    let mut child = start_and_wait(&repo, before);
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(130), "Ctrl-C exits with 130");
    let status = repo.writ_json(&["status"]);
    assert!(
        status["generation"].as_i64().unwrap() >= 2,
        "the finished files were published: {status}"
    );
    assert!(
        !status["stale"].as_array().unwrap().is_empty(),
        "some files are left for the next run"
    );
    let report = repo.writ_json(&["index"]);
    assert_eq!(report["interrupted"], false);
    assert_eq!(repo.writ_json(&["status"])["stale"], serde_json::json!([]));
}
