//! One vector segment: an immutable FAISS file holding the vectors of a
//! range of chunk ids, exact (`IDMap2,Flat`) or approximate (`IVF<n>,SQ8`,
//! memory-mapped when read so that a cold search touches only the lists it
//! probes).

use crate::error::{IndexError, Result};
use faiss::index::IndexImpl;
use faiss::{Idx, Index, MetricType};
use std::path::{Path, PathBuf};

/// An open segment.
pub struct Segment {
    pub(crate) index: IndexImpl,
    /// Whether it is an approximate (IVF) index whose hits are re-scored.
    pub(crate) approximate: bool,
}

pub(crate) fn faiss_err(path: &Path, e: impl std::fmt::Display) -> IndexError {
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

pub(crate) fn to_idx(ids: &[i64]) -> Vec<Idx> {
    ids.iter().map(|&id| Idx::new(id.max(0) as u64)).collect()
}

/// Inverted lists for `n` vectors: about the square root, a power of two,
/// so each list holds about as many vectors as there are lists.
pub fn lists_for(n: usize) -> usize {
    ((n as f64).sqrt() as usize)
        .clamp(16, 65_536)
        .next_power_of_two()
}

/// Training vectors asked per list (FAISS wants at least 39).
pub const TRAIN_PER_LIST: usize = 48;

impl Segment {
    /// An empty exact segment of dimension `dim`.
    pub fn flat(dim: usize, dir: &Path) -> Result<Segment> {
        let index = faiss::index_factory(dim as u32, "IDMap2,Flat", MetricType::InnerProduct)
            .map_err(|e| faiss_err(dir, e))?;
        Ok(Segment {
            index,
            approximate: false,
        })
    }

    /// An approximate segment with `lists` inverted lists, trained on
    /// `sample` (unit vectors, row-major).
    pub fn trained(dim: usize, lists: usize, sample: &[f32], dir: &Path) -> Result<Segment> {
        let spec = format!("IVF{lists},SQ8");
        let mut index = faiss::index_factory(dim as u32, &spec, MetricType::InnerProduct)
            .map_err(|e| faiss_err(dir, e))?;
        index.train(sample).map_err(|e| faiss_err(dir, e))?;
        Ok(Segment {
            index,
            approximate: true,
        })
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

    /// Writes the segment to `path` atomically (temp file, fsync, rename);
    /// returns the file's size.
    pub fn write(&self, path: &Path) -> Result<u64> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        faiss::write_index(&self.index, faiss_name(&tmp)?).map_err(|e| faiss_err(&tmp, e))?;
        let io = |source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(&tmp).map_err(io)?;
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(bytes)
    }

    /// Reads the segment at `path`, or `None` when it is missing, of
    /// another size than recorded, unreadable, or of another dimension or
    /// metric. An approximate one is memory-mapped.
    pub fn read(path: &Path, dim: usize, bytes: u64, approximate: bool) -> Option<Segment> {
        // Not followed through a link, and of the size written: a file cut
        // short is not mapped (its lists would point past its end).
        let meta = std::fs::symlink_metadata(path).ok()?;
        if !meta.is_file() || meta.len() != bytes {
            return None;
        }
        let name = faiss_name(path).ok()?;
        let index = if approximate {
            // Mapped only once its header is known to describe lists that
            // end exactly at the end of the file.
            if !super::ivf_file::well_formed(path, dim, bytes) {
                return None;
            }
            read_mapped(name)?
        } else {
            if !super::ivf_file::flat_well_formed(path, dim, bytes) {
                return None;
            }
            faiss::read_index(name).ok()?
        };
        let fits = index.d() as usize == dim && index.metric_type() == MetricType::InnerProduct;
        fits.then_some(Segment { index, approximate })
    }
}

/// FAISS's `IO_FLAG_MMAP`: inverted lists mapped from the file rather than
/// read (the `faiss` crate's `IoFlags` is 16 bits wide and cannot carry it).
const IO_FLAG_MMAP: std::os::raw::c_int = 8 | 0x646f_0000;
/// FAISS's `IO_FLAG_READ_ONLY`.
const IO_FLAG_READ_ONLY: std::os::raw::c_int = 2;

/// Reads an IVF index with its lists memory-mapped.
fn read_mapped(name: &str) -> Option<IndexImpl> {
    use faiss::index::FromInnerPtr;
    let c_name = std::ffi::CString::new(name).ok()?;
    let mut inner: *mut faiss_sys::FaissIndex = std::ptr::null_mut();
    #[allow(
        unsafe_code,
        reason = "the faiss crate cannot pass FAISS's 32-bit mmap flag; SAFETY: the name is a \
                  valid C string for the call, `inner` is only used when FAISS reports success, \
                  and then owns a fresh index that `IndexImpl` frees once"
    )]
    // SAFETY: see the reason above.
    let index = unsafe {
        let rc = faiss_sys::faiss_read_index_fname(
            c_name.as_ptr(),
            IO_FLAG_MMAP | IO_FLAG_READ_ONLY,
            &mut inner,
        );
        if rc != 0 || inner.is_null() {
            return None;
        }
        IndexImpl::from_inner_ptr(inner)
    };
    Some(index)
}

/// The path of segment file `name` in `dir`.
pub fn segment_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The number of a segment file named as writ names them (`seg-<n>.faiss`):
/// a layout naming anything else (a path, `..`) is not followed.
pub fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".faiss")?;
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
