//! The first stage of an index run: reading, hashing and chunking changed
//! files on a thread of its own, handed over one file at a time through a
//! short queue, so the next files are chunked while the model embeds and
//! no more than a window of chunk text is ever held.

use crate::error::{IndexError, Result};
use crate::indexer::{Indexer, Pending};
use crate::store::FileRow;
use crate::walk::{read_walked, WalkedFile};
use std::collections::HashMap;
use std::sync::mpsc::SyncSender;
use std::time::Instant;

/// Files read ahead of the embedder: a bound on memory (each at most the
/// walk's `max_file_size`) that still keeps the reader a step ahead.
pub(crate) const READ_AHEAD: usize = 16;

/// One file, as the reader found it.
pub(crate) enum Fed {
    /// Its content is what the catalog has; only its size or mtime moved:
    /// `(file id, size, mtime)`.
    Touched((i64, u64, i64)),
    /// New (`added`) or changed, and chunked.
    Changed { pending: Pending, added: bool },
}

/// Reads and chunks `files` in order, sending each to `tx`; stops at the
/// first error (sent on) or when the receiver hangs up. Returns the
/// seconds it spent working (not waiting for the queue).
pub(crate) fn feed(
    indexer: &Indexer<'_>,
    files: Vec<WalkedFile>,
    known: &HashMap<String, FileRow>,
    tx: &SyncSender<Result<Fed>>,
) -> f64 {
    let mut busy = 0.0;
    for file in files {
        let start = Instant::now();
        let item = read_one(indexer, file, known);
        busy += start.elapsed().as_secs_f64();
        let failed = item.is_err();
        if tx.send(item).is_err() || failed {
            break;
        }
    }
    busy
}

fn read_one(
    indexer: &Indexer<'_>,
    file: WalkedFile,
    known: &HashMap<String, FileRow>,
) -> Result<Fed> {
    let io = |source| IndexError::Io {
        path: file.abs.clone(),
        source,
    };
    let bytes = read_walked(&file.abs, indexer.options.walk.max_file_size)
        .map_err(io)?
        .ok_or_else(|| {
            io(std::io::Error::other(
                "it changed into a link or another kind of file while being indexed; run writ index again",
            ))
        })?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let row = known.get(&file.rel);
    if let Some(row) = row.filter(|row| row.hash == hash) {
        return Ok(Fed::Touched((row.id, file.size, file.mtime_ns)));
    }
    let update = indexer.chunk(&file, &bytes, hash);
    Ok(Fed::Changed {
        pending: Pending { file, update },
        added: row.is_none(),
    })
}
