//! Generations: every run that publishes a change bumps the generation and
//! adds at most one small segment file of what it embedded (the files on
//! disk are exactly those the layout names); a run with nothing to publish
//! writes nothing. A `Searcher` is a snapshot: one opened before a
//! re-index keeps answering from its own generation (catalog and vectors),
//! while one opened after sees the new content.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use common::{opts, py_fn, search, symbols, Repo};
use writ_index::{read_layout, Catalog, IndexError, SearchMode, Searcher};
use writ_testkit::HashEmbedder;

#[test]
fn each_publishing_run_bumps_the_generation_and_adds_at_most_one_segment() {
    let repo = Repo::with(&[
        ("a.py", &py_fn("alpha_one", "alpha")),
        ("b.py", &py_fn("beta_one", "beta")),
    ]);
    let e = HashEmbedder::new();
    let mut seen = Vec::new();
    let mut step = |what: &str, repo: &Repo| {
        let before = repo.faiss_files();
        let r = repo.index(&e);
        assert_eq!(repo.status().generation, r.generation, "{what}");
        let after = repo.faiss_files();
        assert_eq!(after, layout_files(repo), "{what}");
        let new: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
        assert!(new.len() <= 1, "{what}: {new:?}");
        seen.push((what.to_string(), r.generation, new.len()));
    };
    step("first", &repo);
    step("unchanged", &repo);
    repo.write("a.py", &py_fn("alpha_one", "changed"));
    step("changed", &repo);
    repo.touch("b.py");
    step("touched", &repo);
    repo.write("c.py", &py_fn("gamma_one", "gamma"));
    step("added", &repo);
    repo.remove("b.py");
    step("deleted", &repo);
    step("unchanged again", &repo);
    let gens: Vec<(i64, usize)> = seen.iter().map(|(_, g, n)| (*g, *n)).collect();
    // Segments come from the first run, a change and an addition; a
    // deletion only buries ids, unchanged runs write nothing.
    assert_eq!(
        gens,
        [(1, 1), (1, 0), (2, 1), (2, 0), (3, 1), (4, 0), (4, 0)],
        "{seen:?}"
    );
}

/// The segment files the catalog's layout names, sorted.
fn layout_files(repo: &Repo) -> Vec<String> {
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    let mut files: Vec<String> = read_layout(&catalog)
        .unwrap()
        .map(|l| l.segments.into_iter().map(|s| s.file).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn searcher_opened_before_a_reindex_stays_on_its_generation() {
    let repo = Repo::with(&[
        ("lib.py", &py_fn("legacy_frobnicator", "old parser")),
        ("other.py", &py_fn("unrelated_helper", "plumbing")),
    ]);
    let e = HashEmbedder::new();
    repo.index(&e);
    let mut old = repo.searcher(&e);
    assert_eq!(old.generation(), 1);

    // Replace the function, re-index: generation 2 drops it.
    repo.write("lib.py", &py_fn("modern_widgetizer", "new parser"));
    assert_eq!(repo.index(&e).generation, 2);
    assert_eq!(repo.faiss_files(), layout_files(&repo));

    // The old view still answers from generation 1, in every mode, from
    // its own snapshot of the catalog and the segments it opened.
    assert_eq!(old.generation(), 1);
    for mode in [SearchMode::Lexical, SearchMode::Vector, SearchMode::Hybrid] {
        let hits = search(&mut old, "legacy_frobnicator", &opts(mode, 1));
        assert_eq!(symbols(&hits), ["legacy_frobnicator"], "{mode:?}");
        assert!(hits[0].text.contains("old parser"), "{mode:?}");
    }
    let hits = search(&mut old, "modern_widgetizer", &opts(SearchMode::Lexical, 5));
    assert!(hits.is_empty(), "generation 1 never had it: {hits:?}");

    // A new view sees generation 2 only.
    let mut new = repo.searcher(&e);
    assert_eq!(new.generation(), 2);
    assert!(!new.vectors_rebuilt());
    for mode in [SearchMode::Lexical, SearchMode::Vector, SearchMode::Hybrid] {
        let hits = search(&mut new, "modern_widgetizer", &opts(mode, 1));
        assert_eq!(symbols(&hits), ["modern_widgetizer"], "{mode:?}");
    }
    let gone = search(
        &mut new,
        "legacy_frobnicator",
        &opts(SearchMode::Lexical, 5),
    );
    assert!(gone.is_empty(), "{gone:?}");
    let all = search(&mut new, "value", &opts(SearchMode::Vector, 10));
    let mut syms = symbols(&all);
    syms.sort();
    assert_eq!(syms, ["modern_widgetizer", "unrelated_helper"]);

    // A third run (with the old searcher still open) publishes fine, and
    // the old view still has its snapshot.
    repo.remove("other.py");
    assert_eq!(repo.index(&e).generation, 3);
    let hits = search(&mut old, "unrelated_helper", &opts(SearchMode::Hybrid, 1));
    assert_eq!(symbols(&hits), ["unrelated_helper"]);
    assert_eq!(old.generation(), 1);
}

#[test]
fn searcher_on_a_folder_never_indexed_says_not_indexed() {
    let repo = Repo::with(&[("a.py", "x = 1\n")]);
    let e = HashEmbedder::new();
    let err = Searcher::open(&repo.dir, &e).err().unwrap();
    assert!(matches!(err, IndexError::NotIndexed { .. }), "{err}");
}

#[test]
fn an_empty_tree_publishes_generation_one_and_searches_to_nothing() {
    let repo = Repo::new();
    let e = HashEmbedder::new();
    let r = repo.index(&e);
    assert_eq!((r.files_scanned, r.chunks_total, r.generation), (0, 0, 1));
    let mut s = repo.searcher(&e);
    for mode in [SearchMode::Lexical, SearchMode::Vector, SearchMode::Hybrid] {
        assert!(search(&mut s, "anything", &opts(mode, 5)).is_empty());
    }
}
