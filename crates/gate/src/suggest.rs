//! `writ rules suggest`: "let proposals like this one through", drafted
//! as a narrow rule change that goes through the gate like anything else.
//!
//! Precedence is forbid > hold > allow, so an allow rule alone never lets
//! through a proposal a hold rule matched. The draft therefore starts from
//! what decides the proposal now:
//!
//! - forbidden: nothing is drafted (a forbid changes only when a person
//!   edits the forbid rule itself);
//! - held by a hold rule that names paths (CI and build files, agent
//!   instructions, files tools run): nothing is drafted, since such a rule
//!   holds the file whoever proposes and however small the change;
//! - held by a hold rule about how the proposal arrived (writ's own model,
//!   an agent channel): an `[[exception]]` to that rule for exactly this
//!   proposal's shape (kind, channel, its exact paths, at most its size,
//!   and for the model channel the model's weights);
//! - then, unless a rule in force already allows that shape, an allow rule
//!   for it, grounded (a citation; the retrieval run's, when it had one)
//!   and applying cleanly.
//!
//! The drafted rule set is decided against the proposal before anything is
//! recorded: a draft that would not let it through is an error, never a
//! proposal. Only `edit` proposals that cite something can seed a draft.

use crate::intake::{Intake, Proposer};
use crate::{Gate, GateError};
use writ_proposal::Kind;
use writ_rules::{Channel, Facts, Outcome, RuleSet, When};

impl Gate {
    /// Drafts the narrowest rule change that lets proposal `id` through
    /// (see the module documentation) as a `rule-change` diff to
    /// `<rules>/local.toml`, and sends it through the gate as `who`.
    /// Returns the intake and the drafted diff, or why nothing can be
    /// drafted ([`GateError::Invalid`]), recording nothing.
    pub fn draft_rule(&self, id: &str, who: &str) -> Result<(Intake, String), GateError> {
        let p = self.proposal(id)?;
        let no = |why: String| Err(GateError::Invalid(why));
        let run = crate::Run::from_provenance(&p.provenance);
        let valid = self.check(&p.body, run.as_ref()).map_err(|(_, r)| {
            GateError::Invalid(format!(
                "{} is not a valid proposal now: {}",
                p.id,
                r.join("; ")
            ))
        })?;
        let proposer = Proposer::recorded(&p.source, &p.provenance);
        let facts = self.facts(&valid, &proposer, run.as_ref());
        match facts.kind {
            Kind::Edit => {}
            Kind::Command => {
                return no(format!(
                    "{} is a command: writ never runs commands and a person reads each one, so no rule is drafted for it; approve or reject it with `writ review`",
                    p.id
                ))
            }
            Kind::RuleChange => {
                return no(format!(
                    "{} changes the rules, and a person always decides a rule change: no rule is drafted to let rule changes through",
                    p.id
                ))
            }
            Kind::Note => {
                return no(format!(
                    "{} is a note: a note has no paths to narrow a rule to, so a rule letting it through would let every note like it through; approve or reject it with `writ review`",
                    p.id
                ))
            }
        }
        let in_force = self.in_force()?;
        let now = in_force.set.decide(&facts);
        let named = |refs: &[writ_rules::RuleRef]| {
            refs.iter()
                .map(|r| format!("`{}` ({})", r.id, r.why))
                .collect::<Vec<_>>()
                .join("; ")
        };
        match now.outcome() {
            Outcome::Forbid => {
                return no(format!(
                    "{} is forbidden by {}: a forbid is never lifted by a drafted rule (only a person editing the forbid rule changes it), so nothing is drafted",
                    p.id,
                    named(now.determining())
                ))
            }
            Outcome::Allow => {
                return no(format!(
                    "the rules in force now already allow {} ({}): nothing to draft; propose it again",
                    p.id,
                    named(now.determining())
                ))
            }
            Outcome::Hold => {}
        }
        let kept: Vec<writ_rules::RuleRef> = now
            .determining()
            .iter()
            .filter(|r| {
                in_force
                    .set
                    .rules()
                    .iter()
                    .find(|x| x.id == r.id)
                    .is_none_or(|x| x.when.paths_any.is_some() || x.when.paths_all.is_some())
            })
            .cloned()
            .collect();
        if !kept.is_empty() {
            return no(format!(
                "{} is held by {}: that rule holds these files whoever proposes and however small the change, so no exception to it is drafted; a person decides with `writ review approve|reject {}`",
                p.id,
                named(&kept),
                p.id
            ));
        }
        if facts.citations == 0 {
            return no(format!(
                "{} cites no chunk: writ drafts only rules that require a citation, which {} would not meet; propose it again citing what it rests on",
                p.id, p.id
            ));
        }
        let shape = Shape::of(&facts, &p.id, &p.title);
        let dir = self.rules_dir();
        let rel = self.rules_rel().ok_or_else(|| {
            GateError::Invalid(format!(
                "the rules folder `{}` is outside the repository",
                dir.display()
            ))
        })?;
        let local = dir.join("local.toml");
        let old = std::fs::read_to_string(&local).unwrap_or_default();
        let mut added = String::new();
        for r in now.determining() {
            added += &shape.exception(&r.id);
        }
        let mut allow = false;
        let mut decided = decide_with(&dir, &in_force.sources, &old, &added, &facts)?;
        if decided.0 != Outcome::Allow {
            added += &shape.allow_rule();
            allow = true;
            decided = decide_with(&dir, &in_force.sources, &old, &added, &facts)?;
        }
        if decided.0 != Outcome::Allow {
            return no(format!(
                "the drafted rules would still not let {} through ({}): nothing is drafted",
                p.id, decided.1
            ));
        }
        let mut diff = String::new();
        if !dir.is_dir() {
            // Writing the first rule file must not drop the built-in rules.
            diff += &file_diff(
                &format!("{rel}/default.toml"),
                "",
                writ_rules::DEFAULT_RULES,
            );
        }
        diff += &file_diff(
            &format!("{rel}/local.toml"),
            &old,
            &format!("{old}{}{added}", header(&old)),
        );
        let mut what = Vec::new();
        if !now.determining().is_empty() {
            let ids: Vec<String> = now
                .determining()
                .iter()
                .map(|r| format!("`{}`", r.id))
                .collect();
            what.push(format!("an exception to {}", ids.join(" and ")));
        }
        if allow {
            what.push(format!("an allow rule `allow-like-{}`", p.id));
        }
        let held_by = if now.determining().is_empty() {
            "no rule matched it".to_string()
        } else {
            format!("held by {}", named(now.determining()))
        };
        let proposal = serde_json::json!({
            "kind": "rule-change",
            "title": format!("Rule: let edits like {} through", p.id),
            "rationale": format!(
                "{} was held ({held_by}). This adds {} for exactly its shape: {}. Every other proposal is decided as before.",
                p.id,
                what.join(" and "),
                shape.describe()
            ),
            "citations": [],
            "diff": diff,
        });
        let provenance = serde_json::json!({ "via": "writ rules suggest", "from_proposal": p.id });
        let intake = self.intake(
            &proposal.to_string(),
            &Proposer::person(who),
            provenance,
            None,
        )?;
        Ok((intake, diff))
    }
}

/// The comment a new `local.toml` starts with.
fn header(old: &str) -> &'static str {
    if old.is_empty() {
        "# Rules added through reviewed `rule-change` proposals.\n"
    } else {
        ""
    }
}

/// Decides `facts` under the rules in force with `added` appended to
/// `<dir>/local.toml` (whose text is `old`): the outcome and its reason.
fn decide_with(
    dir: &std::path::Path,
    sources: &[(String, String)],
    old: &str,
    added: &str,
    facts: &Facts,
) -> Result<(Outcome, String), GateError> {
    let local = dir.join("local.toml").display().to_string();
    // Rule files sit directly in the folder: local.toml is the one named so.
    let is_local = |n: &str| std::path::Path::new(n).file_name() == Some("local.toml".as_ref());
    let mut sources: Vec<(String, String)> = if dir.is_dir() {
        sources
            .iter()
            .filter(|(n, _)| !is_local(n))
            .cloned()
            .collect()
    } else {
        vec![(
            dir.join("default.toml").display().to_string(),
            writ_rules::DEFAULT_RULES.to_string(),
        )]
    };
    sources.push((local, format!("{old}{}{added}", header(old))));
    let set = RuleSet::parse_many(&sources).map_err(|e| {
        GateError::Invalid(format!(
            "the drafted rules would not load, so nothing is drafted: {e}"
        ))
    })?;
    let d = set.decide(facts);
    Ok((d.outcome(), d.reason().to_string()))
}

/// The shape of one proposal, as rule text matching exactly it.
struct Shape {
    id: String,
    title: String,
    channel: Option<Channel>,
    proposer: String,
    targets: Vec<String>,
    lines: usize,
    in_run: bool,
}

impl Shape {
    fn of(facts: &Facts, id: &str, title: &str) -> Shape {
        Shape {
            id: id.to_string(),
            title: title.to_string(),
            channel: facts.channel,
            proposer: facts.proposer.clone(),
            targets: facts.targets.clone(),
            lines: facts.added + facts.removed,
            in_run: facts.citations_in_run == Some(true),
        }
    }

    /// kind, channel, exact paths, size and, for writ's own model, the
    /// model's weights (a name other channels give themselves adds nothing).
    fn when(&self) -> When {
        When {
            kind: Some(vec![Kind::Edit]),
            channel: self.channel.map(|c| vec![c]),
            proposer: (self.channel == Some(Channel::Model))
                .then(|| vec![writ_rules::glob_escape(&self.proposer)]),
            paths_all: Some(
                self.targets
                    .iter()
                    .map(|t| writ_rules::glob_escape(t))
                    .collect(),
            ),
            max_lines: Some(self.lines),
            ..When::default()
        }
    }

    fn describe(&self) -> String {
        let by = if self.channel == Some(Channel::Model) {
            format!(" from {}", self.proposer)
        } else {
            String::new()
        };
        format!(
            "edits of at most {} changed lines to exactly {}, arriving over `{}`{by}",
            self.lines,
            self.targets.join(", "),
            self.channel.map_or("an unknown channel", Channel::name),
        )
    }

    fn exception(&self, rule: &str) -> String {
        format!(
            "\n[[exception]]\nrule = {}\nwhy = {}\nwhen = {}\n",
            q(rule),
            q(&format!(
                "Drafted by `writ rules suggest {}` ({}): {} may pass this hold; the allow rules then decide.",
                self.id,
                self.title,
                self.describe()
            )),
            inline(&self.when())
        )
    }

    fn allow_rule(&self) -> String {
        let mut when = self.when();
        when.min_citations = Some(1);
        when.applies_cleanly = Some(true);
        if self.in_run {
            when.citations_in_run = Some(true);
        }
        format!(
            "\n[[rule]]\nid = {}\neffect = \"allow\"\nwhy = {}\nwhen = {}\n",
            q(&format!("allow-like-{}", self.id)),
            q(&format!(
                "Drafted by `writ rules suggest {}` ({}): {}, grounded in a citation and applying cleanly.",
                self.id,
                self.title,
                self.describe()
            )),
            inline(&when)
        )
    }
}

/// A TOML basic string (JSON's escapes are TOML's).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A `when` as a TOML inline table on one line.
fn inline(when: &When) -> String {
    let value = serde_json::to_value(when).unwrap_or_default();
    let parts: Vec<String> = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// A unified diff of one file, `old` to `new` (`old` empty: a new file).
pub fn file_diff(path: &str, old: &str, new: &str) -> String {
    let patch = diffy::create_patch(old, new).to_string();
    let body = patch
        .split_once("+++ modified\n")
        .map_or(patch.as_str(), |(_, b)| b);
    let from = if old.is_empty() {
        "/dev/null".to_string()
    } else {
        format!("a/{path}")
    };
    format!("--- {from}\n+++ b/{path}\n{body}")
}
