//! Intake and gating: a proposal from any proposer is parsed, validated,
//! turned into facts writ computes itself, decided by the rules and
//! recorded in the ledger. Every proposer goes through `intake`.

use crate::exit::{ExitCode, Failure};
use anyhow::anyhow;
use std::path::{Path, PathBuf};
use std::process::Command;
use writ_ledger::{Ledger, State};
use writ_proposal::{validate, Proposal, ValidProposal, ValidationContext};
use writ_rules::{Decision, Facts, RuleSet};

/// Where the gate's inputs live.
pub struct Places {
    pub repo: PathBuf,
    pub index: PathBuf,
    /// A rules folder, or `None` for writ's built-in default rules.
    pub rules: Option<PathBuf>,
}

/// writ's default rules, compiled in for repositories without their own.
pub const DEFAULT_RULES: &str = include_str!("../../../rules/default.toml");

impl Places {
    /// Resolves `--repo`, `--index` and `--rules` (default: `<repo>/rules`
    /// when it exists, else the built-in default rules).
    pub fn from_args(args: &crate::args::GateArgs) -> Result<Places, Failure> {
        let repo = crate::models::find_repo(args.repo.as_deref())?;
        let index = args.index.clone().unwrap_or_else(|| repo.join(".writ"));
        // A given --rules folder is made absolute and canonical, so a rule
        // change's targets can be checked against it relative to the repo.
        let rules = args
            .rules
            .as_ref()
            .map(|r| r.canonicalize().unwrap_or_else(|_| r.clone()))
            .or_else(|| Some(repo.join("rules")).filter(|p| p.is_dir()));
        Ok(Places { repo, index, rules })
    }

    /// The rules folder a rule change writes to: `--rules`, else `<repo>/rules`.
    pub fn rules_dir(&self) -> PathBuf {
        self.rules
            .clone()
            .unwrap_or_else(|| self.repo.join("rules"))
    }

    /// The rule files as (name, text), with the built-in set standing in
    /// for a repository without its own.
    fn rule_sources(&self) -> Vec<(String, String)> {
        let dir = self.rules_dir();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        if files.is_empty() {
            return vec![(
                dir.join("default.toml").display().to_string(),
                DEFAULT_RULES.to_string(),
            )];
        }
        files
            .into_iter()
            .filter_map(|f| Some((f.display().to_string(), std::fs::read_to_string(&f).ok()?)))
            .collect()
    }

    pub fn rule_set(&self) -> Result<RuleSet, Failure> {
        match &self.rules {
            Some(dir) => load_rules(dir),
            None => {
                RuleSet::parse_str("<built-in rules/default.toml>", DEFAULT_RULES).map_err(|e| {
                    Failure::new(
                        ExitCode::Rules,
                        anyhow!("the built-in rule set is refused:\n{e}"),
                    )
                })
            }
        }
    }
}

impl Places {
    pub fn ledger(&self) -> Result<Ledger, Failure> {
        std::fs::create_dir_all(&self.index).map_err(|e| {
            Failure::new(ExitCode::Error, anyhow!("`{}`: {e}", self.index.display()))
        })?;
        writ_index::ignore_self(&self.index);
        Ledger::open(&self.index.join("ledger.sqlite"))
            .map_err(|e| Failure::new(ExitCode::Error, e))
    }

    /// The index catalog, when there is one (citations are checked against it).
    pub fn catalog(&self) -> Option<writ_index::Catalog> {
        writ_index::Catalog::open_read_only(&self.index).ok()
    }
}

pub fn load_rules(dir: &Path) -> Result<RuleSet, Failure> {
    RuleSet::load_dir(dir).map_err(|e| {
        Failure::new(
            ExitCode::Rules,
            anyhow!("the rule set is refused, nothing can be gated until it is fixed:\n{e}"),
        )
    })
}

/// The outcome of an intake, for output.
#[derive(serde::Serialize)]
pub struct Intake {
    pub id: String,
    pub state: State,
    pub decision: Option<Decision>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// The retrieval run a model proposal came from: each hit's chunk id and
/// its cosine similarity to the question (computed by writ, not the model).
pub struct Run {
    pub hits: std::collections::HashMap<i64, Option<f32>>,
}

impl Run {
    /// The run recorded in a proposal's provenance by `writ ask`
    /// (`retrieval.hits[].chunk` and `.similarity`), if it has one.
    pub fn from_provenance(provenance: &serde_json::Value) -> Option<Run> {
        let hits = provenance.get("retrieval")?.get("hits")?.as_array()?;
        let hits = hits
            .iter()
            .filter_map(|h| {
                let id = h.get("chunk")?.as_i64()?;
                let sim = h
                    .get("similarity")
                    .and_then(|s| s.as_f64())
                    .map(|s| s as f32);
                Some((id, sim))
            })
            .collect();
        Some(Run { hits })
    }
}

/// A proposal that failed parsing or validation: what parsed, and why.
pub type Rejected = (Option<Box<Proposal>>, Vec<String>);

/// Parses and validates `text` against the repository and index. With a
/// retrieval run, citations must be chunks of that run.
pub fn check(text: &str, places: &Places, run: Option<&Run>) -> Result<ValidProposal, Rejected> {
    let proposal = Proposal::from_json(text).map_err(|e| (None, vec![e.to_string()]))?;
    let catalog = places.catalog();
    let known = |id: i64| match run {
        Some(run) => run.hits.contains_key(&id),
        None => catalog
            .as_ref()
            .is_some_and(|c| c.chunk(id).ok().flatten().is_some()),
    };
    let cx = ValidationContext {
        repo: &places.repo,
        known_chunk: &known,
    };
    let valid = validate(proposal.clone(), &cx)
        .map_err(|r| (Some(Box::new(proposal.clone())), r.reasons))?;
    if valid.proposal().kind == writ_proposal::Kind::RuleChange {
        let reasons = check_rule_change(&valid, places);
        if !reasons.is_empty() {
            return Err((Some(Box::new(proposal)), reasons));
        }
    }
    Ok(valid)
}

/// A rule change may only touch `*.toml` files in the rules folder, and
/// the rule set it leaves behind must load.
fn check_rule_change(valid: &ValidProposal, places: &Places) -> Vec<String> {
    let dir = places.rules_dir();
    let rel = dir
        .strip_prefix(&places.repo)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    let mut reasons: Vec<String> = valid
        .targets()
        .iter()
        .filter(|t| {
            rel.is_empty()
                || !t.starts_with(&format!("{rel}/"))
                || !t.ends_with(".toml")
                || t[rel.len() + 1..].contains('/')
        })
        .map(|t| {
            format!("a rule change may only touch *.toml files directly in `{rel}/`, not `{t}`")
        })
        .collect();
    if !reasons.is_empty() {
        return reasons;
    }
    let default_file = format!("{rel}/default.toml");
    if !dir.is_dir() && !valid.targets().contains(&default_file) {
        // The first rule file replaces the built-in rules: it must carry them.
        return vec![format!(
            "`{rel}/` does not exist yet, so this change would replace writ's built-in rules; create `{default_file}` with them too (as `writ rules suggest` does)"
        )];
    }
    let mut sources = places.rule_sources();
    match patched(valid, &places.repo) {
        Ok(Patched::Clean(writes)) => {
            for (path, content) in writes {
                let name = path.display().to_string();
                sources.retain(|(n, _)| *n != name);
                if let Some(text) = content {
                    sources.push((name, text));
                }
            }
            if let Err(e) = RuleSet::parse_many(&sources) {
                reasons.extend(
                    e.0.iter()
                        .map(|e| format!("the rules would not load after this change: {e}")),
                );
            }
        }
        Ok(Patched::Conflict(why)) | Err(why) => reasons.push(why),
    }
    reasons
}

/// Facts writ computes about a valid proposal; never taken from the proposer.
pub fn facts(valid: &ValidProposal, repo: &Path, proposer: &str, run: Option<&Run>) -> Facts {
    let p = valid.proposal();
    let stats = valid.stats();
    let mut errors = Vec::new();
    let no_run = "no retrieval run: the proposal did not come from `writ ask`";
    let (citations_in_run, min_citation_score) = match run {
        None => {
            errors.push(("citations_in_run".to_string(), no_run.to_string()));
            errors.push(("min_citation_score".to_string(), no_run.to_string()));
            (None, None)
        }
        Some(run) => {
            let in_run = p.citations.iter().all(|c| run.hits.contains_key(c));
            let scores: Option<Vec<f32>> = p
                .citations
                .iter()
                .map(|c| run.hits.get(c).copied().flatten())
                .collect();
            let min = match scores {
                Some(s) if !s.is_empty() => s.into_iter().reduce(f32::min),
                _ => {
                    errors.push((
                        "min_citation_score".to_string(),
                        "no cited chunk has a similarity score".to_string(),
                    ));
                    None
                }
            };
            (Some(in_run), min)
        }
    };
    let applies_cleanly = match applies(valid, repo) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(("applies_cleanly".into(), e));
            None
        }
    };
    let targets_tracked = match tracked(valid.targets(), repo) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(("targets_tracked".into(), e));
            None
        }
    };
    Facts {
        kind: p.kind,
        targets: valid.targets().to_vec(),
        files: stats.files,
        added: stats.added,
        removed: stats.removed,
        citations: p.citations.len(),
        citations_in_run,
        min_citation_score,
        similarity_model: None,
        applies_cleanly,
        targets_tracked,
        channel: None,
        proposer: proposer.to_string(),
        errors,
    }
}

/// What applying a diff to the working tree would do.
pub enum Patched {
    /// Every file's new content (`None`: the file is deleted).
    Clean(Vec<(PathBuf, Option<String>)>),
    /// It does not apply cleanly, and why.
    Conflict(String),
}

/// Applies the diff in memory; `Err` when the tree cannot even be read.
pub fn patched(valid: &ValidProposal, repo: &Path) -> Result<Patched, String> {
    let mut out = Vec::new();
    for patch in valid.patches() {
        let base = match &patch.old_path {
            None => String::new(),
            Some(old) => match std::fs::read_to_string(repo.join(old)) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Patched::Conflict(format!("`{old}` does not exist")))
                }
                Err(e) => return Err(format!("`{old}` cannot be read: {e}")),
            },
        };
        match patch.apply(&base) {
            None => {
                return Ok(Patched::Conflict(format!(
                    "the diff does not apply cleanly to `{}`",
                    patch.paths().join(", ")
                )))
            }
            Some(new) => match &patch.new_path {
                Some(path) => out.push((repo.join(path), Some(new))),
                None => out.push((repo.join(patch.old_path.as_deref().unwrap_or("")), None)),
            },
        }
    }
    Ok(Patched::Clean(out))
}

fn applies(valid: &ValidProposal, repo: &Path) -> Result<bool, String> {
    if valid.patches().is_empty() {
        return Ok(false);
    }
    patched(valid, repo).map(|r| matches!(r, Patched::Clean(_)))
}

fn tracked(targets: &[String], repo: &Path) -> Result<bool, String> {
    if targets.is_empty() {
        return Ok(false);
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["ls-files", "--error-unmatch", "--"])
        .args(targets)
        .output()
        .map_err(|e| format!("git cannot run: {e}"))?;
    if out.status.success() {
        return Ok(true);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("did not match") {
        Ok(false)
    } else {
        Err(format!("git ls-files failed: {}", err.trim()))
    }
}

/// Records `text` from `source` and sends it through the gate. A proposal
/// that does not parse or validate is recorded as refused; a refused rule
/// set leaves it `proposed` and fails with the rule errors.
pub fn intake(
    text: &str,
    source: &str,
    provenance: serde_json::Value,
    places: &Places,
    run: Option<&Run>,
) -> Result<Intake, Failure> {
    let valid = match check(text, places, run) {
        Ok(v) => v,
        Err((parsed, reasons)) => {
            return refuse(
                text,
                parsed.as_deref(),
                source,
                provenance,
                places,
                &reasons,
            )
        }
    };
    let mut ledger = places.ledger()?;
    let id = ledger
        .submit(
            source,
            valid.proposal().kind.name(),
            &valid.proposal().title,
            text,
            &provenance,
        )
        .map_err(|e| Failure::new(ExitCode::Error, e))?;
    let rules = places.rule_set().map_err(|f| Failure {
        error: f
            .error
            .context(format!("proposal {id} is recorded and stays `proposed`")),
        ..f
    })?;
    let decision = rules.decide(&facts(&valid, &places.repo, source, run));
    let state = ledger
        .gate(&id, &decision)
        .map_err(|e| Failure::new(ExitCode::Error, e))?;
    Ok(Intake {
        id,
        state,
        decision: Some(decision),
        reasons: Vec::new(),
    })
}

/// Records `text` from `source` as refused for `reasons` without gating
/// it: what failed to parse or validate is kept, never dropped.
pub fn refuse(
    text: &str,
    parsed: Option<&Proposal>,
    source: &str,
    provenance: serde_json::Value,
    places: &Places,
    reasons: &[String],
) -> Result<Intake, Failure> {
    let mut ledger = places.ledger()?;
    let (kind, title) = match parsed {
        Some(p) => (p.kind.name(), p.title.as_str()),
        None => ("unknown", "(not a proposal)"),
    };
    let id = ledger
        .submit(source, kind, title, text, &provenance)
        .map_err(|e| Failure::new(ExitCode::Error, e))?;
    let state = ledger
        .refuse(&id, reasons)
        .map_err(|e| Failure::new(ExitCode::Error, e))?;
    Ok(Intake {
        id,
        state,
        decision: None,
        reasons: reasons.to_vec(),
    })
}

/// The exit code that tells a script what happened to a proposal.
pub fn state_code(state: State) -> ExitCode {
    match state {
        State::Held => ExitCode::Held,
        State::Forbidden => ExitCode::Forbidden,
        State::Refused => ExitCode::Refused,
        _ => ExitCode::Ok,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use super::*;

    fn note(citations: &[i64]) -> String {
        serde_json::json!({ "kind": "note", "title": "t", "rationale": "r", "citations": citations, "text": "x" })
            .to_string()
    }

    #[test]
    fn a_run_bounds_citations_and_supplies_the_run_facts() {
        let dir = tempfile::tempdir().unwrap();
        let places = Places {
            repo: dir.path().to_path_buf(),
            index: dir.path().join(".writ"),
            rules: None,
        };
        let run = Run {
            hits: [(5, Some(0.5)), (8, Some(0.25)), (9, None)]
                .into_iter()
                .collect(),
        };
        // A chunk outside the run is refused, whatever the index holds.
        let (_, reasons) = check(&note(&[5, 6]), &places, Some(&run)).unwrap_err();
        assert!(reasons.iter().any(|r| r.contains('6')), "{reasons:?}");

        let valid = check(&note(&[5, 8]), &places, Some(&run)).unwrap();
        let f = facts(&valid, &places.repo, "model:x", Some(&run));
        assert_eq!(f.citations_in_run, Some(true));
        assert_eq!(f.min_citation_score, Some(0.25));
        assert!(f.errors.is_empty(), "{:?}", f.errors);

        // A cited chunk without a similarity: the fact is unavailable, and
        // says why (a rule using it then holds).
        let valid = check(&note(&[5, 9]), &places, Some(&run)).unwrap();
        let f = facts(&valid, &places.repo, "model:x", Some(&run));
        assert_eq!(f.min_citation_score, None);
        assert!(f.errors.iter().any(|(k, _)| k == "min_citation_score"));

        // Without a run, both facts are unavailable.
        let f = facts(&valid, &places.repo, "external:x", None);
        assert_eq!((f.citations_in_run, f.min_citation_score), (None, None));
    }
}
