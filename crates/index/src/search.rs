//! Hybrid search: FAISS (meaning) and FTS5/BM25 (exact words and
//! identifiers), fused by reciprocal rank, each engine weighted by how
//! informative its list is for the query ([`engine_weights`]); tests rank
//! a little lower unless asked for, and a matching doc hands its place to
//! the code it names ([`crate::links`]).
//!
//! Filters (`--path`, `--lang`) restrict the candidate set *before* either
//! engine takes its top k, so a filtered search returns in-filter hits even
//! when the global top k has none. Ties break by path, then line, then
//! chunk id, so the order never depends on the engines' internals.

use crate::error::{IndexError, Result, SqlContext};
use crate::hit::Hit;
use crate::indexer::check_manifest;
use crate::store::Catalog;
use crate::terms::fts_query;
use crate::vectors::VectorStore;
use globset::{Glob, GlobSetBuilder};
use rusqlite::types::Value;
use rusqlite::OptionalExtension;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use writ_core::{Embedder, Language};

/// Which engines a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Vector and lexical, fused. The default.
    #[default]
    Hybrid,
    /// FAISS only.
    Vector,
    /// FTS5/BM25 only.
    Lexical,
}

/// What to search for.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// How many hits. Default: 10.
    pub k: usize,
    /// Only chunks whose path matches one of these globs (`src/**`, `*.py`).
    pub paths: Vec<String>,
    /// Only chunks in one of these languages.
    pub languages: Vec<Language>,
    /// Engines to use.
    pub mode: SearchMode,
    /// Drop hits whose cosine similarity to the query is below this (in
    /// lexical mode, where no query vector exists, nothing is dropped).
    pub min_similarity: Option<f32>,
    /// Rank tests like any other code. Default: false: a test ranks a
    /// little lower ([`TEST_WEIGHT`]) unless the query speaks of tests,
    /// since a question about what code does is rarely answered by the
    /// test that calls it.
    pub tests: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 10,
            paths: Vec::new(),
            languages: Vec::new(),
            mode: SearchMode::Hybrid,
            min_similarity: None,
            tests: false,
        }
    }
}

/// What one chunk scored in each engine.
#[derive(Debug, Clone, Copy, Default)]
struct Scored {
    fused: f64,
    similarity: Option<f32>,
    vector_rank: Option<usize>,
    lexical_rank: Option<usize>,
    bm25: Option<f64>,
}

/// What a test's score is multiplied by when the query does not ask for
/// tests: in hybrid mode, a test both engines ranked first falls to about
/// the place of code both ranked 16th; one engine's first to its 16th.
pub const TEST_WEIGHT: f64 = 0.8;
/// Reciprocal-rank-fusion constant (the usual 60).
const RRF_K: f64 = 60.0;
/// How deep each engine ranks before fusion.
/// How deep each engine ranks before fusion; a page past this depth would
/// fuse different lists than the pages before it.
pub const DEPTH: usize = 100;

/// Where each engine's top scores are compared: the first against the
/// sixth.
const SPREAD_AT: usize = 5;
/// Cosine similarities of a query's best chunks lie closer together than
/// BM25 scores do; their relative spread counts this many times as much.
/// Set once on the development corpora (requests, click, itertools,
/// indexmap, express, commander, pflag), never per corpus.
const COSINE_SPREAD_SCALE: f64 = 2.0;
/// The smallest cosine a spread is taken relative to (typical best hits
/// are 0.4 to 0.8).
const MIN_COSINE_SCALE: f64 = 0.25;
/// No engine's weight goes below this: a flat list still votes a little.
const MIN_WEIGHT: f64 = 0.2;

/// How much each engine's ranks count in the fusion, from how informative
/// its list is for this query: an engine whose best hit stands out from
/// the rest (a large relative gap between its first and sixth score) has
/// found something; one whose scores are flat (a prose question whose
/// common words match every chunk a little) is near chance. Each engine's
/// weight is twice its share of the two spreads, clamped to
/// [`MIN_WEIGHT`]..1, so two equally informative engines fuse as plain
/// RRF. With fewer than six hits in either list, plain RRF.
///
/// Measured on the development corpora, against equal weights: MRR@10 up
/// on five of seven (+0.003 to +0.023), down on two (-0.012, -0.002).
fn engine_weights(vector: &[(i64, f32)], lexical: &[(i64, f64)]) -> (f64, f64) {
    let (Some(v), Some(l)) = (vector.get(SPREAD_AT), lexical.get(SPREAD_AT)) else {
        return (1.0, 1.0);
    };
    // FTS5's BM25 is negative, better when lower: compare magnitudes.
    let (top, sixth) = (lexical[0].1.abs(), l.1.abs());
    let bm25 = ((top - sixth) / top.max(1e-9)).max(0.0);
    // A cosine lives on a fixed scale: a best hit at or below zero found
    // nothing (spread 0), and a small one is not a large relative gap.
    let (top, sixth) = (f64::from(vector[0].1), f64::from(v.1));
    let cosine = if top <= 0.0 {
        0.0
    } else {
        ((top - sixth) / top.max(MIN_COSINE_SCALE)).max(0.0) * COSINE_SPREAD_SCALE
    };
    if cosine + bm25 <= 0.0 {
        return (1.0, 1.0);
    }
    let share = bm25 / (bm25 + cosine);
    (
        (2.0 * (1.0 - share)).clamp(MIN_WEIGHT, 1.0),
        (2.0 * share).clamp(MIN_WEIGHT, 1.0),
    )
}

/// Best score first; ties by path, then line, then chunk id.
fn sort(hits: &mut [Hit]) {
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.start_line.cmp(&b.start_line))
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });
}

/// A read-only view of one index generation.
pub struct Searcher<'e> {
    catalog: Catalog,
    dir: PathBuf,
    vectors: VectorStore,
    generation: i64,
    rebuilt: bool,
    embedder: &'e dyn Embedder,
}

impl<'e> Searcher<'e> {
    /// Opens the last complete generation of the index in `dir`. The view
    /// stays on that generation while later indexing runs publish others.
    pub fn open(dir: &Path, embedder: &'e dyn Embedder) -> Result<Searcher<'e>> {
        let catalog = Catalog::open_read_only(dir)?;
        // One read transaction for the searcher's life: a consistent snapshot.
        catalog.conn().execute_batch("BEGIN").at(catalog.path())?;
        let generation = catalog.generation()?;
        if generation == 0 {
            return Err(IndexError::NotIndexed {
                path: dir.to_path_buf(),
            });
        }
        let manifest = check_manifest(&catalog, dir, embedder)?;
        // A reader holds no lock and writes nothing: a rebuilt store lives
        // in memory until the next `writ index` writes it back.
        let (vectors, rebuilt) = VectorStore::open_or_rebuild(&catalog, dir, manifest.model.dim)?;
        Ok(Searcher {
            catalog,
            dir: dir.to_path_buf(),
            vectors,
            generation,
            rebuilt,
            embedder,
        })
    }

    /// The generation this searcher sees.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// True when the FAISS file did not match the catalog and was rebuilt
    /// from SQLite on open.
    pub fn vectors_rebuilt(&self) -> bool {
        self.rebuilt
    }

    /// Runs one query.
    pub fn search(&mut self, query: &str, options: &SearchOptions) -> Result<Vec<Hit>> {
        let vector = match options.mode {
            SearchMode::Lexical => None,
            _ => Some(self.embedder.embed(&[query])?),
        };
        self.search_with(query, vector.as_deref(), options)
    }

    /// Runs several queries, answering in order; their embeddings are
    /// computed in one batch, which costs the model a fraction of one call
    /// per query.
    pub fn search_many(
        &mut self,
        queries: &[&str],
        options: &SearchOptions,
    ) -> Result<Vec<Vec<Hit>>> {
        let vectors = match options.mode {
            SearchMode::Lexical => None,
            _ => Some(self.embedder.embed(queries)?),
        };
        let dim = self.embedder.info().dim;
        let mut out = Vec::with_capacity(queries.len());
        for (i, query) in queries.iter().enumerate() {
            let vector = vectors.as_ref().and_then(|v| v.get(i * dim..(i + 1) * dim));
            out.push(self.search_with(query, vector, options)?);
        }
        Ok(out)
    }

    /// One query whose embedding (absent in lexical mode) is known.
    fn search_with(
        &mut self,
        query: &str,
        query_vector: Option<&[f32]>,
        options: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        let allowed = self.allowed_ids(options)?;
        let mut vector_hits = Vec::new();
        if let Some(q) = query_vector.filter(|_| options.mode != SearchMode::Lexical) {
            vector_hits = self.vectors.search(
                q,
                DEPTH.max(options.k),
                allowed.as_deref(),
                &self.catalog,
                &self.dir,
            )?;
        }
        let mut lexical_hits = Vec::new();
        if options.mode != SearchMode::Vector {
            lexical_hits = self.lexical(query, DEPTH.max(options.k), allowed.as_deref())?;
        }
        let mut scores: HashMap<i64, Scored> = HashMap::new();
        let (w_vector, w_lexical) = engine_weights(&vector_hits, &lexical_hits);
        for (rank, (id, sim)) in vector_hits.iter().enumerate() {
            let e = scores.entry(*id).or_default();
            e.similarity = Some(*sim);
            e.vector_rank = Some(rank + 1);
            e.fused = match options.mode {
                SearchMode::Vector => f64::from(*sim),
                _ => w_vector / (RRF_K + rank as f64 + 1.0),
            };
        }
        for (rank, (id, bm25)) in lexical_hits.iter().enumerate() {
            let e = scores.entry(*id).or_default();
            e.lexical_rank = Some(rank + 1);
            e.bm25 = Some(*bm25);
            e.fused += match options.mode {
                SearchMode::Lexical => -bm25,
                _ => w_lexical / (RRF_K + rank as f64 + 1.0),
            };
        }
        let mut hits = self.hydrate(&scores)?;
        if !options.tests && !crate::shape::asks_for_tests(query) {
            for hit in hits.iter_mut().filter(|h| crate::shape::is_test(h)) {
                hit.score = crate::shape::lowered(hit.score, TEST_WEIGHT);
            }
        }
        sort(&mut hits);
        if options.mode == SearchMode::Hybrid {
            crate::links::promote(&mut hits, options.k);
        }
        crate::shape::declarations_after_code(&mut hits);
        match (query_vector, options.min_similarity) {
            // The threshold applies before the top k, so a page is k hits
            // above it when there are that many.
            (Some(q), Some(min)) => {
                self.fill_similarity(&mut hits, q)?;
                hits.retain(|h| h.similarity.is_some_and(|s| s >= min));
                hits.truncate(options.k);
            }
            (Some(q), None) => {
                hits.truncate(options.k);
                self.fill_similarity(&mut hits, q)?;
            }
            (None, _) => hits.truncate(options.k),
        }
        Ok(hits)
    }

    /// When the generation this searcher reads was published (seconds
    /// since the Unix epoch), if recorded.
    pub fn indexed_at(&self) -> Option<u64> {
        self.catalog
            .meta("last_indexed")
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok())
    }

    /// Whether each hit's file changed on disk since it was indexed: a
    /// size and mtime check against the catalog, confirmed by the content
    /// hash when only the mtime moved, so a touched but unchanged file is
    /// not stale. A file that is gone, no longer a regular file, or reached
    /// through a symbolic link anywhere on its path is stale, and is never
    /// read: a hit's freshness must not open a FIFO, a device or a link out
    /// of the repository.
    pub fn stale(&self, root: &Path, hits: &[Hit]) -> Result<Vec<bool>> {
        let mut known: HashMap<&str, bool> = HashMap::new();
        let mut out = Vec::with_capacity(hits.len());
        for h in hits {
            if let Some(s) = known.get(h.path.as_str()) {
                out.push(*s);
                continue;
            }
            let stale = match self.catalog.file(&h.path)? {
                None => true,
                Some(row) => !unchanged(root, &h.path, &row),
            };
            known.insert(&h.path, stale);
            out.push(stale);
        }
        Ok(out)
    }

    /// Chunk ids passing the path and language filters; `None` when no
    /// filter is set.
    fn allowed_ids(&self, options: &SearchOptions) -> Result<Option<Vec<i64>>> {
        if options.paths.is_empty() && options.languages.is_empty() {
            return Ok(None);
        }
        let mut builder = GlobSetBuilder::new();
        for glob in &options.paths {
            let g = Glob::new(glob).map_err(|e| IndexError::Glob {
                glob: glob.clone(),
                message: e.kind().to_string(),
            })?;
            builder.add(g);
        }
        let globs = builder.build().map_err(|e| IndexError::Glob {
            glob: options.paths.join(", "),
            message: e.to_string(),
        })?;
        let langs: Vec<&str> = options.languages.iter().map(|l| l.name()).collect();
        let path = self.catalog.path().to_path_buf();
        let mut stmt = self
            .catalog
            .conn()
            .prepare_cached(
                "SELECT c.id, f.path, c.language FROM chunks c JOIN files f ON f.id = c.file_id",
            )
            .at(&path)?;
        let mut rows = stmt.query([]).at(&path)?;
        let mut ids = Vec::new();
        while let Some(row) = rows.next().at(&path)? {
            let file: String = row.get(1).at(&path)?;
            let lang: String = row.get(2).at(&path)?;
            let path_ok = options.paths.is_empty() || globs.is_match(&file);
            let lang_ok = langs.is_empty() || langs.contains(&lang.as_str());
            if path_ok && lang_ok {
                ids.push(row.get(0).at(&path)?);
            }
        }
        Ok(Some(ids))
    }

    /// BM25 top `k` as (chunk id, bm25) with lower bm25 better.
    fn lexical(&self, query: &str, k: usize, allowed: Option<&[i64]>) -> Result<Vec<(i64, f64)>> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let path = self.catalog.path().to_path_buf();
        let conn = self.catalog.conn();
        let sql = "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ?1
                   ORDER BY s, rowid LIMIT ?2";
        // With a filter, every match may be needed (-1: no limit).
        let limit = if allowed.is_some() {
            -1
        } else {
            i64::try_from(k).unwrap_or(i64::MAX)
        };
        let mut stmt = conn.prepare_cached(sql).at(&path)?;
        let mut rows = stmt.query(rusqlite::params![fts, limit]).at(&path)?;
        // Filters apply before the top k: walk the matches best first and
        // keep the first k allowed ones. (`rowid IN rarray(...)` inside the
        // FTS query made SQLite probe the index once per allowed id: 290 ms
        // a query on click's 1,400 chunks, against under 2 ms this way.)
        let allowed: Option<std::collections::HashSet<i64>> =
            allowed.map(|ids| ids.iter().copied().collect());
        let mut out = Vec::with_capacity(k.min(DEPTH));
        while let Some(row) = rows.next().at(&path)? {
            let id: i64 = row.get(0).at(&path)?;
            if allowed.as_ref().is_none_or(|a| a.contains(&id)) {
                out.push((id, row.get::<_, f64>(1).at(&path)?));
                if out.len() == k {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Gives every returned hit its cosine similarity to the query,
    /// including hits only the lexical engine found (rules gate on it as
    /// `min_citation_score`), from the vectors stored in the catalog.
    fn fill_similarity(&self, hits: &mut [Hit], query: &[f32]) -> Result<()> {
        let path = self.catalog.path().to_path_buf();
        let mut stmt = self
            .catalog
            .conn()
            .prepare_cached("SELECT data FROM vectors WHERE content_hash = ?1")
            .at(&path)?;
        for hit in hits.iter_mut().filter(|h| h.similarity.is_none()) {
            let blob: Option<Vec<u8>> = stmt
                .query_row([&hit.text_hash], |r| r.get(0))
                .optional()
                .at(&path)?;
            if let Some(blob) = blob {
                let v: Vec<f32> = crate::store::bytes_to_f32s(&blob).collect();
                if v.len() == query.len() {
                    hit.similarity = Some(v.iter().zip(query).map(|(a, b)| a * b).sum());
                }
            }
        }
        Ok(())
    }

    /// Loads path, lines and text for scored chunk ids.
    fn hydrate(&self, scores: &HashMap<i64, Scored>) -> Result<Vec<Hit>> {
        let path = self.catalog.path().to_path_buf();
        let ids: Rc<Vec<Value>> = Rc::new(scores.keys().map(|&i| Value::Integer(i)).collect());
        let mut stmt = self
            .catalog
            .conn()
            .prepare_cached(
                "SELECT c.id, f.path, c.start_line, c.end_line, c.symbol, c.language, c.text,
                        c.content_hash
                 FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN rarray(?1)",
            )
            .at(&path)?;
        let rows = stmt
            .query_map([ids], |r| {
                let id: i64 = r.get(0)?;
                let scored = scores.get(&id).copied().unwrap_or_default();
                Ok(Hit {
                    chunk_id: id,
                    path: r.get(1)?,
                    start_line: r.get::<_, i64>(2)?.max(0) as usize,
                    end_line: r.get::<_, i64>(3)?.max(0) as usize,
                    symbol: r.get(4)?,
                    language: r.get(5)?,
                    text: r.get(6)?,
                    text_hash: r.get(7)?,
                    score: scored.fused,
                    similarity: scored.similarity,
                    vector_rank: scored.vector_rank,
                    lexical_rank: scored.lexical_rank,
                    bm25: scored.bm25,
                })
            })
            .at(&path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(&path)
    }
}

/// Whether `rel` under `root` still has the catalog's content: its path is
/// relative, with no `..` and no symbolic link on it; it is a regular file
/// of the recorded size; and when its mtime moved, its bytes (read without
/// following a link or waiting on a FIFO, at most the recorded size plus
/// one) hash to the recorded hash.
fn unchanged(root: &Path, rel: &str, row: &crate::store::FileRow) -> bool {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let rel_path = Path::new(rel);
    if rel_path.is_absolute()
        || rel_path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return false;
    }
    let mut at = root.to_path_buf();
    let mut meta = None;
    for c in rel_path.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return false,
            Ok(m) => meta = Some(m),
            Err(_) => return false,
        }
    }
    let Some(m) = meta.filter(|m| m.file_type().is_file()) else {
        return false;
    };
    if m.len() != row.size {
        return false;
    }
    let mtime_ns = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    if mtime_ns == row.mtime_ns {
        return true;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&at);
    let Ok(file) = file else {
        return false;
    };
    if !file.metadata().is_ok_and(|m| m.file_type().is_file()) {
        return false;
    }
    let mut bytes = Vec::new();
    if file.take(row.size + 1).read_to_end(&mut bytes).is_err() {
        return false;
    }
    blake3::hash(&bytes).to_hex().to_string() == row.hash
}

#[cfg(test)]
mod weight_tests {
    use super::*;

    fn list<T: Copy>(scores: &[T]) -> Vec<(i64, T)> {
        scores
            .iter()
            .enumerate()
            .map(|(i, s)| (i as i64, *s))
            .collect()
    }

    #[test]
    fn a_flat_engine_counts_less_and_equal_engines_fuse_as_rrf() {
        let sharp_vector = list(&[0.80f32, 0.55, 0.50, 0.48, 0.47, 0.46]);
        let flat_bm25 = list(&[-5.0f64, -4.9, -4.9, -4.8, -4.8, -4.8]);
        let (wv, wl) = engine_weights(&sharp_vector, &flat_bm25);
        assert_eq!(wv, 1.0);
        assert!(wl < 0.1 + MIN_WEIGHT, "{wl}");
        // BM25 spread 0.5, cosine spread 0.25 (doubled: 0.5): equal.
        let vector = list(&[0.8f32, 0.7, 0.7, 0.7, 0.7, 0.6]);
        let bm25 = list(&[-10.0f64, -8.0, -7.0, -6.0, -6.0, -5.0]);
        let (wv, wl) = engine_weights(&vector, &bm25);
        assert!(
            (wv - 1.0).abs() < 1e-4 && (wl - 1.0).abs() < 1e-4,
            "{wv} {wl}"
        );
        assert_eq!(engine_weights(&vector, &bm25[..3]), (1.0, 1.0));
        // A vector list that found nothing (cosines near or below zero)
        // does not mute an exact identifier match.
        let nothing = list(&[0.01f32, 0.0, -0.01, -0.02, -0.04, -0.05]);
        let sharp_bm25 = list(&[-20.0f64, -6.0, -5.0, -5.0, -4.0, -4.0]);
        let (wv, wl) = engine_weights(&nothing, &sharp_bm25);
        assert_eq!(wl, 1.0);
        assert!(wv < 1.0, "{wv}");
    }
}
