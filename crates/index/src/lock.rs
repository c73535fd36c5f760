//! The writer lock: one `writ index` per index folder at a time.

use crate::error::{IndexError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Name of the lock file inside the index folder.
pub const LOCK_FILE: &str = "lock";

/// An exclusive advisory lock on the index folder, released on drop (and by
/// the kernel when the process dies, so a killed indexer leaves no stale lock).
pub struct IndexLock {
    _file: File,
}

impl IndexLock {
    /// Takes the lock, or fails at once with [`IndexError::Locked`].
    pub fn acquire(dir: &Path) -> Result<IndexLock> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| IndexError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(IndexLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(IndexError::Locked { path }),
            Err(TryLockError::Error(source)) => Err(IndexError::Io { path, source }),
        }
    }
}
