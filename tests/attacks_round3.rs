//! Attacks on the keyed ledger and the index folder (round 3), end to end
//! through the real `writ` binary on temp git repositories. Each test here
//! is a hole that was open when it was written: it asserts the safe
//! behaviour, so it fails until the hole is closed.
//!
//! - a ledger adopted with `writ verify --adopt-key` keeps its old events
//!   covered by the chain only, and nothing binds the adopted history: a
//!   tamperer without the key truncates below `keyed_from` and rewrites the
//!   unkeyed prefix (a forged approval), which verifies and is applied;
//! - a key folder inside the repository (`WRIT_KEY_DIR`) is used as is: the
//!   ledger key lands where the agent can read it;
//! - the index folder (`--index` inside the repository) is protected by an
//!   exact, case-sensitive prefix, unlike `.writ`, `.git` and the rules
//!   folder (any letter case);
//! - reads (`writ review show`, the page) show the `proposals` row without
//!   checking it against its keyed first event: a row swapped while the
//!   reviewer reads it and put back before approval is approved unseen.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{edit_proposal, line_diff, read, text, writ_cmd, Repo};
use serde_json::json;
use std::path::Path;
use std::process::Output;

/// `writ ARGS` in `repo` with `input` on stdin and the key folder `keys`
/// (`None`: no key folder at all, as a writ from before keys).
fn writ_keys(repo: &Path, args: &[&str], input: &str, keys: Option<&Path>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = writ_cmd(repo, args);
    cmd.env_remove("XDG_DATA_HOME");
    match keys {
        Some(k) => {
            cmd.env("WRIT_KEY_DIR", k);
        }
        None => {
            cmd.env_remove("WRIT_KEY_DIR").env_remove("HOME");
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running writ: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    common::wait_bounded(child, std::time::Duration::from_secs(60))
        .unwrap_or_else(|| panic!("writ {args:?} ran past 60 s"))
}

fn propose_keys(
    repo: &Path,
    proposal: &serde_json::Value,
    keys: Option<&Path>,
) -> serde_json::Value {
    let out = writ_keys(
        repo,
        &["propose", "--file", "-", "--source", "attacker", "--json"],
        &proposal.to_string(),
        keys,
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "propose printed no JSON: {} {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

// Attack: on a ledger adopted with `--adopt-key` (keyed from event N), an
// agent that can write `.writ/` but not the key folder deletes events down
// to P1's `held` and appends `held -> approved` (human:ana) and `approved ->
// recorded` with recomputed hashes and no MAC, all below N: it verifies and
// `writ apply` writes the backdoor.
#[test]
fn a_history_rewritten_below_an_adopted_key_is_detected() {
    let keys = tempfile::tempdir().unwrap();
    let repo = Repo::new();
    repo.write("src/main.rs", "fn main() {}\n");
    repo.write("src/lib.rs", "pub fn f() {}\n");
    repo.commit_all();
    // A ledger from before keys: two held edits (events 1..=4).
    let diff = line_diff("src/main.rs", 1, "fn main() {}", "fn main() { backdoor() }");
    let p1 = propose_keys(repo.path(), &edit_proposal("x", &diff, &[]), None);
    assert_eq!(p1["state"].as_str(), Some("held"), "precondition: {p1}");
    let pid = p1["id"].as_str().unwrap().to_string();
    let diff2 = line_diff("src/lib.rs", 1, "pub fn f() {}", "pub fn f() { 1; }");
    let p2 = propose_keys(repo.path(), &edit_proposal("y", &diff2, &[]), None);
    assert_eq!(p2["state"].as_str(), Some("held"), "precondition: {p2}");
    let pid2 = p2["id"].as_str().unwrap().to_string();
    // The user checks and adopts it, as writ's hint says.
    let adopted = writ_keys(
        repo.path(),
        &["verify", "--adopt-key"],
        "",
        Some(keys.path()),
    );
    assert!(
        adopted.status.success(),
        "precondition: {}",
        text(&adopted.stderr)
    );
    // The attack, with write access to `.writ/` only.
    let conn = rusqlite::Connection::open(repo.path().join(".writ/ledger.sqlite")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER events_append_only_d; DROP TRIGGER proposals_append_only_d; DROP TRIGGER state_from_chain_d;",
    )
    .unwrap();
    let (seq, prev, at): (i64, String, i64) = conn
        .query_row(
            "SELECT seq, hash, at FROM events WHERE proposal_id = ?1 ORDER BY seq DESC LIMIT 1",
            [&pid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    conn.execute("DELETE FROM events WHERE seq > ?1", [seq])
        .unwrap();
    conn.execute("DELETE FROM state WHERE proposal_id = ?1", [&pid2])
        .unwrap();
    conn.execute("DELETE FROM proposals WHERE id = ?1", [&pid2])
        .unwrap();
    common::forge_approval(&conn, &pid, seq, &prev, at);
    drop(conn);
    let verify = writ_keys(repo.path(), &["verify"], "", Some(keys.path()));
    let applied = writ_keys(repo.path(), &["apply", "A1"], "", Some(keys.path()));
    assert_eq!(
        verify.status.code(),
        Some(9),
        "an adopted history rewritten below the key verifies: {}",
        text(&verify.stdout)
    );
    assert!(
        !applied.status.success(),
        "a forged approval below the adopted key was applied: {}",
        text(&applied.stdout)
    );
    assert_eq!(read(&repo, "src/main.rs"), "fn main() {}\n");
}

// Attack: WRIT_KEY_DIR names a folder inside the repository (a dotfiles
// repository in $HOME has `~/.local/share/writ/keys` inside it by default):
// writ writes the ledger key there, where the agent reads it and can forge
// MACs.
#[test]
fn a_key_folder_inside_the_repository_is_refused() {
    let repo = Repo::new();
    repo.write("src/main.rs", "fn main() {}\n");
    repo.commit_all();
    let keys = repo.path().join(".local/share/writ/keys");
    let diff = line_diff("src/main.rs", 1, "fn main() {}", "fn main() { x() }");
    let out = writ_keys(
        repo.path(),
        &["propose", "--file", "-", "--source", "attacker", "--json"],
        &edit_proposal("x", &diff, &[]).to_string(),
        Some(&keys),
    );
    let planted: Vec<String> = std::fs::read_dir(&keys)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".key"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        planted.is_empty(),
        "the ledger key was written inside the repository ({planted:?}): {}",
        text(&out.stdout)
    );
}

// Attack: `--index state` keeps the index (and ledger) inside the
// repository; the index check is an exact, case-sensitive prefix, so
// `STATE/ledger.sqlite` passes intake, while `.WRIT/…` and `RULES/…` are
// refused in any letter case (on a case-insensitive file system it is the
// ledger).
#[test]
fn the_index_folder_is_protected_in_any_letter_case() {
    let repo = Repo::new();
    repo.write("docs/guide.md", "# Guide\n");
    repo.commit_all();
    let proposal = json!({
        "kind": "edit",
        "title": "state",
        "rationale": "a small change",
        "citations": [],
        "diff": common::new_file_diff("STATE/ledger.sqlite", &["x"]),
    });
    let out = writ_keys(
        repo.path(),
        &[
            "propose", "--index", "state", "--file", "-", "--source", "attacker", "--json",
        ],
        &proposal.to_string(),
        Some(tempfile::tempdir().unwrap().path()),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        v["state"].as_str(),
        Some("refused"),
        "an edit of the index folder in another letter case passed intake: {} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

// Attack: with write access to `.writ/` (no key), swap P1's proposal row
// for a harmless diff while the reviewer reads it (`writ review show`, the
// page), and put it back before the approval: reads never check the row
// against its keyed first event, so the reviewer approves what was not shown.
#[test]
fn a_proposal_row_swapped_under_the_reviewer_is_not_shown() {
    let keys = tempfile::tempdir().unwrap();
    let repo = Repo::new();
    repo.write("src/main.rs", "fn main() {}\n");
    repo.commit_all();
    let evil = line_diff("src/main.rs", 1, "fn main() {}", "fn main() { backdoor() }");
    let p1 = propose_keys(
        repo.path(),
        &edit_proposal("tidy", &evil, &[]),
        Some(keys.path()),
    );
    assert_eq!(p1["state"].as_str(), Some("held"), "precondition: {p1}");
    let pid = p1["id"].as_str().unwrap().to_string();
    let conn = rusqlite::Connection::open(repo.path().join(".writ/ledger.sqlite")).unwrap();
    let body: String = conn
        .query_row("SELECT body FROM proposals WHERE id = ?1", [&pid], |r| {
            r.get(0)
        })
        .unwrap();
    let shown = body.replace("backdoor()", "harmless()");
    conn.execute_batch("DROP TRIGGER proposals_append_only_u;")
        .unwrap();
    conn.execute(
        "UPDATE proposals SET body = ?1 WHERE id = ?2",
        rusqlite::params![shown, pid],
    )
    .unwrap();
    let show = writ_keys(
        repo.path(),
        &["review", "show", &pid],
        "",
        Some(keys.path()),
    );
    // writ re-creates the trigger on open; drop it again to put the row back.
    conn.execute_batch("DROP TRIGGER proposals_append_only_u;")
        .unwrap();
    conn.execute(
        "UPDATE proposals SET body = ?1 WHERE id = ?2",
        rusqlite::params![body, pid],
    )
    .unwrap();
    drop(conn);
    assert!(
        !text(&show.stdout).contains("harmless()"),
        "the reviewer was shown a diff the ledger's keyed events do not bind: {}",
        text(&show.stdout)
    );
}
