//! `writ serve --watch`: re-index in the background when files change.
//!
//! File events (the `notify` crate) are debounced: after the first change
//! the watcher waits until the tree has been quiet for [`QUIET`], then runs
//! the same incremental indexer as `writ index`. Searches keep answering
//! from the last complete generation meanwhile and pick up the new one
//! when it is published. Events inside the index folder and `.git` are
//! ignored, so writ's own writes do not re-trigger it.

use crate::Log;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use writ_core::Embedder;
use writ_index::{IndexOptions, Indexer, WalkOptions};

/// How long the tree must be quiet before a re-index starts.
const QUIET: Duration = Duration::from_millis(500);

/// The watcher thread and its stop flag.
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts watching `repo`; re-indexes into `index` with `embedder`.
    pub fn start(
        repo: PathBuf,
        index: PathBuf,
        embedder: &'static dyn Embedder,
        log: Log,
    ) -> Result<Watch, notify::Error> {
        let (tx, rx) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            // Opens and reads (writ's own included) are not changes.
            if let Ok(e) = e {
                if changes(&e.kind) {
                    let _ = tx.send(e.paths);
                }
            }
        })?;
        watcher.watch(&repo, RecursiveMode::Recursive)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            // The watcher lives as long as the thread.
            let _watcher = watcher;
            run(&repo, &index, embedder, &log, &rx, &flag);
        });
        Ok(Watch {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops after the current batch of a running re-index.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn changes(kind: &notify::EventKind) -> bool {
    use notify::event::{EventKind, ModifyKind};
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(m) => !matches!(m, ModifyKind::Metadata(_)),
        _ => false,
    }
}

fn relevant(paths: &[PathBuf], repo: &Path, index: &Path) -> bool {
    paths.iter().any(|p| {
        !p.starts_with(index)
            && !p
                .strip_prefix(repo)
                .is_ok_and(|rel| rel.starts_with(".git") || rel.starts_with(".writ"))
    })
}

fn run(
    repo: &Path,
    index: &Path,
    embedder: &'static dyn Embedder,
    log: &Log,
    rx: &mpsc::Receiver<Vec<PathBuf>>,
    stop: &Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(paths) if relevant(&paths, repo, index) => {}
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Debounce: wait for a quiet spell (writ's own writes to the
        // index and ledger do not count).
        let mut quiet_at = Instant::now() + QUIET;
        loop {
            let left = quiet_at.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(_) if stop.load(Ordering::SeqCst) => return,
                Ok(paths) if relevant(&paths, repo, index) => quiet_at = Instant::now() + QUIET,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        let walk = writ_index::Catalog::open_read_only(index)
            .ok()
            .and_then(|c| c.meta("walk_options").ok().flatten())
            .and_then(|s| serde_json::from_str::<WalkOptions>(&s).ok())
            .unwrap_or_default();
        let options = IndexOptions {
            walk,
            ..IndexOptions::default()
        };
        match Indexer::new(repo, index, embedder, options).run(stop, &|_| {}) {
            Ok(r) => log(&format!(
                "re-indexed after changes: {} added, {} changed, {} deleted; generation {}",
                r.files_added, r.files_changed, r.files_deleted, r.generation
            )),
            // Another `writ index` holds the lock, or the model changed:
            // say so and keep serving the last generation.
            Err(e) => log(&format!("re-index after changes failed: {e}")),
        }
    }
}
