//! Warnings about rules that load but may not mean what they say.

use crate::rule::Effect;
use crate::RuleSet;

impl RuleSet {
    /// Rules that load but deserve a second look, one line each (shown by
    /// `writ rules check`; they change no decision):
    ///
    /// - an `allow` rule keyed on `proposer` without `channel`: outside
    ///   writ's own model the proposer names itself, so the rule trusts a
    ///   claim;
    /// - a `forbid` or `hold` rule on a fact writ may fail to compute,
    ///   while an `allow` rule for the same kinds does not need that fact:
    ///   when it is unavailable the forbid or hold rule does not match, and
    ///   the allow rule may allow what it was meant to stop.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.rules {
            if r.effect == Effect::Allow && r.when.proposer.is_some() && r.when.channel.is_none() {
                out.push(format!(
                    "rule `{}` ({}) allows by `proposer` alone: outside writ's own model a proposer names itself, so anyone can claim that name; add `channel` (say `channel = [\"cli\"]`) so it also depends on how the proposal arrived",
                    r.id, r.origin
                ));
            }
        }
        for r in self.rules.iter().filter(|r| r.effect != Effect::Allow) {
            for fact in r.when.fallible() {
                let exposed: Vec<String> = self
                    .rules
                    .iter()
                    .filter(|a| a.effect == Effect::Allow && a.when.kinds_overlap(&r.when))
                    .filter(|a| !a.when.fallible().contains(&fact))
                    .map(|a| format!("`{}`", a.id))
                    .collect();
                if !exposed.is_empty() {
                    out.push(format!(
                        "{} rule `{}` ({}) needs fact `{fact}`: when writ cannot compute it the rule does not match, and allow rule(s) {} do not need it, so they may allow what it would stop; require `{fact}` in them too",
                        effect_name(r.effect),
                        r.id,
                        r.origin,
                        exposed.join(", ")
                    ));
                }
            }
        }
        out
    }
}

fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Forbid => "forbid",
        Effect::Hold => "hold",
    }
}
