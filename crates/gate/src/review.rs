//! A person's approval or rejection of a held proposal, re-gated at the
//! moment of authority.

use crate::intake::{Proposer, Run};
use crate::rulesrc::InForce;
use crate::{Gate, GateError};
use writ_ledger::{Judgement, Ledger, State};
use writ_rules::{Channel, Decision, Facts, Outcome};

/// What a review did.
#[derive(Debug, serde::Serialize)]
pub struct Settled {
    /// The proposal.
    pub id: String,
    /// Its state after the review.
    pub state: State,
    /// The action an approval recorded.
    pub action: Option<String>,
    /// The rule set that decided at intake, when the rules in force now
    /// differ from it (shown to the reviewer, recorded with the review).
    pub ruleset_changed: Option<(String, String)>,
}

impl Gate {
    /// Refuses to act on a ledger whose chain does not verify; the refusal
    /// of `to` is recorded on `id` when the proposal's own chain allows.
    pub(crate) fn require_sound(
        &self,
        ledger: &mut Ledger,
        id: &str,
        to: State,
        actor: &str,
    ) -> Result<(), GateError> {
        let report = ledger.verify()?;
        if report.ok() {
            return Ok(());
        }
        let why = match (&report.first_broken, &report.tamper) {
            (Some(seq), _) => format!(
                "chain broken at event #{seq}: {}",
                report.problem.clone().unwrap_or_default()
            ),
            (None, Some(t)) => t.to_string(),
            (None, None) => String::new(),
        };
        let _ =
            ledger.refuse_transition(id, to, actor, &format!("the ledger does not verify: {why}"));
        Err(GateError::Broken(why))
    }

    /// Approves or rejects a held proposal as `reviewer`. An approval
    /// first re-runs validation, the exact apply (for diffs) and the rules
    /// in force: a forbid refuses it, recorded with the rule's name.
    pub fn settle(
        &self,
        id: &str,
        reviewer: &str,
        approve: bool,
        reason: &str,
        channel: Channel,
    ) -> Result<Settled, GateError> {
        let mut ledger = self.ledger_write()?;
        let pid = ledger.resolve(id)?;
        let actor = format!("human:{reviewer}");
        let to = if approve {
            State::Approved
        } else {
            State::Rejected
        };
        self.require_sound(&mut ledger, &pid, to, &actor)?;
        let p = ledger.proposal(&pid)?;
        let state = ledger.derived_state(&pid)?;
        let mut changed = None;
        if !approve || state != State::Held {
            // The ledger's transition table refuses (and records) anything
            // but held -> approved/rejected.
            let state = ledger.review(&pid, reviewer, approve, reason, None, channel.name())?;
            return Ok(Settled {
                id: pid,
                state,
                action: None,
                ruleset_changed: None,
            });
        }
        let run = Run::from_provenance(&p.provenance);
        let valid = match self.check(&p.body, run.as_ref()) {
            Ok(v) => v,
            Err((_, reasons)) => {
                return Err(refuse(
                    &mut ledger,
                    &pid,
                    &actor,
                    &format!("re-check failed: {}", reasons.join("; ")),
                ))
            }
        };
        if valid.proposal().kind.has_diff() {
            match self.patched(&valid) {
                Ok(Ok(_)) => {}
                Ok(Err(why)) | Err(why) => {
                    return Err(refuse(
                        &mut ledger,
                        &pid,
                        &actor,
                        &format!("re-check failed: {why}"),
                    ))
                }
            }
        }
        let (rules, facts, decision) = match self.decide_again(&p, &valid, run.as_ref())? {
            Ok(judged) => judged,
            Err(why) => {
                let why = format!("{why}: a forbidden edit cannot be approved");
                return Err(refuse(&mut ledger, &pid, &actor, &why));
            }
        };
        let first = gate_hash(&ledger, &pid)?;
        if let Some(h) = first.filter(|h| h != decision.ruleset_hash()) {
            changed = Some((h, decision.ruleset_hash().to_string()));
        }
        let state = ledger.review(
            &pid,
            reviewer,
            true,
            reason,
            Some(&Judgement {
                decision: &decision,
                facts: &facts,
                sources: &rules.sources,
            }),
            channel.name(),
        )?;
        let action = ledger.action_of(&pid)?.map(|a| a.id().to_string());
        Ok(Settled {
            id: pid,
            state,
            action,
            ruleset_changed: changed,
        })
    }

    /// The rule-set hash of a proposal's gate decision, and the one in
    /// force now, when they differ (for the reviewer's screen).
    pub fn ruleset_drift(&self, id: &str) -> Result<Option<(String, String)>, GateError> {
        let ledger = self.ledger()?;
        let pid = ledger.resolve(id)?;
        let Some(then) = gate_hash(&ledger, &pid)? else {
            return Ok(None);
        };
        let now = self.in_force()?.set.hash().to_string();
        Ok((then != now).then_some((then, now)))
    }
}

impl Gate {
    /// Decides a recorded proposal again under the rules in force (at the
    /// moment of authority): the rules, facts and decision, or why the
    /// rules now forbid it.
    #[allow(clippy::type_complexity, reason = "the judgement, or the forbid")]
    pub(crate) fn decide_again(
        &self,
        p: &writ_ledger::ProposalRow,
        valid: &writ_proposal::ValidProposal,
        run: Option<&Run>,
    ) -> Result<Result<(InForce, Facts, Decision), String>, GateError> {
        let rules = self.in_force()?;
        let proposer = Proposer::recorded(&p.source, &p.provenance);
        let facts = self.facts(valid, &proposer, run);
        let decision = rules.set.decide(&facts);
        if decision.outcome() != Outcome::Forbid {
            return Ok(Ok((rules, facts, decision)));
        }
        let names: Vec<&str> = decision
            .determining()
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        Ok(Err(format!(
            "forbidden by the rules in force ({}, rule set {})",
            names.join(", "),
            decision.ruleset_hash()
        )))
    }
}

/// The rule-set hash the gate decided a proposal under.
fn gate_hash(ledger: &Ledger, pid: &str) -> Result<Option<String>, GateError> {
    Ok(ledger.events(pid)?.into_iter().find_map(|e| {
        e.payload
            .get("decision")
            .and_then(|d| d.get("ruleset_hash"))
            .and_then(|h| h.as_str())
            .map(str::to_string)
    }))
}

/// Records a refused approval and returns it as the error.
fn refuse(ledger: &mut Ledger, pid: &str, actor: &str, why: &str) -> GateError {
    GateError::Ledger(ledger.refuse_transition(pid, State::Approved, actor, why))
}
