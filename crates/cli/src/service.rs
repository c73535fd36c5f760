//! What `writ serve` and `writ mcp` offer, with the models loaded once.
//!
//! Every operation goes through the same functions as the CLI commands
//! (`intake`, `settle`, `explain_chain`, …), so a proposal arriving over
//! HTTP or MCP is validated, gated and recorded exactly like one from
//! `writ propose`. Nothing here writes to the working tree.

use crate::args::{AskArgs, GateArgs, Locations, Mode, ModelArgs};
use crate::exit::{ExitCode, Failure};
use crate::gate::Places;
use anyhow::anyhow;
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use writ_embed::MiniLm;
use writ_gate::{Intake, Proposer};
use writ_index::{Hit, Searcher};
use writ_llm::LocalLlm;

/// The loaded models and the open index of one repository.
pub struct Service {
    pub places: Places,
    loc: Locations,
    model: Option<PathBuf>,
    embedder: &'static MiniLm,
    /// One searcher per core, so searches run side by side; each opens
    /// lazily and follows new generations on its own.
    searchers: Vec<Mutex<Option<Searcher<'static>>>>,
    next: AtomicUsize,
    llm: Mutex<Option<LocalLlm>>,
}

/// A slot whose holder panicked: its state is dropped and reopened on
/// next use, so one failed request does not disable the server.
fn reset<T>(mut guard: MutexGuard<'_, Option<T>>) -> MutexGuard<'_, Option<T>> {
    *guard = None;
    guard
}

/// A search request (HTTP body, MCP arguments).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub langs: Vec<String>,
}

fn default_k() -> usize {
    10
}

/// An ask request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    pub question: String,
    #[serde(default = "default_ask_k")]
    pub k: usize,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default = "default_max_proposals")]
    pub max_proposals: usize,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
}

fn default_ask_k() -> usize {
    6
}
fn default_max_proposals() -> usize {
    2
}
fn default_max_tokens() -> usize {
    1024
}

/// Largest `k` and token budget a remote caller may ask for.
const MAX_K: usize = 50;
const MAX_TOKENS: usize = 2048;

impl Service {
    /// Loads the embedding model (the language model loads on first ask).
    pub fn open(places: Places, models: ModelArgs) -> Result<Service, Failure> {
        let loc = Locations {
            models: models.models,
            embed_model: models.embed_model,
            index: Some(places.index.clone()),
        };
        let model = models.model;
        // One embedder for the life of the process: searchers borrow it.
        let embedder: &'static MiniLm = Box::leak(Box::new(crate::models::load_embedder(&loc)?));
        Ok(Service {
            places,
            loc,
            model,
            embedder,
            searchers: (0..std::thread::available_parallelism().map_or(1, |n| n.get()))
                .map(|_| Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            llm: Mutex::new(None),
        })
    }

    /// The embedding model, loaded once for the life of the process.
    pub fn embedder(&self) -> &'static MiniLm {
        self.embedder
    }

    /// Runs `f` with a searcher on the last complete generation, reopening
    /// it when `writ index` has published a newer one.
    fn with_searcher<T>(
        &self,
        f: impl FnOnce(&mut Searcher<'static>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let dir = &self.places.index;
        if !dir.join(writ_index::CATALOG_FILE).is_file() {
            return Err(Failure::from(writ_index::IndexError::NotIndexed {
                path: dir.clone(),
            }));
        }
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
                    .ok_or_else(|| Failure::new(ExitCode::Error, anyhow!("no searcher")))?;
                m.lock().unwrap_or_else(|p| reset(p.into_inner()))
            }
        };
        let current = writ_index::Catalog::open_read_only(dir)
            .and_then(|c| c.generation())
            .ok();
        let stale = guard
            .as_ref()
            .is_none_or(|s| Some(s.generation()) != current);
        if stale {
            *guard = Some(Searcher::open(dir, self.embedder)?);
        }
        match guard.as_mut() {
            Some(s) => f(s),
            None => Err(Failure::new(ExitCode::Error, anyhow!("no searcher"))),
        }
    }

    /// Hybrid search.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, Failure> {
        let options = crate::cmd::search_options(
            req.k.clamp(1, MAX_K),
            &req.paths,
            &req.langs,
            Mode::Hybrid,
        )?;
        self.with_searcher(|s| Ok(s.search(&req.query, &options)?))
    }

    /// Hits with their text, for clients that show the code.
    pub fn search_json(&self, req: &SearchRequest) -> Result<Value, Failure> {
        let hits = self.search(req)?;
        Ok(hits
            .iter()
            .map(|h| {
                let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
                v["text"] = json!(h.text);
                v
            })
            .collect())
    }

    /// Index status.
    pub fn status(&self) -> Result<Value, Failure> {
        let status = writ_index::status(&self.places.repo, &self.places.index)?;
        Ok(serde_json::to_value(status).unwrap_or(Value::Null))
    }

    /// `writ ask` on the loaded model: retrieve, generate, gate, record.
    pub fn ask(&self, req: &AskRequest) -> Result<Value, Failure> {
        let args = AskArgs {
            question: req.question.clone(),
            k: req.k.clamp(1, MAX_K),
            paths: req.paths.clone(),
            langs: Vec::new(),
            max_proposals: req.max_proposals.clamp(1, 5),
            max_tokens: req.max_tokens.clamp(16, MAX_TOKENS),
            temperature: None,
            repeat_penalty: 1.1,
            seed: 0,
            unconstrained: false,
            verbose: false,
            models: ModelArgs {
                model: self.model.clone(),
                models: self.loc.models.clone(),
                embed_model: self.loc.embed_model.clone(),
            },
            gate: GateArgs {
                repo: None,
                index: None,
                rules: None,
                json: true,
            },
        };
        let search = SearchRequest {
            query: req.question.clone(),
            k: args.k,
            paths: req.paths.clone(),
            langs: Vec::new(),
        };
        let options =
            crate::cmd::search_options(search.k, &search.paths, &search.langs, Mode::Hybrid)?;
        let (hits, generation) =
            self.with_searcher(|s| Ok((s.search(&search.query, &options)?, s.generation())))?;
        if hits.is_empty() {
            return Err(Failure::new(
                ExitCode::NoInput,
                anyhow!("nothing in the index matches the question"),
            ));
        }
        let mut guard = self.llm.lock().unwrap_or_else(|p| reset(p.into_inner()));
        if guard.is_none() {
            *guard = Some(crate::models::load_llm(&self.loc, self.model.as_deref())?);
        }
        let llm = guard
            .as_mut()
            .ok_or_else(|| Failure::new(ExitCode::Error, anyhow!("no model")))?;
        let answer = crate::ask::answer(&args, &self.places, hits, generation, llm, &mut |_| {})?;
        Ok(answer.to_json())
    }

    /// Submits a proposal from `proposer` through validation and the gate
    /// (the channel, and so the front end recorded, is the proposer's).
    pub fn propose(&self, proposal: &Value, proposer: &Proposer) -> Result<Intake, Failure> {
        Ok(self
            .places
            .gate()
            .intake(&proposal.to_string(), proposer, json!({}), None)?)
    }

    /// The text of an indexed file inside the repository, for MCP
    /// resources: anything else (outside, unindexed) is refused.
    pub fn indexed_file(&self, rel: &str) -> Result<String, Failure> {
        let catalog = writ_index::Catalog::open_read_only(&self.places.index)?;
        let files = catalog.files()?;
        if !files.contains_key(rel) {
            return Err(Failure::new(
                ExitCode::NoInput,
                anyhow!("`{rel}` is not an indexed file of this repository"),
            ));
        }
        // Read beneath the root without following links: an indexed file
        // swapped for a link to `.git/config` or `.env` is refused.
        let bytes =
            self.places.gate().read_file(rel)?.ok_or_else(|| {
                Failure::new(ExitCode::NoInput, anyhow!("`{rel}` no longer exists"))
            })?;
        String::from_utf8(bytes)
            .map_err(|_| Failure::new(ExitCode::NoInput, anyhow!("`{rel}` is not UTF-8 text")))
    }

    /// Paths of the indexed files, sorted.
    pub fn indexed_files(&self) -> Result<Vec<String>, Failure> {
        let catalog = writ_index::Catalog::open_read_only(&self.places.index)?;
        let mut files: Vec<String> = catalog.files()?.into_keys().collect();
        files.sort();
        Ok(files)
    }

    /// A chunk's location and text (for a reviewer looking at citations).
    pub fn chunk(&self, id: i64) -> Result<Value, Failure> {
        let catalog = writ_index::Catalog::open_read_only(&self.places.index)?;
        let rec = catalog.chunk_record(id)?.ok_or_else(|| {
            Failure::new(ExitCode::NoInput, anyhow!("chunk {id} is not in the index"))
        })?;
        Ok(json!({
            "id": rec.id, "path": rec.path, "start_line": rec.start_line,
            "end_line": rec.end_line, "symbol": rec.symbol, "language": rec.language,
            "text": rec.text,
        }))
    }

    /// Recomputes the ledger's chain and compares its caches with it.
    pub fn verify(&self) -> Result<Value, Failure> {
        let report = self.places.gate().verify(false)?;
        Ok(json!({
            "ok": report.ok(),
            "events": report.count,
            "head": report.head,
            "first_broken": report.broken.as_ref().map(|b| b.0),
            "problem": report.broken.as_ref().map(|b| b.1.clone()).or(report.tamper.as_ref().map(|t| t.to_string())),
        }))
    }
}
