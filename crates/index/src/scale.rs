//! The vector store alone at scale, for `writ bench vectors`: a catalog of
//! `count` vectors made from a real index's vectors (each repeated and
//! perturbed, since embedding millions of chunks here takes a day), its
//! base segment built as `writ index` builds it, exact answers for a query
//! set, the cost of a one-file update, and (in a fresh process) cold and
//! warm search with recall against the exact answers.

use crate::error::{IndexError, Result, SqlContext};
use crate::store::Catalog;
use crate::vectors::{
    build_segment, read_layout, write_segment, Layout, VectorStore, APPROXIMATE_AT, LAYOUT_KEY,
};
use faiss::{Index, MetricType};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Per-component noise added to each copy of a real vector.
const NOISE: f32 = 0.02;
/// Chunks a one-file update replaces.
const FILE_CHUNKS: usize = 20;
/// The file the query set and its exact answers are kept in.
const QUERIES_FILE: &str = "bench-queries.json";

/// What the build phase measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Built {
    /// Vectors in the store.
    pub count: usize,
    /// Real vectors they were made from (less those held out as queries).
    pub seeds: usize,
    /// Whether the queries are real vectors held out of the store (else
    /// perturbed copies of the seeds).
    pub held_out_queries: bool,
    /// Queries in the set (held-out vectors equal to a kept one are
    /// dropped, so this can be fewer than asked).
    pub queries: usize,
    /// Seconds to write the catalog (not part of indexing's cost here).
    pub fill_seconds: f64,
    /// Seconds to build and write the base segment from SQLite.
    pub build_seconds: f64,
    /// Whether the base is approximate.
    pub approximate: bool,
    /// Size of the segment files, bytes.
    pub segment_bytes: u64,
    /// Size of the catalog, bytes.
    pub catalog_bytes: u64,
    /// Seconds for the vector side of a one-file update: checking the
    /// store, replacing `FILE_CHUNKS` chunks, writing their segment and the
    /// layout (walking, chunking and embedding excluded).
    pub update_seconds: f64,
    /// Peak resident memory of the build process, bytes.
    pub peak_rss: u64,
}

/// What the query phase measured, in a process that had not read the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queried {
    /// Seconds from opening the catalog to the first query's answer.
    pub cold_seconds: f64,
    /// Median query of the first pass over the queries (the store's pages
    /// read as they are first needed), seconds.
    pub first_pass_p50_seconds: f64,
    /// Median warm query (a second pass), seconds.
    pub p50_seconds: f64,
    /// 99th percentile warm query, seconds.
    pub p99_seconds: f64,
    /// Top-10 overlap with exact search.
    pub recall_at_10: f64,
    /// Resident memory after the queries, bytes.
    pub rss: u64,
    /// Of it, heap and other anonymous memory, bytes.
    pub rss_anon: u64,
    /// Of it, mapped file pages (the memory-mapped base, the binary), bytes.
    pub rss_file: u64,
    /// Peak resident memory, bytes.
    pub peak_rss: u64,
}

#[derive(Serialize, Deserialize)]
struct QuerySet {
    dim: usize,
    depth: usize,
    queries: Vec<Vec<f32>>,
    exact: Vec<Vec<i64>>,
}

/// A deterministic stream of numbers in [-1, 1).
fn noise(seed: u64) -> impl FnMut() -> f32 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Copy `i` of seed `i % n`, perturbed and normalised.
fn copy(seeds: &[f32], dim: usize, i: usize, stream: u64) -> Vec<f32> {
    let n = seeds.len() / dim;
    let seed = &seeds[(i % n) * dim..(i % n + 1) * dim];
    let mut next = noise(i as u64 ^ stream);
    // The sum of three uniforms is near enough a normal.
    let mut v: Vec<f32> = seed
        .iter()
        .map(|x| x + NOISE * (next() + next() + next()))
        .collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn rss(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Splits `seeds` into those kept and `n` held out as queries: every
/// (count / n)-th vector, skipping any whose exact vector is also kept (a
/// chunk repeated in another file). `None` when there are too few seeds.
fn hold_out(seeds: &[f32], dim: usize, n: usize) -> (Vec<f32>, Option<Vec<f32>>) {
    let count = seeds.len() / dim;
    if n == 0 || count < 4 * n {
        return (seeds.to_vec(), None);
    }
    let key = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let step = count / n;
    let chosen: std::collections::HashSet<usize> = (0..n).map(|i| i * step).collect();
    let mut kept = Vec::with_capacity(seeds.len());
    let mut kept_keys = std::collections::HashSet::new();
    for (i, v) in seeds.chunks(dim).enumerate() {
        if !chosen.contains(&i) {
            kept.extend_from_slice(v);
            kept_keys.insert(key(v));
        }
    }
    let held: Vec<f32> = seeds
        .chunks(dim)
        .enumerate()
        .filter(|(i, v)| chosen.contains(i) && !kept_keys.contains(&key(v)))
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    (kept, Some(held))
}

/// The vectors of the index in `from`, and their dimension.
pub fn seeds(from: &Path) -> Result<(usize, Vec<f32>)> {
    let catalog = Catalog::open_read_only(from)?;
    let dim = catalog
        .manifest()?
        .ok_or_else(|| IndexError::NotIndexed {
            path: from.to_path_buf(),
        })?
        .model
        .dim;
    Ok((dim, catalog.all_vectors(dim)?.1))
}

/// Builds the store of `count` vectors in `dir` (a new folder) and the
/// query set, and measures the build and a one-file update.
pub fn build(dir: &Path, seeds: &[f32], dim: usize, count: usize, queries: usize) -> Result<Built> {
    // The queries are real vectors held out of the store (their nearest
    // neighbours are other chunks' copies, as a real query's are), spread
    // over the whole index and none equal to a vector kept, when there are
    // enough seeds; else copies of the seeds.
    let (kept, held) = hold_out(seeds, dim, queries);
    let (seeds, held) = match &held {
        Some(h) => (kept.as_slice(), Some(h.as_slice())),
        None => (seeds, None),
    };
    let started = Instant::now();
    let mut catalog = Catalog::open(dir)?;
    fill(&mut catalog, seeds, dim, count)?;
    let fill_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut layout = Layout::default();
    if let Some(base) = build_segment(&catalog, dir, &mut layout, dim, 0, APPROXIMATE_AT)? {
        layout.segments.push(base);
    }
    catalog.set_meta(
        LAYOUT_KEY,
        &serde_json::to_string(&layout).unwrap_or_default(),
    )?;
    let build_seconds = started.elapsed().as_secs_f64();

    let update_seconds = update(&mut catalog, dir, seeds, dim, count)?;
    // Exact answers over what is live after the update.
    let set = query_set(&catalog, seeds, held, dim, queries)?;
    let text = serde_json::to_string(&set).unwrap_or_default();
    std::fs::write(dir.join(QUERIES_FILE), text).map_err(|source| IndexError::Io {
        path: dir.join(QUERIES_FILE),
        source,
    })?;
    let layout = read_layout(&catalog)?.unwrap_or_default();
    Ok(Built {
        count,
        seeds: seeds.len() / dim,
        held_out_queries: held.is_some(),
        queries: set.queries.len(),
        fill_seconds,
        build_seconds,
        approximate: layout.segments.first().is_some_and(|s| s.approximate),
        segment_bytes: layout.segments.iter().map(|s| s.bytes).sum(),
        catalog_bytes: size(&dir.join(crate::CATALOG_FILE)),
        update_seconds,
        peak_rss: rss("VmHWM:"),
    })
}

/// Writes `count` chunks and their vectors, in one transaction.
fn fill(catalog: &mut Catalog, seeds: &[f32], dim: usize, count: usize) -> Result<()> {
    let path = catalog.path().to_path_buf();
    let tx = catalog.begin()?;
    {
        tx.execute(
            "INSERT INTO files (path, hash, size, mtime_ns, language, lossy) VALUES ('bench', '', 0, 0, 'text', 0)",
            [],
        )
        .at(&path)?;
        let file = tx.last_insert_rowid();
        let mut chunk = tx
            .prepare_cached(
                "INSERT INTO chunks (file_id, start_line, end_line, symbol, kind, language, text, content_hash)
                 VALUES (?1, 1, 1, NULL, 'code', 'text', '', ?2)",
            )
            .at(&path)?;
        let mut vector = tx
            .prepare_cached("INSERT INTO vectors (content_hash, data) VALUES (?1, ?2)")
            .at(&path)?;
        for i in 0..count {
            let hash = format!("bench-{i}");
            chunk.execute(params![file, hash]).at(&path)?;
            let bytes: Vec<u8> = copy(seeds, dim, i, 0)
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect();
            vector.execute(params![hash, bytes]).at(&path)?;
        }
    }
    tx.commit().at(&path)
}

/// Queries (the held-out vectors, else other copies of the seeds) and their
/// exact top-10, by brute force over the catalog in pages.
fn query_set(
    catalog: &Catalog,
    seeds: &[f32],
    held: Option<&[f32]>,
    dim: usize,
    n: usize,
) -> Result<QuerySet> {
    let queries: Vec<Vec<f32>> = match held {
        Some(h) => h.chunks(dim).map(<[f32]>::to_vec).collect(),
        None => (0..n).map(|i| copy(seeds, dim, i * 7919, 0xA5A5)).collect(),
    };
    let flat: Vec<f32> = queries.concat();
    // Held-out queries may be fewer than asked (duplicates are dropped).
    let mut best: Vec<Vec<(f32, i64)>> = vec![Vec::new(); queries.len()];
    let mut from = 0;
    let err = |e: faiss::error::Error| IndexError::Faiss {
        path: catalog.path().to_path_buf(),
        message: e.to_string(),
    };
    loop {
        let (ids, data) = catalog.vectors_after(from, 65_536, dim)?;
        let Some(&last) = ids.last() else { break };
        let mut index =
            faiss::index_factory(dim as u32, "Flat", MetricType::InnerProduct).map_err(err)?;
        index.add(&data).map_err(err)?;
        let found = index.search(&flat, 10).map_err(err)?;
        for (q, top) in best.iter_mut().enumerate() {
            for j in 0..10 {
                if let Some(row) = found.labels[q * 10 + j].get() {
                    top.push((found.distances[q * 10 + j], ids[row as usize]));
                }
            }
            top.sort_by(|a, b| b.0.total_cmp(&a.0));
            top.truncate(10);
        }
        from = last;
    }
    Ok(QuerySet {
        dim,
        depth: crate::DEPTH,
        queries,
        exact: best
            .into_iter()
            .map(|t| t.into_iter().map(|(_, id)| id).collect())
            .collect(),
    })
}

/// The vector side of re-indexing one changed file: check the store,
/// replace `FILE_CHUNKS` chunks in the catalog, write their segment and the
/// layout. Seconds.
fn update(
    catalog: &mut Catalog,
    dir: &Path,
    seeds: &[f32],
    dim: usize,
    count: usize,
) -> Result<f64> {
    let started = Instant::now();
    let ok = VectorStore::open(catalog, dir, dim)?.is_some();
    let mut layout = read_layout(catalog)?.unwrap_or_default();
    let path = catalog.path().to_path_buf();
    let gone: Vec<i64> = (1..=FILE_CHUNKS as i64).collect();
    let mut added = Vec::new();
    let mut data = Vec::new();
    let tx = catalog.begin()?;
    for id in &gone {
        tx.execute("DELETE FROM chunks WHERE id = ?1", [id])
            .at(&path)?;
    }
    for i in 0..FILE_CHUNKS {
        let hash = format!("bench-new-{i}");
        tx.execute(
            "INSERT INTO chunks (file_id, start_line, end_line, symbol, kind, language, text, content_hash)
             VALUES (1, 1, 1, NULL, 'code', 'text', '', ?1)",
            [&hash],
        )
        .at(&path)?;
        added.push(tx.last_insert_rowid());
        let v = copy(seeds, dim, count + i, 0x5EED);
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        tx.execute(
            "INSERT INTO vectors (content_hash, data) VALUES (?1, ?2)",
            params![hash, bytes],
        )
        .at(&path)?;
        data.extend(v);
    }
    layout.bury(&gone);
    write_segment(dir, &mut layout, &added, &data, dim)?;
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![
            LAYOUT_KEY,
            serde_json::to_string(&layout).unwrap_or_default()
        ],
    )
    .at(&path)?;
    tx.commit().at(&path)?;
    if !ok {
        return Err(IndexError::Faiss {
            path: dir.to_path_buf(),
            message: "the store just built did not open".into(),
        });
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Opens the store in `dir` and runs the query set: the first query cold
/// (this process has not read the store), the rest warm, `DEPTH` hits each
/// as `writ search` asks, recall on the top 10.
pub fn query(dir: &Path) -> Result<Queried> {
    let text =
        std::fs::read_to_string(dir.join(QUERIES_FILE)).map_err(|source| IndexError::Io {
            path: dir.join(QUERIES_FILE),
            source,
        })?;
    let set: QuerySet = serde_json::from_str(&text).map_err(|e| IndexError::Faiss {
        path: dir.join(QUERIES_FILE),
        message: e.to_string(),
    })?;
    let started = Instant::now();
    let catalog = Catalog::open_read_only(dir)?;
    let mut store =
        VectorStore::open(&catalog, dir, set.dim)?.ok_or_else(|| IndexError::Faiss {
            path: dir.to_path_buf(),
            message: "the store does not open".into(),
        })?;
    let mut first = Vec::with_capacity(set.queries.len());
    let mut found = 0usize;
    let mut wanted = 0usize;
    let mut cold_seconds = 0.0;
    for (i, (q, exact)) in set.queries.iter().zip(&set.exact).enumerate() {
        let t = Instant::now();
        let hits = store.search(q, set.depth, None, &catalog, dir)?;
        if i == 0 {
            cold_seconds = started.elapsed().as_secs_f64();
        } else {
            first.push(t.elapsed().as_secs_f64());
        }
        wanted += exact.len();
        found += hits
            .iter()
            .take(10)
            .filter(|(id, _)| exact.contains(id))
            .count();
    }
    let mut warm = Vec::with_capacity(set.queries.len());
    for q in &set.queries {
        let t = Instant::now();
        store.search(q, set.depth, None, &catalog, dir)?;
        warm.push(t.elapsed().as_secs_f64());
    }
    Ok(Queried {
        cold_seconds,
        first_pass_p50_seconds: percentile(&mut first, 0.5),
        p50_seconds: percentile(&mut warm, 0.5),
        p99_seconds: percentile(&mut warm, 0.99),
        recall_at_10: found as f64 / wanted.max(1) as f64,
        rss: rss("VmRSS:"),
        rss_anon: rss("RssAnon:"),
        rss_file: rss("RssFile:"),
        peak_rss: rss("VmHWM:"),
    })
}

/// The `p` quantile of `times` (sorted in place).
fn percentile(times: &mut [f64], p: f64) -> f64 {
    times.sort_by(f64::total_cmp);
    let i = ((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1));
    times.get(i).copied().unwrap_or(0.0)
}
