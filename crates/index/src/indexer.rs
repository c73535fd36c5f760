//! Incremental indexing: walk, diff against the catalog, embed only new
//! content, then publish a new generation.
//!
//! Crash safety, in order of events:
//! 1. vectors are committed to SQLite batch by batch as they are embedded,
//!    keyed by content hash, so work done before a crash or Ctrl-C is kept;
//! 2. the file/chunk changes and the generation bump are one SQLite
//!    transaction; the FAISS file of the new generation is written (temp +
//!    rename) before that transaction commits;
//! 3. readers see the generation committed last; a FAISS file that does not
//!    match it is rebuilt from SQLite.

use crate::chunk::{chunk_file, ChunkBudget, CHUNKER_VERSION};
use crate::error::{IndexError, Result, SqlContext};
use crate::store::{Catalog, FileUpdate, Manifest, NewChunk, FORMAT_VERSION};
use crate::terms::lexical_terms;
use crate::vectors::{
    remove_stale, settle, write_segment, Layout, VectorStore, APPROXIMATE_AT, LAYOUT_KEY,
};
use crate::walk::{read_walked, walk, WalkOptions, WalkedFile};
use rusqlite::params;
use serde::Serialize;
use std::path::{Path, PathBuf};
use writ_core::Embedder;

/// Options of [`Indexer`].
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// What the walk includes. Default: [`WalkOptions::default`].
    pub walk: WalkOptions,
    /// Drop everything and start over (needed after a model change).
    /// Default: false.
    pub rebuild: bool,
    /// Chunks embedded and committed per batch; Ctrl-C stops between
    /// batches. Default: 128.
    pub batch: usize,
    /// Chunks under this many tokens merge with a neighbour. Default: 48.
    pub min_chunk_tokens: usize,
    /// Vectors from which a rebuilt base segment is approximate (IVF,
    /// re-scored exactly). Default: [`APPROXIMATE_AT`].
    pub approximate_at: usize,
    /// Chunk text held before it is embedded and published as a
    /// generation of its own: what bounds a first index's memory.
    /// Default: [`WINDOW_BYTES`].
    pub window_bytes: usize,
}

/// Default [`IndexOptions::window_bytes`]: 8 MiB of chunk text (about
/// 16,000 chunks of code). A window's texts, lexical terms, the texts sent
/// to the model and its vectors before they are written as a segment come
/// to a few times that.
pub const WINDOW_BYTES: usize = 8 << 20;

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            walk: WalkOptions::default(),
            rebuild: false,
            batch: 128,
            min_chunk_tokens: 48,
            approximate_at: APPROXIMATE_AT,
            window_bytes: WINDOW_BYTES,
        }
    }
}

/// Progress reports while indexing.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// The walk is done: this many files to look at.
    Scanned {
        /// Files found.
        files: usize,
    },
    /// Chunking: `done` of `total` changed files.
    Chunking {
        /// Files chunked so far.
        done: usize,
        /// Changed files.
        total: usize,
    },
    /// Embedding: `done` of `total` chunks.
    Embedding {
        /// Chunks embedded so far.
        done: usize,
        /// Chunks to embed.
        total: usize,
    },
    /// Writing the new generation.
    Publishing,
}

/// What an index run did, for humans and `--json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexReport {
    /// Files the walk found.
    pub files_scanned: usize,
    /// Files new since the last generation.
    pub files_added: usize,
    /// Files whose content changed.
    pub files_changed: usize,
    /// Files gone since the last generation.
    pub files_deleted: usize,
    /// Files unchanged.
    pub files_unchanged: usize,
    /// Files skipped, with reasons listed by `writ status --json`.
    pub files_skipped: usize,
    /// Files left stale because the run was interrupted.
    pub files_pending: usize,
    /// Chunks whose vectors were computed in this run.
    pub chunks_embedded: usize,
    /// Chunks of new or changed files whose vectors were reused.
    pub chunks_reused: usize,
    /// Chunks removed with changed or deleted files.
    pub chunks_removed: usize,
    /// Chunks in the index after the run.
    pub chunks_total: u64,
    /// Files read with invalid UTF-8 replaced.
    pub files_lossy: Vec<String>,
    /// The generation now published.
    pub generation: i64,
    /// True when FAISS was rebuilt from SQLite rather than updated.
    pub vectors_rebuilt: bool,
    /// True when Ctrl-C stopped the run early (the work done is kept).
    pub interrupted: bool,
    /// Wall time.
    pub seconds: f64,
    /// Where the wall time went: walking, reading and chunking changed
    /// files, embedding, and publishing (catalog and vector segments).
    pub phases: Phases,
}

/// Seconds spent in each phase of an index run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Phases {
    /// Walking the tree and comparing with the catalog.
    pub walk: f64,
    /// Reading, hashing and chunking new and changed files, on a thread
    /// of its own while embedding runs (so the phases can add up to more
    /// than the wall time).
    pub chunk: f64,
    /// Embedding chunks and storing their vectors.
    pub embed: f64,
    /// Publishing the generation and writing vector segments.
    pub publish: f64,
}

/// Indexes one repository into one index folder.
pub struct Indexer<'a> {
    pub(crate) root: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) embedder: &'a dyn Embedder,
    pub(crate) options: IndexOptions,
}

/// What one generation publishes.
pub(crate) struct Changes<'a> {
    /// Changed files whose every chunk has a vector.
    pub ready: &'a [Pending],
    /// Files gone since the last generation.
    pub deleted: &'a [String],
    /// Unchanged files whose size or mtime moved: `(id, size, mtime)`.
    pub touched: &'a [(i64, u64, i64)],
    /// What the walk passed over, with reasons.
    pub skipped: &'a [crate::Skipped],
    /// The run's last window (the vector store's base may be rebuilt).
    pub last_window: bool,
}

/// A changed file, chunked, before publication.
pub(crate) struct Pending {
    pub file: WalkedFile,
    pub update: FileUpdate,
}

impl Pending {
    /// Bytes of chunk text this file holds in memory.
    pub(crate) fn text_bytes(&self) -> usize {
        self.update.chunks.iter().map(|c| c.text.len()).sum()
    }
}

impl<'a> Indexer<'a> {
    /// An indexer for `root` storing into `dir` with `embedder`.
    pub fn new(root: &Path, dir: &Path, embedder: &'a dyn Embedder, options: IndexOptions) -> Self {
        Indexer {
            root: root.to_path_buf(),
            dir: dir.to_path_buf(),
            embedder,
            options,
        }
    }

    /// The manifest this indexer writes.
    pub(crate) fn manifest(&self) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            model: self.embedder.info().clone(),
            chunker: CHUNKER_VERSION.to_string(),
        }
    }

    /// The texts this indexer would embed for the whole tree, in walk order
    /// (for benchmarks: no index is read or written).
    pub fn embed_texts(&self) -> Vec<String> {
        let walked = walk(&self.root, Some(&self.dir), &self.options.walk);
        let mut texts = Vec::new();
        for file in &walked.files {
            let Ok(Some(bytes)) = read_walked(&file.abs, self.options.walk.max_file_size) else {
                continue;
            };
            let update = self.chunk(file, &bytes, String::new());
            texts.extend(update.chunks.iter().map(|c| embed_text(&file.rel, c)));
        }
        texts
    }

    /// Reads and chunks one file.
    pub(crate) fn chunk(&self, file: &WalkedFile, bytes: &[u8], hash: String) -> FileUpdate {
        let (text, lossy) = match std::str::from_utf8(bytes) {
            Ok(t) => (t.to_string(), false),
            Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
        };
        let count = |s: &str| self.embedder.count_tokens(s);
        let header_tokens = self.embedder.count_tokens(&file.rel) + 8;
        let budget = ChunkBudget {
            max_tokens: self
                .embedder
                .info()
                .max_tokens
                .saturating_sub(header_tokens)
                .max(32),
            min_tokens: self.options.min_chunk_tokens,
            count: &count,
        };
        let chunks = chunk_file(&text, file.language, &budget)
            .into_iter()
            .map(|c| {
                let content_hash = content_hash(file.language.name(), c.symbol.as_deref(), &c.text);
                let terms = lexical_terms(&format!(
                    "{} {} {}",
                    file.rel,
                    c.symbol.as_deref().unwrap_or(""),
                    c.text
                ));
                NewChunk {
                    start_line: c.start_line,
                    end_line: c.end_line,
                    symbol: c.symbol,
                    kind: c.kind,
                    text: c.text,
                    content_hash,
                    terms,
                }
            })
            .collect();
        FileUpdate {
            path: file.rel.clone(),
            hash,
            size: file.size,
            mtime_ns: file.mtime_ns,
            language: file.language.name().to_string(),
            lossy,
            chunks,
        }
    }

    /// One transaction: replace changed files' chunks, drop deleted files,
    /// bump the generation; the new FAISS file is in place before commit.
    /// Merges segments when due; rebuilds the base by the full rule at the
    /// `last_window` of a run, by the doubling rule before it.
    pub(crate) fn publish(
        &self,
        catalog: &mut Catalog,
        changes: Changes<'_>,
        report: &mut IndexReport,
    ) -> Result<()> {
        let Changes {
            ready,
            deleted,
            touched,
            skipped,
            last_window,
        } = changes;
        let dim = self.embedder.info().dim;
        let old_generation = catalog.generation()?;
        // A compatible manifest already there is kept as it is: a fingerprint
        // replaced by each run's (each within tolerance of the last) could
        // drift, run by run, to another model's.
        let wanted = self.manifest();
        let kept = catalog
            .manifest()?
            .filter(|found| found.compatible(&wanted));
        let manifest = serde_json::to_string(&kept.unwrap_or(wanted)).unwrap_or_default();
        // The previous generation's segments, added to, or rebuilt from
        // SQLite when any is lost or broken.
        let recorded = crate::vectors::read_layout(catalog)?;
        let rebuilt = VectorStore::open(catalog, &self.dir, dim)?.is_none();
        report.vectors_rebuilt |= rebuilt && old_generation > 0;
        let mut layout = match recorded {
            Some(l) if !rebuilt => Layout {
                next: l.next.max(next_free(&self.dir)),
                ..l
            },
            // Numbering goes on past every segment file there is, so no
            // name a reader may still hold is written again.
            other => Layout {
                next: other.map_or(0, |l| l.next).max(next_free(&self.dir)),
                ..Layout::default()
            },
        };
        let nothing_changed = ready.is_empty() && deleted.is_empty();
        let path = catalog.path().to_path_buf();
        let new_generation = if nothing_changed {
            old_generation.max(1)
        } else {
            old_generation + 1
        };
        let tx = catalog.begin()?;
        let mut removed_ids: Vec<i64> = Vec::new();
        let mut added_ids: Vec<i64> = Vec::new();
        let mut added_vecs: Vec<f32> = Vec::new();
        {
            let mut chunk_ids = tx
                .prepare_cached(
                    "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ?1",
                )
                .at(&path)?;
            for p in deleted.iter().chain(ready.iter().map(|r| &r.update.path)) {
                let ids = chunk_ids
                    .query_map([p], |r| r.get::<_, i64>(0))
                    .at(&path)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .at(&path)?;
                removed_ids.extend(ids);
            }
            let mut del_fts = tx
                .prepare_cached("DELETE FROM chunks_fts WHERE rowid = ?1")
                .at(&path)?;
            let mut del_chunk = tx
                .prepare_cached("DELETE FROM chunks WHERE id = ?1")
                .at(&path)?;
            for id in &removed_ids {
                del_fts.execute([id]).at(&path)?;
                del_chunk.execute([id]).at(&path)?;
            }
            let mut del_file = tx
                .prepare_cached("DELETE FROM files WHERE path = ?1")
                .at(&path)?;
            for p in deleted {
                del_file.execute([p]).at(&path)?;
            }
            let mut upsert_file = tx
                .prepare_cached(
                    "INSERT INTO files (path, hash, size, mtime_ns, language, lossy)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(path) DO UPDATE SET hash = excluded.hash, size = excluded.size,
                       mtime_ns = excluded.mtime_ns, language = excluded.language, lossy = excluded.lossy
                     RETURNING id",
                )
                .at(&path)?;
            let mut insert_chunk = tx
                .prepare_cached(
                    "INSERT INTO chunks (file_id, start_line, end_line, symbol, kind, language, text, content_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .at(&path)?;
            let mut insert_fts = tx
                .prepare_cached("INSERT INTO chunks_fts (rowid, terms) VALUES (?1, ?2)")
                .at(&path)?;
            let mut get_vector = tx
                .prepare_cached("SELECT data FROM vectors WHERE content_hash = ?1")
                .at(&path)?;
            for p in ready {
                let u = &p.update;
                let file_id: i64 = upsert_file
                    .query_row(
                        params![
                            u.path,
                            u.hash,
                            u.size as i64,
                            u.mtime_ns,
                            u.language,
                            u.lossy
                        ],
                        |r| r.get(0),
                    )
                    .at(&path)?;
                for c in &u.chunks {
                    insert_chunk
                        .execute(params![
                            file_id,
                            c.start_line as i64,
                            c.end_line as i64,
                            c.symbol,
                            c.kind,
                            u.language,
                            c.text,
                            c.content_hash
                        ])
                        .at(&path)?;
                    let id = tx.last_insert_rowid();
                    insert_fts.execute(params![id, c.terms]).at(&path)?;
                    let blob: Vec<u8> = get_vector
                        .query_row([&c.content_hash], |r| r.get(0))
                        .at(&path)?;
                    added_ids.push(id);
                    added_vecs.extend(crate::store::bytes_to_f32s(&blob));
                }
            }
            let mut touch = tx
                .prepare_cached("UPDATE files SET size = ?2, mtime_ns = ?3 WHERE id = ?1")
                .at(&path)?;
            for (id, size, mtime) in touched {
                touch.execute(params![id, *size as i64, mtime]).at(&path)?;
            }
            tx.execute("DELETE FROM skipped", []).at(&path)?;
            let mut skip = tx
                .prepare_cached("INSERT OR REPLACE INTO skipped (path, reason) VALUES (?1, ?2)")
                .at(&path)?;
            for s in skipped {
                skip.execute(params![s.path, s.reason]).at(&path)?;
            }
            let mut meta = tx
                .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                .at(&path)?;
            meta.execute(params!["manifest", manifest]).at(&path)?;
            meta.execute(params!["generation", new_generation.to_string()])
                .at(&path)?;
            meta.execute(params!["last_indexed", unix_now().to_string()])
                .at(&path)?;
            let walk_options = serde_json::to_string(&self.options.walk).unwrap_or_default();
            meta.execute(params!["walk_options", walk_options])
                .at(&path)?;
            // Only what this run embedded is written: a segment of its
            // chunks, and tombstones for the ones it removed. The file is
            // in place before the layout naming it is committed.
            if !rebuilt && !nothing_changed {
                layout.bury(&removed_ids);
                write_segment(&self.dir, &mut layout, &added_ids, &added_vecs, dim)?;
            }
            // A layout being rebuilt is recorded empty, so no reader takes
            // the lost one for this generation's.
            if rebuilt || !nothing_changed {
                layout.generation = new_generation;
                let text = serde_json::to_string(&layout).unwrap_or_default();
                meta.execute(params![LAYOUT_KEY, text]).at(&path)?;
            }
        }
        tx.commit().at(&path)?;
        // Between windows the base is rebuilt only when the rest outgrows it
        // (a lost store at once): a first index of many windows rebuilds it
        // O(log N) times, not once per window.
        let layout = settle(
            catalog,
            &self.dir,
            dim,
            layout,
            rebuilt,
            last_window,
            self.options.approximate_at,
        )?;
        remove_stale(&self.dir, Some(&layout));
        report.chunks_removed += removed_ids.len();
        report.generation = new_generation;
        Ok(())
    }
}

/// One past the highest segment file number in `dir`.
fn next_free(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| crate::vectors::segment_number(e.file_name().to_str()?))
                .map(|n| n.saturating_add(1))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// The text embedded for a chunk: path and symbol as a header, then the code.
pub fn embed_text(path: &str, chunk: &NewChunk) -> String {
    match &chunk.symbol {
        Some(symbol) => format!("{path} {symbol}\n{}", chunk.text),
        None => format!("{path}\n{}", chunk.text),
    }
}

/// The vector key of a chunk: its language, symbol and text, not its path,
/// so an unchanged chunk in a renamed file keeps its vector.
fn content_hash(language: &str, symbol: Option<&str>, text: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(language.as_bytes());
    h.update(&[0]);
    h.update(symbol.unwrap_or("").as_bytes());
    h.update(&[0]);
    h.update(text.as_bytes());
    h.finalize().to_hex().to_string()
}

pub(crate) fn mismatch(dir: &Path, found: &Manifest, wanted: &Manifest) -> IndexError {
    if found.format_version != wanted.format_version {
        return IndexError::Format {
            path: dir.to_path_buf(),
            found: found.format_version,
            wanted: wanted.format_version,
        };
    }
    let describe = |m: &Manifest| {
        if !m.model.fingerprint.is_empty() {
            return format!(
                "model `{}` from an embedding server (--embed-url; dim {}, at most {} tokens) and chunker `{}`",
                m.model.id, m.model.dim, m.model.max_tokens, m.chunker
            );
        }
        format!(
            "model `{}` (sha256 {}…, dim {}, precision {}) and chunker `{}`",
            m.model.id,
            m.model.sha256.get(..12).unwrap_or(""),
            m.model.dim,
            m.model.precision,
            m.chunker
        )
    };
    let mut now = describe(wanted);
    if now == describe(found) {
        // Same name, weights and shape: what differs is what the server's
        // vectors are, or one side has no fingerprint.
        match found.model.fingerprint_cosine(&wanted.model) {
            Some(least) => now.push_str(&format!(
                ", whose vectors of writ's probe texts differ from the index's \
                 (least cosine {least:.4}, {:.3} needed): the server now runs another \
                 model or quantisation under the same name",
                writ_core::FINGERPRINT_COSINE
            )),
            None => now.push_str(", with another vector fingerprint"),
        }
    }
    IndexError::Mismatch {
        path: dir.to_path_buf(),
        found: describe(found),
        wanted: now,
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks that `dir`'s manifest matches `embedder`, for readers.
pub fn check_manifest(catalog: &Catalog, dir: &Path, embedder: &dyn Embedder) -> Result<Manifest> {
    let Some(found) = catalog.manifest()? else {
        return Err(IndexError::NotIndexed {
            path: dir.to_path_buf(),
        });
    };
    let wanted = Manifest {
        format_version: FORMAT_VERSION,
        model: embedder.info().clone(),
        chunker: CHUNKER_VERSION.to_string(),
    };
    // Readers only need the same vectors; the chunker matters to writers.
    if found.format_version != wanted.format_version || !found.model.same_vectors(&wanted.model) {
        return Err(mismatch(dir, &found, &wanted));
    }
    Ok(found)
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::AtomicBool;
    use writ_core::{EmbedError, ModelInfo};

    /// A stand-in model: a vector from the text's length and first byte.
    struct Fake(ModelInfo);

    impl Embedder for Fake {
        fn info(&self) -> &ModelInfo {
            &self.0
        }
        fn count_tokens(&self, text: &str) -> usize {
            text.split_whitespace().count() + 2
        }
        fn embed(&self, texts: &[&str]) -> std::result::Result<Vec<f32>, EmbedError> {
            Ok(texts
                .iter()
                .flat_map(|t| {
                    let first = f32::from(t.bytes().next().unwrap_or(0));
                    let v = [t.len() as f32, first, 1.0, 0.5];
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.map(|x| x / norm)
                })
                .collect())
        }
    }

    fn fake() -> Fake {
        Fake(ModelInfo {
            id: "fake".into(),
            sha256: "0".repeat(64),
            dim: 4,
            max_tokens: 256,
            fingerprint: Vec::new(),
            precision: writ_core::Precision::F32,
        })
    }

    #[test]
    fn names_that_differ_only_in_invalid_utf8_are_never_one_catalog_row() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let dir = root.join(".writ");
        let name = |bytes: &[u8]| root.join(std::ffi::OsStr::from_bytes(bytes));
        std::fs::write(name(b"a\xff.py"), "def first():\n    return 1\n").unwrap();
        std::fs::write(name(b"a\xfe.py"), "def second():\n    return 2\n").unwrap();
        std::fs::write(root.join("ok.py"), "def ok():\n    return 3\n").unwrap();
        let embedder = fake();
        let indexer = Indexer::new(root, &dir, &embedder, IndexOptions::default());
        let cancel = AtomicBool::new(false);
        let report = indexer.run(&cancel, &|_| {}).unwrap();
        assert_eq!((report.files_scanned, report.files_skipped), (1, 2));

        let catalog = Catalog::open_read_only(&dir).unwrap();
        let files: Vec<String> = catalog.files().unwrap().into_keys().collect();
        assert_eq!(files, ["ok.py"]);
        let skipped = catalog.skipped().unwrap();
        let shown: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("a\\xfe.py", crate::walk::NOT_UTF8),
                ("a\\xff.py", crate::walk::NOT_UTF8)
            ]
        );

        // Nothing changed: a second run adds, changes and deletes nothing.
        let again = indexer.run(&cancel, &|_| {}).unwrap();
        assert_eq!(
            (again.files_added, again.files_changed, again.files_deleted),
            (0, 0, 0)
        );
        let status = crate::status(root, &dir).unwrap();
        assert!(status.stale.is_empty(), "{:?}", status.stale);
        assert_eq!(status.skipped.len(), 2);
    }

    #[test]
    fn a_root_not_in_utf8_is_indexed_but_faiss_is_never_given_a_lossy_path() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(std::ffi::OsStr::from_bytes(b"r\xff"));
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("ok.py"), "def ok():\n    return 3\n").unwrap();
        let embedder = fake();
        let cancel = AtomicBool::new(false);
        // Names inside the repository are relative to it: all UTF-8.
        let elsewhere = tmp.path().join("index");
        let indexer = Indexer::new(&root, &elsewhere, &embedder, IndexOptions::default());
        let report = indexer.run(&cancel, &|_| {}).unwrap();
        assert_eq!((report.files_added, report.files_skipped), (1, 0));
        // FAISS takes UTF-8 paths: an index folder beneath `r\xff` is
        // refused, never written at `r\u{fffd}`.
        let inside = root.join(".writ");
        let indexer = Indexer::new(&root, &inside, &embedder, IndexOptions::default());
        let err = indexer.run(&cancel, &|_| {}).err().unwrap();
        assert!(matches!(err, IndexError::Faiss { .. }), "{err}");
        let lossy = tmp.path().join("r\u{fffd}");
        assert!(!lossy.exists());
    }
}
