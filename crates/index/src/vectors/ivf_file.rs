//! A check, in safe code, that a file is exactly the `IVF<n>,SQ8`
//! inner-product index writ writes, before FAISS maps it.
//!
//! FAISS's memory-mapped read of inverted lists takes each list's offset
//! from the sizes in the file and checks only that the first one starts
//! inside it: a file whose sizes claim more than it holds (cut short,
//! corrupted, or crafted and shipped in a repository's `.writ/`) would
//! have search read past the mapping. So the whole header is parsed here,
//! in the shape FAISS's `write_index` gives it (`IwSq`, an `IxFI`
//! quantizer, no direct map, SQ8 codes of `dim` bytes, `ilar` lists), and
//! the file must end exactly where its lists do.

use std::io::{BufReader, Read, Seek};
use std::path::Path;

/// Most inverted lists accepted.
const MAX_LISTS: u64 = 1 << 20;

struct Reader<R> {
    inner: R,
    at: u64,
}

impl<R: Read + Seek> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b).ok()?;
        self.at += N as u64;
        Some(b)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.bytes::<1>()?[0])
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes()?))
    }
    fn fourcc(&mut self, want: &[u8; 4]) -> Option<()> {
        (&self.bytes::<4>()? == want).then_some(())
    }
    fn skip(&mut self, n: u64) -> Option<()> {
        let n = i64::try_from(n).ok()?;
        self.inner.seek_relative(n).ok()?;
        self.at = self.at.checked_add(n as u64)?;
        Some(())
    }
    /// FAISS's index header; returns `ntotal`.
    fn header(&mut self, dim: usize) -> Option<u64> {
        let d = self.i32()?;
        let ntotal = u64::try_from(i64::from_le_bytes(self.bytes()?)).ok()?;
        self.skip(16)?; // two unused words
        let _trained = self.u8()?;
        let metric = self.i32()?;
        // Inner product is metric 0 (and carries no argument).
        (usize::try_from(d).ok()? == dim && metric == 0).then_some(ntotal)
    }
}

/// Whether `path` (of `bytes` bytes) is an `IVF<n>,SQ8` inner-product index
/// of dimension `dim` whose lists end exactly at the end of the file.
pub fn well_formed(path: &Path, dim: usize, bytes: u64) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut r = Reader {
        inner: BufReader::new(file),
        at: 0,
    };
    check(&mut r, dim) == Some(bytes)
}

/// The end of the lists the header describes, if the header is writ's.
fn check<R: Read + Seek>(r: &mut Reader<R>, dim: usize) -> Option<u64> {
    let dim64 = dim as u64;
    r.fourcc(b"IwSq")?;
    let ntotal = r.header(dim)?;
    let nlist = r.u64()?;
    if nlist == 0 || nlist > MAX_LISTS {
        return None;
    }
    let _nprobe = r.u64()?;
    // The quantizer: a flat inner-product index of the centroids.
    r.fourcc(b"IxFI")?;
    if r.header(dim)? != nlist {
        return None;
    }
    let words = r.u64()?; // its codes, counted in 4-byte words
    if words != nlist.checked_mul(dim64)? {
        return None;
    }
    r.skip(words.checked_mul(4)?)?;
    // No direct map.
    if r.u8()? != 0 || r.u64()? != 0 {
        return None;
    }
    // The scalar quantizer: 8 bits per dimension.
    let _qtype = r.i32()?;
    let _rangestat = r.i32()?;
    let _rangestat_arg = r.bytes::<4>()?;
    if r.u64()? != dim64 || r.u64()? != dim64 {
        return None;
    }
    let trained = r.u64()?;
    if trained > 2 * dim64 {
        return None;
    }
    r.skip(trained * 4)?;
    if r.u64()? != dim64 {
        return None;
    }
    let _by_residual = r.u8()?;
    // The lists: sizes, then each list's codes and ids, to the end.
    r.fourcc(b"ilar")?;
    if r.u64()? != nlist || r.u64()? != dim64 {
        return None;
    }
    let kind = r.bytes::<4>()?;
    let mut total: u64 = 0;
    if &kind == b"full" {
        if r.u64()? != nlist {
            return None;
        }
        for _ in 0..nlist {
            total = total.checked_add(r.u64()?)?;
        }
    } else if &kind == b"sprs" {
        let n = r.u64()?;
        if n % 2 != 0 || n > 2 * nlist {
            return None;
        }
        for _ in 0..n / 2 {
            if r.u64()? >= nlist {
                return None;
            }
            total = total.checked_add(r.u64()?)?;
        }
    } else {
        return None;
    }
    if total != ntotal {
        return None;
    }
    r.at.checked_add(total.checked_mul(dim64.checked_add(8)?)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;
    use faiss::{Index, MetricType};

    /// A real IVF16,SQ8 file of 400 vectors of dimension 8.
    fn written(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
        let mut index = faiss::index_factory(8, "IVF16,SQ8", MetricType::InnerProduct).unwrap();
        let data: Vec<f32> = (0..400 * 8)
            .map(|i| ((i * 7919) % 101) as f32 / 101.0)
            .collect();
        index.train(&data).unwrap();
        let ids: Vec<faiss::Idx> = (0..400).map(|i| faiss::Idx::new(i + 1)).collect();
        index.add_with_ids(&data, &ids).unwrap();
        let path = dir.join("seg.faiss");
        faiss::write_index(&index, path.to_str().unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    #[test]
    fn writs_own_files_pass_and_altered_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (path, bytes) = written(dir.path());
        assert!(well_formed(&path, 8, bytes.len() as u64));
        assert!(!well_formed(&path, 16, bytes.len() as u64), "another dim");
        // Cut short, padded, or with a list size raised: refused.
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(!well_formed(&path, 8, bytes.len() as u64 - 1));
        let mut padded = bytes.clone();
        padded.extend([0u8; 8]);
        std::fs::write(&path, &padded).unwrap();
        assert!(!well_formed(&path, 8, padded.len() as u64));
        let at = bytes.windows(4).position(|w| w == b"ilar").unwrap();
        // nlist, code size and the list kind follow `ilar`; then the sizes.
        let first_size = at + 4 + 8 + 8 + 4 + 8;
        let mut raised = bytes.clone();
        raised[first_size] = raised[first_size].wrapping_add(50);
        std::fs::write(&path, &raised).unwrap();
        assert!(!well_formed(&path, 8, raised.len() as u64));
    }
}
