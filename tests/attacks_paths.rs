//! Attacks on where an edit lands (issue 11, items 1, 5, 6 and 8), end to
//! end through the real `writ` binary on temp git repositories: committed
//! symbolic links inside the repository (into `src/`, onto `.env`, onto
//! `.git`), a FIFO as a target, writ's and git's own folders, case variants
//! of secret names, `edit` proposals that touch the rules folder, `apply`
//! outside a git repository, and glob characters in a target's name.
//!
//! Each test states the fixed contract: a target that passes through a
//! symbolic link or is one is refused at intake (exit 12); a target that is
//! not a regular file is refused, quickly; `.writ/`, `.git` in any case and
//! nested `.git/` are refused or forbidden; secret names are matched in any
//! case; nothing touching the rules folder is recorded without a person, and
//! the rules always load afterwards; `apply` outside git needs `--no-git`;
//! `targets_tracked` is about the exact paths.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{edit_proposal, line_diff, new_file_diff, propose_in, read, text, Repo};
use serde_json::Value;
use std::os::unix::fs::symlink;
use std::time::Duration;

/// A committed repository with a doc, a source file and a secret (plus
/// whatever `setup` adds), indexed; with the chunk id of the doc to cite.
fn indexed(setup: impl FnOnce(&Repo)) -> (Repo, i64) {
    let repo = Repo::new();
    repo.write("docs/guide.md", "# Guide\n\nRun the tool.\n");
    repo.write("src/lib.rs", "pub fn f() {}\n");
    repo.write(".env", "SECRET=1\n");
    setup(&repo);
    repo.commit_all();
    repo.writ_json(&["index"]);
    let cid = common::chunk_id(&repo, "guide run the tool");
    (repo, cid)
}

/// What an attacker does next: apply every recorded action, ignoring
/// refusals, so a wrongly recorded action shows up as a changed file.
fn apply_everything(repo: &Repo) {
    let actions = repo.writ_json(&["actions"]);
    for a in actions.as_array().unwrap() {
        let _ = repo.writ(&["apply", a["action"].as_str().unwrap()]);
    }
}

/// Asserts the intake refused the proposal (exit 12, state `refused`)
/// with a reason containing `why`.
fn assert_refused(code: i32, out: &Value, stderr: &str, why: &str) {
    assert_eq!(
        (code, out["state"].as_str()),
        (12, Some("refused")),
        "expected a refusal at intake ({why}): {out} {stderr}"
    );
    let reasons = out["reasons"].to_string().to_lowercase();
    assert!(
        reasons.contains(why),
        "the reasons should say `{why}`: {out}"
    );
}

#[test]
fn an_edit_through_a_committed_symlink_into_src_is_refused_at_intake() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(|r| symlink("../src", r.path().join("docs/api")).unwrap());
    let (code, out, err) = propose_in(
        repo.path(),
        &edit_proposal(
            "document the api",
            &line_diff(
                "docs/api/lib.rs",
                1,
                "pub fn f() {}",
                "pub fn f() { backdoor() }",
            ),
            &[cid],
        ),
    );
    apply_everything(&repo);
    assert_eq!(
        read(&repo, "src/lib.rs"),
        "pub fn f() {}\n",
        "src/lib.rs was changed by a `doc` edit through docs/api -> ../src ({out})"
    );
    assert_refused(code, &out, &err, "symbolic link");
}

#[test]
fn an_edit_of_a_doc_that_is_a_symlink_to_env_is_refused_at_intake() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(|r| symlink("../.env", r.path().join("docs/settings.md")).unwrap());
    let (code, out, err) = propose_in(
        repo.path(),
        &edit_proposal(
            "settings",
            &line_diff("docs/settings.md", 1, "SECRET=1", "SECRET=attacker"),
            &[cid],
        ),
    );
    apply_everything(&repo);
    assert_eq!(
        read(&repo, ".env"),
        "SECRET=1\n",
        ".env was changed through docs/settings.md -> ../.env ({out})"
    );
    assert_ne!(out["state"], "recorded", "{out}");
    assert_refused(code, &out, &err, "symbolic link");
}

#[test]
fn an_edit_through_a_symlink_to_the_git_folder_is_refused_at_intake() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(|r| symlink("../.git", r.path().join("docs/gitdir")).unwrap());
    let config = read(&repo, ".git/config");
    let n = config.lines().count();
    let mut diff = format!(
        "--- a/docs/gitdir/config\n+++ b/docs/gitdir/config\n@@ -1,{n} +1,{} @@\n",
        n + 2
    );
    for line in config.lines() {
        diff.push_str(&format!(" {line}\n"));
    }
    diff.push_str("+[core]\n+\tfsmonitor = \"touch fsmonitor-ran\"\n");
    let (code, out, err) = propose_in(repo.path(), &edit_proposal("git notes", &diff, &[cid]));
    apply_everything(&repo);
    assert_eq!(
        read(&repo, ".git/config"),
        config,
        ".git/config was changed through docs/gitdir -> ../.git ({out})"
    );
    assert!(!repo.path().join("fsmonitor-ran").exists());
    assert_refused(code, &out, &err, "symbolic link");
}

#[test]
fn a_fifo_target_is_refused_and_propose_does_not_hang() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(|_| {});
    let fifo = repo.path().join("docs/pipe.md");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo failed");
    let proposal = edit_proposal("pipe", &line_diff("docs/pipe.md", 1, "a", "b"), &[cid]);
    let child = common::spawn_with_stdin(
        repo.path(),
        &["propose", "--file", "-", "--source", "attacker", "--json"],
        &proposal.to_string(),
    );
    let out = common::wait_bounded(child, Duration::from_secs(20)).unwrap_or_else(|| {
        panic!("writ propose was still blocked on the FIFO docs/pipe.md after 20 s (killed)")
    });
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_refused(
        out.status.code().unwrap_or(-1),
        &json,
        &text(&out.stderr),
        "regular file",
    );
}

#[test]
fn writ_and_git_internals_are_refused_or_forbidden_never_recorded() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(|_| {});
    repo.write(".writ/serve-token", "tok\n");
    repo.write("sub/.git/config", "[core]\n");
    let cases = [
        (
            ".writ/notes.md",
            new_file_diff(".writ/notes.md", &["planted by a proposal"]),
        ),
        (
            ".writ/serve-token",
            line_diff(".writ/serve-token", 1, "tok", "attacker"),
        ),
        (
            ".GIT/config",
            new_file_diff(".GIT/config", &["[core]", "\tfsmonitor = \"touch x\""]),
        ),
        (
            "sub/.git/config",
            line_diff("sub/.git/config", 1, "[core]", "[core] fsmonitor = x"),
        ),
    ];
    let mut problems = Vec::new();
    for (target, diff) in &cases {
        let (code, out, err) = propose_in(repo.path(), &edit_proposal("t", diff, &[cid]));
        if !matches!(
            (code, out["state"].as_str()),
            (11, Some("forbidden")) | (12, Some("refused"))
        ) {
            problems.push(format!(
                "{target}: exit {code}, state {} (want forbidden or refused) {err}",
                out["state"]
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    apply_everything(&repo);
    assert_eq!(read(&repo, ".writ/serve-token"), "tok\n");
    assert!(!repo.path().join(".writ/notes.md").exists());
    let actions = repo.writ_json(&["actions"]);
    assert!(actions.as_array().unwrap().is_empty(), "{actions}");
}

#[test]
fn secret_names_are_forbidden_in_any_case() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(|r| {
        r.write("docs/keys/SERVER.PEM", "-----BEGIN KEY-----\nkey\n");
        r.write("tests/.ENV", "TOKEN=1\n");
    });
    let mut problems = Vec::new();
    for (target, line, old) in [
        ("docs/keys/SERVER.PEM", 2, "key"),
        ("tests/.ENV", 1, "TOKEN=1"),
    ] {
        let (code, out, _) = propose_in(
            repo.path(),
            &edit_proposal("t", &line_diff(target, line, old, "attacker"), &[cid]),
        );
        if (code, out["state"].as_str()) != (11, Some("forbidden")) {
            problems.push(format!(
                "{target}: exit {code}, state {} (want 11 forbidden): {}",
                out["state"], out["decision"]["reason"]
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The line number (1-based) of the first line of `text` equal to `line`.
fn line_of(text: &str, line: &str) -> usize {
    text.lines()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no line `{line}`"))
        + 1
}

#[test]
fn edits_touching_the_rules_folder_need_a_person_and_rules_always_load() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    const DEFAULT: &str = include_str!("../rules/default.toml");
    let forbid_line = "id = \"forbid-secrets\"";
    // (what, the repository has a rules/ folder, the diff)
    let cases = [
        (
            "an edit breaking rules/default.toml",
            true,
            line_diff(
                "rules/default.toml",
                line_of(DEFAULT, forbid_line),
                forbid_line,
                "id = 3",
            ),
        ),
        (
            "an edit creating rules/README.md beside rules/default.toml",
            true,
            new_file_diff("rules/README.md", &["# Rules", "", "Read them."]),
        ),
        (
            "an edit creating rules/README.md with no rules/ folder yet",
            false,
            new_file_diff("rules/README.md", &["# Rules", "", "Read them."]),
        ),
    ];
    let mut problems = Vec::new();
    for (what, has_rules, diff) in cases {
        let (repo, cid) = indexed(|r| {
            if has_rules {
                r.write("rules/default.toml", DEFAULT);
            }
        });
        let (code, out, err) = propose_in(repo.path(), &edit_proposal(what, &diff, &[cid]));
        if !matches!(
            (code, out["state"].as_str()),
            (10, Some("held")) | (12, Some("refused"))
        ) {
            problems.push(format!(
                "{what}: exit {code}, state {} without a person (want held or refused) {err}",
                out["state"]
            ));
        }
        // Whatever happens next, even with a person's approval, the rules
        // must still load for the next proposal.
        if code == 10 {
            let id = out["id"].as_str().unwrap();
            let _ = repo.writ(&[
                "review",
                "approve",
                id,
                "--reason",
                "looks fine",
                "--as",
                "tester",
            ]);
        }
        apply_everything(&repo);
        let (next, out, err) = propose_in(
            repo.path(),
            &edit_proposal(
                "next",
                &line_diff("src/lib.rs", 1, "pub fn f() {}", "pub fn f() { }"),
                &[cid],
            ),
        );
        if next != 10 {
            problems.push(format!(
                "{what}: the next proposal (a source edit) exited {next}, not 10 (held): {out} {err}"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn apply_outside_a_git_repository_needs_no_git() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("writ-nogit-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    let in_git = std::process::Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        !in_git.status.success(),
        "the temp dir is inside a git work tree"
    );
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/guide.md"), "# Guide\n\nRun the tool.\n").unwrap();
    let run = |args: &[&str]| common::writ_cmd(root, args).output().unwrap();
    common::assert_ok(&run(&["index"]), &["index"]);
    let hits: Value =
        serde_json::from_slice(&run(&["search", "guide run the tool", "-k", "1", "--json"]).stdout)
            .unwrap();
    let cid = hits["hits"][0]["chunk_id"].as_i64().unwrap();
    let (code, out, err) = propose_in(
        root,
        &edit_proposal(
            "clarify",
            &line_diff(
                "docs/guide.md",
                3,
                "Run the tool.",
                "Run the tool on a path.",
            ),
            &[cid],
        ),
    );
    assert_eq!(
        (code, out["state"].as_str()),
        (0, Some("recorded")),
        "precondition: an allowed doc edit ({err})"
    );
    let applied = run(&["apply", "A1"]);
    assert_eq!(
        std::fs::read_to_string(root.join("docs/guide.md")).unwrap(),
        "# Guide\n\nRun the tool.\n",
        "apply wrote outside git, where it cannot see uncommitted changes: {}",
        text(&applied.stdout)
    );
    assert!(
        !applied.status.success(),
        "apply outside git must be refused without --no-git"
    );
    let forced = run(&["apply", "A1", "--no-git"]);
    common::assert_ok(&forced, &["apply", "A1", "--no-git"]);
    assert_eq!(
        std::fs::read_to_string(root.join("docs/guide.md")).unwrap(),
        "# Guide\n\nRun the tool on a path.\n"
    );
}

/// The first JSON value `writ … --json` printed (text may follow it).
fn first_json(stdout: &[u8]) -> Value {
    serde_json::Deserializer::from_slice(stdout)
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON in: {}", text(stdout)))
}

#[test]
fn a_new_file_named_like_a_glob_is_not_tracked() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(|r| r.write("docs/a.md", "# A\n"));
    let proposal = edit_proposal(
        "glob name",
        &new_file_diff("docs/*.md", &["a file named with a star"]),
        &[cid],
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), proposal.to_string()).unwrap();
    let path = file.path().to_str().unwrap();
    let out = repo.writ(&["rules", "explain", path, "--json"]);
    common::assert_ok(&out, &["rules", "explain", path]);
    let explained = first_json(&out.stdout);
    assert_eq!(
        explained["facts"]["targets_tracked"],
        Value::Bool(false),
        "`docs/*.md` does not exist; git's pathspec matched docs/a.md: {explained}"
    );
    // The fact the gate recorded says the same (the gate event carries its facts).
    let (_, out, err) = propose_in(repo.path(), &proposal);
    let id = out["id"].as_str().unwrap_or_else(|| panic!("{out} {err}"));
    let chain = repo.writ_json(&["explain", id]);
    let gate = chain["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["payload"].get("decision").is_some())
        .unwrap_or_else(|| panic!("no gate event: {chain}"))
        .clone();
    assert_eq!(
        gate["payload"]["facts"]["targets_tracked"],
        Value::Bool(false),
        "the gate event should record its facts, targets_tracked false: {gate}"
    );
}
