//! `writ rules suggest`: "always allow this", drafted as a narrow rule
//! change that goes through the gate like anything else.

use crate::intake::{Intake, Proposer};
use crate::{Gate, GateError};
use writ_proposal::Kind;

impl Gate {
    /// Drafts an allow rule as narrow as proposal `id` (its exact paths,
    /// glob characters escaped, its size) as a `rule-change` diff to
    /// `<rules>/local.toml`, and sends it through the gate as `who`.
    /// Returns the intake and the drafted diff.
    pub fn draft_rule(&self, id: &str, who: &str) -> Result<(Intake, String), GateError> {
        let p = self.proposal(id)?;
        let run = crate::Run::from_provenance(&p.provenance);
        let valid = self.check(&p.body, run.as_ref()).map_err(|(_, r)| {
            GateError::Invalid(format!(
                "{} is not a valid proposal: {}",
                p.id,
                r.join("; ")
            ))
        })?;
        if valid.proposal().kind != Kind::Edit {
            return Err(GateError::Invalid(format!(
                "only edit proposals can seed a rule; {} is a {} (commands are held by rule and a rule cannot lift a hold)",
                p.id, p.kind
            )));
        }
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let stats = valid.stats();
        let paths: Vec<String> = valid
            .targets()
            .iter()
            .map(|t| q(&writ_rules::glob_escape(t)))
            .collect();
        let rule = format!(
            "\n[[rule]]\nid = {}\neffect = \"allow\"\nwhy = {}\nwhen = {{ kind = [\"edit\"], channel = [\"cli\"], paths_all = [{}], max_lines = {}, min_citations = 1, applies_cleanly = true }}\n",
            q(&format!("allow-like-{}", p.id)),
            q(&format!("Drafted by `writ rules suggest {}` ({}): edits this small to exactly these files, from the local command line.", p.id, p.title)),
            paths.join(", "),
            stats.added + stats.removed,
        );
        let dir = self.rules_dir();
        let rel = self.rules_rel().ok_or_else(|| {
            GateError::Invalid(format!(
                "the rules folder `{}` is outside the repository",
                dir.display()
            ))
        })?;
        let mut diff = String::new();
        if !dir.is_dir() {
            // Writing the first rule file must not drop the built-in rules.
            diff += &file_diff(
                &format!("{rel}/default.toml"),
                "",
                writ_rules::DEFAULT_RULES,
            );
        }
        let local = dir.join("local.toml");
        let old = std::fs::read_to_string(&local).unwrap_or_default();
        let header = if old.is_empty() {
            "# Rules added through reviewed `rule-change` proposals.\n"
        } else {
            ""
        };
        diff += &file_diff(
            &format!("{rel}/local.toml"),
            &old,
            &format!("{old}{header}{rule}"),
        );
        let proposal = serde_json::json!({
            "kind": "rule-change",
            "title": format!("Rule: allow edits like {}", p.id),
            "rationale": format!("{} was held; this rule would allow edits to {} of at most {} changed lines.", p.id, valid.targets().join(", "), stats.added + stats.removed),
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
