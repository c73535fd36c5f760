//! Apply: a recorded edit, written to the working tree all or nothing.
//!
//! One apply at a time per repository (`<index>/apply.lock`). Under the
//! lock, the proposal's state is derived from its own events (so a second
//! apply of the same action sees `applied` and refuses before writing),
//! the ledger must verify, validation and the rules in force are re-run,
//! the targets are read beneath the root, checked against git, patched
//! exactly, each new text staged beside its target (fsynced) and renamed
//! into place; the `applied` event commits after the renames. Any failure
//! puts back what was already renamed and is recorded as a refused
//! transition.

use crate::beneath::{Root, Staged};
use crate::intake::Run;
use crate::{git, Gate, GateError};
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use writ_ledger::{Ledger, State};

/// How to apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Apply outside a git repository (no uncommitted-change check is
    /// possible there).
    pub no_git: bool,
}

/// What an apply wrote.
#[derive(Debug, serde::Serialize)]
pub struct Applied {
    /// The proposal.
    pub id: String,
    /// The files written (or deleted), relative to the repository.
    pub files: Vec<String>,
}

/// The lock file, beside the ledger.
pub(crate) const LOCK_FILE: &str = "apply.lock";

impl Gate {
    /// Applies a recorded edit or rule change (`P1` or `A1`) as `actor`.
    pub fn apply(
        &self,
        id: &str,
        actor: &str,
        options: ApplyOptions,
    ) -> Result<Applied, GateError> {
        let mut ledger = self.ledger_write()?;
        let lock_path = self.index.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&lock_path)
            .map_err(|source| GateError::Io {
                path: lock_path.clone(),
                source,
            })?;
        lock.lock().map_err(|source| GateError::Io {
            path: lock_path,
            source,
        })?;
        let pid = ledger.resolve(id)?;
        self.require_sound(&mut ledger, &pid, State::Applied, actor)?;
        let p = ledger.proposal(&pid)?;
        let state = ledger.derived_state(&pid)?;
        let refuse = |ledger: &mut Ledger, why: String| {
            GateError::Ledger(ledger.refuse_transition(&pid, State::Applied, actor, &why))
        };
        if state != State::Recorded {
            return Err(refuse(
                &mut ledger,
                format!("{pid} is {}, not a recorded action", state.name()),
            ));
        }
        let run = Run::from_provenance(&p.provenance);
        let valid = match self.check(&p.body, run.as_ref()) {
            Ok(v) => v,
            Err((_, r)) => {
                return Err(refuse(
                    &mut ledger,
                    format!("re-check failed: {}", r.join("; ")),
                ))
            }
        };
        if !valid.proposal().kind.has_diff() {
            return Err(refuse(
                &mut ledger,
                format!(
                    "only edit and rule-change actions are applied; {pid} is a {}",
                    p.kind
                ),
            ));
        }
        let (rules, facts, decision) = match self.decide_again(&p, &valid, run.as_ref())? {
            Ok(judged) => judged,
            Err(why) => return Err(refuse(&mut ledger, why)),
        };
        // An action the rules allowed (no person) stands only while the
        // rules in force still allow it; one a person approved stands
        // unless the rules now forbid it.
        let by_rules = ledger
            .action_of(&pid)?
            .map(|a| a.basis_seq())
            .and_then(|b| ledger.events(&pid).ok()?.into_iter().find(|e| e.seq == b))
            .is_some_and(|e| e.to == "allowed");
        if by_rules && decision.outcome() != writ_rules::Outcome::Allow {
            return Err(refuse(
                &mut ledger,
                format!(
                    "the rules allowed this without a person, but the rules in force now say {} ({}); propose it again for a person to review",
                    serde_json::to_value(decision.outcome())
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    decision.reason()
                ),
            ));
        }
        let root = Root::open(&self.repo).map_err(|source| GateError::Io {
            path: self.repo.clone(),
            source,
        })?;
        let targets: Vec<String> = valid.targets().to_vec();
        let mut before = Vec::new();
        for t in &targets {
            match root.read(t) {
                Ok(b) => before.push((t.clone(), b)),
                Err(e) => return Err(refuse(&mut ledger, format!("`{t}` cannot be read: {e}"))),
            }
        }
        if git::is_repo(&self.repo) {
            match git::dirty(&self.repo, &before) {
                Ok(d) if d.is_empty() => {}
                Ok(d) => {
                    return Err(refuse(
                        &mut ledger,
                        format!(
                            "the touched files have uncommitted changes: {}",
                            d.join(", ")
                        ),
                    ))
                }
                Err(e) => return Err(refuse(&mut ledger, e)),
            }
        } else if !options.no_git {
            return Err(refuse(
                &mut ledger,
                format!(
                    "`{}` is not a git repository, so uncommitted changes cannot be told apart; pass --no-git to apply anyway",
                    self.repo.display()
                ),
            ));
        }
        let read = |path: &str| {
            Ok(before
                .iter()
                .find(|(t, _)| t == path)
                .and_then(|(_, b)| b.clone()))
        };
        let plan = match crate::intake::plan(&valid, read) {
            Ok(Ok(plan)) => plan,
            Ok(Err(why)) | Err(why) => {
                return Err(refuse(
                    &mut ledger,
                    format!("the diff no longer applies: {why}"),
                ))
            }
        };
        if let Err(why) = write_all(&root, &plan, &before) {
            return Err(refuse(&mut ledger, format!("nothing was changed: {why}")));
        }
        let detail = serde_json::json!({ "files": targets });
        let judgement = writ_ledger::Judgement {
            decision: &decision,
            facts: &facts,
            sources: &rules.sources,
        };
        if let Err(e) = ledger.applied(&pid, actor, detail, Some(&judgement)) {
            let _ = restore(&root, &before);
            return Err(e.into());
        }
        drop(lock);
        Ok(Applied {
            id: pid,
            files: targets,
        })
    }
}

/// Writes every planned file (all staged first, then renamed), putting
/// back what was already changed when a step fails.
fn write_all(
    root: &Root,
    plan: &[(String, Option<String>)],
    before: &[(String, Option<Vec<u8>>)],
) -> Result<(), String> {
    let mut staged: Vec<Staged> = Vec::new();
    let mut deletes = Vec::new();
    for (n, (path, content)) in plan.iter().enumerate() {
        let step = match content {
            Some(text) => root
                .entry(path, true)
                .and_then(|e| e.stage(text.as_bytes(), &n.to_string()))
                .map(|s| staged.push(s)),
            None => root.entry(path, false).map(|e| deletes.push(e)),
        };
        if let Err(e) = step {
            staged.iter().for_each(Staged::discard);
            return Err(format!("`{path}`: {e}"));
        }
    }
    let mut done = 0;
    let mut failure = None;
    for s in &staged {
        match s.commit() {
            Ok(()) => done += 1,
            Err(e) => {
                failure = Some(format!("`{}`: {e}", s.rel()));
                break;
            }
        }
    }
    if failure.is_none() {
        for d in &deletes {
            if let Err(e) = d.remove() {
                failure = Some(format!("`{}`: {e}", d.rel()));
                break;
            }
        }
    }
    match failure {
        None => Ok(()),
        Some(why) => {
            staged[done..].iter().for_each(Staged::discard);
            let restored = restore(root, before);
            Err(match restored {
                Ok(()) => why,
                Err(e) => format!("{why}; and putting files back failed: {e}"),
            })
        }
    }
}

/// Puts every file back as it was (absent files removed).
fn restore(root: &Root, before: &[(String, Option<Vec<u8>>)]) -> Result<(), String> {
    for (n, (path, bytes)) in before.iter().enumerate() {
        let entry = root
            .entry(path, false)
            .map_err(|e| format!("`{path}`: {e}"))?;
        match bytes {
            Some(b) => {
                if entry.read().ok().flatten().as_deref() != Some(b.as_slice()) {
                    entry
                        .stage(b, &format!("restore-{n}"))
                        .and_then(|s| s.commit())
                        .map_err(|e| format!("`{path}`: {e}"))?;
                }
            }
            None => {
                if entry.read().ok().flatten().is_some() {
                    entry.remove().map_err(|e| format!("`{path}`: {e}"))?;
                }
            }
        }
    }
    Ok(())
}
