//! A check, in safe code, that a segment file is exactly the FAISS index
//! writ writes (`IVF<n>,SQ8` or `IDMap2,Flat`, inner product), before FAISS
//! reads or maps it.
//!
//! FAISS's memory-mapped read of inverted lists takes each list's offset
//! from the sizes in the file and checks only that the first one starts
//! inside it: a file whose sizes claim more than it holds (cut short,
//! corrupted, or crafted and shipped in a repository's `.writ/`) would
//! have search read past the mapping. So the whole header is parsed here,
//! in the shape FAISS's `write_index` gives it (`IwSq`, an `IxFI`
//! quantizer, no direct map, SQ8 codes of `dim` bytes, `ilar` lists), and
//! the file must end exactly where its lists do. FAISS recomputes the code
//! size from the quantizer type and reads its range table by dimension, so
//! both are required to be SQ8's. An exact segment's id map must hold one
//! id per vector (FAISS indexes it by the header's count while loading).

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
        let trained = self.u8()?;
        let metric = self.i32()?;
        // Inner product is metric 0 (and carries no argument).
        (usize::try_from(d).ok()? == dim && metric == 0 && trained == 1).then_some(ntotal)
    }

    /// An `IxFI` flat inner-product index of `dim`; returns its count.
    fn flat(&mut self, dim: usize) -> Option<u64> {
        self.fourcc(b"IxFI")?;
        let n = self.header(dim)?;
        let words = self.u64()?; // its codes, counted in 4-byte words
        if words != n.checked_mul(dim as u64)? {
            return None;
        }
        self.skip(words.checked_mul(4)?)?;
        Some(n)
    }
}

/// Whether `path` (of `bytes` bytes) is an `IVF<n>,SQ8` inner-product index
/// of dimension `dim` whose lists end exactly at the end of the file.
pub fn well_formed(path: &Path, dim: usize, bytes: u64) -> bool {
    read_with(path, |r| check(r, dim)) == Some(bytes)
}

/// Whether `path` (of `bytes` bytes) is an `IDMap2,Flat` inner-product
/// index of dimension `dim` with one id per vector, ending at the file's end.
pub fn flat_well_formed(path: &Path, dim: usize, bytes: u64) -> bool {
    read_with(path, |r| check_flat(r, dim)) == Some(bytes)
}

fn read_with(
    path: &Path,
    f: impl FnOnce(&mut Reader<BufReader<std::fs::File>>) -> Option<u64>,
) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    f(&mut Reader {
        inner: BufReader::new(file),
        at: 0,
    })
}

/// The end of an exact segment, if its header is writ's.
fn check_flat<R: Read + Seek>(r: &mut Reader<R>, dim: usize) -> Option<u64> {
    r.fourcc(b"IxM2")?;
    let n = r.header(dim)?;
    if r.flat(dim)? != n || r.u64()? != n {
        return None;
    }
    r.skip(n.checked_mul(8)?)?;
    Some(r.at)
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
    if r.flat(dim)? != nlist {
        return None;
    }
    // No direct map.
    if r.u8()? != 0 || r.u64()? != 0 {
        return None;
    }
    // The scalar quantizer: 8 bits per dimension (type 0), whose range
    // table holds a minimum and a width per dimension.
    if r.i32()? != 0 {
        return None;
    }
    let _rangestat = r.i32()?;
    let _rangestat_arg = r.bytes::<4>()?;
    if r.u64()? != dim64 || r.u64()? != dim64 || r.u64()? != 2 * dim64 {
        return None;
    }
    r.skip(2 * dim64 * 4)?;
    if r.u64()? != dim64 || r.u8()? > 1 {
        return None;
    }
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
    fn sparse_lists_and_exact_segments_are_read_as_faiss_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        // 64 lists, 20 vectors: most lists empty, written as `sprs`.
        let mut index = faiss::index_factory(8, "IVF64,SQ8", MetricType::InnerProduct).unwrap();
        let train: Vec<f32> = (0..4_000 * 8)
            .map(|i| ((i * 31) % 97) as f32 / 97.0)
            .collect();
        index.train(&train).unwrap();
        let ids: Vec<faiss::Idx> = (0..20).map(|i| faiss::Idx::new(i + 1)).collect();
        index.add_with_ids(&train[..20 * 8], &ids).unwrap();
        let path = dir.path().join("sparse.faiss");
        faiss::write_index(&index, path.to_str().unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.windows(4).any(|w| w == b"sprs"));
        assert!(well_formed(&path, 8, bytes.len() as u64));

        let mut flat = faiss::index_factory(8, "IDMap2,Flat", MetricType::InnerProduct).unwrap();
        flat.add_with_ids(&train[..20 * 8], &ids).unwrap();
        let path = dir.path().join("flat.faiss");
        faiss::write_index(&flat, path.to_str().unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(flat_well_formed(&path, 8, bytes.len() as u64));
        assert!(!well_formed(&path, 8, bytes.len() as u64));
        // An id map shorter than the count FAISS will index it by.
        let mut short = bytes.clone();
        let at = bytes.len() - 20 * 8 - 8;
        short[at] = 19;
        short.truncate(bytes.len() - 8);
        std::fs::write(&path, &short).unwrap();
        assert!(!flat_well_formed(&path, 8, short.len() as u64));
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
        // Another quantizer type (fp16: twice the stride FAISS would use).
        let sq = bytes.windows(4).position(|w| w == b"IxFI").unwrap();
        let words_at = sq + 4 + 4 + 8 + 16 + 1 + 4;
        let words = u64::from_le_bytes(bytes[words_at..words_at + 8].try_into().unwrap());
        let qtype_at = words_at + 8 + words as usize * 4 + 1 + 8;
        let mut other = bytes.clone();
        other[qtype_at] = 4;
        std::fs::write(&path, &other).unwrap();
        assert!(!well_formed(&path, 8, other.len() as u64));
    }
}
