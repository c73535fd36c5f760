//! `writ_index::status` against a moved-on tree, without re-indexing:
//! modified, added and deleted files are reported stale (a touched file
//! with the same content is not), the index itself is left as it was, and
//! a re-index clears the list.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use common::{py_file, Repo};
use writ_index::IndexError;
use writ_testkit::HashEmbedder;

fn stale(repo: &Repo) -> Vec<(String, &'static str)> {
    repo.status()
        .stale
        .into_iter()
        .map(|s| (s.path, s.change))
        .collect()
}

#[test]
fn status_lists_stale_files_without_reindexing() {
    let repo = Repo::with(&[
        ("a.py", &py_file(&["alpha_one", "alpha_two"], "alpha")),
        ("b.py", &py_file(&["beta_one"], "beta")),
        ("c.py", &py_file(&["gamma_one"], "gamma")),
    ]);
    let e = HashEmbedder::new();
    repo.index(&e);
    let before = repo.status();
    assert!(before.stale.is_empty(), "{:?}", before.stale);
    assert_eq!((before.generation, before.files, before.chunks), (1, 3, 4));
    let manifest = before.manifest.clone().unwrap();
    assert_eq!(manifest.model.id, writ_testkit::HASH_EMBEDDER_ID);
    assert!(before.last_indexed.is_some() && before.size_bytes > 0);

    repo.write("a.py", &py_file(&["alpha_one"], "alpha"));
    repo.write("d/new.py", &py_file(&["delta_one"], "delta"));
    repo.remove("b.py");
    repo.touch("c.py"); // new mtime, same bytes: not stale
    assert_eq!(
        stale(&repo),
        [
            ("a.py".to_string(), "modified"),
            ("d/new.py".to_string(), "added"),
            ("b.py".to_string(), "deleted"),
        ]
    );
    // Status only looked: the index is as it was.
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
    assert_eq!(repo.faiss_files(), ["seg-0.faiss"]);

    let r = repo.index(&e);
    assert_eq!((r.files_changed, r.files_added, r.files_deleted), (1, 1, 1));
    assert!(stale(&repo).is_empty());
}

#[test]
fn same_size_edit_is_stale_once_its_mtime_moves() {
    let repo = Repo::with(&[("a.py", "def f():\n    return 1\n")]);
    repo.index(&HashEmbedder::new());
    repo.write("a.py", "def f():\n    return 2\n");
    assert_eq!(stale(&repo), [("a.py".to_string(), "modified")]);
}

#[test]
fn status_of_a_never_indexed_folder_says_so() {
    let repo = Repo::with(&[("a.py", "x = 1\n")]);
    let err = writ_index::status(&repo.root, &repo.dir).err().unwrap();
    assert!(matches!(err, IndexError::NotIndexed { .. }), "{err}");
}
