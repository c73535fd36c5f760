//! The SQLite catalog: the source of truth for files, chunks and vectors.
//!
//! Vectors are content-addressed by the blake3 hash of a chunk's symbol and
//! text, so an unchanged chunk is never embedded twice, even when its file
//! moves. Schema and versioning: `index/FORMAT.md` at the top of the repo.

use crate::error::{IndexError, Result, SqlContext};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use writ_core::ModelInfo;

/// On-disk format version of the catalog. Bump on any schema change.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the catalog file inside the index folder.
pub const CATALOG_FILE: &str = "catalog.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    language TEXT NOT NULL,
    lossy INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES files(id),
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    symbol TEXT,
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(content_hash);
CREATE TABLE IF NOT EXISTS vectors (
    content_hash TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    terms, tokenize = 'porter unicode61', content = '', contentless_delete = 1
);
";

/// One chunk as stored in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRecord {
    /// Chunk id.
    pub id: i64,
    /// File path relative to the repository.
    pub path: String,
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, inclusive.
    pub end_line: usize,
    /// Qualified symbol, if any.
    pub symbol: Option<String>,
    /// Language name.
    pub language: String,
    /// The chunk's text.
    pub text: String,
    /// blake3 of language, symbol and text.
    pub content_hash: String,
}

/// What an index was built with; a mismatch refuses the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Catalog format version.
    pub format_version: u32,
    /// The embedding model.
    pub model: ModelInfo,
    /// The chunker version (`CHUNKER_VERSION`).
    pub chunker: String,
}

impl Manifest {
    /// Whether an index built as `self` can be written as `other`: the
    /// same format and chunker, and vectors from the same model
    /// ([`ModelInfo::same_vectors`]).
    pub fn compatible(&self, other: &Manifest) -> bool {
        self.format_version == other.format_version
            && self.chunker == other.chunker
            && self.model.same_vectors(&other.model)
    }
}

/// A file as the catalog last saw it.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// Row id.
    pub id: i64,
    /// blake3 of the content.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in ns.
    pub mtime_ns: i64,
}

/// A chunk ready to be stored.
#[derive(Debug, Clone)]
pub struct NewChunk {
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, inclusive.
    pub end_line: usize,
    /// Qualified symbol.
    pub symbol: Option<String>,
    /// Chunk kind.
    pub kind: String,
    /// The chunk's text.
    pub text: String,
    /// Key of its vector.
    pub content_hash: String,
    /// Terms for FTS5.
    pub terms: String,
}

/// A new or changed file with its chunks.
#[derive(Debug, Clone)]
pub struct FileUpdate {
    /// Relative path.
    pub path: String,
    /// blake3 of the content.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in ns.
    pub mtime_ns: i64,
    /// Language name.
    pub language: String,
    /// True when invalid UTF-8 was replaced.
    pub lossy: bool,
    /// The file's chunks.
    pub chunks: Vec<NewChunk>,
}

/// The SQLite catalog of one index.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

impl Catalog {
    /// Opens (creating if needed) the catalog in `dir` for writing.
    pub fn open(dir: &Path) -> Result<Catalog> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        ignore_self(dir);
        let path = dir.join(CATALOG_FILE);
        let conn = Connection::open(&path).at(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
        )
        .at(&path)?;
        conn.execute_batch(SCHEMA).at(&path)?;
        rusqlite::vtab::array::load_module(&conn).at(&path)?;
        Ok(Catalog { conn, path })
    }

    /// Opens an existing catalog in `dir` read-only.
    pub fn open_read_only(dir: &Path) -> Result<Catalog> {
        let path = dir.join(CATALOG_FILE);
        if !path.is_file() {
            return Err(IndexError::NotIndexed {
                path: dir.to_path_buf(),
            });
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .at(&path)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")
            .at(&path)?;
        rusqlite::vtab::array::load_module(&conn).at(&path)?;
        Ok(Catalog { conn, path })
    }

    /// The connection, for queries in sibling modules.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .at(&self.path)
    }

    /// The manifest, or `None` for a new index.
    pub fn manifest(&self) -> Result<Option<Manifest>> {
        let Some(text) = self.meta("manifest")? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| IndexError::Format {
                path: self.path.clone(),
                found: 0,
                wanted: FORMAT_VERSION,
            })
    }

    /// The committed generation (0 before the first index).
    pub fn generation(&self) -> Result<i64> {
        Ok(self
            .meta("generation")?
            .and_then(|g| g.parse().ok())
            .unwrap_or(0))
    }

    /// One file the catalog knows, by path.
    pub fn file(&self, path: &str) -> Result<Option<FileRow>> {
        self.conn
            .query_row(
                "SELECT id, hash, size, mtime_ns FROM files WHERE path = ?1",
                [path],
                |r| {
                    Ok(FileRow {
                        id: r.get(0)?,
                        hash: r.get(1)?,
                        size: r.get::<_, i64>(2)?.max(0) as u64,
                        mtime_ns: r.get(3)?,
                    })
                },
            )
            .optional()
            .at(&self.path)
    }

    /// Every file the catalog knows, by path.
    pub fn files(&self) -> Result<HashMap<String, FileRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, id, hash, size, mtime_ns FROM files")
            .at(&self.path)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    FileRow {
                        id: r.get(1)?,
                        hash: r.get(2)?,
                        size: r.get::<_, i64>(3)?.max(0) as u64,
                        mtime_ns: r.get(4)?,
                    },
                ))
            })
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Content hashes that already have a vector.
    pub fn vector_hashes(&self) -> Result<HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT content_hash FROM vectors")
            .at(&self.path)?;
        let rows = stmt.query_map([], |r| r.get(0)).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Records the manifest (before the first generation: what the vectors
    /// committed ahead of it were made with).
    pub(crate) fn set_manifest(&self, manifest: &Manifest) -> Result<()> {
        self.set_meta(
            "manifest",
            &serde_json::to_string(manifest).unwrap_or_default(),
        )
    }

    /// Which of `hashes` have a stored vector (one statement; the index
    /// run asks per window rather than holding every hash it has).
    pub fn present_vectors(&self, hashes: &[&str]) -> Result<HashSet<String>> {
        let list: std::rc::Rc<Vec<rusqlite::types::Value>> = std::rc::Rc::new(
            hashes
                .iter()
                .map(|h| rusqlite::types::Value::Text((*h).to_string()))
                .collect(),
        );
        let mut stmt = self
            .conn
            .prepare_cached("SELECT content_hash FROM vectors WHERE content_hash IN rarray(?1)")
            .at(&self.path)?;
        let rows = stmt.query_map([list], |r| r.get(0)).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Stores vectors, one transaction; `data` is `hashes.len() * dim` floats.
    pub fn put_vectors(&mut self, hashes: &[&str], data: &[f32], dim: usize) -> Result<()> {
        let tx = self.conn.transaction().at(&self.path)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO vectors (content_hash, data) VALUES (?1, ?2)",
                )
                .at(&self.path)?;
            for (i, hash) in hashes.iter().enumerate() {
                let blob = f32s_to_bytes(&data[i * dim..(i + 1) * dim]);
                stmt.execute(params![hash, blob]).at(&self.path)?;
            }
        }
        tx.commit().at(&self.path)
    }

    /// Starts the transaction that publishes a new generation.
    pub(crate) fn begin(&mut self) -> Result<rusqlite::Transaction<'_>> {
        let path = self.path.clone();
        self.conn.transaction().at(&path)
    }

    /// Drops every file, chunk, vector and the manifest (for `--rebuild`).
    pub fn wipe(&mut self) -> Result<()> {
        self.conn
            .execute_batch(
                "BEGIN; DELETE FROM chunks_fts; DELETE FROM chunks; DELETE FROM files;
                 DELETE FROM vectors; DELETE FROM skipped; DELETE FROM meta; COMMIT;",
            )
            .at(&self.path)
    }

    /// Deletes vectors no chunk refers to.
    pub fn prune_vectors(&self) -> Result<usize> {
        self.conn
            .execute(
                "DELETE FROM vectors WHERE content_hash NOT IN (SELECT content_hash FROM chunks)",
                [],
            )
            .at(&self.path)
    }

    /// The vectors of chunks `ids` (those that exist), as (id, vector).
    pub fn vectors_of(&self, ids: &[i64], dim: usize) -> Result<Vec<(i64, Vec<f32>)>> {
        // One statement over the ids in rowid order: pages are read in
        // file order rather than once per lookup.
        let list: std::rc::Rc<Vec<rusqlite::types::Value>> = std::rc::Rc::new(
            ids.iter()
                .map(|&i| rusqlite::types::Value::Integer(i))
                .collect(),
        );
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT c.id, v.data FROM chunks c JOIN vectors v ON v.content_hash = c.content_hash
                 WHERE c.id IN rarray(?1)",
            )
            .at(&self.path)?;
        let mut out = Vec::with_capacity(ids.len());
        let mut rows = stmt.query([list]).at(&self.path)?;
        while let Some(row) = rows.next().at(&self.path)? {
            let blob: Vec<u8> = row.get(1).at(&self.path)?;
            if blob.len() == dim * 4 {
                out.push((row.get(0).at(&self.path)?, bytes_to_f32s(&blob).collect()));
            }
        }
        Ok(out)
    }

    /// Up to `limit` (chunk id, vector) pairs with ids above `after`, in
    /// id order: one page of a stream that holds no more in memory.
    pub fn vectors_after(
        &self,
        after: i64,
        limit: usize,
        dim: usize,
    ) -> Result<(Vec<i64>, Vec<f32>)> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT c.id, v.data FROM chunks c JOIN vectors v ON v.content_hash = c.content_hash
                 WHERE c.id > ?1 ORDER BY c.id LIMIT ?2",
            )
            .at(&self.path)?;
        let mut ids = Vec::new();
        let mut data = Vec::with_capacity(limit.min(1 << 16) * dim);
        let mut rows = stmt.query(params![after, limit as i64]).at(&self.path)?;
        while let Some(row) = rows.next().at(&self.path)? {
            let blob: Vec<u8> = row.get(1).at(&self.path)?;
            if blob.len() != dim * 4 {
                continue;
            }
            ids.push(row.get(0).at(&self.path)?);
            data.extend(bytes_to_f32s(&blob));
        }
        Ok((ids, data))
    }

    /// About `want` vectors spread evenly over the `n` chunks (every
    /// `n / want`-th id), for training an approximate index.
    pub fn sample_vectors(&self, dim: usize, want: usize, n: usize) -> Result<Vec<f32>> {
        let step = (n / want.max(1)).max(1) as i64;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT v.data FROM chunks c JOIN vectors v ON v.content_hash = c.content_hash
                 WHERE c.id % ?1 = 0 ORDER BY c.id LIMIT ?2",
            )
            .at(&self.path)?;
        let mut data = Vec::with_capacity(want * dim);
        let mut rows = stmt.query(params![step, want as i64]).at(&self.path)?;
        while let Some(row) = rows.next().at(&self.path)? {
            let blob: Vec<u8> = row.get(0).at(&self.path)?;
            if blob.len() == dim * 4 {
                data.extend(bytes_to_f32s(&blob));
            }
        }
        Ok(data)
    }

    /// Chunks with an id above `after`.
    pub fn count_chunks_after(&self, after: i64) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM chunks WHERE id > ?1", [after], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .at(&self.path)
    }

    /// Sets one `meta` value in its own transaction.
    pub(crate) fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|_| ())
            .at(&self.path)
    }

    /// Every (chunk id, vector) pair, for rebuilding FAISS.
    pub fn all_vectors(&self, dim: usize) -> Result<(Vec<i64>, Vec<f32>)> {
        // Chunk ids start at 1.
        self.vectors_after(0, i64::MAX as usize, dim)
    }

    /// A chunk by id: (path, start line, end line, text), if it exists.
    pub fn chunk(&self, id: i64) -> Result<Option<(String, usize, usize, String)>> {
        self.conn
            .query_row(
                "SELECT f.path, c.start_line, c.end_line, c.text FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as usize, r.get::<_, i64>(2)?.max(0) as usize, r.get(3)?)),
            )
            .optional()
            .at(&self.path)
    }

    /// Everything the index holds about one chunk, if it exists.
    pub fn chunk_record(&self, id: i64) -> Result<Option<ChunkRecord>> {
        self.conn
            .query_row(
                "SELECT f.path, c.start_line, c.end_line, c.symbol, c.language, c.text, c.content_hash
                 FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id = ?1",
                [id],
                |r| {
                    Ok(ChunkRecord {
                        id,
                        path: r.get(0)?,
                        start_line: r.get::<_, i64>(1)?.max(0) as usize,
                        end_line: r.get::<_, i64>(2)?.max(0) as usize,
                        symbol: r.get(3)?,
                        language: r.get(4)?,
                        text: r.get(5)?,
                        content_hash: r.get(6)?,
                    })
                },
            )
            .optional()
            .at(&self.path)
    }

    /// Files skipped by the last index, with reasons.
    pub fn skipped(&self) -> Result<Vec<crate::Skipped>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, reason FROM skipped ORDER BY path")
            .at(&self.path)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(crate::Skipped {
                    path: r.get(0)?,
                    reason: r.get(1)?,
                })
            })
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Number of rows in `table` (a constant name from this crate).
    pub(crate) fn count(&self, table: &str) -> Result<u64> {
        self.conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .at(&self.path)
    }
}

/// Makes the index folder ignore itself in git (a `.gitignore` of `*`
/// inside it), so index data never shows up as untracked or gets committed.
pub fn ignore_self(dir: &Path) {
    let marker = dir.join(".gitignore");
    // create_new never follows a link (O_CREAT | O_EXCL): a `.gitignore`
    // planted as a link to a path outside is left alone, not written through.
    // Best effort: a read-only folder only loses the convenience.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(marker)
    {
        let _ =
            std::io::Write::write_all(&mut f, b"# writ's index and ledger: never committed\n*\n");
    }
}

/// Little-endian bytes of `v`.
pub(crate) fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Floats from little-endian bytes.
pub(crate) fn bytes_to_f32s(b: &[u8]) -> impl Iterator<Item = f32> + '_ {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}
