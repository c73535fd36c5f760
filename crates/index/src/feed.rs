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
    /// Gone since the walk (deleted, or now a link or another kind of
    /// file): its path. On a long run the walk can be hours old.
    Gone(String),
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
    let Some(bytes) = read_walked(&file.abs, indexer.options.walk.max_file_size).map_err(io)?
    else {
        return Ok(Fed::Gone(file.rel));
    };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;
    use crate::walk::{walk, WalkOptions};
    use crate::IndexOptions;

    /// A file deleted between the walk and the read (hours apart on a
    /// large first index) is reported gone, not an error that ends the
    /// run; the next file is read as usual.
    #[test]
    fn a_file_gone_since_the_walk_is_reported_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("a.py"), "def alpha():\n    return 1\n").unwrap();
        std::fs::write(root.join("b.py"), "def beta():\n    return 2\n").unwrap();
        let walked = walk(root, None, &WalkOptions::default());
        assert_eq!(walked.files.len(), 2);
        std::fs::remove_file(root.join("a.py")).unwrap();
        let embedder = writ_testkit::HashEmbedder::new();
        let indexer = Indexer::new(
            root,
            &root.join(".writ"),
            &embedder,
            IndexOptions::default(),
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
        feed(&indexer, walked.files, &HashMap::new(), &tx);
        drop(tx);
        let got: Vec<String> = rx
            .iter()
            .map(|item| match item.unwrap() {
                Fed::Gone(rel) => format!("gone {rel}"),
                Fed::Changed { pending, added } => format!("{added} {}", pending.file.rel),
                Fed::Touched(_) => "touched".into(),
            })
            .collect();
        assert_eq!(got, ["gone a.py", "true b.py"]);
    }
}
