//! The index never mixes models: an embedder with another identity (model
//! id, weights hash or dimension) is refused with `IndexError::Mismatch` by
//! both the indexer and the searcher, the index is left untouched, and only
//! an explicit `rebuild` starts over with the new model.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use common::{opts, py_file, search, symbols, Repo};
use std::sync::atomic::{AtomicBool, Ordering};
use writ_core::{EmbedError, Embedder, ModelInfo};
use writ_index::{IndexError, IndexOptions, Indexer, SearchMode, Searcher};
use writ_testkit::{CountingEmbedder, HashEmbedder};

fn indexed() -> Repo {
    let repo = Repo::with(&[
        ("a.py", &py_file(&["alpha_one", "alpha_two"], "alpha")),
        ("b.py", &py_file(&["beta_one"], "beta")),
    ]);
    repo.index(&HashEmbedder::new());
    repo
}

/// `HashEmbedder`'s vectors under an arbitrary identity.
struct Renamed(HashEmbedder, ModelInfo);

impl Embedder for Renamed {
    fn info(&self) -> &ModelInfo {
        &self.1
    }
    fn count_tokens(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        self.0.embed(texts)
    }
}

fn other_sha() -> Renamed {
    let mut info = HashEmbedder::new().info().clone();
    info.sha256 = "f".repeat(64);
    Renamed(HashEmbedder::new(), info)
}

fn assert_mismatch(err: IndexError, wanted_id: &str) {
    let text = err.to_string();
    match err {
        IndexError::Mismatch { found, wanted, .. } => {
            assert!(found.contains(writ_testkit::HASH_EMBEDDER_ID), "{found}");
            assert!(wanted.contains(wanted_id), "{wanted}");
            assert!(
                text.contains("--rebuild"),
                "the error says what to do: {text}"
            );
        }
        other => panic!("expected a model mismatch, got {other}"),
    }
}

#[test]
fn indexer_refuses_another_model_and_leaves_the_index_alone() {
    let repo = indexed();
    let before = repo.status();
    repo.write("c.py", &py_file(&["gamma_one"], "gamma"));
    let other = CountingEmbedder::new(HashEmbedder::new().with_id("another-model"));
    let err = repo
        .try_index(&other, IndexOptions::default())
        .err()
        .unwrap();
    assert_mismatch(err, "another-model");
    assert_eq!(other.calls(), 0, "refused before any embedding");
    let after = repo.status();
    assert_eq!(
        (after.generation, after.files, after.chunks, after.vectors),
        (
            before.generation,
            before.files,
            before.chunks,
            before.vectors
        )
    );
    assert_eq!(after.manifest, before.manifest);
    assert_eq!(repo.faiss_files(), ["seg-0.faiss"]);
}

#[test]
fn searcher_refuses_another_model() {
    let repo = indexed();
    let other = HashEmbedder::new().with_id("another-model");
    let err = Searcher::open(&repo.dir, &other).err().unwrap();
    assert_mismatch(err, "another-model");
}

#[test]
fn same_id_with_other_weights_or_dimension_is_refused_too() {
    let repo = indexed();
    let sha = other_sha();
    assert!(matches!(
        repo.try_index(&sha, IndexOptions::default()).err().unwrap(),
        IndexError::Mismatch { .. }
    ));
    assert!(matches!(
        Searcher::open(&repo.dir, &sha).err().unwrap(),
        IndexError::Mismatch { .. }
    ));
    let wide = HashEmbedder::with_dim(32);
    let err = repo
        .try_index(&wide, IndexOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("dim 32"), "{err}");
    assert!(matches!(
        Searcher::open(&repo.dir, &wide).err().unwrap(),
        IndexError::Mismatch { .. }
    ));
}

#[test]
fn rebuild_starts_over_with_the_new_model() {
    let repo = indexed();
    let other = CountingEmbedder::new(HashEmbedder::with_dim(32).with_id("another-model"));
    let options = IndexOptions {
        rebuild: true,
        ..IndexOptions::default()
    };
    let r = repo.try_index(&other, options).unwrap();
    // Everything is new again: nothing of the old model's vectors is kept.
    assert_eq!(
        (r.files_added, r.chunks_embedded, r.chunks_reused),
        (2, 3, 0)
    );
    assert_eq!(other.texts(), 3);
    assert_eq!(r.generation, 1, "a wiped catalog starts again at 1");
    assert_eq!(repo.faiss_files(), ["seg-0.faiss"]);
    let status = repo.status();
    assert_eq!(status.manifest.unwrap().model, other.info().clone());
    assert_eq!(status.vectors, 3);

    let mut s = repo.searcher(&other);
    let hits = search(&mut s, "beta_one", &opts(SearchMode::Vector, 1));
    assert_eq!(symbols(&hits), ["beta_one"]);
    // And now the first model is the stranger.
    let first = HashEmbedder::new();
    assert!(matches!(
        Searcher::open(&repo.dir, &first).err().unwrap(),
        IndexError::Mismatch { .. }
    ));
}

#[test]
fn readers_accept_the_same_model_whatever_its_rust_value() {
    // Identity is the ModelInfo's content, not the instance.
    let repo = indexed();
    let same = Renamed(HashEmbedder::new(), HashEmbedder::new().info().clone());
    let mut s = Searcher::open(&repo.dir, &same).unwrap();
    let hits = search(&mut s, "alpha_two", &opts(SearchMode::Hybrid, 1));
    assert_eq!(symbols(&hits), ["alpha_two"]);
}

/// An index stopped before its first generation holds nothing a reader
/// uses: another model starts it over instead of being refused (its
/// vectors, made by the first model, are dropped, never mixed in).
#[test]
fn an_index_that_never_published_follows_the_model_now_asked_for() {
    let repo = Repo::with(&[("a.py", &py_file(&["alpha_one", "alpha_two"], "alpha"))]);
    let first = HashEmbedder::new();
    // One vector of the file's two is stored, so no file is published.
    let cancel = AtomicBool::new(false);
    let options = IndexOptions {
        batch: 1,
        ..IndexOptions::default()
    };
    let stop = |p: writ_index::Progress| {
        if let writ_index::Progress::Embedding { done: 1, .. } = p {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let stopped = Indexer::new(&repo.root, &repo.dir, &first, options)
        .run(&cancel, &stop)
        .unwrap();
    assert_eq!((stopped.generation, stopped.chunks_embedded), (0, 1));
    let other = CountingEmbedder::new(HashEmbedder::new().with_id("another-model"));
    let report = repo.try_index(&other, IndexOptions::default()).unwrap();
    assert_eq!((report.generation, report.chunks_embedded), (1, 2));
    let manifest = repo.status().manifest.unwrap();
    assert_eq!(manifest.model.id, "another-model");
}
