//! `Indexer::estimate`: the counts a run would reach, nothing written, and
//! only the chunks the index lacks left to embed.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use common::{py_file, Repo};
use writ_index::{IndexOptions, Indexer};
use writ_testkit::HashEmbedder;

#[test]
fn an_estimate_counts_what_a_run_indexes_and_writes_nothing() {
    let repo = Repo::with(&[
        ("a.py", &py_file(&["parse", "render", "send"], "http")),
        ("b.py", &py_file(&["open", "close"], "files")),
        (
            "notes.md",
            "# Notes\n\nHow the parser and the renderer share state.\n",
        ),
    ]);
    let embedder = HashEmbedder::new();
    let indexer = Indexer::new(&repo.root, &repo.dir, &embedder, IndexOptions::default());
    let before = indexer.estimate().unwrap();
    assert!(!repo.dir.exists(), "an estimate writes nothing");
    assert_eq!(before.files, 3);
    assert_eq!(before.to_embed, before.chunks);
    assert!(before.tokens >= before.chunks as u64 && before.tokens_to_embed == before.tokens);
    assert_eq!(
        before.sample_chunks,
        before.chunks.min(writ_index::SAMPLE_CHUNKS)
    );
    assert!(before.tokens_per_second > 0.0 && before.embed_seconds > 0.0);

    let report = repo.index(&embedder);
    assert_eq!(report.chunks_total, before.chunks as u64);

    repo.write("b.py", &py_file(&["open", "close", "flush"], "files"));
    let after = indexer.estimate().unwrap();
    assert_eq!(after.files, 3);
    assert!(
        after.to_embed > 0 && after.to_embed < after.chunks,
        "{after:?}"
    );
    repo.index(&embedder);
    let done = indexer.estimate().unwrap();
    assert_eq!((done.to_embed, done.sample_chunks), (0, 0));
}

#[test]
fn an_index_built_by_another_model_leaves_everything_to_embed() {
    let repo = Repo::with(&[("a.py", &py_file(&["parse", "render"], "http"))]);
    repo.index(&HashEmbedder::new());
    let other = HashEmbedder::new().with_id("another-model");
    let e = Indexer::new(&repo.root, &repo.dir, &other, IndexOptions::default())
        .estimate()
        .unwrap();
    assert_eq!(e.to_embed, e.chunks);
}
