//! The end-to-end harness: temp git repositories and the real `writ` binary.
//!
//! Tests use the real models from the model cache (the test command fetches
//! them first); a missing model fails the test with the fix, never skips it.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

pub mod browser;
pub mod llama;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A git repository in a temp dir.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("writ-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "t@writ.invalid"]);
        repo.git(&["config", "user.name", "writ test"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {rel}: {e}"));
        }
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path().join(rel)).unwrap_or_else(|e| panic!("rm {rel}: {e}"));
    }

    pub fn rename(&self, from: &str, to: &str) {
        std::fs::rename(self.path().join(from), self.path().join(to))
            .unwrap_or_else(|e| panic!("mv {from} {to}: {e}"));
    }

    pub fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap_or_else(|e| panic!("git: {e}"));
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn commit_all(&self) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", "test"]);
    }

    /// `writ ARGS` run in the repository.
    pub fn writ(&self, args: &[&str]) -> Output {
        writ_cmd(self.path(), args)
            .output()
            .unwrap_or_else(|e| panic!("running writ: {e}"))
    }

    /// `writ ARGS --json`, which must succeed, parsed.
    pub fn writ_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.writ(&all);
        assert_ok(&out, &all);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "writ {all:?}: stdout is not JSON ({e}): {}",
                text(&out.stdout)
            )
        })
    }

    /// `writ search ARGS --json`: the hits of the answer, after checking
    /// the answer says which index generation it searched.
    pub fn search_hits(&self, args: &[&str]) -> serde_json::Value {
        let answer = self.writ_json(args);
        assert!(
            answer["generation"].as_i64().is_some_and(|g| g >= 1),
            "{answer}"
        );
        answer["hits"].clone()
    }

    pub fn catalog(&self) -> PathBuf {
        self.path().join(".writ").join("catalog.sqlite")
    }
}

/// A `writ` command in `dir` with the test environment.
pub fn writ_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_writ"));
    // Not the developer's own ~/.config/writ/config.toml: a test that
    // wants a user configuration sets XDG_CONFIG_HOME itself.
    cmd.args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", "/nonexistent/writ-tests");
    cmd
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn assert_ok(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "writ {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The pinned third-party corpus the test command fetched (requests 2.32.3).
pub fn corpus() -> PathBuf {
    let p = std::env::var_os("WRIT_TEST_CORPUS").map(PathBuf::from).unwrap_or_else(|| {
        panic!("WRIT_TEST_CORPUS is not set: run the tests with scripts/test.sh, which fetches the pinned corpus")
    });
    assert!(
        p.is_dir(),
        "WRIT_TEST_CORPUS `{}` is not a folder",
        p.display()
    );
    p
}

/// Copies every file under `from` into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("{}: {e}", from.display()))
        .flatten()
    {
        let target = to.join(entry.file_name());
        let ty = entry.file_type().unwrap_or_else(|e| panic!("{e}"));
        if ty.is_dir() {
            std::fs::create_dir_all(&target).unwrap_or_else(|e| panic!("{e}"));
            copy_tree(&entry.path(), &target);
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Hits' paths from `writ search --json` output.
pub fn hit_paths(hits: &serde_json::Value) -> Vec<String> {
    hits.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h["path"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `writ ARGS` in `dir` with `input` on its stdin, spawned (for tests that
/// must bound or interrupt it).
pub fn spawn_with_stdin(dir: &Path, args: &[&str], input: &str) -> std::process::Child {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = writ_cmd(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running writ: {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    stdin
        .write_all(input.as_bytes())
        .unwrap_or_else(|e| panic!("writing stdin: {e}"));
    drop(stdin);
    child
}

/// Waits for `child` at most `limit`; kills it and returns `None` when it
/// is still running then.
pub fn wait_bounded(mut child: std::process::Child, limit: std::time::Duration) -> Option<Output> {
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => {
                return Some(
                    child
                        .wait_with_output()
                        .unwrap_or_else(|e| panic!("collecting writ's output: {e}")),
                )
            }
            Ok(None) if start.elapsed() < limit => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// `writ propose --file - --source attacker --json` of `proposal` in
/// `dir`, bounded to 60 s: (exit code, the JSON it printed or `Null`,
/// stderr).
pub fn propose_in(dir: &Path, proposal: &serde_json::Value) -> (i32, serde_json::Value, String) {
    let child = spawn_with_stdin(
        dir,
        &["propose", "--file", "-", "--source", "attacker", "--json"],
        &proposal.to_string(),
    );
    let out = wait_bounded(child, std::time::Duration::from_secs(60))
        .unwrap_or_else(|| panic!("writ propose ran past 60 s: {proposal}"));
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json, text(&out.stderr))
}

/// The chunk id of the best hit for `query`, to cite.
pub fn chunk_id(repo: &Repo, query: &str) -> i64 {
    let hits = repo.search_hits(&["search", query, "-k", "1"]);
    hits[0]["chunk_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no hit for `{query}`: {hits}"))
}

/// An `edit` proposal with `diff`, citing `citations`.
pub fn edit_proposal(title: &str, diff: &str, citations: &[i64]) -> serde_json::Value {
    serde_json::json!({
        "kind": "edit",
        "title": title,
        "rationale": "a small, grounded change",
        "citations": citations,
        "diff": diff,
    })
}

/// A diff replacing line `line` (1-based) of `path`, no context.
pub fn line_diff(path: &str, line: usize, old: &str, new: &str) -> String {
    format!("--- a/{path}\n+++ b/{path}\n@@ -{line} +{line} @@\n-{old}\n+{new}\n")
}

/// A diff creating `path` with `lines`.
pub fn new_file_diff(path: &str, lines: &[&str]) -> String {
    let mut d = format!(
        "--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for l in lines {
        d.push('+');
        d.push_str(l);
        d.push('\n');
    }
    d
}

/// A file of the repository as text.
pub fn read(repo: &Repo, rel: &str) -> String {
    std::fs::read_to_string(repo.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// An event's hash, as anyone who read writ's source can compute it: the
/// attack tests forge chains with it (only the ledger's key stops them).
#[allow(clippy::too_many_arguments, reason = "one argument per hashed field")]
pub fn event_hash(
    seq: i64,
    pid: &str,
    from: &str,
    to: &str,
    actor: &str,
    reason: &str,
    payload: &str,
    at: i64,
    prev: &str,
) -> (String, String) {
    let payload_hash = blake3::hash(payload.as_bytes()).to_hex().to_string();
    let mut h = blake3::Hasher::new();
    for field in [
        seq.to_string().as_str(),
        pid,
        "transition",
        from,
        to,
        actor,
        reason,
        &payload_hash,
        at.to_string().as_str(),
        prev,
    ] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    (payload_hash, h.finalize().to_hex().to_string())
}

/// Appends a forged approval of held proposal `pid` to the ledger behind
/// `conn`, as an attacker with SQL access who read writ's source would:
/// `held -> approved` by `human:ana`, then `approved -> recorded` with
/// action `A1`, every hash recomputed from the event `seq` (hash `prev`,
/// time `at`), the state row moved and the action row added (the triggers
/// accept all of it; only the ledger's key can tell).
pub fn forge_approval(conn: &rusqlite::Connection, pid: &str, mut seq: i64, prev: &str, at: i64) {
    let mut prev = prev.to_string();
    let basis = seq + 1;
    let forged = [
        (
            "held",
            "approved",
            "human:ana".to_string(),
            "looks fine".to_string(),
            serde_json::json!({ "review": "approved", "reviewer": "ana" }).to_string(),
        ),
        (
            "approved",
            "recorded",
            "writ:ledger".to_string(),
            format!("action A1 recorded from event {basis}"),
            serde_json::json!({ "action": "A1", "basis_seq": basis }).to_string(),
        ),
    ];
    for (from, to, actor, reason, payload) in forged {
        seq += 1;
        let (payload_hash, hash) =
            event_hash(seq, pid, from, to, &actor, &reason, &payload, at, &prev);
        conn.execute(
            "INSERT INTO events (seq, proposal_id, kind, from_state, to_state, actor, reason, payload, payload_hash, at, prev_hash, hash)
             VALUES (?1, ?2, 'transition', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            rusqlite::params![seq, pid, from, to, actor, reason, payload, payload_hash, at, prev, hash],
        )
        .unwrap_or_else(|e| panic!("forging event {seq}: {e}"));
        conn.execute(
            "UPDATE state SET state = ?1, seq = ?2 WHERE proposal_id = ?3",
            rusqlite::params![to, seq, pid],
        )
        .unwrap_or_else(|e| panic!("forging the state row: {e}"));
        prev = hash;
    }
    conn.execute(
        "INSERT INTO actions (id, proposal_id, seq, basis_seq) VALUES ('A1', ?1, ?2, ?3)",
        rusqlite::params![pid, seq, basis],
    )
    .unwrap_or_else(|e| panic!("forging the action row: {e}"));
}
