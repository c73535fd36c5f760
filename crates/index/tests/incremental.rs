//! Incremental indexing counts, on a real temp tree with real SQLite and
//! FAISS files and the fake `HashEmbedder`: the first run embeds
//! everything; an unchanged or merely touched tree embeds nothing and keeps
//! its generation; one file changed, added or deleted gives exactly the
//! right counts, and unchanged chunks (even in a new file) reuse their
//! stored vectors; an interrupted run keeps what it embedded.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use common::{py_file, py_fn, Repo};
use std::sync::atomic::{AtomicBool, Ordering};
use writ_index::{IndexOptions, IndexReport, Indexer, Progress};
use writ_testkit::{CountingEmbedder, HashEmbedder};

/// The counts of a report, in one line so a failure shows them all.
fn counts(r: &IndexReport) -> String {
    format!(
        "scanned {} added {} changed {} deleted {} unchanged {} pending {} | \
         embedded {} reused {} removed {} total {} | generation {}",
        r.files_scanned,
        r.files_added,
        r.files_changed,
        r.files_deleted,
        r.files_unchanged,
        r.files_pending,
        r.chunks_embedded,
        r.chunks_reused,
        r.chunks_removed,
        r.chunks_total,
        r.generation
    )
}

/// `a.py` with three functions and `b.py` with two: five chunks.
fn two_files() -> Repo {
    Repo::with(&[
        (
            "a.py",
            &py_file(&["alpha_one", "alpha_two", "alpha_three"], "alpha"),
        ),
        ("b.py", &py_file(&["beta_one", "beta_two"], "beta")),
    ])
}

fn embedder() -> CountingEmbedder<HashEmbedder> {
    CountingEmbedder::new(HashEmbedder::new())
}

#[test]
fn first_run_adds_every_file_and_embeds_every_chunk_once() {
    let repo = two_files();
    let e = embedder();
    let r = repo.index(&e);
    assert_eq!(
        counts(&r),
        "scanned 2 added 2 changed 0 deleted 0 unchanged 0 pending 0 | \
         embedded 5 reused 0 removed 0 total 5 | generation 1"
    );
    assert!(!r.interrupted && !r.vectors_rebuilt && r.files_lossy.is_empty());
    // One batch (default 128 chunks), five texts.
    assert_eq!((e.calls(), e.texts()), (1, 5));
    let status = repo.status();
    assert_eq!((status.files, status.chunks, status.vectors), (2, 5, 5));
    assert_eq!(repo.faiss_files(), ["seg-0.faiss"]);
}

#[test]
fn unchanged_rerun_embeds_nothing_and_keeps_the_generation() {
    let repo = two_files();
    let e = embedder();
    repo.index(&e);
    e.reset();
    let r = repo.index(&e);
    assert_eq!(
        counts(&r),
        "scanned 2 added 0 changed 0 deleted 0 unchanged 2 pending 0 | \
         embedded 0 reused 0 removed 0 total 5 | generation 1"
    );
    assert!(!r.vectors_rebuilt);
    assert_eq!(e.calls(), 0, "an unchanged tree costs the model nothing");
}

#[test]
fn touched_file_with_same_content_is_unchanged_and_its_new_mtime_remembered() {
    let repo = two_files();
    let e = embedder();
    repo.index(&e);
    repo.touch("a.py");
    e.reset();
    let r = repo.index(&e);
    assert_eq!(
        counts(&r),
        "scanned 2 added 0 changed 0 deleted 0 unchanged 2 pending 0 | \
         embedded 0 reused 0 removed 0 total 5 | generation 1"
    );
    assert_eq!(e.calls(), 0);
    // The new mtime is stored: status need not re-hash, and sees no change.
    assert!(repo.status().stale.is_empty());
}

#[test]
fn one_changed_function_embeds_one_chunk_and_reuses_the_rest() {
    let repo = two_files();
    let e = embedder();
    repo.index(&e);
    let before = repo.status();
    repo.write(
        "a.py",
        &[
            py_fn("alpha_one", "alpha"),
            py_fn("alpha_two", "a rewritten body"),
            py_fn("alpha_three", "alpha"),
        ]
        .join("\n\n"),
    );
    e.reset();
    let r = repo.index(&e);
    // A changed file's chunks are all replaced (removed 3), but only the
    // edited one needs the model.
    assert_eq!(
        counts(&r),
        "scanned 2 added 0 changed 1 deleted 0 unchanged 1 pending 0 | \
         embedded 1 reused 2 removed 3 total 5 | generation 2"
    );
    assert_eq!((e.calls(), e.texts()), (1, 1));
    // The old body's vector is pruned: still one vector per chunk.
    let after = repo.status();
    assert_eq!((after.files, after.chunks, after.vectors), (2, 5, 5));
    assert_eq!(after.generation, before.generation + 1);
}

#[test]
fn added_file_embeds_only_chunks_no_stored_vector_covers() {
    let repo = two_files();
    let e = embedder();
    repo.index(&e);
    // A new function, and a copy of `alpha_one` (same symbol and text):
    // vectors are keyed by content, not path, so the copy is reused.
    repo.write(
        "c.py",
        &[py_fn("gamma_new", "gamma"), py_fn("alpha_one", "alpha")].join("\n\n"),
    );
    e.reset();
    let r = repo.index(&e);
    assert_eq!(
        counts(&r),
        "scanned 3 added 1 changed 0 deleted 0 unchanged 2 pending 0 | \
         embedded 1 reused 1 removed 0 total 7 | generation 2"
    );
    assert_eq!(e.texts(), 1);
    let status = repo.status();
    assert_eq!((status.chunks, status.vectors), (7, 6), "one shared vector");
}

#[test]
fn deleted_file_removes_its_chunks_and_their_vectors() {
    let repo = two_files();
    let e = embedder();
    repo.index(&e);
    repo.remove("b.py");
    e.reset();
    let r = repo.index(&e);
    assert_eq!(
        counts(&r),
        "scanned 1 added 0 changed 0 deleted 1 unchanged 1 pending 0 | \
         embedded 0 reused 0 removed 2 total 3 | generation 2"
    );
    assert_eq!(e.calls(), 0);
    let status = repo.status();
    assert_eq!((status.files, status.chunks, status.vectors), (1, 3, 3));
}

#[test]
fn change_add_and_delete_in_one_run_count_separately() {
    let repo = two_files();
    let e = embedder();
    repo.index(&e);
    repo.write("a.py", &py_file(&["alpha_one", "alpha_two"], "alpha"));
    repo.write("sub/d.py", &py_file(&["delta_one", "beta_two"], "beta"));
    repo.remove("b.py");
    e.reset();
    let r = repo.index(&e);
    // a.py lost a function (2 chunks, both reused); sub/d.py has a new
    // function and one that moved over from b.py (reused, because the
    // vector of the deleted file's chunk is pruned only after publishing).
    assert_eq!(
        counts(&r),
        "scanned 2 added 1 changed 1 deleted 1 unchanged 0 pending 0 | \
         embedded 1 reused 3 removed 5 total 4 | generation 2"
    );
    assert_eq!(e.texts(), 1);
    let files: Vec<String> = repo.status().stale.iter().map(|s| s.path.clone()).collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn interrupted_run_keeps_its_vectors_and_the_next_run_embeds_only_the_rest() {
    let repo = two_files();
    let e = embedder();
    let cancel = AtomicBool::new(false);
    // One chunk per batch; "Ctrl-C" once two chunks are embedded.
    let options = IndexOptions {
        batch: 1,
        ..IndexOptions::default()
    };
    let stop_after_two = |p: Progress| {
        if let Progress::Embedding { done: 2, .. } = p {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let first = Indexer::new(&repo.root, &repo.dir, &e, options.clone())
        .run(&cancel, &stop_after_two)
        .unwrap();
    assert!(first.interrupted);
    assert_eq!(first.chunks_embedded, 2);
    assert!(first.files_pending >= 1, "{}", counts(&first));
    // A file is published only when every chunk of it has a vector.
    let published = repo.status().files;
    assert_eq!(published as usize + first.files_pending, 2);

    e.reset();
    let second = repo.index(&e);
    assert!(!second.interrupted);
    assert_eq!(second.files_pending, 0);
    assert_eq!(
        second.chunks_embedded,
        3,
        "the two vectors of the interrupted run are kept: {}",
        counts(&second)
    );
    assert_eq!(e.texts(), 3);
    assert_eq!(second.chunks_total, 5);
    // A run that finished no file publishes no generation.
    let first_published = i64::from(published > 0);
    assert_eq!(first.generation, first_published);
    assert_eq!(second.generation, first_published + 1);
    assert!(repo.status().stale.is_empty());
}

#[test]
fn skipped_files_are_counted_not_indexed() {
    let repo = two_files();
    repo.write("Cargo.lock", "# lock\n");
    repo.write("node_modules/x/index.js", "function x() {}\n");
    repo.write("logo.png", "\u{0}\u{1}binary");
    let r = repo.index(&HashEmbedder::new());
    assert_eq!((r.files_scanned, r.files_added, r.chunks_total), (2, 2, 5));
    let skipped: Vec<String> = repo
        .status()
        .skipped
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert!(skipped.iter().any(|p| p == "Cargo.lock"), "{skipped:?}");
    assert!(
        skipped.iter().any(|p| p.starts_with("node_modules")),
        "{skipped:?}"
    );
    assert_eq!(r.files_skipped, skipped.len());
}

/// Four files, eight chunks.
fn four_files() -> Repo {
    Repo::with(&[
        (
            "a.py",
            &py_file(&["alpha_one", "alpha_two", "alpha_three"], "alpha"),
        ),
        ("b.py", &py_file(&["beta_one", "beta_two"], "beta")),
        ("c.py", &py_file(&["gamma_one", "gamma_two"], "gamma")),
        ("d.py", &py_file(&["delta_one"], "delta")),
    ])
}

/// A window smaller than any file: each file is embedded and published as
/// a generation of its own (what bounds a first index's memory), and the
/// result is the index one window gives.
#[test]
fn a_small_window_publishes_file_by_file_with_the_same_result() {
    let (windowed, whole) = (four_files(), four_files());
    let e = embedder();
    let options = IndexOptions {
        window_bytes: 1,
        ..IndexOptions::default()
    };
    let r = Indexer::new(&windowed.root, &windowed.dir, &e, options)
        .run(&AtomicBool::new(false), &|_| {})
        .unwrap();
    assert_eq!(
        counts(&r),
        "scanned 4 added 4 changed 0 deleted 0 unchanged 0 pending 0 | \
         embedded 8 reused 0 removed 0 total 8 | generation 4"
    );
    // The first window's vectors became the base, each later window added
    // a segment, and none was rewritten (the rest stays under the base
    // rebuild's floor).
    assert_eq!(
        windowed.faiss_files().len(),
        4,
        "{:?}",
        windowed.faiss_files()
    );
    let one = whole.index(&e);
    assert_eq!(one.generation, 1);
    let query = "gamma two";
    let (mut a, mut b) = (windowed.searcher(&e), whole.searcher(&e));
    let options = common::opts(writ_index::SearchMode::Hybrid, 8);
    assert_eq!(
        common::symbols(&common::search(&mut a, query, &options)),
        common::symbols(&common::search(&mut b, query, &options))
    );
    // Nothing is left to do, and nothing is embedded twice.
    e.reset();
    let again = windowed.index(&e);
    assert_eq!((again.chunks_embedded, again.generation), (0, 4));
}

/// A run stopped before its first generation has still recorded what its
/// vectors are made with, so a later run can check them; readers see no
/// index yet.
#[test]
fn the_manifest_is_written_before_the_first_vector() {
    let repo = four_files();
    let e = embedder();
    let stopped = Indexer::new(&repo.root, &repo.dir, &e, IndexOptions::default())
        .run(&AtomicBool::new(true), &|_| {})
        .unwrap();
    assert!(stopped.interrupted);
    assert_eq!((stopped.generation, stopped.chunks_embedded), (0, 0));
    let status = repo.status();
    assert_eq!(status.generation, 0);
    let manifest = status.manifest.unwrap();
    assert_eq!(&manifest.model, writ_core::Embedder::info(&e));
    assert!(
        matches!(
            writ_index::Searcher::open(&repo.dir, &e),
            Err(writ_index::IndexError::NotIndexed { .. })
        ),
        "no generation to read yet"
    );
}

/// Ctrl-C after the first window: that window is published, the others
/// are pending (read or not), and the next run embeds only those.
#[test]
fn an_interrupt_keeps_every_published_window() {
    let repo = four_files();
    let e = embedder();
    let cancel = AtomicBool::new(false);
    let options = IndexOptions {
        window_bytes: 1,
        ..IndexOptions::default()
    };
    let stop = |p: Progress| {
        if let Progress::Embedding { done, .. } = p {
            if done > 0 {
                cancel.store(true, Ordering::SeqCst);
            }
        }
    };
    let first = Indexer::new(&repo.root, &repo.dir, &e, options)
        .run(&cancel, &stop)
        .unwrap();
    assert!(first.interrupted);
    assert_eq!(
        (first.generation, first.files_pending),
        (1, 3),
        "{}",
        counts(&first)
    );
    assert_eq!(repo.status().files, 1);
    let kept = first.chunks_embedded;
    e.reset();
    let second = repo.index(&e);
    assert_eq!(second.chunks_embedded, 8 - kept, "{}", counts(&second));
    assert_eq!((second.chunks_total, second.files_pending), (8, 0));
    assert!(repo.status().stale.is_empty());
}
