//! `writ bench gate`: what replaying the chain on every write costs.
//!
//! Approve and apply verify the whole chain and replay the proposal's own
//! events before they write; intake replays the proposal's events. This
//! measures intake, verify, approve and apply on a fresh ledger and on one
//! of about N events (held notes), in throwaway git repositories, as a
//! same-run baseline. Reported, never asserted.

use crate::exit::{CmdResult, ExitCode, Failure};
use crate::out::outln;
use anyhow::{anyhow, Context};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use writ_gate::{ApplyOptions, Gate, Proposer};

fn git(dir: &Path, args: &[&str]) -> Result<(), Failure> {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running git")?
        .status
        .success();
    if ok {
        Ok(())
    } else {
        Err(Failure::new(
            ExitCode::Error,
            anyhow!("git {args:?} failed"),
        ))
    }
}

/// A throwaway git repository with one committed source file.
fn scratch(tag: &str) -> Result<PathBuf, Failure> {
    let dir = std::env::temp_dir().join(format!("writ-bench-gate-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).context("creating the scratch repository")?;
    std::fs::write(dir.join("src/x.rs"), "pub fn x() {}\n").context("writing src/x.rs")?;
    git(&dir, &["init", "-q", "-b", "main"])?;
    git(&dir, &["config", "user.email", "bench@writ.invalid"])?;
    git(&dir, &["config", "user.name", "bench"])?;
    git(&dir, &["add", "-A"])?;
    git(&dir, &["commit", "-q", "-m", "bench"])?;
    Ok(dir)
}

/// Milliseconds of one run of `f`.
fn ms<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64() * 1e3, out)
}

/// One row: (events before, intake ms, verify ms, approve ms, apply ms).
fn row(events: usize) -> Result<(usize, [f64; 4]), Failure> {
    let dir = scratch(&events.to_string())?;
    let gate = Gate::new(dir.clone(), dir.join(".writ"), None);
    let cli = Proposer::cli("bench");
    let note = |n: usize| {
        json!({ "kind": "note", "title": format!("note {n}"), "rationale": "fill", "citations": [], "text": "t" })
            .to_string()
    };
    // Each held note is two events: received, held.
    for n in 0..events / 2 {
        gate.intake(&note(n), &cli, json!({}), None)?;
    }
    let edit = json!({
        "kind": "edit", "title": "bench edit", "rationale": "r", "citations": [],
        "diff": "--- a/src/x.rs\n+++ b/src/x.rs\n@@ -1 +1 @@\n-pub fn x() {}\n+pub fn x() { }\n",
    })
    .to_string();
    let (intake, r) = ms(|| gate.intake(&edit, &cli, json!({}), None));
    let id = r?.id;
    let (verify, r) = ms(|| gate.verify(false));
    r?;
    let (approve, r) = ms(|| gate.settle(&id, "bench", true, "bench", writ_rules::Channel::Cli));
    r?;
    let (apply, r) = ms(|| gate.apply(&id, "human:bench", ApplyOptions::default()));
    r?;
    let count = gate.verify(false)?.count as usize;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((count, [intake, verify, approve, apply]))
}

pub fn run(events: usize) -> CmdResult {
    outln!("events   intake ms   verify ms   approve ms   apply ms");
    for n in [0, events] {
        let (count, [i, v, a, p]) = row(n)?;
        outln!("{count:>6}   {i:>9.1}   {v:>9.1}   {a:>10.1}   {p:>8.1}");
    }
    outln!("(approve and apply each verify the whole chain first; a fresh ledger is the same-run baseline)");
    Ok(ExitCode::Ok)
}
