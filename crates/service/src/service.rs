//! The loaded models and the open index of one repository, shared by the
//! requests of `writ serve` and `writ mcp`.
//!
//! Every write goes through `writ-gate` (intake, settle), so a proposal
//! arriving over HTTP or MCP is validated, gated and recorded exactly like
//! one from `writ propose`. Nothing here writes to the working tree.

use crate::search::{search_options, SearchRequest, SearchResponse};
use crate::views::{self, ChunkView, ProposalDetail, ProposalSummary, VerifyResult};
use crate::{ModelChoice, Places, ServiceError};
use serde::Deserialize;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use writ_ask::{AskParams, Generator};
use writ_core::Embedder;
use writ_gate::{Intake, Proposer, Settled, State};
use writ_index::{SearchMode, Searcher};

/// An ask request (HTTP body, MCP arguments); defaults are
/// [`AskParams`]'s, bounds are [`crate::bounds`]' (read one with
/// [`AskRequest::from_json`]; [`Service::ask`] checks them again).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The question.
    pub question: String,
    /// Chunks to retrieve.
    #[serde(default = "default_ask_k")]
    pub k: usize,
    /// Path globs to retrieve from.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Most proposals.
    #[serde(default = "default_max_proposals")]
    pub max_proposals: usize,
    /// Answer budget in tokens.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
}

fn default_ask_k() -> usize {
    AskParams::K
}
fn default_max_proposals() -> usize {
    AskParams::PROPOSALS
}
fn default_max_tokens() -> usize {
    AskParams::TOKENS
}

/// Loads the language model when an ask first needs it.
pub type GeneratorLoader = Box<dyn Fn() -> Result<Box<dyn Generator>, ServiceError> + Send + Sync>;

/// The loaded models and the open index of one repository.
pub struct Service {
    /// Where the repository, index and rules are.
    pub places: Places,
    embedder: &'static dyn Embedder,
    /// One searcher per core, so searches run side by side; each opens
    /// lazily and follows new generations on its own.
    searchers: Vec<Mutex<Option<Searcher<'static>>>>,
    next: AtomicUsize,
    load_generator: GeneratorLoader,
    generator: Mutex<Option<Box<dyn Generator>>>,
}

/// A slot whose holder panicked: its state is dropped and reopened on
/// next use, so one failed request does not disable the server.
fn reset<T>(mut guard: MutexGuard<'_, Option<T>>) -> MutexGuard<'_, Option<T>> {
    *guard = None;
    guard
}

impl Service {
    /// Loads the embedding model (the language model loads on first ask).
    pub fn open(places: Places, models: ModelChoice) -> Result<Service, ServiceError> {
        // One embedder for the life of the process: searchers borrow it.
        let models = models.following(&places.index);
        let embedder: &'static dyn Embedder = Box::leak(crate::models::load_embedder(&models)?);
        let load: GeneratorLoader = Box::new(move || match &models.remote {
            Some(spec) => Ok(Box::new(crate::models::connect_llm(spec)?) as Box<dyn Generator>),
            None => Ok(Box::new(crate::models::load_llm(&models)?) as Box<dyn Generator>),
        });
        Ok(Service::with_models(places, embedder, load))
    }

    /// A service over given models: the fast test tier passes a fake
    /// embedder and a scripted generator.
    pub fn with_models(
        places: Places,
        embedder: &'static dyn Embedder,
        load_generator: GeneratorLoader,
    ) -> Service {
        Service {
            places,
            embedder,
            searchers: (0..std::thread::available_parallelism().map_or(1, |n| n.get()))
                .map(|_| Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            load_generator,
            generator: Mutex::new(None),
        }
    }

    /// The embedding model, loaded once for the life of the process.
    pub fn embedder(&self) -> &'static dyn Embedder {
        self.embedder
    }

    /// Runs `f` with a searcher on the last complete generation, reopening
    /// it when `writ index` has published a newer one.
    fn with_searcher<T>(
        &self,
        f: impl FnOnce(&mut Searcher<'static>) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        self.places.require_index()?;
        // A free searcher if there is one, else wait for the next in turn.
        let free = self.searchers.iter().find_map(|m| match m.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(reset(p.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        });
        let mut guard = match free {
            Some(g) => g,
            None => {
                let n = self.next.fetch_add(1, Ordering::Relaxed) % self.searchers.len().max(1);
                let m = self
                    .searchers
                    .get(n)
                    .ok_or_else(|| ServiceError::Internal("no searcher".into()))?;
                m.lock().unwrap_or_else(|p| reset(p.into_inner()))
            }
        };
        let current = writ_index::Catalog::open_read_only(&self.places.index)
            .and_then(|c| c.generation())
            .ok();
        let stale = guard
            .as_ref()
            .is_none_or(|s| Some(s.generation()) != current);
        if stale {
            *guard = Some(Searcher::open(&self.places.index, self.embedder)?);
        }
        match guard.as_mut() {
            Some(s) => f(s),
            None => Err(ServiceError::Internal("no searcher".into())),
        }
    }

    /// Hybrid search: hits with their text, freshness and scores, within
    /// the request's token budget.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        req.check()?;
        let root = self.places.repo.clone();
        self.with_searcher(|s| crate::search::run(s, &root, req, SearchMode::Hybrid))
    }

    /// Re-indexes what changed since the last run, with the options that
    /// run used (incremental: unchanged files are not re-embedded). Another
    /// writer holding the index lock is `Locked`.
    pub fn reindex(&self) -> Result<writ_index::IndexReport, ServiceError> {
        self.places.require_index()?;
        let walk = writ_index::Catalog::open_read_only(&self.places.index)?
            .meta("walk_options")?
            .and_then(|s| serde_json::from_str::<writ_index::WalkOptions>(&s).ok())
            .unwrap_or_default();
        let options = writ_index::IndexOptions {
            walk,
            ..writ_index::IndexOptions::default()
        };
        let cancel = std::sync::atomic::AtomicBool::new(false);
        Ok(writ_index::Indexer::new(
            &self.places.repo,
            &self.places.index,
            self.embedder,
            options,
        )
        .run(&cancel, &|_| {})?)
    }

    /// Index status.
    pub fn status(&self) -> Result<writ_index::Status, ServiceError> {
        Ok(writ_index::status(&self.places.repo, &self.places.index)?)
    }

    /// `writ ask` on the loaded model: retrieve, generate, gate, record.
    /// A request out of bounds ([`AskRequest::check`]) is refused before
    /// retrieval, so it never reaches (or loads) the model.
    pub fn ask(
        &self,
        req: &AskRequest,
        cancel: writ_llm::Cancel,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<writ_ask::Answer, ServiceError> {
        req.check()?;
        let params = AskParams {
            cancel,
            k: req.k,
            paths: req.paths.clone(),
            max_proposals: req.max_proposals,
            max_tokens: req.max_tokens,
            ..AskParams::new(req.question.clone())
        };
        let options = search_options(params.k, &params.paths, &params.langs, SearchMode::Hybrid)?;
        let (hits, generation) =
            self.with_searcher(|s| Ok((s.search(&params.question, &options)?, s.generation())))?;
        if hits.is_empty() {
            return Err(ServiceError::not_found(
                "nothing in the index matches the question",
            ));
        }
        // A rule set that does not load would leave the answer nowhere to
        // go: say so before the model runs (as the CLI does).
        let gate = self.places.gate();
        gate.check_rules()?;
        let mut guard = self
            .generator
            .lock()
            .unwrap_or_else(|p| reset(p.into_inner()));
        if guard.is_none() {
            *guard = Some((self.load_generator)()?);
        }
        let model = guard
            .as_mut()
            .ok_or_else(|| ServiceError::Internal("no model".into()))?;
        Ok(writ_ask::answer(
            &params,
            &gate,
            &self.places.index,
            hits,
            generation,
            model.as_mut(),
            on_text,
        )?)
    }

    /// Submits a proposal from `proposer` through validation and the gate
    /// (the channel, and so the front end recorded, is the proposer's).
    pub fn propose(&self, proposal: &Value, proposer: &Proposer) -> Result<Intake, ServiceError> {
        Ok(self.places.gate().intake(
            &proposal.to_string(),
            proposer,
            serde_json::json!({}),
            None,
        )?)
    }

    /// A person's approval or rejection, re-gated under the rules in force.
    pub fn settle(
        &self,
        id: &str,
        reviewer: &str,
        approve: bool,
        reason: &str,
        channel: writ_rules::Channel,
    ) -> Result<Settled, ServiceError> {
        Ok(self
            .places
            .gate()
            .settle(id, reviewer, approve, reason, channel)?)
    }

    /// The text of an indexed file inside the repository: anything else
    /// (outside, unindexed, a link, not UTF-8) is not found.
    pub fn indexed_file(&self, rel: &str) -> Result<String, ServiceError> {
        let catalog = writ_index::Catalog::open_read_only(&self.places.index)?;
        if !catalog.files()?.contains_key(rel) {
            return Err(ServiceError::not_found(format!(
                "`{rel}` is not an indexed file of this repository"
            )));
        }
        // Read beneath the root without following links: an indexed file
        // swapped for a link to `.git/config` or `.env` is refused.
        let bytes = self
            .places
            .gate()
            .read_file(rel)?
            .ok_or_else(|| ServiceError::not_found(format!("`{rel}` no longer exists")))?;
        String::from_utf8(bytes)
            .map_err(|_| ServiceError::not_found(format!("`{rel}` is not UTF-8 text")))
    }

    /// Paths of the indexed files, sorted.
    pub fn indexed_files(&self) -> Result<Vec<String>, ServiceError> {
        let catalog = writ_index::Catalog::open_read_only(&self.places.index)?;
        let mut files: Vec<String> = catalog.files()?.into_keys().collect();
        files.sort();
        Ok(files)
    }

    /// A chunk's location and text (for a reviewer looking at citations).
    pub fn chunk(&self, id: i64) -> Result<ChunkView, ServiceError> {
        views::chunk(&self.places, id)
    }

    /// Stored proposals, optionally in one state.
    pub fn proposals(&self, state: Option<State>) -> Result<Vec<ProposalSummary>, ServiceError> {
        views::proposals(&self.places, state)
    }

    /// One proposal in full.
    pub fn proposal(&self, id: &str) -> Result<ProposalDetail, ServiceError> {
        views::proposal(&self.places, id)
    }

    /// The causal chain of a proposal or action.
    pub fn explain(&self, id: &str) -> Result<writ_gate::ExplainView, ServiceError> {
        Ok(self.places.gate().explain(id)?)
    }

    /// Recorded actions.
    pub fn actions(&self) -> Result<Vec<writ_gate::ActionRow>, ServiceError> {
        Ok(self.places.gate().actions_rows()?)
    }

    /// The ledger's verification.
    pub fn verify(&self) -> Result<VerifyResult, ServiceError> {
        views::verify(&self.places)
    }
}
