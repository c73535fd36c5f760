//! Evaluating rules against facts, and the decision that results.

use crate::load::RuleSet;
use crate::rule::{Effect, Rule};
use crate::Facts;
use serde::Serialize;

/// The gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Becomes a recorded action.
    Allow,
    /// Refused by rule.
    Forbid,
    /// A person decides.
    Hold,
}

/// A rule named in a decision, with its justification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// Rule id.
    pub id: String,
    /// The rule's `why`.
    pub why: String,
}

/// A hold rule whose `when` held but which an exception lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Excepted {
    /// The hold rule's id.
    pub rule: String,
    /// Where the exception is (`file:line`).
    pub exception: String,
    /// The exception's `why`.
    pub why: String,
}

/// The outcome with everything needed to say why.
///
/// INVARIANT (decisions-from-rules): constructed only by
/// [`RuleSet::decide`]; fields are private and there is no `Deserialize`.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    outcome: Outcome,
    determining: Vec<RuleRef>,
    matched: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    excepted: Vec<Excepted>,
    unavailable: Vec<String>,
    ruleset_hash: String,
    rules_version: &'static str,
    reason: String,
}

impl Decision {
    /// The verdict.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    /// The rules that decided (all matching rules of the winning effect).
    pub fn determining(&self) -> &[RuleRef] {
        &self.determining
    }
    /// Every rule that matched, any effect.
    pub fn matched(&self) -> &[String] {
        &self.matched
    }
    /// Hold rules whose `when` held but which an exception lifted (they
    /// are not in [`Decision::matched`]).
    pub fn excepted(&self) -> &[Excepted] {
        &self.excepted
    }
    /// Facts writ could not compute that a rule needed, one line each
    /// ("rule `allow-x`: fact `applies_cleanly` is unavailable: why"):
    /// each such rule did not match. Only rules whose other predicates all
    /// held are named, since for the rest the fact made no difference.
    pub fn unavailable(&self) -> &[String] {
        &self.unavailable
    }
    /// Hash of the rule set that decided.
    pub fn ruleset_hash(&self) -> &str {
        &self.ruleset_hash
    }
    /// One line for people.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// How a rule fared against the facts.
#[derive(Debug, Default)]
pub(crate) struct Eval {
    /// Every predicate held.
    pub(crate) matched: bool,
    /// The facts it needed that writ could not compute, with why, when
    /// every predicate on an available fact held (otherwise they did not
    /// matter). Non-empty only when `matched` is false.
    pub(crate) unavailable: Vec<String>,
}

impl Rule {
    /// Whether every predicate holds. A predicate on an unavailable fact
    /// does not match, and the fact is named in [`Eval::unavailable`].
    pub(crate) fn eval(&self, f: &Facts) -> Eval {
        let w = &self.when;
        let mut ok = true;
        if let Some(kinds) = &w.kind {
            ok &= kinds.contains(&f.kind);
        }
        if let Some(set) = &self.any {
            ok &= f.targets.iter().any(|t| set.is_match(t));
        }
        if let Some(set) = &self.all {
            ok &= !f.targets.is_empty() && f.targets.iter().all(|t| set.is_match(t));
        }
        let le = |limit: Option<usize>, v: usize| limit.is_none_or(|l| v <= l);
        ok &= le(w.max_files, f.files) && le(w.max_lines, f.added + f.removed);
        ok &= le(w.max_added, f.added) && le(w.max_removed, f.removed);
        ok &= w.min_citations.is_none_or(|m| f.citations >= m) && le(w.max_citations, f.citations);
        if let Some(set) = &self.proposers {
            ok &= set.is_match(&f.proposer);
        }
        let mut missing = Vec::new();
        // Each fallible predicate: `Some(holds)`, or `None` when its fact
        // is unavailable (recorded, and no match).
        let mut check = |name: &'static str, holds: Option<bool>| match holds {
            Some(h) => ok &= h,
            None => missing.push(name),
        };
        if let Some(want) = w.citations_in_run {
            check("citations_in_run", f.citations_in_run.map(|v| v == want));
        }
        if let Some(min) = w.min_citation_score {
            // NaN compares false: a score writ could not compare never matches.
            check("min_citation_score", f.min_citation_score.map(|s| s >= min));
        }
        if let Some(want) = w.applies_cleanly {
            check("applies_cleanly", f.applies_cleanly.map(|v| v == want));
        }
        if let Some(want) = w.targets_tracked {
            check("targets_tracked", f.targets_tracked.map(|v| v == want));
        }
        if let Some(channels) = &w.channel {
            check("channel", f.channel.map(|c| channels.contains(&c)));
        }
        Eval {
            matched: ok && missing.is_empty(),
            // Only when the missing facts were all that stood in the way.
            unavailable: if ok {
                missing
                    .into_iter()
                    .map(|name| format!("rule `{}`: {}", self.id, f.missing(name)))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

impl RuleSet {
    /// Decides `facts`. Order-independent: forbid > hold > allow; no
    /// match means hold (never allow). A rule that needs a fact writ could
    /// not compute does not match, and the decision says so
    /// ([`Decision::unavailable`]).
    pub fn decide(&self, facts: &Facts) -> Decision {
        let mut matched: Vec<&Rule> = Vec::new();
        let mut excepted = Vec::new();
        let mut unavailable = Vec::new();
        for rule in &self.rules {
            let eval = rule.eval(facts);
            if eval.matched {
                // An exception whose fact is unavailable does not match,
                // so the hold stays.
                let lifted: Vec<Excepted> = self
                    .exceptions
                    .iter()
                    .filter(|x| x.rule == rule.id && x.matcher.eval(facts).matched)
                    .map(|x| Excepted {
                        rule: rule.id.clone(),
                        exception: x.origin.clone(),
                        why: x.why.clone(),
                    })
                    .collect();
                if lifted.is_empty() {
                    matched.push(rule);
                } else {
                    excepted.extend(lifted);
                }
            }
            unavailable.extend(eval.unavailable);
        }
        let of = |effect: Effect| -> Vec<RuleRef> {
            matched
                .iter()
                .filter(|r| r.effect == effect)
                .map(|r| RuleRef {
                    id: r.id.clone(),
                    why: r.why.clone(),
                })
                .collect()
        };
        let (forbid, hold, allow) = (of(Effect::Forbid), of(Effect::Hold), of(Effect::Allow));
        let (outcome, determining, reason) = if !forbid.is_empty() {
            (Outcome::Forbid, forbid, "a forbid rule matched".to_string())
        } else if !hold.is_empty() {
            (Outcome::Hold, hold, "a hold rule matched".to_string())
        } else if !allow.is_empty() {
            (
                Outcome::Allow,
                allow,
                "an allow rule matched and no forbid or hold rule did".to_string(),
            )
        } else {
            (
                Outcome::Hold,
                Vec::new(),
                "no rule matched: held by default".to_string(),
            )
        };
        // INVARIANT (decisions-from-rules): the only construction site.
        Decision {
            outcome,
            determining,
            matched: matched.iter().map(|r| r.id.clone()).collect(),
            excepted,
            unavailable,
            ruleset_hash: self.hash.clone(),
            rules_version: crate::RULES_VERSION,
            reason,
        }
    }
}
