//! The FAISS side: an id-mapped inner-product index keyed by chunk id,
//! one file per catalog generation (`vectors-<generation>.faiss`), written
//! to a temporary file and renamed into place.
//!
//! Invariant: FAISS is a cache of the catalog. When the file for the
//! catalog's generation is missing or unreadable it is rebuilt from the
//! vectors in SQLite, never by re-embedding.

use crate::error::{IndexError, Result};
use crate::store::Catalog;
use faiss::index::IndexImpl;
use faiss::{Idx, Index, MetricType};
use std::path::{Path, PathBuf};

/// An in-memory FAISS index.
pub struct VectorIndex {
    pub(crate) index: IndexImpl,
}

/// Path of the FAISS file of `generation` in `dir`.
pub fn faiss_path(dir: &Path, generation: i64) -> PathBuf {
    dir.join(format!("vectors-{generation}.faiss"))
}

fn faiss_err(path: &Path, e: impl std::fmt::Display) -> IndexError {
    IndexError::Faiss {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// `path` as FAISS takes it, a UTF-8 string. A lossy form would name
/// another file (perhaps another index's), so a path that is not UTF-8 is
/// refused.
pub(crate) fn faiss_name(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| IndexError::Faiss {
        path: path.to_path_buf(),
        message: "FAISS opens files by UTF-8 name and this path is not valid UTF-8; \
                  put the index folder at a UTF-8 path"
            .into(),
    })
}

fn to_idx(ids: &[i64]) -> Vec<Idx> {
    ids.iter().map(|&id| Idx::new(id.max(0) as u64)).collect()
}

impl VectorIndex {
    /// An empty index of dimension `dim`.
    pub fn empty(dim: usize, dir: &Path) -> Result<VectorIndex> {
        let index = faiss::index_factory(dim as u32, "IDMap2,Flat", MetricType::InnerProduct)
            .map_err(|e| faiss_err(dir, e))?;
        Ok(VectorIndex { index })
    }

    /// Builds the index from every vector in the catalog.
    pub fn rebuild(catalog: &Catalog, dim: usize, dir: &Path) -> Result<VectorIndex> {
        let mut vi = VectorIndex::empty(dim, dir)?;
        let (ids, data) = catalog.all_vectors(dim)?;
        vi.add(&ids, &data, dir)?;
        Ok(vi)
    }

    /// Reads the file of `generation`, or `None` when it is missing,
    /// unreadable or of another dimension.
    pub fn read(dir: &Path, generation: i64, dim: usize) -> Option<VectorIndex> {
        let path = faiss_path(dir, generation);
        if !path.is_file() {
            return None;
        }
        let index = faiss::read_index(faiss_name(&path).ok()?).ok()?;
        (index.d() as usize == dim && index.metric_type() == MetricType::InnerProduct)
            .then_some(VectorIndex { index })
    }

    /// Loads the file of the catalog's generation, rebuilding it from the
    /// catalog when needed; the flag says whether it was rebuilt.
    pub fn load_or_rebuild(
        catalog: &Catalog,
        dir: &Path,
        generation: i64,
        dim: usize,
    ) -> Result<(VectorIndex, bool)> {
        if let Some(vi) = VectorIndex::read(dir, generation, dim) {
            if vi.len() == catalog.count("chunks")? {
                return Ok((vi, false));
            }
        }
        Ok((VectorIndex::rebuild(catalog, dim, dir)?, true))
    }

    /// Number of vectors.
    pub fn len(&self) -> u64 {
        self.index.ntotal()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds vectors under chunk ids.
    pub fn add(&mut self, ids: &[i64], data: &[f32], dir: &Path) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.index
            .add_with_ids(data, &to_idx(ids))
            .map_err(|e| faiss_err(dir, e))
    }

    /// Removes chunk ids.
    pub fn remove(&mut self, ids: &[i64], dir: &Path) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sel =
            faiss::selector::IdSelector::batch(&to_idx(ids)).map_err(|e| faiss_err(dir, e))?;
        self.index.remove_ids(&sel).map_err(|e| faiss_err(dir, e))?;
        Ok(())
    }

    /// Writes the file of `generation` atomically (temp file, fsync, rename).
    pub fn write(&self, dir: &Path, generation: i64) -> Result<()> {
        let path = faiss_path(dir, generation);
        let tmp = dir.join(format!(".vectors-{generation}.faiss.tmp"));
        faiss::write_index(&self.index, faiss_name(&tmp)?).map_err(|e| faiss_err(&tmp, e))?;
        let io = |source| IndexError::Io {
            path: path.clone(),
            source,
        };
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    /// The `k` nearest chunk ids to `query` with their inner products,
    /// among `allowed` ids when given (the filter applies before top-k).
    pub fn search(
        &mut self,
        query: &[f32],
        k: usize,
        allowed: Option<&[i64]>,
        dir: &Path,
    ) -> Result<Vec<(i64, f32)>> {
        if self.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let k = k.min(self.len() as usize);
        let result = match allowed {
            None => self.index.search(query, k).map_err(|e| faiss_err(dir, e))?,
            Some([]) => return Ok(Vec::new()),
            Some(ids) => {
                use faiss::index::SearchWithParamsMut;
                let sel = faiss::selector::IdSelector::batch(&to_idx(ids))
                    .map_err(|e| faiss_err(dir, e))?;
                let params = faiss::search_params::SearchParametersImpl::new(sel)
                    .map_err(|e| faiss_err(dir, e))?;
                self.index
                    .search_with_params(query, k, &params)
                    .map_err(|e| faiss_err(dir, e))?
            }
        };
        Ok(result
            .labels
            .iter()
            .zip(result.distances.iter())
            .filter_map(|(label, &score)| label.get().map(|id| (id as i64, score)))
            .collect())
    }
}

/// Deletes FAISS files of generations other than `keep` (and stale temps).
pub fn remove_stale(dir: &Path, keep: i64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let keep_name = format!("vectors-{keep}.faiss");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let is_faiss = (name.starts_with("vectors-") || name.starts_with(".vectors-"))
            && (name.ends_with(".faiss") || name.ends_with(".faiss.tmp"));
        if is_faiss && name != keep_name {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
