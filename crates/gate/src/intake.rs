//! Intake: a proposal from any proposer is parsed, validated, turned into
//! facts writ computes itself, decided by the rules in force and recorded.

use crate::beneath::Root;
use crate::rulesrc::InForce;
use crate::{git, Gate, GateError};
use serde_json::Value;
use std::collections::HashMap;
use writ_ledger::{Judgement, Ledger, State};
use writ_proposal::{validate, Kind, Proposal, ValidProposal, ValidationContext};
use writ_rules::{Channel, Decision, Facts};

/// Who proposes: the name a proposer gives, and the channel writ itself
/// saw it arrive on. Only the channel carries trust; the name is a label.
#[derive(Debug, Clone)]
pub struct Proposer {
    source: String,
    channel: Channel,
}

impl Proposer {
    /// The local user on the command line (`writ propose --source NAME`).
    pub fn cli(name: &str) -> Proposer {
        Proposer {
            source: format!("external:{name}"),
            channel: Channel::Cli,
        }
    }
    /// A person on the command line (`writ rules suggest`).
    pub fn person(name: &str) -> Proposer {
        Proposer {
            source: format!("human:{name}"),
            channel: Channel::Cli,
        }
    }
    /// A client of `writ serve`'s API, by the name it gives.
    pub fn http(name: &str) -> Proposer {
        Proposer {
            source: format!("external:{name}"),
            channel: Channel::Http,
        }
    }
    /// An MCP client, by the name it gives in `clientInfo`.
    pub fn mcp(client: &str) -> Proposer {
        Proposer {
            source: format!("external:mcp/{client}"),
            channel: Channel::Mcp,
        }
    }
    /// writ's own local model, by the sha256 of its weights.
    pub fn model(sha256: &str) -> Proposer {
        Proposer {
            source: format!("model:{sha256}"),
            channel: Channel::Model,
        }
    }
    /// The proposer as recorded (`external:…`, `human:…`, `model:…`).
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The channel writ saw.
    pub fn channel(&self) -> Channel {
        self.channel
    }
    /// The front end's name, recorded as the provenance's `via`.
    fn via(&self) -> &'static str {
        match self.channel {
            Channel::Cli => "writ propose",
            Channel::Http => "writ serve",
            Channel::Mcp => "writ mcp",
            Channel::Model => "writ ask",
        }
    }
    /// Rebuilds the proposer of a recorded proposal: the channel recorded
    /// by writ at intake (older records: from the source's prefix, never
    /// more trusted than an agent).
    pub(crate) fn recorded(source: &str, provenance: &Value) -> Proposer {
        let channel = provenance
            .get("channel")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or(if source.starts_with("model:") {
                Channel::Model
            } else {
                Channel::Mcp
            });
        Proposer {
            source: source.to_string(),
            channel,
        }
    }
}

/// The retrieval run a model's proposals came from: each chunk put in the
/// prompt with its cosine similarity to the question, and the embedding
/// model behind those cosines. Built only from search hits or from a
/// recorded provenance.
#[derive(Debug, Clone)]
pub struct Run {
    hits: HashMap<i64, Option<f32>>,
    embedder: Option<String>,
}

impl Run {
    /// The run from the hits that went into the prompt.
    pub fn from_hits(hits: &[writ_index::Hit], embedder: &str) -> Run {
        Run {
            hits: hits.iter().map(|h| (h.chunk_id, h.similarity)).collect(),
            embedder: Some(embedder.to_string()),
        }
    }

    /// The run recorded in a proposal's provenance by `writ ask`
    /// (`retrieval.hits[]` that were in the prompt), if it has one.
    pub fn from_provenance(provenance: &Value) -> Option<Run> {
        let retrieval = provenance.get("retrieval")?;
        let hits = retrieval
            .get("hits")?
            .as_array()?
            .iter()
            .filter(|h| h.get("in_prompt").and_then(Value::as_bool) != Some(false))
            .filter_map(|h| {
                let id = h.get("chunk")?.as_i64()?;
                let sim = h
                    .get("similarity")
                    .and_then(Value::as_f64)
                    .map(|s| s as f32);
                Some((id, sim))
            })
            .collect();
        let embedder = retrieval
            .get("embedder")
            .and_then(Value::as_str)
            .map(str::to_string);
        Some(Run { hits, embedder })
    }
}

/// The outcome of an intake, for output.
#[derive(Debug, serde::Serialize)]
pub struct Intake {
    /// The proposal's id.
    pub id: String,
    /// Its state after intake.
    pub state: State,
    /// The rules' decision (none when validation refused it).
    pub decision: Option<Decision>,
    /// The facts the rules decided on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// Why validation refused it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// A proposal that failed parsing or validation: what parsed, and why.
pub(crate) type Rejected = (Option<Box<Proposal>>, Vec<String>);

impl Gate {
    /// Parses and validates `text` against the repository and index. With
    /// a retrieval run, citations must be chunks of that run. A diff must
    /// apply exactly to the files as they are. An edit that touches the
    /// rules folder, whatever its kind, must be a rule change that leaves a
    /// rule set that loads.
    pub(crate) fn check(&self, text: &str, run: Option<&Run>) -> Result<ValidProposal, Rejected> {
        let proposal = Proposal::from_json(text).map_err(|e| (None, vec![e.to_string()]))?;
        let catalog = self.catalog();
        let known = |id: i64| match run {
            Some(run) => run.hits.contains_key(&id),
            None => catalog
                .as_ref()
                .is_some_and(|c| c.chunk(id).ok().flatten().is_some()),
        };
        let cx = ValidationContext {
            repo: &self.repo,
            known_chunk: &known,
        };
        let valid = validate(proposal.clone(), &cx)
            .map_err(|r| (Some(Box::new(proposal.clone())), r.reasons))?;
        // The index folder (`--index` inside the repository, under any
        // name) is writ's own state, like `.writ`.
        if let Some(rel) = self.index_rel() {
            let inside: Vec<String> = valid
                .targets()
                .iter()
                .filter(|t| {
                    let (t, rel) = (t.to_ascii_lowercase(), rel.to_ascii_lowercase());
                    t == rel || t.starts_with(&format!("{rel}/"))
                })
                .map(|t| format!("diff path `{t}` reaches writ's index folder: writ's own state never changes through a proposal"))
                .collect();
            if !inside.is_empty() {
                return Err((Some(Box::new(proposal)), inside));
            }
        }
        if valid.proposal().kind.has_diff() {
            // Context must match the file now, at the lines the hunks name:
            // what `git apply --check` would refuse is refused here.
            if let Ok(Err(why)) | Err(why) = self.patched(&valid) {
                return Err((Some(Box::new(proposal)), vec![why]));
            }
        }
        if self.touches_rules(&valid) {
            let reasons = self.check_rule_change(&valid);
            if !reasons.is_empty() {
                return Err((Some(Box::new(proposal)), reasons));
            }
        }
        Ok(valid)
    }

    /// The index folder's path relative to the repository, when inside it.
    fn index_rel(&self) -> Option<String> {
        let canon = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let (index, repo) = (canon(&self.index), canon(&self.repo));
        let rel = index.strip_prefix(&repo).ok()?;
        let rel = rel.to_string_lossy().replace('\\', "/");
        let rel = rel
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        (!rel.is_empty()).then_some(rel)
    }

    /// Whether a diff reaches the rules folder (or `<repo>/rules`).
    pub(crate) fn touches_rules(&self, valid: &ValidProposal) -> bool {
        let mut dirs = vec!["rules".to_string()];
        dirs.extend(self.rules_rel());
        valid.proposal().kind == Kind::RuleChange
            || valid.targets().iter().any(|t| {
                dirs.iter().any(|d| {
                    t.eq_ignore_ascii_case(d)
                        || t.to_ascii_lowercase()
                            .starts_with(&format!("{}/", d.to_ascii_lowercase()))
                })
            })
    }

    /// A rule change may only touch `*.toml` files directly in the rules
    /// folder, and the rule set it leaves behind must load.
    fn check_rule_change(&self, valid: &ValidProposal) -> Vec<String> {
        let Some(rel) = self.rules_rel() else {
            return vec![format!(
                "the rules folder `{}` is outside the repository: writ cannot change it",
                self.rules_dir().display()
            )];
        };
        let reasons: Vec<String> = valid
            .targets()
            .iter()
            .filter(|t| {
                !t.starts_with(&format!("{rel}/"))
                    || !t.ends_with(".toml")
                    || t[rel.len() + 1..].contains('/')
            })
            .map(|t| {
                format!("a rule change may only touch *.toml files directly in `{rel}/`, not `{t}`")
            })
            .collect();
        if !reasons.is_empty() {
            return reasons;
        }
        let dir = self.rules_dir();
        let default_file = format!("{rel}/default.toml");
        if !dir.is_dir() && !valid.targets().contains(&default_file) {
            // The first rule file replaces the built-in rules: it must carry them.
            return vec![format!(
                "`{rel}/` does not exist yet, so this change would replace writ's built-in rules; create `{default_file}` with them too (as `writ rules suggest` does)"
            )];
        }
        let mut sources = if dir.is_dir() {
            match self.in_force() {
                Ok(f) => f.sources,
                Err(e) => return vec![format!("the rules in force do not load: {e}")],
            }
        } else {
            Vec::new()
        };
        match self.patched(valid) {
            Ok(Ok(writes)) => {
                for (path, content) in writes {
                    let name = self.repo.join(&path).display().to_string();
                    sources.retain(|(n, _)| *n != name);
                    if let Some(text) = content {
                        sources.push((name, text));
                    }
                }
                if sources.is_empty() {
                    return vec!["this change would leave no rule file".into()];
                }
                match writ_rules::RuleSet::parse_many(&sources) {
                    Ok(_) => Vec::new(),
                    Err(e) => {
                        e.0.iter()
                            .map(|e| format!("the rules would not load after this change: {e}"))
                            .collect()
                    }
                }
            }
            Ok(Err(why)) | Err(why) => vec![why],
        }
    }

    /// Applies the diff in memory to the files as they are now, read
    /// beneath the root: each target's new text (`None`: deleted). The
    /// inner `Err` says why it does not apply; the outer one, why the
    /// tree could not be read.
    #[allow(
        clippy::type_complexity,
        reason = "a plan, or why not, or why unreadable"
    )]
    pub(crate) fn patched(
        &self,
        valid: &ValidProposal,
    ) -> Result<Result<Vec<(String, Option<String>)>, String>, String> {
        let root =
            Root::open(&self.repo).map_err(|e| format!("the repository cannot be opened: {e}"))?;
        plan(valid, |path| root.read(path).map_err(|e| e.to_string()))
    }

    /// Facts writ computes about a valid proposal; never taken from the
    /// proposer. Unavailable facts are `None`, with the reason.
    pub(crate) fn facts(
        &self,
        valid: &ValidProposal,
        proposer: &Proposer,
        run: Option<&Run>,
    ) -> Facts {
        let p = valid.proposal();
        let stats = valid.stats();
        let mut errors = Vec::new();
        let no_run = "no retrieval run: the proposal did not come from `writ ask`";
        let (citations_in_run, min_citation_score) = match run {
            None => {
                errors.push(("citations_in_run".to_string(), no_run.to_string()));
                errors.push(("min_citation_score".to_string(), no_run.to_string()));
                (None, None)
            }
            Some(run) => {
                let in_run = p.citations.iter().all(|c| run.hits.contains_key(c));
                let scores: Option<Vec<f32>> = p
                    .citations
                    .iter()
                    .map(|c| run.hits.get(c).copied().flatten())
                    .collect();
                let min = match scores {
                    Some(s) if !s.is_empty() => s.into_iter().reduce(f32::min),
                    _ => {
                        errors.push((
                            "min_citation_score".to_string(),
                            "no cited chunk has a similarity score".to_string(),
                        ));
                        None
                    }
                };
                (Some(in_run), min)
            }
        };
        let applies_cleanly = if valid.patches().is_empty() {
            Some(false)
        } else {
            match self.patched(valid) {
                Ok(r) => Some(r.is_ok()),
                Err(e) => {
                    errors.push(("applies_cleanly".into(), e));
                    None
                }
            }
        };
        let targets_tracked = match git::tracked(&self.repo, valid.targets()) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(("targets_tracked".into(), e));
                None
            }
        };
        let kind = if p.kind == Kind::Edit && self.touches_rules(valid) {
            Kind::RuleChange
        } else {
            p.kind
        };
        Facts {
            kind,
            targets: valid.targets().to_vec(),
            files: stats.files,
            added: stats.added,
            removed: stats.removed,
            citations: p.citations.len(),
            citations_in_run,
            min_citation_score,
            applies_cleanly,
            targets_tracked,
            proposer: proposer.source.clone(),
            channel: Some(proposer.channel),
            similarity_model: run.and_then(|r| r.embedder.clone()),
            errors,
        }
    }

    /// Records `text` from `proposer` and sends it through the gate. A
    /// proposal that does not parse or validate is recorded as refused.
    /// The rules are loaded first: a rule set that does not load records
    /// nothing and says why.
    pub fn intake(
        &self,
        text: &str,
        proposer: &Proposer,
        provenance: Value,
        run: Option<&Run>,
    ) -> Result<Intake, GateError> {
        let rules = self.in_force()?;
        let mut ledger = self.ledger_mut()?;
        self.regate_pending(&mut ledger, &rules)?;
        let provenance = stamp(provenance, proposer);
        let valid = match self.check(text, run) {
            Ok(v) => v,
            Err((parsed, reasons)) => {
                return self.record_refusal(
                    &mut ledger,
                    text,
                    parsed.as_deref(),
                    proposer,
                    &provenance,
                    &reasons,
                )
            }
        };
        // Facts and decision first, then the proposal and its decision in
        // one transaction: no concurrent intake ever sees it undecided.
        let facts = self.facts(&valid, proposer, run);
        let decision = rules.set.decide(&facts);
        let (id, state) = ledger.submit_gated(
            &proposer.source,
            valid.proposal().kind.name(),
            &valid.proposal().title,
            text,
            &provenance,
            &Judgement {
                decision: &decision,
                facts: &facts,
                sources: &rules.sources,
            },
        )?;
        Ok(Intake {
            id,
            state,
            decision: Some(decision),
            facts: Some(facts),
            reasons: Vec::new(),
        })
    }

    fn decide_and_record(
        &self,
        ledger: &mut Ledger,
        id: &str,
        valid: &ValidProposal,
        proposer: &Proposer,
        run: Option<&Run>,
        rules: &InForce,
    ) -> Result<Intake, GateError> {
        let facts = self.facts(valid, proposer, run);
        let decision = rules.set.decide(&facts);
        let state = ledger.gate(
            id,
            &Judgement {
                decision: &decision,
                facts: &facts,
                sources: &rules.sources,
            },
        )?;
        Ok(Intake {
            id: id.to_string(),
            state,
            decision: Some(decision),
            facts: Some(facts),
            reasons: Vec::new(),
        })
    }

    /// Records `text` from `proposer` as refused for `reasons` without
    /// gating it (e.g. a model's answer that is not a proposal): what
    /// failed is kept, never dropped.
    /// `parsed` is what could be made of it, for its kind and title.
    pub fn refuse(
        &self,
        text: &str,
        parsed: Option<&Proposal>,
        proposer: &Proposer,
        provenance: Value,
        reasons: &[String],
    ) -> Result<Intake, GateError> {
        let mut ledger = self.ledger_mut()?;
        let provenance = stamp(provenance, proposer);
        self.record_refusal(&mut ledger, text, parsed, proposer, &provenance, reasons)
    }

    fn record_refusal(
        &self,
        ledger: &mut Ledger,
        text: &str,
        parsed: Option<&Proposal>,
        proposer: &Proposer,
        provenance: &Value,
        reasons: &[String],
    ) -> Result<Intake, GateError> {
        let (kind, title) = match parsed {
            Some(p) => (p.kind.name(), p.title.as_str()),
            None => ("unknown", "(not a proposal)"),
        };
        let (id, state) =
            ledger.submit_refused(&proposer.source, kind, title, text, provenance, reasons)?;
        Ok(Intake {
            id,
            state,
            decision: None,
            facts: None,
            reasons: reasons.to_vec(),
        })
    }

    /// Gates every proposal left `proposed` (by an older writ, which
    /// recorded and decided in two steps, or by a process killed between
    /// them), with the rules in force now. Returns how many.
    fn regate_pending(&self, ledger: &mut Ledger, rules: &InForce) -> Result<usize, GateError> {
        let pending = ledger.proposals(Some(State::Proposed))?;
        for p in &pending {
            if ledger.derived_state(&p.id)? != State::Proposed {
                continue;
            }
            let proposer = Proposer::recorded(&p.source, &p.provenance);
            let run = Run::from_provenance(&p.provenance);
            let done = match self.check(&p.body, run.as_ref()) {
                Ok(valid) => self
                    .decide_and_record(ledger, &p.id, &valid, &proposer, run.as_ref(), rules)
                    .map(drop),
                Err((_, reasons)) => ledger.refuse(&p.id, &reasons).map(drop).map_err(Into::into),
            };
            match done {
                // Another intake gated it first: its refusal is recorded.
                Err(GateError::Ledger(writ_ledger::LedgerError::Refused { .. })) | Ok(()) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(pending.len())
    }

    /// Gates proposals an interrupted intake left `proposed` (`writ review
    /// --regate`); returns how many.
    pub fn regate(&self) -> Result<usize, GateError> {
        let rules = self.in_force()?;
        let mut ledger = self.ledger_write()?;
        self.regate_pending(&mut ledger, &rules)
    }

    /// Decides `text` without recording anything (`writ rules explain`):
    /// the facts and decision, or why validation refuses it.
    pub fn dry_run(
        &self,
        text: &str,
        proposer: &Proposer,
    ) -> Result<Result<(Facts, Decision), Vec<String>>, GateError> {
        let rules = self.in_force()?;
        Ok(match self.check(text, None) {
            Ok(valid) => {
                let facts = self.facts(&valid, proposer, None);
                let decision = rules.set.decide(&facts);
                Ok((facts, decision))
            }
            Err((_, reasons)) => Err(reasons),
        })
    }
}

/// The provenance with the channel writ saw (and the front end, unless
/// the caller named a more precise one, e.g. `writ rules suggest`).
fn stamp(mut provenance: Value, proposer: &Proposer) -> Value {
    if !provenance.is_object() {
        provenance = serde_json::json!({ "given": provenance });
    }
    provenance["channel"] = serde_json::to_value(proposer.channel).unwrap_or(Value::Null);
    if provenance.get("via").is_none() {
        provenance["via"] = proposer.via().into();
    }
    provenance["source"] = proposer.source.clone().into();
    provenance
}

/// Applies each file's patch to its current bytes (`read`: `None` when
/// absent): each target's new text (`None`: deleted), or why it does not
/// apply (inner), or why a file could not be read (outer).
#[allow(
    clippy::type_complexity,
    reason = "a plan, or why not, or why unreadable"
)]
pub(crate) fn plan(
    valid: &ValidProposal,
    read: impl Fn(&str) -> Result<Option<Vec<u8>>, String>,
) -> Result<Result<Vec<(String, Option<String>)>, String>, String> {
    let mut out = Vec::new();
    // Each patch's normalised target (`./x.md` is `x.md`), in order.
    for (patch, path) in valid.patches().iter().zip(valid.targets()) {
        let path = path.clone();
        let base = match (&patch.old_path, read(&path)?) {
            (None, None) => String::new(),
            (None, Some(_)) => return Ok(Err(format!("`{path}` already exists"))),
            (Some(_), None) => return Ok(Err(format!("`{path}` does not exist"))),
            (Some(_), Some(bytes)) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => return Ok(Err(format!("`{path}` is not UTF-8 text"))),
            },
        };
        match patch.apply(&base) {
            None => {
                return Ok(Err(format!(
                    "the diff does not apply exactly to `{path}` (each hunk must match at the line its header names)"
                )))
            }
            Some(new) => out.push((path, patch.new_path.as_ref().map(|_| new))),
        }
    }
    Ok(Ok(out))
}
