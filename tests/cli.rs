//! Exit codes and messages for bad input (documented in the README).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{text, Repo};

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write("a.py", "def alpha():\n    return 'alpha'\n");
    repo.commit_all();
    repo
}

#[test]
fn missing_path_exits_7_naming_it() {
    let repo = repo();
    let out = repo.writ(&["index", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        text(&out.stderr).contains("`no/such/dir` does not exist"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_file_where_a_folder_is_wanted_exits_7_with_its_name_escaped() {
    let repo = repo();
    repo.write("f\x1b[31mred", "x");
    for cmd in ["index", "eval"] {
        let out = repo.writ(&[cmd, "f\x1b[31mred"]);
        assert_eq!(out.status.code(), Some(7), "{cmd}");
        let err = text(&out.stderr);
        assert!(
            err.contains("f\\x1b[31mred` is not a folder"),
            "{cmd}: {err}"
        );
        assert!(!err.contains('\x1b'), "{cmd}: {err}");
    }
}

#[test]
fn missing_models_exit_3_with_the_fetch_command() {
    let repo = repo();
    let out = common::writ_cmd(repo.path(), &["index"])
        .env("WRIT_MODELS", repo.path().join("no-models"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("embedding model `all-MiniLM-L6-v2` is missing"),
        "{err}"
    );
    assert!(err.contains("writ models fetch all-minilm-l6-v2"), "{err}");
}

#[test]
fn a_locked_index_exits_4() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    std::fs::create_dir_all(repo.path().join(".writ")).unwrap();
    let lock = std::fs::File::create(repo.path().join(".writ/lock")).unwrap();
    lock.try_lock().unwrap();
    let out = repo.writ(&["index"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("is locked by another writ process"),
        "{}",
        text(&out.stderr)
    );
    drop(lock);
    common::assert_ok(&repo.writ(&["index"]), &["index"]);
}

/// A manifest this writ cannot read (corrupt, or a precision from a newer
/// writ, with escapes in it) is refused with a plain error whose advice,
/// `--rebuild`, works.
#[test]
fn an_unreadable_manifest_is_refused_and_rebuild_recovers() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    repo.writ_json(&["index"]);
    let conn = rusqlite::Connection::open(repo.catalog()).unwrap();
    let manifest: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'manifest'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    m["model"]["precision"] = "bf16\u{1b}[31m".into();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'manifest'",
        [m.to_string()],
    )
    .unwrap();
    drop(conn);
    for args in [&["index"][..], &["search", "alpha"][..]] {
        let out = repo.writ(args);
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("--rebuild") && !err.contains('\u{1b}'),
            "{err}"
        );
    }
    let report = repo.writ_json(&["index", "--rebuild"]);
    assert_eq!(report["generation"], 1, "{report}");
    common::assert_ok(&repo.writ(&["search", "alpha"]), &["search"]);
}

#[test]
fn an_index_built_with_another_model_exits_5_naming_both() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    repo.writ_json(&["index"]);
    let conn = rusqlite::Connection::open(repo.catalog()).unwrap();
    let manifest: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'manifest'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    m["model"]["id"] = "bge-small-en".into();
    m["model"]["sha256"] = "0".repeat(64).into();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'manifest'",
        [m.to_string()],
    )
    .unwrap();
    drop(conn);
    for args in [&["index"][..], &["search", "alpha"][..]] {
        let out = repo.writ(args);
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("bge-small-en") && err.contains("all-MiniLM-L6-v2"),
            "{err}"
        );
        assert!(err.contains("--rebuild"), "{err}");
    }
    let report = repo.writ_json(&["index", "--rebuild"]);
    assert_eq!(report["chunks_embedded"], 1, "{report}");
    common::assert_ok(&repo.writ(&["search", "alpha"]), &["search"]);
}

#[test]
fn searching_before_indexing_exits_6() {
    let repo = repo();
    let out = repo.writ(&["search", "alpha"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        text(&out.stderr).contains("writ index"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bad_glob_or_language_is_refused_clearly() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    repo.writ_json(&["index"]);
    let out = repo.writ(&["search", "alpha", "--lang", "cobol"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown language `cobol`"),
        "{}",
        text(&out.stderr)
    );
    let out = repo.writ(&["search", "alpha", "--path", "a[b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad path glob `a[b`"),
        "{}",
        text(&out.stderr)
    );
}

/// `writ index` refuses the file system's root, the home folder and a
/// large folder that is not a repository, before loading any model, and
/// says why and how to insist (`--force`).
#[test]
fn index_refuses_root_home_and_large_loose_folders() {
    let home = tempfile::tempdir().unwrap();
    let out = common::writ_cmd(home.path(), &["index", "/"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("file system's root"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("--force"));
    let out = common::writ_cmd(home.path(), &["index"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("home folder"),
        "{}",
        text(&out.stderr)
    );
    assert!(!home.path().join(".writ").exists(), "nothing was written");

    // A folder of 20,001 files without .git: refused; the same files in a
    // git repository are a repository's business.
    let loose = tempfile::tempdir().unwrap();
    for d in 0..21 {
        let dir = loose.path().join(format!("d{d}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..1000 {
            std::fs::write(dir.join(format!("f{f}.txt")), "x").unwrap();
        }
    }
    let out = common::writ_cmd(loose.path(), &["index"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("not a git repository") && err.contains("20000"),
        "{err}"
    );
    assert!(!loose.path().join(".writ").exists());
}

/// An empty or blank query is refused (it would return arbitrary hits),
/// before the index or a model is opened.
#[test]
fn an_empty_query_is_refused() {
    let repo = repo();
    for q in ["", "  ", "\t"] {
        let out = repo.writ(&["search", q]);
        assert_eq!(out.status.code(), Some(1), "{q:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("the query is empty"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// `--precision` is the local model's: with an embedding server it is
/// refused before anything is sent (exit 3, the flag named).
#[test]
fn precision_with_an_embedding_server_is_refused() {
    let repo = repo();
    let out = repo.writ(&[
        "index",
        "--embed-url",
        "http://127.0.0.1:9/v1",
        "--precision",
        "int8",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--precision int8"),
        "{}",
        text(&out.stderr)
    );
}
