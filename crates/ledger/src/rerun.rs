//! Re-deciding recorded decisions from the facts and rule text the ledger
//! kept (`writ verify --replay`).

use crate::store::LedgerError;
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
    let mut sets: std::collections::HashMap<String, Result<(RuleSet, String), String>> =
        Default::default();
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
            let set = sets
                .entry(hash.clone())
                .or_insert_with(|| load(conn, &hash));
            let (rules, text_hash) = match set {
                Ok(r) => (&r.0, &r.1),
                Err(why) => {
                    differ(why.clone());
                    continue;
                }
            };
            if let Some(bound) = judged.get("rules_text").and_then(|h| h.as_str()) {
                if bound != text_hash {
                    differ(format!(
                        "the rule text stored under {hash} is not the text this decision bound (its comments or examples were rewritten)"
                    ));
                    continue;
                }
            }
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

/// The rule set stored under `hash`, parsed and checked against its hash,
/// with the blake3 of its stored text.
fn load(conn: &Connection, hash: &str) -> Result<(RuleSet, String), String> {
    let text: Option<String> = conn
        .query_row(
            "SELECT sources FROM rulesets WHERE hash = ?1",
            [hash],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| format!("rule set {hash} cannot be read: {e}"))?;
    let text = text.ok_or_else(|| format!("rule set {hash} is not stored in the ledger"))?;
    let sources: Vec<(String, String)> = serde_json::from_str(&text)
        .map_err(|e| format!("rule set {hash} is stored unreadably: {e}"))?;
    let set = RuleSet::parse_many(&sources)
        .map_err(|e| format!("rule set {hash} no longer loads: {e}"))?;
    if set.hash() != hash {
        return Err(format!(
            "rule set {hash} as stored hashes to {}: its text was changed",
            set.hash()
        ));
    }
    Ok((set, crate::store::rules_text_hash(&text)))
}
