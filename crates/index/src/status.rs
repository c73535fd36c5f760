//! `writ status`: what the index holds and how far the tree has moved on.

use crate::error::Result;
use crate::store::{Catalog, Manifest};
use crate::walk::{walk, Skipped, WalkOptions};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// A file that changed since the last index.
#[derive(Debug, Clone, Serialize)]
pub struct StaleFile {
    /// Relative path.
    pub path: String,
    /// `added`, `modified` or `deleted`.
    pub change: &'static str,
}

/// The state of an index against its working tree.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The index folder.
    pub index_dir: String,
    /// The generation readers see (0: never indexed).
    pub generation: i64,
    /// Files indexed.
    pub files: u64,
    /// Chunks indexed.
    pub chunks: u64,
    /// Distinct vectors stored.
    pub vectors: u64,
    /// Model, format and chunker the index was built with.
    pub manifest: Option<Manifest>,
    /// Last index run, seconds since the Unix epoch.
    pub last_indexed: Option<u64>,
    /// Bytes the index folder takes on disk.
    pub size_bytes: u64,
    /// Files skipped by the last index run, with reasons.
    pub skipped: Vec<Skipped>,
    /// Files read with invalid UTF-8 replaced.
    pub lossy: Vec<String>,
    /// Files changed since the last index run.
    pub stale: Vec<StaleFile>,
}

/// Reports on the index in `dir` for the tree at `root`, walking it with
/// the options of the last index run.
pub fn status(root: &Path, dir: &Path) -> Result<Status> {
    let catalog = Catalog::open_read_only(dir)?;
    let known = catalog.files()?;
    let options: WalkOptions = catalog
        .meta("walk_options")?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let walked = walk(root, Some(dir), &options);
    let mut stale = Vec::new();
    for f in &walked.files {
        match known.get(&f.rel) {
            None => stale.push(StaleFile {
                path: f.rel.clone(),
                change: "added",
            }),
            Some(row) if row.size != f.size || row.mtime_ns != f.mtime_ns => {
                let same = crate::walk::read_walked(&f.abs, options.max_file_size)
                    .ok()
                    .flatten()
                    .is_some_and(|b| blake3::hash(&b).to_hex().to_string() == row.hash);
                if !same {
                    stale.push(StaleFile {
                        path: f.rel.clone(),
                        change: "modified",
                    });
                }
            }
            Some(_) => {}
        }
    }
    let present: HashSet<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
    let mut deleted: Vec<&String> = known
        .keys()
        .filter(|p| !present.contains(p.as_str()))
        .collect();
    deleted.sort();
    stale.extend(deleted.into_iter().map(|p| StaleFile {
        path: p.clone(),
        change: "deleted",
    }));
    let lossy = {
        let mut stmt = catalog
            .conn()
            .prepare("SELECT path FROM files WHERE lossy = 1 ORDER BY path")
            .map_err(|source| crate::IndexError::Sqlite {
                path: catalog.path().to_path_buf(),
                source,
            })?;
        let rows = stmt.query_map([], |r| r.get(0));
        rows.and_then(|r| r.collect::<rusqlite::Result<Vec<String>>>())
            .unwrap_or_default()
    };
    Ok(Status {
        index_dir: dir.display().to_string(),
        generation: catalog.generation()?,
        files: catalog.count("files")?,
        chunks: catalog.count("chunks")?,
        vectors: catalog.count("vectors")?,
        manifest: catalog.manifest()?,
        last_indexed: catalog.meta("last_indexed")?.and_then(|s| s.parse().ok()),
        size_bytes: dir_size(dir),
        skipped: catalog.skipped()?,
        lossy,
        stale,
    })
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
