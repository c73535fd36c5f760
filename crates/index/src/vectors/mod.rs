//! The FAISS side: the vectors of the published generation as a few
//! immutable segment files (`seg-<n>.faiss`), a base and the small segments
//! later runs added, with the ids deleted since (tombstones). A run writes
//! only a segment of what it embedded; the base is rebuilt from SQLite when
//! the rest outgrows an eighth of it, and is approximate (IVF with 8-bit
//! scalar codes, memory-mapped, its hits re-scored exactly from the vectors
//! in SQLite) from [`APPROXIMATE_AT`] vectors.
//!
//! Invariant: FAISS is a cache of the catalog. When a segment of the
//! published layout is missing, of another size or unreadable, or the
//! layout does not count the catalog's chunks, the vectors are rebuilt from
//! SQLite, never by re-embedding.

mod ivf_file;
mod layout;
mod segment;

use crate::error::Result;
use crate::store::Catalog;
pub use layout::{Layout, SegmentInfo, LAYOUT_KEY};
pub(crate) use segment::faiss_name;
use segment::{faiss_err, to_idx};
pub use segment::{lists_for, segment_number, segment_path, Segment, TRAIN_PER_LIST};
use std::collections::HashSet;
use std::path::Path;

/// Vectors from which a rebuilt base is approximate.
pub const APPROXIMATE_AT: usize = 100_000;
/// Inverted lists an approximate segment probes per query.
pub const NPROBE: usize = 48;
/// Candidates an approximate segment yields per wanted hit, re-scored
/// exactly (at least 64).
const RERANK: usize = 2;
/// A filter that allows at most this many chunks is scored exactly from
/// SQLite when the base is approximate (a probe of a few lists could miss
/// them all).
const EXACT_FILTER: usize = 20_000;
/// Vectors read from SQLite at a time while a segment is built.
const BUILD_BATCH: usize = 32_768;

/// The searchable vectors of one generation.
pub struct VectorStore {
    /// Each segment with the number of tombstones in its id range.
    segments: Vec<(Segment, usize)>,
    tombstones: HashSet<i64>,
    live: u64,
}

impl VectorStore {
    /// Opens the segments the catalog's layout names, or `None` when any
    /// is missing, broken or of another size, or the layout does not count
    /// the catalog's chunks.
    pub fn open(catalog: &Catalog, dir: &Path, dim: usize) -> Result<Option<VectorStore>> {
        let Some(mut layout) = read_layout(catalog)? else {
            return Ok(None);
        };
        if layout.generation != catalog.generation()? || layout.live() != catalog.count("chunks")? {
            return Ok(None);
        }
        layout.tombstones.sort_unstable();
        layout.tombstones.dedup();
        let mut segments = Vec::with_capacity(layout.segments.len());
        for info in &layout.segments {
            if segment_number(&info.file).is_none() || info.min_id > info.max_id {
                return Ok(None);
            }
            let path = segment_path(dir, &info.file);
            match Segment::read(&path, dim, info.bytes, info.approximate) {
                Some(s) if s.len() == info.count => segments.push((s, layout.buried_in(info))),
                _ => return Ok(None),
            }
        }
        Ok(Some(VectorStore {
            segments,
            tombstones: layout.tombstones.iter().copied().collect(),
            live: layout.live(),
        }))
    }

    /// Every vector in the catalog, exact, in memory.
    pub fn from_catalog(catalog: &Catalog, dim: usize, dir: &Path) -> Result<VectorStore> {
        let mut segment = Segment::flat(dim, dir)?;
        let (ids, data) = catalog.all_vectors(dim)?;
        segment.add(&ids, &data, dir)?;
        Ok(VectorStore {
            live: segment.len(),
            segments: vec![(segment, 0)],
            tombstones: HashSet::new(),
        })
    }

    /// [`VectorStore::open`], else [`VectorStore::from_catalog`]; the flag
    /// says whether it was rebuilt.
    pub fn open_or_rebuild(
        catalog: &Catalog,
        dir: &Path,
        dim: usize,
    ) -> Result<(VectorStore, bool)> {
        match VectorStore::open(catalog, dir, dim)? {
            Some(store) => Ok((store, false)),
            None => Ok((VectorStore::from_catalog(catalog, dim, dir)?, true)),
        }
    }

    /// Vectors that answer.
    pub fn len(&self) -> u64 {
        self.live
    }

    /// True when none answers.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Whether any segment is approximate.
    pub fn approximate(&self) -> bool {
        self.segments.iter().any(|(s, _)| s.approximate)
    }

    /// The `k` nearest chunk ids to `query` with their inner products,
    /// among `allowed` ids when given (the filter applies before top-k).
    /// Hits of an approximate segment are re-scored from `catalog`.
    pub fn search(
        &mut self,
        query: &[f32],
        k: usize,
        allowed: Option<&[i64]>,
        catalog: &Catalog,
        dir: &Path,
    ) -> Result<Vec<(i64, f32)>> {
        if self.is_empty() || k == 0 || allowed.is_some_and(<[i64]>::is_empty) {
            return Ok(Vec::new());
        }
        if let Some(ids) = allowed.filter(|ids| self.approximate() && ids.len() <= EXACT_FILTER) {
            return exact(query, ids, k, catalog);
        }
        let mut hits = Vec::new();
        let mut rescore = Vec::new();
        for (segment, buried) in &mut self.segments {
            let want = if segment.approximate {
                k.saturating_mul(RERANK).max(64)
            } else {
                k
            };
            let fetch = want
                .saturating_add(*buried)
                .min(usize::try_from(segment.len()).unwrap_or(usize::MAX));
            if fetch == 0 {
                continue;
            }
            let found = search_segment(segment, query, fetch, allowed, dir)?;
            let short = found.len() < fetch;
            let live: Vec<(i64, f32)> = found
                .into_iter()
                .filter(|(id, _)| !self.tombstones.contains(id))
                .take(want)
                .collect();
            if let (Some(ids), true, true) = (allowed, segment.approximate, short) {
                // The probed lists held too few of the allowed chunks (a
                // filter on chunks far from the query): score them all.
                return exact(query, ids, k, catalog);
            }
            if segment.approximate {
                rescore.extend(live.into_iter().map(|(id, _)| id));
            } else {
                hits.extend(live);
            }
        }
        if !rescore.is_empty() {
            hits.extend(exact(query, &rescore, rescore.len(), catalog)?);
        }
        rank(&mut hits);
        hits.truncate(k);
        Ok(hits)
    }
}

/// Best first; equal scores by chunk id.
fn rank(hits: &mut [(i64, f32)]) {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// The `k` best of `ids` by exact inner product with the vectors in SQLite.
fn exact(query: &[f32], ids: &[i64], k: usize, catalog: &Catalog) -> Result<Vec<(i64, f32)>> {
    let mut hits: Vec<(i64, f32)> = catalog
        .vectors_of(ids, query.len())?
        .into_iter()
        .map(|(id, v)| (id, v.iter().zip(query).map(|(a, b)| a * b).sum()))
        .collect();
    rank(&mut hits);
    hits.truncate(k);
    Ok(hits)
}

/// One segment's `k` nearest, filtered to `allowed` when given.
fn search_segment(
    segment: &mut Segment,
    query: &[f32],
    k: usize,
    allowed: Option<&[i64]>,
    dir: &Path,
) -> Result<Vec<(i64, f32)>> {
    use faiss::index::SearchWithParamsMut;
    use faiss::search_params::{SearchParametersIVFImpl, SearchParametersImpl};
    use faiss::selector::IdSelector;
    use faiss::Index;
    let err = |e| faiss_err(dir, e);
    let result = match (allowed, segment.approximate) {
        (None, false) => segment.index.search(query, k).map_err(err)?,
        (Some(ids), false) => {
            let sel = IdSelector::batch(&to_idx(ids)).map_err(err)?;
            let params = SearchParametersImpl::new(sel).map_err(err)?;
            segment
                .index
                .search_with_params(query, k, &params)
                .map_err(err)?
        }
        (None, true) => {
            let mut params = SearchParametersIVFImpl::new().map_err(err)?;
            params.set_nprobe(NPROBE);
            let params = params.upcast();
            segment
                .index
                .search_with_params(query, k, &params)
                .map_err(err)?
        }
        (Some(ids), true) => {
            let sel = IdSelector::batch(&to_idx(ids)).map_err(err)?;
            let params = SearchParametersIVFImpl::new_with(sel, NPROBE * 4, 0)
                .map_err(err)?
                .upcast();
            segment
                .index
                .search_with_params(query, k, &params)
                .map_err(err)?
        }
    };
    Ok(result
        .labels
        .iter()
        .zip(result.distances.iter())
        .filter_map(|(label, &score)| label.get().map(|id| (id as i64, score)))
        .collect())
}

/// The layout the catalog records, if any parses.
pub fn read_layout(catalog: &Catalog) -> Result<Option<Layout>> {
    Ok(catalog
        .meta(LAYOUT_KEY)?
        .and_then(|text| serde_json::from_str(&text).ok()))
}

/// Smallest number of vectors after the base that rebuilds it.
pub const COMPACT_FLOOR: u64 = 4096;

/// After a generation is committed: rebuilds the base from SQLite when the
/// layout was lost (`rebuild`) or has outgrown it (by the full rule when
/// `compact`, the run's last window; by [`Layout::outgrown`] between
/// windows), or merges the segments after the base when there are too
/// many, recording the new layout (which describes the same vectors, so
/// the generation stays). Returns the layout in effect.
pub fn settle(
    catalog: &Catalog,
    dir: &Path,
    dim: usize,
    layout: Layout,
    rebuild: bool,
    compact: bool,
    approximate_at: usize,
) -> Result<Layout> {
    let due = if compact {
        layout.needs_compaction(COMPACT_FLOOR)
    } else {
        layout.outgrown(COMPACT_FLOOR)
    };
    let next = if rebuild || due {
        let mut fresh = Layout {
            next: layout.next,
            generation: layout.generation,
            ..Layout::default()
        };
        if let Some(base) = build_segment(catalog, dir, &mut fresh, dim, 0, approximate_at)? {
            fresh.segments.push(base);
        }
        fresh
    } else if layout.needs_merge() {
        let Some(base) = layout.segments.first().cloned() else {
            return Ok(layout);
        };
        let mut merged = Layout {
            tombstones: layout
                .tombstones
                .iter()
                .copied()
                .filter(|&id| id <= base.max_id)
                .collect(),
            next: layout.next,
            generation: layout.generation,
            segments: vec![base.clone()],
        };
        if let Some(rest) = build_segment(catalog, dir, &mut merged, dim, base.max_id, usize::MAX)?
        {
            merged.segments.push(rest);
        }
        merged
    } else {
        return Ok(layout);
    };
    catalog.set_meta(
        LAYOUT_KEY,
        &serde_json::to_string(&next).unwrap_or_default(),
    )?;
    Ok(next)
}

/// Writes the vectors `ids`/`data` as a new exact segment of `layout`.
pub fn write_segment(
    dir: &Path,
    layout: &mut Layout,
    ids: &[i64],
    data: &[f32],
    dim: usize,
) -> Result<()> {
    let (Some(&min_id), Some(&max_id)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(());
    };
    let mut segment = Segment::flat(dim, dir)?;
    segment.add(ids, data, dir)?;
    let file = layout.take_name();
    let bytes = segment.write(&segment_path(dir, &file))?;
    layout.segments.push(SegmentInfo {
        file,
        count: ids.len() as u64,
        bytes,
        min_id,
        max_id,
        approximate: false,
    });
    Ok(())
}

/// Builds a segment of every chunk with an id above `after` from the
/// vectors in SQLite (approximate when `after` is 0 and there are at
/// least `approximate_at`), streaming them; `None` when there are none.
pub fn build_segment(
    catalog: &Catalog,
    dir: &Path,
    layout: &mut Layout,
    dim: usize,
    after: i64,
    approximate_at: usize,
) -> Result<Option<SegmentInfo>> {
    let n = catalog.count_chunks_after(after)? as usize;
    if n == 0 {
        return Ok(None);
    }
    let mut segment = if after == 0 && n >= approximate_at.max(1) {
        let lists = lists_for(n);
        let sample = catalog.sample_vectors(dim, TRAIN_PER_LIST * lists, n)?;
        Segment::trained(dim, lists, &sample, dir)?
    } else {
        Segment::flat(dim, dir)?
    };
    let (mut min_id, mut max_id, mut from) = (i64::MAX, i64::MIN, after);
    loop {
        let (ids, data) = catalog.vectors_after(from, BUILD_BATCH, dim)?;
        let Some(&last) = ids.last() else { break };
        min_id = min_id.min(ids[0]);
        max_id = max_id.max(last);
        segment.add(&ids, &data, dir)?;
        from = last;
    }
    if segment.is_empty() {
        return Ok(None);
    }
    let file = layout.take_name();
    let bytes = segment.write(&segment_path(dir, &file))?;
    Ok(Some(SegmentInfo {
        file,
        count: segment.len(),
        bytes,
        min_id,
        max_id,
        approximate: segment.approximate,
    }))
}

/// Deletes segment files (and stale temps, and the one-file-per-generation
/// files of earlier versions) that `keep` does not name; `None` keeps none.
pub fn remove_stale(dir: &Path, keep: Option<&Layout>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let kept: HashSet<&str> = keep
        .map(|l| l.segments.iter().map(|s| s.file.as_str()).collect())
        .unwrap_or_default();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let ours = ["seg-", ".seg-", "vectors-", ".vectors-"]
            .iter()
            .any(|p| name.starts_with(p))
            && (name.ends_with(".faiss") || name.ends_with(".faiss.tmp"));
        if ours && !kept.contains(name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
