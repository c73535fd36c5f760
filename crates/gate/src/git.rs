//! Git, asked precisely: literal pathspecs, exit status checked, and no
//! hook, fsmonitor, filter or environment variable of the repository able
//! to run code or redirect the call.
//!
//! writ never asks git to read the working tree through its own machinery
//! (`git status` runs fsmonitor hooks and clean filters): it reads the
//! index and HEAD with plumbing commands and hashes the working file's
//! bytes itself (`hash-object --no-filters --stdin`), bytes writ read
//! beneath the root without following links.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A git command with a minimal environment and the repository's code
/// paths switched off.
fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.env_clear();
    for var in ["PATH", "HOME", "LANG", "LC_ALL", "XDG_CONFIG_HOME", "USER"] {
        if let Some(v) = std::env::var_os(var) {
            c.env(var, v);
        }
    }
    c.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_LITERAL_PATHSPECS", "1")
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.untrackedCache=false",
            "-c",
            "protocol.allow=never",
            "--no-pager",
            "--literal-pathspecs",
        ])
        .arg("-C")
        .arg(repo)
        .stdin(Stdio::null());
    c
}

/// Runs `args`; stdout on success, else git's own words.
fn run(repo: &Path, args: &[&str], paths: &[String]) -> Result<Vec<u8>, String> {
    let out = git(repo)
        .args(args)
        .arg("--")
        .args(paths)
        .output()
        .map_err(|e| format!("git cannot run: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether `repo` is the top of a git working tree.
pub(crate) fn is_repo(repo: &Path) -> bool {
    git(repo)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            let top = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let (a, b) = (
                Path::new(&top).canonicalize().ok()?,
                repo.canonicalize().ok()?,
            );
            Some(a == b)
        })
        .unwrap_or(false)
}

/// `path -> object id` from NUL-separated `<mode> <type|stage> <oid>\t<path>`
/// lines (`ls-files -s` and `ls-tree` share the shape).
fn entries(out: &[u8], oid_field: usize) -> HashMap<String, String> {
    out.split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let r = String::from_utf8_lossy(r);
            let (meta, path) = r.split_once('\t')?;
            let oid = meta.split(' ').nth(oid_field)?;
            Some((path.to_string(), oid.to_string()))
        })
        .collect()
}

/// The index's entries for `paths`.
fn index(repo: &Path, paths: &[String]) -> Result<HashMap<String, String>, String> {
    run(repo, &["ls-files", "-s", "-z"], paths).map(|o| entries(&o, 1))
}

/// Whether every path is tracked (a literal match in the index: a file
/// named `docs/*.md` is not `docs/a.md`).
pub(crate) fn tracked(repo: &Path, paths: &[String]) -> Result<bool, String> {
    if paths.is_empty() {
        return Ok(false);
    }
    if !is_repo(repo) {
        return Err("not a git repository".into());
    }
    let idx = index(repo, paths)?;
    Ok(paths.iter().all(|p| idx.contains_key(p)))
}

/// The git object id of `bytes` as a blob, with no filter applied.
fn blob_id(repo: &Path, bytes: &[u8]) -> Result<String, String> {
    let mut child = git(repo)
        .args(["hash-object", "--no-filters", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("git cannot run: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(bytes)
            .map_err(|e| format!("git hash-object: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git hash-object: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git hash-object failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The paths among `files` (path, current bytes or `None` if absent) that
/// have uncommitted changes: working bytes differ from the index, or the
/// index from HEAD, or a tracked file is missing. Untracked files are not
/// git's to judge: the exact-content apply protects them.
pub(crate) fn dirty(
    repo: &Path,
    files: &[(String, Option<Vec<u8>>)],
) -> Result<Vec<String>, String> {
    let paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    let idx = index(repo, &paths)?;
    let has_head = git(repo)
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let head = if has_head {
        run(repo, &["ls-tree", "-z", "HEAD"], &paths).map(|o| entries(&o, 2))?
    } else {
        HashMap::new()
    };
    let mut out = Vec::new();
    for (path, bytes) in files {
        let (i, h) = (idx.get(path), head.get(path));
        let changed = match (i, bytes) {
            (None, _) => h.is_some(), // removed from the index but in HEAD
            (Some(_), None) => true,  // tracked, missing from the tree
            (Some(oid), Some(b)) => h != Some(oid) || &blob_id(repo, b)? != oid,
        };
        if changed {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// `user.name` from git's configuration, for naming a reviewer.
pub fn user_name(repo: &Path) -> Option<String> {
    let out = git(repo).args(["config", "user.name"]).output().ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}
