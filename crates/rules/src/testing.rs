//! Rule-set tests: fixtures of facts with the expected outcome.

use crate::{Facts, Outcome, RuleSet};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    facts: Facts,
    expect: Outcome,
    /// Determining rule ids expected (optional).
    #[serde(default)]
    rules: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "allow" => Ok(Outcome::Allow),
            "forbid" => Ok(Outcome::Forbid),
            "hold" => Ok(Outcome::Hold),
            other => Err(serde::de::Error::custom(format!(
                "unknown outcome `{other}` (allow, forbid, hold)"
            ))),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

/// What `writ rules test` found.
#[derive(Debug, Default)]
pub struct TestReport {
    /// Cases run.
    pub ran: usize,
    /// Failures, one line each.
    pub failures: Vec<String>,
    /// Rule ids no case matched.
    pub unexercised: Vec<String>,
}

impl TestReport {
    /// Passed: at least one case ran and none failed.
    pub fn passed(&self) -> bool {
        self.ran > 0 && self.failures.is_empty()
    }
}

/// Runs every `*.toml` case file in `dir` against `rules`.
pub fn run_tests(rules: &RuleSet, dir: &Path) -> Result<TestReport, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut sources = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("`{}`: {e}", file.display()))?;
        sources.push((file.display().to_string(), text));
    }
    run_test_sources(rules, &sources)
}

/// Runs case files given as (name, text) against `rules`.
pub fn run_test_sources(
    rules: &RuleSet,
    sources: &[(String, String)],
) -> Result<TestReport, String> {
    let mut report = TestReport::default();
    let mut exercised = std::collections::BTreeSet::new();
    for (file, text) in sources {
        let cases: CaseFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            format!("{file}:{line}: {}", e.message().trim())
        })?;
        for case in cases.case {
            report.ran += 1;
            let d = rules.decide(&case.facts);
            exercised.extend(d.matched().iter().cloned());
            let ids: Vec<String> = d.determining().iter().map(|r| r.id.clone()).collect();
            if d.outcome() != case.expect {
                report.failures.push(format!(
                    "{file}: `{}`: expected {:?}, got {:?} ({}; determining {ids:?}; unavailable {:?})",
                    case.name,
                    case.expect,
                    d.outcome(),
                    d.reason(),
                    d.unavailable()
                ));
            } else if let Some(want) = &case.rules {
                let mut want = want.clone();
                want.sort();
                if want != ids {
                    report.failures.push(format!(
                        "{file}: `{}`: expected determining rules {want:?}, got {ids:?}",
                        case.name
                    ));
                }
            }
        }
    }
    report.unexercised = rules
        .rules()
        .iter()
        .map(|r| r.id.clone())
        .filter(|id| !exercised.contains(id))
        .collect();
    Ok(report)
}
