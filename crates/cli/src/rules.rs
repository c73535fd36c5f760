//! `writ rules`: check and test a rule set, draft a rule from a held
//! proposal, and dry-run a proposal through the gate without recording it.

use crate::args::{RulesArgs, RulesWhat};
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::out::{outln, print_json};
use crate::term::clean;
use anyhow::anyhow;

/// The rules in force, found as the gate finds them (`writ_rules::discover`).
fn discover_rules(
    repo: &std::path::Path,
    explicit: Option<&std::path::Path>,
) -> Result<(writ_rules::RuleSource, writ_rules::RuleSet), Failure> {
    let refused = |e: writ_rules::RuleErrors| {
        Failure::new(
            ExitCode::Rules,
            anyhow!("the rule set is refused, nothing can be gated until it is fixed:\n{e}"),
        )
    };
    let source = writ_rules::discover(repo, explicit).map_err(refused)?;
    let set = source.load().map_err(refused)?;
    Ok((source, set))
}

/// Where the rules came from, for `rules check|test`.
fn rules_origin(source: &writ_rules::RuleSource, repo: &std::path::Path) -> String {
    match source {
        writ_rules::RuleSource::BuiltIn => {
            format!("{source} (no `rules/` folder in `{}`)", repo.display())
        }
        writ_rules::RuleSource::Dir(_) => source.to_string(),
    }
}

pub fn rules(args: RulesArgs) -> CmdResult {
    match args.what {
        RulesWhat::Check { rules } => {
            let repo = writ_service::find_repo(&crate::ctx::cwd()?, None)?;
            let (source, set) = discover_rules(&repo, rules.as_deref())?;
            let exceptions = match set.exceptions().len() {
                0 => String::new(),
                1 => " and 1 exception".to_string(),
                n => format!(" and {n} exceptions"),
            };
            outln!(
                "{} rules{exceptions} ok (rule-set hash {}): {}",
                set.rules().len(),
                set.hash(),
                clean(&rules_origin(&source, &repo))
            );
            for w in set.warnings() {
                eprintln!("warning: {w}");
            }
            Ok(ExitCode::Ok)
        }
        RulesWhat::Test { rules } => {
            let repo = writ_service::find_repo(&crate::ctx::cwd()?, None)?;
            let (source, set) = discover_rules(&repo, rules.as_deref())?;
            let report = source
                .run_tests(&set)
                .map_err(|e| Failure::new(ExitCode::Rules, anyhow!(e)))?;
            for f in &report.failures {
                outln!("FAIL {}", clean(f));
            }
            if !report.unexercised.is_empty() {
                outln!(
                    "rules no test exercises: {}",
                    clean(&report.unexercised.join(", "))
                );
            }
            outln!("rule tests: {}", clean(&rules_origin(&source, &repo)));
            outln!(
                "{} passed, {} failed",
                report.ran - report.failures.len(),
                report.failures.len(),
            );
            if report.ran == 0 {
                let at = source.dir().map_or_else(
                    || "the built-in fixtures".to_string(),
                    |d| format!("`{}`", d.join("tests").display()),
                );
                return Err(Failure::new(
                    ExitCode::Rules,
                    anyhow!("no rule test ran: add cases to {at}"),
                ));
            }
            Ok(if report.passed() {
                ExitCode::Ok
            } else {
                ExitCode::Rules
            })
        }
        RulesWhat::Suggest { id, reviewer, gate } => crate::review::suggest(&id, reviewer, &gate),
        RulesWhat::Explain { file, gate } => {
            let places = crate::ctx::places(&gate)?;
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Failure::new(ExitCode::NoInput, anyhow!("`{}`: {e}", file.display()))
            })?;
            let proposer = writ_gate::Proposer::cli("explain");
            let out = match places.gate().dry_run(&text, &proposer)? {
                Err(reasons) => {
                    serde_json::json!({ "validation": "refused", "reasons": reasons, "recorded": false })
                }
                Ok((facts, decision)) => {
                    serde_json::json!({ "validation": "passed", "facts": facts, "decision": decision, "recorded": false })
                }
            };
            print_json(&out)?;
            Ok(ExitCode::Ok)
        }
    }
}
