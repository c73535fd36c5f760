//! sha256 of model files, cached beside the file when the folder is writable.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// sha256 of the file at `path`, lowercase hex.
///
/// The digest of a large weights file costs a noticeable fraction of a
/// second, so it is cached in a sidecar `.NAME.sha256` keyed by size and
/// modification time; the sidecar is ignored when it does not match and
/// silently not written when the folder is read-only.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let meta = fs::metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = format!("{} {}", meta.len(), mtime);
    let sidecar = sidecar_path(path);
    if let Ok(cached) = fs::read_to_string(&sidecar) {
        if let Some((k, digest)) = cached.trim().rsplit_once(' ') {
            if k == key && digest.len() == 64 {
                return Ok(digest.to_string());
            }
        }
    }
    let digest = sha256_file_uncached(path)?;
    // A cache only: failing to write it changes nothing.
    let _ = fs::write(&sidecar, format!("{key} {digest}\n"));
    Ok(digest)
}

/// sha256 of the file at `path`, always read in full (no sidecar): for
/// checking a recorded digest, where a cache could hide a change.
pub fn sha256_file_uncached(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// sha256 of `bytes`, lowercase hex (prompt hashes recorded with proposals).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn sidecar_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.sha256"))
}
