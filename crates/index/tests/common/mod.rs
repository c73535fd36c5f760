//! Fixtures shared by writ-index's integration tests: a repository in a
//! temp folder with its index folder at `.writ` (as the CLI puts it), writes
//! that always look changed to the indexer, and one-line index and search.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(clippy::panic, reason = "fixtures fail the test by panicking")]

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};
use writ_core::Embedder;
use writ_index::{Hit, IndexOptions, IndexReport, Indexer, SearchMode, SearchOptions, Searcher};

/// A repository in a temp folder (removed on drop).
pub struct Repo {
    _tmp: tempfile::TempDir,
    /// The working tree.
    pub root: PathBuf,
    /// The index folder, `root/.writ`.
    pub dir: PathBuf,
    /// Seconds since the epoch of the next modification time to give.
    clock: Cell<u64>,
}

impl Repo {
    /// An empty repository.
    pub fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = tmp.path().join("repo");
        std::fs::create_dir(&root).unwrap_or_else(|e| panic!("mkdir: {e}"));
        Repo {
            dir: root.join(".writ"),
            root,
            _tmp: tmp,
            clock: Cell::new(1_700_000_000),
        }
    }

    /// A repository holding `files` (path, text).
    pub fn with(files: &[(&str, &str)]) -> Repo {
        let repo = Repo::new();
        for (rel, text) in files {
            repo.write(rel, text);
        }
        repo
    }

    /// Writes `rel` (creating folders) and gives it a modification time no
    /// earlier write had. File systems stamp times at clock-tick
    /// granularity, so two same-size writes within one tick would otherwise
    /// look unchanged to the (size, mtime) check; tests are about the
    /// indexer's counting, not about that race.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {rel}: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {rel}: {e}"));
        self.touch(rel);
    }

    /// Gives `rel` a new modification time without changing its content.
    pub fn touch(&self, rel: &str) {
        let t = self.clock.get() + 1;
        self.clock.set(t);
        let file = std::fs::File::options()
            .write(true)
            .open(self.root.join(rel))
            .unwrap_or_else(|e| panic!("open {rel}: {e}"));
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t))
            .unwrap_or_else(|e| panic!("set mtime of {rel}: {e}"));
    }

    /// Deletes `rel`.
    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.root.join(rel)).unwrap_or_else(|e| panic!("rm {rel}: {e}"));
    }

    /// One index run with default options; panics on error.
    pub fn index(&self, embedder: &dyn Embedder) -> IndexReport {
        self.try_index(embedder, IndexOptions::default())
            .unwrap_or_else(|e| panic!("index: {e}"))
    }

    /// One index run.
    pub fn try_index(
        &self,
        embedder: &dyn Embedder,
        options: IndexOptions,
    ) -> writ_index::Result<IndexReport> {
        Indexer::new(&self.root, &self.dir, embedder, options).run(&AtomicBool::new(false), &|_| {})
    }

    /// A searcher on the last generation; panics on error.
    pub fn searcher<'e>(&self, embedder: &'e dyn Embedder) -> Searcher<'e> {
        Searcher::open(&self.dir, embedder).unwrap_or_else(|e| panic!("open searcher: {e}"))
    }

    /// Names of the FAISS files in the index folder, sorted.
    pub fn faiss_files(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.contains(".faiss"))
            .collect();
        names.sort();
        names
    }

    /// The status of the index against the tree; panics on error.
    pub fn status(&self) -> writ_index::Status {
        writ_index::status(&self.root, &self.dir).unwrap_or_else(|e| panic!("status: {e}"))
    }
}

/// Search options for `mode` and `k`, no filter.
pub fn opts(mode: SearchMode, k: usize) -> SearchOptions {
    SearchOptions {
        k,
        mode,
        ..SearchOptions::default()
    }
}

/// Runs one query; panics on error.
pub fn search(searcher: &mut Searcher<'_>, query: &str, options: &SearchOptions) -> Vec<Hit> {
    searcher
        .search(query, options)
        .unwrap_or_else(|e| panic!("search {query:?}: {e}"))
}

/// The symbols of `hits`, in order (`-` for none).
pub fn symbols(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| h.symbol.clone().unwrap_or_else(|| "-".into()))
        .collect()
}

/// A Python function `name` whose body talks about `topic` (a few words),
/// distinct for every (name, topic): one chunk of its own.
pub fn py_fn(name: &str, topic: &str) -> String {
    format!(
        "def {name}(value):\n    \"\"\"{topic}: {name} handles the value.\"\"\"\n    \
         result = value\n    return result\n"
    )
}

/// A Python file of one function per name, all about `topic`.
pub fn py_file(names: &[&str], topic: &str) -> String {
    names
        .iter()
        .map(|n| py_fn(n, topic))
        .collect::<Vec<_>>()
        .join("\n\n")
}
