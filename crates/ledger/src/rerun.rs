//! Re-deciding recorded decisions from the facts and rule text the ledger
//! kept (`writ verify --replay`).

use crate::types::LedgerError;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use writ_rules::{Facts, RuleSet};

/// One recorded decision that a replay could not reproduce.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// The event that recorded the decision.
    pub seq: i64,
    /// Its proposal.
    pub proposal: String,
    /// What differs, or why it cannot be re-decided.
    pub problem: String,
}

/// What a replay of every decision found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayReport {
    /// Decisions re-decided with the same outcome and rules.
    pub same: usize,
    /// Decisions recorded before facts were kept (older ledgers).
    pub without_facts: usize,
    /// Decisions that differ or cannot be re-decided.
    pub differ: Vec<Replay>,
}

/// Re-decides every decision (the gate's, and those taken again at
/// approval) from its recorded facts and the rule set stored under its hash.
pub(crate) fn replay(conn: &Connection) -> Result<ReplayReport, LedgerError> {
    let mut report = ReplayReport::default();
    let mut stmt = conn.prepare("SELECT seq, proposal_id, payload FROM events ORDER BY seq")?;
    let rows: Vec<(i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut sets: std::collections::HashMap<String, Result<RuleSet, String>> = Default::default();
    for (seq, proposal, payload) in rows {
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
        for judged in [Some(&payload), payload.get("regate")]
            .into_iter()
            .flatten()
        {
            let Some(decision) = judged.get("decision") else {
                continue;
            };
            let mut differ = |problem: String| {
                report.differ.push(Replay {
                    seq,
                    proposal: proposal.clone(),
                    problem,
                })
            };
            let Some(facts) = judged.get("facts") else {
                report.without_facts += 1;
                continue;
            };
            let facts: Facts = match serde_json::from_value(facts.clone()) {
                Ok(f) => f,
                Err(e) => {
                    differ(format!("the recorded facts do not read back: {e}"));
                    continue;
                }
            };
            let hash = decision
                .get("ruleset_hash")
                .and_then(|h| h.as_str())
                .unwrap_or_default()
                .to_string();
            let Some(text) = judged.get("rules_text").and_then(|h| h.as_str()) else {
                differ(format!("the decision binds no rule text (rule set {hash})"));
                continue;
            };
            let set = sets
                .entry(text.to_string())
                .or_insert_with(|| load(conn, text, &hash));
            let rules = match set {
                Ok(r) => &*r,
                Err(why) => {
                    differ(why.clone());
                    continue;
                }
            };
            let again = serde_json::to_value(rules.decide(&facts)).unwrap_or_default();
            let mut diffs = Vec::new();
            for field in ["outcome", "determining", "matched"] {
                if again.get(field) != decision.get(field) {
                    diffs.push(format!(
                        "{field}: recorded {}, replayed {}",
                        decision.get(field).unwrap_or(&serde_json::Value::Null),
                        again.get(field).unwrap_or(&serde_json::Value::Null)
                    ));
                }
            }
            if diffs.is_empty() {
                report.same += 1;
            } else {
                differ(diffs.join("; "));
            }
        }
    }
    Ok(report)
}

/// The rule set whose text hashes to `text`, parsed, and checked against
/// the text hash and the rule-set hash the decision recorded.
fn load(conn: &Connection, text: &str, hash: &str) -> Result<RuleSet, String> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT sources FROM rulesets WHERE hash = ?1",
            [text],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| format!("rule text {text} cannot be read: {e}"))?;
    let stored = stored.ok_or_else(|| format!("rule text {text} is not stored in the ledger"))?;
    if crate::types::rules_text_hash(&stored) != text {
        return Err(format!(
            "the rule text stored under {text} was rewritten (its comments, examples or rules changed)"
        ));
    }
    let sources: Vec<(String, String)> = serde_json::from_str(&stored)
        .map_err(|e| format!("rule text {text} is stored unreadably: {e}"))?;
    let set = RuleSet::parse_many(&sources)
        .map_err(|e| format!("rule text {text} no longer loads: {e}"))?;
    if set.hash() != hash {
        return Err(format!(
            "rule text {text} is rule set {}, not the {hash} the decision names",
            set.hash()
        ));
    }
    Ok(set)
}
