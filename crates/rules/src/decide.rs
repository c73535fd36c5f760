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

/// The outcome with everything needed to say why.
///
/// INVARIANT (decisions-from-rules): constructed only by
/// [`RuleSet::decide`]; fields are private and there is no `Deserialize`.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    outcome: Outcome,
    determining: Vec<RuleRef>,
    matched: Vec<String>,
    errors: Vec<String>,
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
    /// Rules that could not be evaluated, and why.
    pub fn errors(&self) -> &[String] {
        &self.errors
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

impl Rule {
    /// Whether every predicate holds; `Err` when a needed fact is missing.
    pub(crate) fn eval(&self, f: &Facts) -> Result<bool, String> {
        let w = &self.when;
        let need_bool = |v: Option<bool>, name: &str| v.ok_or_else(|| f.missing(name));
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
        if !ok {
            // A predicate already failed: missing facts cannot make it match.
            return Ok(false);
        }
        if let Some(want) = w.citations_in_run {
            ok &= need_bool(f.citations_in_run, "citations_in_run")? == want;
        }
        if let Some(min) = w.min_citation_score {
            let score = f
                .min_citation_score
                .ok_or_else(|| f.missing("min_citation_score"))?;
            ok &= score >= min;
        }
        if let Some(want) = w.applies_cleanly {
            ok &= need_bool(f.applies_cleanly, "applies_cleanly")? == want;
        }
        if let Some(want) = w.targets_tracked {
            ok &= need_bool(f.targets_tracked, "targets_tracked")? == want;
        }
        if let Some(channels) = &w.channel {
            ok &= channels.contains(&f.channel.ok_or_else(|| f.missing("channel"))?);
        }
        Ok(ok)
    }
}

impl RuleSet {
    /// Decides `facts`. Order-independent: forbid > hold > allow; no match
    /// or any evaluation error means hold (never allow).
    pub fn decide(&self, facts: &Facts) -> Decision {
        let mut matched: Vec<&Rule> = Vec::new();
        let mut errors = Vec::new();
        for rule in &self.rules {
            match rule.eval(facts) {
                Ok(true) => matched.push(rule),
                Ok(false) => {}
                Err(e) => errors.push(format!("rule `{}` ({}): {e}", rule.id, rule.origin)),
            }
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
        } else if !errors.is_empty() {
            (
                Outcome::Hold,
                Vec::new(),
                "a rule could not be evaluated, so nothing is allowed".to_string(),
            )
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
            errors,
            ruleset_hash: self.hash.clone(),
            rules_version: crate::RULES_VERSION,
            reason,
        }
    }
}
