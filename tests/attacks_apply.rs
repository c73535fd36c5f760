//! Attacks on what `writ apply` writes (issue 11, items 2, 3 and 4), end to
//! end through the real `writ` binary on temp git repositories: diffs whose
//! hunks say one thing and apply another (lines beyond a hunk's counts, a
//! hunk applied at another line than its header states), parallel applies
//! of one action, a multi-file apply failing half way, SIGKILL in the middle
//! of writing large files, and a folder swapped for a symbolic link to the
//! outside while actions are applied.
//!
//! The contract: diffs are strict (a hunk's counts cover exactly its lines,
//! its header's line is where it applies: no offset, no fuzz), an action is
//! applied at most once, an apply writes all its files or none and records
//! a refusal when it writes none, each file is replaced atomically, and no
//! write ever leaves the repository.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{edit_proposal, line_diff, new_file_diff, propose_in, text, Repo};
use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A committed repository with a doc and `files`, indexed; with the chunk
/// id of the doc to cite.
fn indexed(files: &[(&str, &str)]) -> (Repo, i64) {
    let repo = Repo::new();
    repo.write("docs/guide.md", "# Guide\n\nRun the tool.\n");
    for (path, content) in files {
        repo.write(path, content);
    }
    repo.commit_all();
    repo.writ_json(&["index"]);
    let cid = common::chunk_id(&repo, "guide run the tool");
    (repo, cid)
}

fn read(repo: &Repo, rel: &str) -> String {
    std::fs::read_to_string(repo.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The action id recorded for proposal `id`.
fn action_of(repo: &Repo, id: &str) -> String {
    let chain = repo.writ_json(&["explain", id]);
    chain["action"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{id} has no action: {chain}"))
        .to_string()
}

/// Proposes `proposal`, which must be allowed; returns its action id.
fn allowed(repo: &Repo, proposal: &Value) -> String {
    let (code, out, err) = propose_in(repo.path(), proposal);
    assert_eq!(
        (code, out["state"].as_str()),
        (0, Some("recorded")),
        "precondition: an allowed proposal: {out} {err}"
    );
    action_of(repo, out["id"].as_str().unwrap())
}

/// A small deterministic PRNG (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const AUTH: &str =
    "def view(req):\n    check_auth(req)\n    check_auth(req)\n    return render(req)\n";

#[test]
fn a_hunk_with_lines_beyond_its_counts_is_refused_at_intake() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(&[("src/auth.py", AUTH)]);
    // The header covers one line each way; the reviewer also sees a second
    // removal that a lenient parser drops as trailing text.
    let diff = "--- a/src/auth.py\n+++ b/src/auth.py\n@@ -2,1 +2,1 @@\n-    check_auth(req)\n+    check_auth(req, strict=True)\n-    check_auth(req)\n";
    let (code, out, err) = propose_in(repo.path(), &edit_proposal("strict auth", diff, &[cid]));
    assert_eq!(
        (code, out["state"].as_str()),
        (12, Some("refused")),
        "a diff with lines beyond its hunk's counts must be refused at intake: {out} {err}"
    );
    let reasons = out["reasons"].to_string().to_lowercase();
    assert!(
        reasons.contains("hunk"),
        "the reason should name the hunk counts: {out}"
    );
    // The same trick on a doc, which would otherwise be allowed without a person.
    let (code, out, _) = propose_in(
        repo.path(),
        &edit_proposal(
            "clarify",
            "--- a/docs/guide.md\n+++ b/docs/guide.md\n@@ -3,1 +3,1 @@\n-Run the tool.\n+Run the tool on a path.\n-# Guide\n",
            &[cid],
        ),
    );
    assert_eq!(
        (code, out["state"].as_str()),
        (12, Some("refused")),
        "{out}"
    );
    assert_eq!(read(&repo, "src/auth.py"), AUTH);
}

#[test]
fn a_hunk_whose_context_is_not_at_its_stated_line_is_refused() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(&[("docs/list.md", "a\nb\nc\nd\ne\nf\n")]);
    // The header says line 3; the lines it names are lines 1-2.
    let diff = "--- a/docs/list.md\n+++ b/docs/list.md\n@@ -3,2 +3,2 @@\n a\n-b\n+B\n";
    let (code, out, err) = propose_in(repo.path(), &edit_proposal("fix b", diff, &[cid]));
    assert_eq!(
        (code, out["state"].as_str()),
        (12, Some("refused")),
        "a hunk must apply at its stated line (no offset, no fuzz): {out} {err}"
    );
    assert!(repo.writ_json(&["actions"]).as_array().unwrap().is_empty());
}

#[test]
fn review_show_of_a_held_edit_is_the_patch_apply_writes() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(&[("src/auth.py", AUTH)]);
    let diff = "--- a/src/auth.py\n+++ b/src/auth.py\n@@ -1,3 +1,3 @@\n def view(req):\n-    check_auth(req)\n+    check_auth(req, strict=True)\n     check_auth(req)\n";
    let (code, out, err) = propose_in(repo.path(), &edit_proposal("strict auth", diff, &[cid]));
    assert_eq!(code, 10, "precondition: a held source edit: {out} {err}");
    let id = out["id"].as_str().unwrap();
    let show = text(&repo.writ(&["review", "show", id]).stdout);
    for line in [
        "@@ -1,3 +1,3 @@",
        "-    check_auth(req)",
        "+    check_auth(req, strict=True)",
    ] {
        assert!(
            show.contains(line),
            "`{line}` missing from review show:\n{show}"
        );
    }
    common::assert_ok(
        &repo.writ(&["review", "approve", id, "--reason", "ok", "--as", "tester"]),
        &["approve"],
    );
    common::assert_ok(&repo.writ(&["apply", id]), &["apply"]);
    assert_eq!(
        read(&repo, "src/auth.py"),
        "def view(req):\n    check_auth(req, strict=True)\n    check_auth(req)\n    return render(req)\n"
    );
}

#[test]
fn parallel_applies_of_one_action_write_it_exactly_once() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // A large doc (not indexed: over 1 MiB), so each write takes a while.
    let mut big = String::from("# Big\n\nIntro.\n");
    for i in 0..60_000 {
        big.push_str(&format!("line {i} of a long document\n"));
    }
    let (repo, cid) = indexed(&[("docs/big.md", &big)]);
    let expected = big.replacen("Intro.\n", "Intro.\nInserted once.\n", 1);
    let diff = "--- a/docs/big.md\n+++ b/docs/big.md\n@@ -1,3 +1,4 @@\n # Big\n \n Intro.\n+Inserted once.\n";
    for round in 0..40 {
        repo.git(&["checkout", "--", "docs/big.md"]);
        let action = allowed(&repo, &edit_proposal("insert", diff, &[cid]));
        let children: Vec<_> = (0..4)
            .map(|_| {
                common::writ_cmd(repo.path(), &["apply", &action])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let codes: Vec<i32> = children
            .into_iter()
            .map(|c| {
                common::wait_bounded(c, Duration::from_secs(60))
                    .expect("writ apply ran past 60 s")
                    .status
                    .code()
                    .unwrap_or(-1)
            })
            .collect();
        let content = read(&repo, "docs/big.md");
        assert_eq!(
            codes.iter().filter(|c| **c == 0).count(),
            1,
            "round {round}: exit codes {codes:?}"
        );
        assert_eq!(
            content.matches("Inserted once.").count(),
            1,
            "round {round}: the line was inserted {} times ({codes:?})",
            content.matches("Inserted once.").count()
        );
        assert!(
            content == expected,
            "round {round}: docs/big.md is not the patched file ({} bytes, want {})",
            content.len(),
            expected.len()
        );
        common::assert_ok(&repo.writ(&["verify"]), &["verify"]);
    }
}

/// The last event in the chain of `id` (a proposal or action id).
fn last_event(repo: &Repo, id: &str) -> Value {
    let chain = repo.writ_json(&["explain", id]);
    chain["events"].as_array().unwrap().last().unwrap().clone()
}

#[test]
fn apply_writes_nothing_when_a_later_file_no_longer_applies() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(&[("docs/a.md", "alpha\n"), ("docs/b.md", "beta\n")]);
    let diff = format!(
        "{}{}",
        line_diff("docs/a.md", 1, "alpha", "ALPHA"),
        line_diff("docs/b.md", 1, "beta", "BETA")
    );
    let action = allowed(&repo, &edit_proposal("two files", &diff, &[cid]));
    // The second file moves on (committed, so it is not "uncommitted").
    repo.write("docs/b.md", "gamma\n");
    repo.commit_all();
    let out = repo.writ(&["apply", &action]);
    assert!(
        !out.status.success(),
        "apply should fail: {}",
        text(&out.stdout)
    );
    assert_eq!(
        read(&repo, "docs/a.md"),
        "alpha\n",
        "half an action was applied"
    );
    assert_eq!(read(&repo, "docs/b.md"), "gamma\n");
    let last = last_event(&repo, &action);
    assert_eq!(
        (last["kind"].as_str(), last["to"].as_str()),
        (Some("refused-transition"), Some("applied")),
        "{last}"
    );
}

#[test]
fn apply_is_all_or_nothing_when_a_later_write_fails() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(&[("docs/a.md", "alpha\n")]);
    let diff = format!(
        "{}{}",
        line_diff("docs/a.md", 1, "alpha", "ALPHA"),
        new_file_diff("notes/new.md", &["a new note"])
    );
    let action = allowed(&repo, &edit_proposal("two files", &diff, &[cid]));
    // `notes` becomes a file (committed): the second write cannot happen.
    repo.write("notes", "not a folder\n");
    repo.commit_all();
    let out = repo.writ(&["apply", &action]);
    assert!(
        !out.status.success(),
        "apply should fail: {}",
        text(&out.stdout)
    );
    assert_eq!(
        read(&repo, "docs/a.md"),
        "alpha\n",
        "the first file was written before the second failed: not all or nothing"
    );
    assert_eq!(read(&repo, "notes"), "not a folder\n");
    let last = last_event(&repo, &action);
    assert_eq!(
        (last["kind"].as_str(), last["to"].as_str()),
        (Some("refused-transition"), Some("applied")),
        "a failed apply must be recorded as a refused transition: {last}"
    );
    common::assert_ok(&repo.writ(&["verify"]), &["verify"]);
}

/// `n` bytes of printable lines from `rng`.
fn filler(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    while out.len() < n {
        let mut x = rng.next();
        for _ in 0..8 {
            out.push(b'a' + (x % 26) as u8);
            x /= 26;
        }
        if rng.below(8) == 0 {
            out.push(b'\n');
        }
    }
    out.push(b'\n');
    out
}

/// What tells a file changed on disk: inode, length, modification time.
fn stamp(path: &Path) -> Option<(u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

#[test]
fn sigkill_during_apply_leaves_every_file_before_or_after() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = Repo::new();
    repo.write("docs/guide.md", "# Guide\n\nRun the tool.\n");
    repo.write(".gitignore", "docs/big/\n");
    repo.commit_all();
    repo.writ_json(&["index"]);
    let cid = common::chunk_id(&repo, "guide run the tool");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut full = Duration::from_millis(200);
    let mut problems = Vec::new();
    let mut killed_mid_way = 0;
    for round in 0..16u64 {
        let mut files = Vec::new();
        let mut diff = String::new();
        for i in 0..3 {
            let size = 5_000_000 + rng.below(10_000_000) as usize;
            let body = filler(&mut rng, size);
            let head = format!("header {round} {i}");
            let new = format!("changed {round} {i}");
            let before = [format!("{head}\n").into_bytes(), body.clone()].concat();
            let after = [format!("{new}\n").into_bytes(), body].concat();
            let rel = format!("docs/big/f{i}.md");
            repo.write(&rel, &before);
            diff.push_str(&line_diff(&rel, 1, &head, &new));
            files.push((rel, before, after));
        }
        let action = allowed(&repo, &edit_proposal("big", &diff, &[cid]));
        let start = Instant::now();
        let mut child = common::writ_cmd(repo.path(), &["apply", &action])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if round == 0 {
            // Calibrate: how long one whole apply takes here.
            let status = child.wait().unwrap();
            full = start.elapsed();
            assert!(status.success(), "precondition: the first apply succeeds");
        } else if round % 2 == 1 {
            // A random moment of the whole run.
            let at = full.as_micros() as u64 / 3 + rng.below(full.as_micros() as u64);
            std::thread::sleep(Duration::from_micros(at));
            let _ = child.kill();
            let _ = child.wait();
        } else {
            // A random moment of the writing: once any target changes on
            // disk (truncated, rewritten or replaced), 0-8 ms later.
            let paths: Vec<_> = files.iter().map(|(r, _, _)| repo.path().join(r)).collect();
            let initial: Vec<_> = paths.iter().map(|p| stamp(p)).collect();
            let deadline = Instant::now() + full * 4;
            while Instant::now() < deadline
                && child.try_wait().unwrap().is_none()
                && paths.iter().map(|p| stamp(p)).collect::<Vec<_>>() == initial
            {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_micros(rng.below(8000)));
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut states = Vec::new();
        for (rel, before, after) in &files {
            match std::fs::read(repo.path().join(rel)) {
                Ok(now) if now == *before => states.push("before"),
                Ok(now) if now == *after => states.push("after"),
                Ok(now) => {
                    problems.push(format!(
                        "round {round}: {rel} is {} bytes, neither before ({}) nor after ({})",
                        now.len(),
                        before.len(),
                        after.len()
                    ));
                    states.push("torn");
                }
                Err(e) => {
                    problems.push(format!("round {round}: {rel} is missing: {e}"));
                    states.push("missing");
                }
            }
        }
        if states.contains(&"before") && states.contains(&"after") {
            killed_mid_way += 1;
        }
    }
    assert!(
        problems.is_empty(),
        "SIGKILL left files torn (one apply takes {full:?}): {problems:#?}"
    );
    eprintln!("{killed_mid_way} of 15 kills left some files before and others after");
}

/// Every file under `dir`, recursively (not following links).
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[test]
fn swapping_a_folder_for_a_symlink_during_apply_never_writes_outside() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let (repo, cid) = indexed(&[]);
    let outside = tempfile::Builder::new()
        .prefix("writ-outside-")
        .tempdir()
        .unwrap();
    let mut actions = Vec::new();
    for i in 0..30 {
        let path = format!("docs/race-{i}.md");
        let action = allowed(
            &repo,
            &edit_proposal(
                "new doc",
                &new_file_diff(&path, &[&format!("doc {i}")]),
                &[cid],
            ),
        );
        actions.push((action, format!("race-{i}.md")));
    }
    let root = repo.path().to_path_buf();
    let target = outside.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let (docs, real) = (root.join("docs"), root.join("docs.real"));
        std::thread::spawn(move || {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03);
            let mut swaps = 0u32;
            for _ in 0..4000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // docs -> symlink to the outside, then back to the real folder.
                if std::fs::rename(&docs, &real).is_err() {
                    break;
                }
                if symlink(&target, &docs).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_micros(500 + rng.below(2500)));
                if std::fs::remove_file(&docs).is_err() || std::fs::rename(&real, &docs).is_err() {
                    break;
                }
                swaps += 1;
                std::thread::sleep(Duration::from_micros(500 + rng.below(2500)));
            }
            // Leave a real folder at docs (writ may have made one in a gap).
            if std::fs::symlink_metadata(&docs).is_ok_and(|m| m.file_type().is_symlink()) {
                let _ = std::fs::remove_file(&docs);
            }
            if !docs.exists() && real.exists() {
                let _ = std::fs::rename(&real, &docs);
            }
            swaps
        })
    };
    for (action, _) in &actions {
        let _ = repo.writ(&["apply", action]);
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0, "the swapper never swapped");
    let leaked = files_under(outside.path());
    assert!(
        leaked.is_empty(),
        "writ wrote outside the repository through the swapped symlink ({swaps} swaps): {leaked:#?}"
    );
    let mut problems = Vec::new();
    let mut applied = 0;
    for (action, name) in &actions {
        let chain = repo.writ_json(&["explain", action]);
        if chain["proposal"]["state"] != "applied" {
            continue;
        }
        applied += 1;
        let inside = ["docs", "docs.real"].iter().any(|d| {
            std::fs::symlink_metadata(root.join(d)).is_ok_and(|m| m.is_dir())
                && std::fs::symlink_metadata(root.join(d).join(name)).is_ok_and(|m| m.is_file())
        });
        if !inside {
            problems.push(format!(
                "{action} is applied but {name} is not in the repository"
            ));
        }
    }
    assert!(problems.is_empty(), "{applied} applied: {problems:#?}");
}
