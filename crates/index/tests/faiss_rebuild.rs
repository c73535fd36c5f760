//! FAISS is a cache of the SQLite catalog: a segment file (`seg-<n>.faiss`)
//! that is deleted, truncated or overwritten is rebuilt from the vectors
//! stored in SQLite, in memory by a `Searcher` on open and on disk by the
//! `Indexer` on its next run, without one call to the model, and search
//! answers exactly as before.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use common::{opts, py_file, py_fn, search, symbols, Repo};
use writ_core::Embedder;
use writ_index::{read_layout, Catalog, SearchMode, VectorStore};
use writ_testkit::{CountingEmbedder, HashEmbedder};

/// A small tree of eight functions over four topics.
fn repo() -> Repo {
    Repo::with(&[
        (
            "src/parse.py",
            &py_file(&["parse_header", "parse_body"], "parsing http requests"),
        ),
        (
            "src/render.py",
            &py_file(&["render_page", "render_menu"], "drawing html pages"),
        ),
        (
            "src/store.py",
            &py_file(&["save_user", "load_user"], "database rows"),
        ),
        (
            "src/net.py",
            &py_file(&["open_socket", "close_socket"], "tcp connections"),
        ),
    ])
}

const QUERIES: &[&str] = &[
    "parse header",
    "render the menu",
    "load user rows",
    "socket",
];

/// (chunk id, score) of every query's hits, in vector and hybrid mode.
fn answers(repo: &Repo, e: &dyn Embedder) -> Vec<Vec<(i64, String)>> {
    let mut s = repo.searcher(e);
    let mut out = Vec::new();
    for mode in [SearchMode::Vector, SearchMode::Hybrid] {
        for q in QUERIES {
            let hits = search(&mut s, q, &opts(mode, 5));
            assert!(!hits.is_empty(), "{mode:?} {q}");
            // Scores as text: exact equality of the floats, readable diffs.
            out.push(
                hits.iter()
                    .map(|h| (h.chunk_id, format!("{:.6}", h.score)))
                    .collect(),
            );
        }
    }
    out
}

/// The segment files the catalog's layout names.
fn segments(repo: &Repo) -> Vec<String> {
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    let layout = read_layout(&catalog).unwrap().unwrap();
    layout.segments.into_iter().map(|s| s.file).collect()
}

/// Breaks the base segment's file in one of four ways.
fn break_faiss(repo: &Repo, how: &str) {
    let path = repo.dir.join(&segments(repo)[0]);
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    match how {
        "deleted" => std::fs::remove_file(&path).unwrap(),
        "truncated" => std::fs::write(&path, &std::fs::read(&path).unwrap()[..len / 2]).unwrap(),
        "emptied" => std::fs::write(&path, b"").unwrap(),
        "garbage" => std::fs::write(&path, vec![0xA5u8; len]).unwrap(),
        other => panic!("no way {other}"),
    }
}

#[test]
fn searcher_rebuilds_a_lost_or_broken_faiss_file_from_sqlite_without_embedding() {
    for how in ["deleted", "truncated", "emptied", "garbage"] {
        let repo = repo();
        let e = CountingEmbedder::new(HashEmbedder::new());
        repo.index(&e);
        let before = answers(&repo, &e);
        assert!(!repo.searcher(&e).vectors_rebuilt(), "{how}");

        break_faiss(&repo, how);
        e.reset();
        let s = repo.searcher(&e);
        assert!(s.vectors_rebuilt(), "{how}: the searcher must notice");
        assert_eq!(e.calls(), 0, "{how}: rebuilt from SQLite, not the model");
        drop(s);
        assert_eq!(answers(&repo, &e), before, "{how}: same answers");
        // A reader writes nothing; the next index run writes it back, and
        // the next open loads it.
        assert!(repo.searcher(&e).vectors_rebuilt(), "{how}");
        let r = repo.index(&e);
        assert!(r.vectors_rebuilt && r.generation == 1, "{how}");
        assert!(!repo.searcher(&e).vectors_rebuilt(), "{how}");
        assert_eq!(repo.faiss_files(), segments(&repo), "{how}");
    }
}

#[test]
fn indexer_rebuilds_a_lost_faiss_file_without_re_embedding() {
    for how in ["deleted", "truncated", "garbage"] {
        let repo = repo();
        let e = CountingEmbedder::new(HashEmbedder::new());
        repo.index(&e);
        let before = answers(&repo, &e);
        break_faiss(&repo, how);
        e.reset();
        let r = repo.index(&e);
        assert!(r.vectors_rebuilt, "{how}: the report says so");
        assert_eq!((r.chunks_embedded, e.calls()), (0, 0), "{how}");
        assert_eq!((r.files_unchanged, r.generation), (4, 1), "{how}");
        let s = repo.searcher(&e);
        assert!(!s.vectors_rebuilt(), "{how}: the indexer wrote it back");
        drop(s);
        assert_eq!(answers(&repo, &e), before, "{how}");
    }
}

#[test]
fn indexer_rebuilds_then_applies_the_runs_changes() {
    let repo = repo();
    let e = CountingEmbedder::new(HashEmbedder::new());
    repo.index(&e);
    break_faiss(&repo, "deleted");
    repo.write(
        "src/net.py",
        &[
            py_fn("open_socket", "tcp connections"),
            py_fn("bind_port", "listening"),
        ]
        .join("\n\n"),
    );
    e.reset();
    let r = repo.index(&e);
    assert!(r.vectors_rebuilt);
    assert_eq!(
        (r.files_changed, r.chunks_embedded, r.chunks_reused),
        (1, 1, 1)
    );
    assert_eq!((e.texts(), r.generation), (1, 2));

    // The rebuilt files hold exactly the catalog's chunks.
    let dim = e.info().dim;
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    let vectors = VectorStore::open(&catalog, &repo.dir, dim)
        .unwrap()
        .unwrap();
    assert_eq!(vectors.len(), repo.status().chunks);
    assert_eq!(repo.faiss_files(), segments(&repo));
    let mut s = repo.searcher(&e);
    assert!(!s.vectors_rebuilt());
    let hits = search(&mut s, "bind_port", &opts(SearchMode::Vector, 1));
    assert_eq!(symbols(&hits), ["bind_port"]);
    let hits = search(&mut s, "close_socket", &opts(SearchMode::Hybrid, 10));
    assert!(
        !symbols(&hits).contains(&"close_socket".to_string()),
        "removed: {hits:?}"
    );
}

#[test]
fn a_faiss_file_of_another_size_is_not_trusted() {
    // The base's file put in place of the segment generation 2 added:
    // another vector count, so it is rebuilt rather than searched.
    let repo = repo();
    let e = HashEmbedder::new();
    repo.index(&e);
    let base = std::fs::read(repo.dir.join(&segments(&repo)[0])).unwrap();
    repo.write("src/extra.py", &py_fn("extra_thing", "more"));
    assert_eq!(repo.index(&e).generation, 2);
    let added = segments(&repo);
    assert_eq!(added.len(), 2, "{added:?}");
    std::fs::write(repo.dir.join(&added[1]), base).unwrap();
    let mut s = repo.searcher(&e);
    assert!(s.vectors_rebuilt());
    let hits = search(&mut s, "extra_thing", &opts(SearchMode::Vector, 1));
    assert_eq!(symbols(&hits), ["extra_thing"]);
}
