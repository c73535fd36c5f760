//! The read views of the ledger. None of them creates a ledger.

use crate::{Gate, GateError};
use serde_json::{json, Value};
use writ_ledger::{Action, Checkpoint, Event, ProposalRow, ReplayReport, State, Tamper};

/// What `verify` found: the chain, the caches against the replayed
/// chain, and (when asked) the decisions re-decided.
#[derive(Debug, serde::Serialize)]
pub struct VerifyView {
    /// Events checked.
    pub count: i64,
    /// Hash of the last event.
    pub head: String,
    /// The first event whose hash, link or payload does not check out,
    /// and why.
    pub broken: Option<(i64, String)>,
    /// The first row that disagrees with the replayed chain.
    pub tamper: Option<Tamper>,
    /// Decisions re-decided from their recorded facts and rule text.
    pub replay: Option<ReplayReport>,
}

impl VerifyView {
    /// True when nothing disagrees.
    pub fn ok(&self) -> bool {
        self.broken.is_none()
            && self.tamper.is_none()
            && self.replay.as_ref().is_none_or(|r| r.differ.is_empty())
    }
}

/// A recorded action with its proposal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActionRow {
    /// `A<n>`.
    pub action: String,
    /// `P<n>`.
    pub proposal: String,
    /// The proposal's kind.
    pub kind: String,
    /// The proposal's title.
    pub title: String,
    /// The proposal's state (`recorded` or `applied`).
    pub state: State,
    /// The event that recorded the action.
    pub seq: i64,
    /// The event the action rests on (the allow or the approval).
    pub basis_seq: i64,
}

/// The proposal an explanation is about.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProposalHead {
    /// `P<n>`.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// Who proposed it.
    pub source: String,
    /// Its state now.
    pub state: State,
    /// The proposal as received.
    pub body: String,
    /// Its first event.
    pub seq: i64,
}

/// A part of the provenance: recorded (by `writ ask`), or why there is none.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Part {
    /// As recorded.
    Recorded(Value),
    /// Why the proposal has no such part.
    NotApplicable(String),
}

/// Why a proposal or action exists (`writ explain`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExplainView {
    /// The proposal.
    pub proposal: ProposalHead,
    /// The question asked.
    pub question: Part,
    /// The retrieval run.
    pub retrieval: Part,
    /// The prompt.
    pub prompt: Part,
    /// The model.
    pub model: Part,
    /// The whole provenance.
    pub provenance: Value,
    /// Every event of its chain, with facts and decisions in the payloads.
    pub events: Vec<Event>,
    /// The text of the deciding rules of each rule set that decided, by
    /// rule-set hash.
    pub rulesets: serde_json::Map<String, Value>,
    /// Its action, if any.
    pub action: Option<Action>,
}

impl Gate {
    /// Verifies the chain and the caches; with `replay`, re-decides every
    /// recorded decision too.
    pub fn verify(&self, replay: bool) -> Result<VerifyView, GateError> {
        let ledger = self.ledger()?;
        let r = ledger.verify()?;
        Ok(VerifyView {
            count: r.count,
            head: r.head,
            broken: r.first_broken.map(|s| (s, r.problem.unwrap_or_default())),
            tamper: r.tamper,
            replay: if replay { Some(ledger.replay()?) } else { None },
        })
    }

    /// The hash of event `seq`, for checkpoint checks.
    pub fn hash_at(&self, seq: i64) -> Result<Option<String>, GateError> {
        Ok(self.ledger()?.hash_at(seq)?)
    }

    /// A checkpoint of the current head.
    pub fn checkpoint(&self) -> Result<Checkpoint, GateError> {
        Ok(self.ledger()?.checkpoint()?)
    }

    /// Proposals, oldest first, optionally in one state.
    pub fn proposals(&self, state: Option<State>) -> Result<Vec<ProposalRow>, GateError> {
        Ok(self.ledger()?.proposals(state)?)
    }

    /// One proposal (`P1`) or an action's proposal (`A1`), as its own
    /// (keyed) events bind it: a row changed behind writ's back is refused,
    /// never shown to a reviewer (`explain` still shows it, for forensics).
    pub fn proposal(&self, id: &str) -> Result<ProposalRow, GateError> {
        let ledger = self.ledger()?;
        let pid = ledger.resolve(id)?;
        ledger.derived_state(&pid)?;
        Ok(ledger.proposal(&pid)?)
    }

    /// Every event of a proposal, in order.
    pub fn events(&self, id: &str) -> Result<Vec<Event>, GateError> {
        let ledger = self.ledger()?;
        let pid = ledger.resolve(id)?;
        Ok(ledger.events(&pid)?)
    }

    /// Every action, oldest first.
    pub fn actions(&self) -> Result<Vec<Action>, GateError> {
        Ok(self.ledger()?.actions()?)
    }

    /// The review queue, oldest first: every held proposal, and any an
    /// interrupted intake left `proposed`, each with the decision the gate
    /// recorded (one read of the ledger, however long the queue).
    pub fn queue(&self) -> Result<Vec<(ProposalRow, Option<Value>)>, GateError> {
        let ledger = self.ledger()?;
        let mut rows = ledger.proposals(Some(State::Held))?;
        rows.extend(ledger.proposals(Some(State::Proposed))?);
        rows.sort_by_key(|p| p.first_seq);
        rows.into_iter()
            .map(|p| {
                let decision = ledger
                    .events(&p.id)?
                    .into_iter()
                    .find_map(|e| e.payload.get("decision").cloned());
                Ok((p, decision))
            })
            .collect()
    }

    /// The decision the gate recorded for a proposal, as JSON.
    pub fn recorded_decision(&self, id: &str) -> Result<Option<Value>, GateError> {
        Ok(self
            .events(id)?
            .into_iter()
            .find_map(|e| e.payload.get("decision").cloned()))
    }

    /// Recorded actions with their proposals.
    pub fn actions_rows(&self) -> Result<Vec<ActionRow>, GateError> {
        let ledger = self.ledger()?;
        let mut rows = Vec::new();
        for a in ledger.actions()? {
            let p = ledger.proposal(a.proposal_id())?;
            rows.push(ActionRow {
                action: a.id().to_string(),
                proposal: p.id,
                kind: p.kind,
                title: p.title,
                state: p.state,
                seq: a.seq(),
                basis_seq: a.basis_seq(),
            });
        }
        Ok(rows)
    }

    /// The causal chain of a proposal (P1) or action (A1): the proposal,
    /// its question, retrieval, prompt and model when it came from `writ
    /// ask`, every event with the facts and rules behind each decision, the
    /// rule text of each rule set that decided, and its action.
    pub fn explain(&self, id: &str) -> Result<ExplainView, GateError> {
        let ledger = self.ledger()?;
        let pid = ledger.resolve(id)?;
        let p = ledger.proposal(&pid)?;
        let events = ledger.events(&pid)?;
        let action = ledger.action_of(&pid)?;
        let from_ask = p.provenance.get("question").is_some();
        let na = |what: &str| {
            Part::NotApplicable(format!(
                "not applicable: {} came from {} ({}), not `writ ask`, so it has no {what}",
                p.id,
                p.provenance
                    .get("via")
                    .and_then(|v| v.as_str())
                    .unwrap_or("outside"),
                p.source
            ))
        };
        let mut rulesets = serde_json::Map::new();
        for e in &events {
            for judged in [Some(&e.payload), e.payload.get("regate")]
                .into_iter()
                .flatten()
            {
                let Some(d) = judged.get("decision") else {
                    continue;
                };
                let hash = d.get("ruleset_hash").and_then(|h| h.as_str());
                let text = judged.get("rules_text").and_then(|h| h.as_str());
                if let (Some(h), Some(t)) = (hash, text) {
                    if !rulesets.contains_key(h) {
                        let stored = ledger.ruleset(t)?;
                        rulesets.insert(h.to_string(), determining_text(d, stored.as_deref()));
                    }
                }
            }
        }
        let part = |name: &str, what: &str| {
            if from_ask {
                Part::Recorded(p.provenance[name].clone())
            } else {
                na(what)
            }
        };
        Ok(ExplainView {
            question: part("question", "question"),
            retrieval: part("retrieval", "retrieval run"),
            prompt: part("prompt", "prompt"),
            model: part("model", "model"),
            proposal: ProposalHead {
                id: p.id.clone(),
                kind: p.kind.clone(),
                title: p.title.clone(),
                source: p.source.clone(),
                state: p.state,
                body: p.body.clone(),
                seq: p.first_seq,
            },
            provenance: p.provenance,
            events,
            rulesets,
            action,
        })
    }
}

/// The text of each rule that determined (or matched) a decision, found in
/// the stored rule files by its `id = "..."` line.
fn determining_text(decision: &Value, sources: Option<&[(String, String)]>) -> Value {
    let Some(sources) = sources else {
        return json!({ "stored": false });
    };
    let mut rules = serde_json::Map::new();
    let ids = decision
        .get("matched")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    for id in ids.iter().filter_map(|i| i.as_str()) {
        for (file, text) in sources {
            if let Some(block) = rule_block(text, id) {
                rules.insert(id.to_string(), json!({ "file": file, "text": block }));
            }
        }
    }
    json!({ "stored": true, "files": sources.iter().map(|(f, _)| f).collect::<Vec<_>>(), "rules": rules })
}

/// The `[[rule]]` block whose id is `id`.
fn rule_block(text: &str, id: &str) -> Option<String> {
    let blocks: Vec<&str> = text.split("[[rule]]").skip(1).collect();
    let needle = format!("id = \"{id}\"");
    blocks
        .into_iter()
        .find(|b| b.lines().any(|l| l.trim() == needle))
        // An `[[exception]]` after the rule is not part of it.
        .map(|b| b.split("\n[[exception]]").next().unwrap_or(b))
        .map(|b| format!("[[rule]]{}", b.trim_end()))
}

impl Gate {
    /// The bytes of a regular file beneath the repository, read without
    /// following any symbolic link (`None`: it does not exist). For MCP
    /// resources and anything else that shows a file to a client.
    pub fn read_file(&self, rel: &str) -> Result<Option<Vec<u8>>, GateError> {
        let io = |source| GateError::Io {
            path: self.repo.join(rel),
            source,
        };
        let root = crate::beneath::Root::open(&self.repo).map_err(io)?;
        root.read(rel).map_err(io)
    }
}
