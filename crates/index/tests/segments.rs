//! The vector store grows without rewriting itself: a run writes only a
//! segment of what it embedded (the other segment files keep their bytes,
//! inode and mtime), deletions become tombstones that search skips, small
//! segments are merged and the base rebuilt from SQLite as they grow, and
//! an approximate base (IVF, memory-mapped, re-scored exactly from SQLite)
//! answers like exact search on a small fixed corpus.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use common::{py_file, Repo};
use std::os::unix::fs::MetadataExt;
use writ_core::Embedder;
use writ_index::{read_layout, Catalog, IndexOptions, IndexReport, Layout, VectorStore};
use writ_testkit::HashEmbedder;

/// Every function its own chunk.
fn options() -> IndexOptions {
    IndexOptions {
        min_chunk_tokens: 1,
        ..IndexOptions::default()
    }
}

fn index(repo: &Repo, e: &dyn Embedder, options: IndexOptions) -> IndexReport {
    repo.try_index(e, options).unwrap()
}

fn layout(repo: &Repo) -> Layout {
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    read_layout(&catalog).unwrap().unwrap()
}

/// `n` function names for file `f`.
fn names(f: usize, n: usize, tag: &str) -> Vec<String> {
    (0..n).map(|i| format!("{tag}_f{f}_n{i}")).collect()
}

fn file(f: usize, n: usize, tag: &str) -> String {
    let names = names(f, n, tag);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    py_file(&refs, &format!("topic {f} {tag}"))
}

/// (inode, mtime ns, bytes) of a segment file.
fn fingerprint(repo: &Repo, name: &str) -> (u64, i64, Vec<u8>) {
    let path = repo.dir.join(name);
    let m = std::fs::metadata(&path).unwrap();
    (
        m.ino(),
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        std::fs::read(&path).unwrap(),
    )
}

/// The top `k` chunk ids for `query` from the store on disk and from an
/// exact store built in memory from SQLite, with their scores.
#[allow(clippy::type_complexity, reason = "a test's pair of answers")]
fn both(
    repo: &Repo,
    e: &dyn Embedder,
    query: &str,
    k: usize,
    allowed: Option<&[i64]>,
) -> (Vec<(i64, f32)>, Vec<(i64, f32)>) {
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    let dim = e.info().dim;
    let q = e.embed(&[query]).unwrap();
    let mut disk = VectorStore::open(&catalog, &repo.dir, dim)
        .unwrap()
        .unwrap();
    let mut exact = VectorStore::from_catalog(&catalog, dim, &repo.dir).unwrap();
    (
        disk.search(&q, k, allowed, &catalog, &repo.dir).unwrap(),
        exact.search(&q, k, allowed, &catalog, &repo.dir).unwrap(),
    )
}

#[test]
fn a_changed_file_writes_one_small_segment_and_leaves_the_others_untouched() {
    let repo = Repo::new();
    for f in 0..6 {
        repo.write(&format!("src/m{f}.py"), &file(f, 20, "old"));
    }
    let e = HashEmbedder::new();
    let first = index(&repo, &e, options());
    assert_eq!(first.chunks_total, 120);
    let before = layout(&repo);
    assert_eq!(before.segments.len(), 1);
    let kept: Vec<_> = before
        .segments
        .iter()
        .map(|s| (s.file.clone(), fingerprint(&repo, &s.file)))
        .collect();

    repo.write("src/m3.py", &file(3, 20, "new"));
    let r = index(&repo, &e, options());
    assert_eq!(
        (r.files_changed, r.chunks_embedded, r.chunks_removed),
        (1, 20, 20)
    );
    let after = layout(&repo);
    assert_eq!(after.segments.len(), 2, "{after:?}");
    for (name, was) in &kept {
        assert_eq!(&fingerprint(&repo, name), was, "{name} was rewritten");
    }
    let added = &after.segments[1];
    assert_eq!(added.count, 20);
    assert!(added.bytes < before.segments[0].bytes / 4, "{after:?}");
    assert_eq!(after.tombstones.len(), 20);
    assert_eq!(after.live(), 120);

    // Search skips the buried chunks and finds the new ones, exactly as a
    // store rebuilt from SQLite does.
    for query in [
        "old_f3_n7 topic 3 old",
        "new_f3_n7 topic 3 new",
        "old_f1_n2",
    ] {
        let (disk, exact) = both(&repo, &e, query, 10, None);
        assert_eq!(disk, exact, "{query}");
    }
    let (disk, _) = both(&repo, &e, "old_f3_n7 topic 3 old", 120, None);
    assert_eq!(disk.len(), 120);
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    for (id, _) in &disk {
        let (path, ..) = catalog.chunk(*id).unwrap().unwrap();
        assert!(!after.tombstones.contains(id), "{path}: {id} is buried");
    }
}

#[test]
fn small_segments_are_merged_and_the_base_is_rebuilt_as_it_is_outgrown() {
    let repo = Repo::new();
    for f in 0..4 {
        repo.write(&format!("src/m{f}.py"), &file(f, 10, "v0"));
    }
    let e = HashEmbedder::new();
    index(&repo, &e, options());
    for round in 1..=20 {
        repo.write(
            &format!("src/m{}.py", round % 4),
            &file(round % 4, 10, &format!("v{round}")),
        );
        index(&repo, &e, options());
        let l = layout(&repo);
        assert!(l.segments.len() <= 8, "round {round}: {l:?}");
        assert_eq!(l.live(), 40, "round {round}");
        let mut files = repo.faiss_files();
        let mut named: Vec<String> = l.segments.iter().map(|s| s.file.clone()).collect();
        files.sort();
        named.sort();
        assert_eq!(files, named, "round {round}: stale files are removed");
        let (disk, exact) = both(&repo, &e, &format!("v{round}_f1_n3"), 10, None);
        assert_eq!(disk, exact, "round {round}");
    }

    // Growth past an eighth of the base (and past 4,096 vectors) rebuilds
    // it: one segment, no tombstones.
    for f in 10..56 {
        repo.write(&format!("src/big{f}.py"), &file(f, 100, "grow"));
    }
    let r = index(&repo, &e, options());
    assert!(r.chunks_total > 4_096, "{r:?}");
    let l = layout(&repo);
    assert_eq!((l.segments.len(), l.tombstones.len()), (1, 0), "{l:?}");
    assert_eq!(l.live(), r.chunks_total);
}

/// Six words of a 400-word vocabulary for function `i`, spread by a
/// fixed linear congruential sequence: vectors far apart, as a real
/// model's are, not near-ties that share most words.
fn words(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(2_862_933_555_777_941_757) ^ 0x9E37_79B9;
    (0..6)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            format!("w{}", (x >> 33) % 400)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn an_approximate_base_answers_like_exact_search() {
    let (repo, e) = approximate_repo(30);
    assert_eq!(repo.status().chunks, 3_000);
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    let store = VectorStore::open(&catalog, &repo.dir, e.info().dim)
        .unwrap()
        .unwrap();
    assert!(store.approximate());

    let (mut found, mut wanted) = (0usize, 0usize);
    for f in (0..30).step_by(3) {
        for n in (0..100).step_by(20) {
            let query = words(f * 100 + n);
            let (disk, exact) = both(&repo, &e, &query, 10, None);
            wanted += exact.len();
            found += disk
                .iter()
                .filter(|(id, _)| exact.iter().any(|(x, _)| x == id))
                .count();
            // Re-scored exactly: a hit's score is the exact one.
            let (_, all) = both(&repo, &e, &query, 3_000, None);
            for (id, score) in &disk {
                let truth = all.iter().find(|(i, _)| i == id).unwrap().1;
                assert!((score - truth).abs() < 1e-5, "{query}: {id}");
            }
        }
    }
    let recall = found as f64 / wanted as f64;
    eprintln!("recall@10 {recall:.3} over {wanted} exact hits");
    assert!(recall >= 0.95, "recall@10 {recall:.3}");

    // A narrow filter is answered exactly.
    let allowed: Vec<i64> = (1..=300).collect();
    let (disk, exact) = both(&repo, &e, &words(250), 10, Some(&allowed));
    let ids = |h: &[(i64, f32)]| h.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    assert_eq!(ids(&disk), ids(&exact));
}

#[test]
fn the_scale_benchmark_builds_updates_and_queries_a_store() {
    let repo = Repo::new();
    for f in 0..5 {
        repo.write(&format!("src/m{f}.py"), &file(f, 20, "seed"));
    }
    // A copy of the first file: its chunks' vectors appear twice.
    repo.write("src/m5.py", &file(0, 20, "seed"));
    let e = HashEmbedder::new();
    index(&repo, &e, options());
    let (dim, seeds) = writ_index::scale::seeds(&repo.dir).unwrap();
    assert_eq!((dim, seeds.len() / dim), (e.info().dim, 120));
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    let built = writ_index::scale::build(&dir, &seeds, dim, 3_000, 20).unwrap();
    assert_eq!(built.count, 3_000);
    // Held-out queries whose vector is also kept are dropped.
    assert!(built.held_out_queries && built.queries < 20, "{built:?}");
    assert!(!built.approximate && built.segment_bytes > 0);
    let q = writ_index::scale::query(&dir).unwrap();
    // Exact search at this size: the same top 10 as brute force.
    assert!((q.recall_at_10 - 1.0).abs() < 1e-9, "{q:?}");
    // The one-file update left a second segment and 20 tombstones.
    let catalog = Catalog::open_read_only(&dir).unwrap();
    let l = read_layout(&catalog).unwrap().unwrap();
    assert_eq!(
        (l.segments.len(), l.tombstones.len(), l.live()),
        (2, 20, 3_000)
    );
}

/// A repository of `files` files of 100 functions each, whose base
/// segment is approximate (IVF).
fn approximate_repo(files: usize) -> (Repo, HashEmbedder) {
    let repo = Repo::new();
    for f in 0..files {
        let text: Vec<String> = (0..100)
            .map(|n| common::py_fn(&format!("fn_f{f}_n{n}"), &words(f * 100 + n)))
            .collect();
        repo.write(&format!("src/m{f}.py"), &text.join("\n\n"));
    }
    let e = HashEmbedder::new();
    let options = IndexOptions {
        approximate_at: 500,
        ..options()
    };
    index(&repo, &e, options);
    assert!(layout(&repo).segments[0].approximate);
    (repo, e)
}

#[test]
fn a_broken_or_crafted_approximate_base_is_rebuilt_never_mapped() {
    for how in [
        "truncated",
        "padded",
        "list size raised",
        "garbage",
        "emptied",
    ] {
        let (repo, e) = approximate_repo(10);
        let base = repo.dir.join(&layout(&repo).segments[0].file);
        let bytes = std::fs::read(&base).unwrap();
        let broken = match how {
            "truncated" => bytes[..bytes.len() - 4096].to_vec(),
            "padded" => [bytes.clone(), vec![0; 4096]].concat(),
            "list size raised" => {
                // Same length: only a list size in the header claims more.
                let at = bytes.windows(4).position(|w| w == b"ilar").unwrap();
                let mut b = bytes.clone();
                b[at + 4 + 8 + 8 + 4 + 8 + 1] = b[at + 4 + 8 + 8 + 4 + 8 + 1].wrapping_add(16);
                b
            }
            "garbage" => vec![0xA5; bytes.len()],
            _ => Vec::new(),
        };
        std::fs::write(&base, &broken).unwrap();
        // Size and layout say nothing is wrong where the length is kept:
        // the header check must catch it.
        let catalog = Catalog::open_read_only(&repo.dir).unwrap();
        assert!(
            VectorStore::open(&catalog, &repo.dir, e.info().dim)
                .unwrap()
                .is_none(),
            "{how}"
        );
        drop(catalog);
        let mut s = repo.searcher(&e);
        assert!(s.vectors_rebuilt(), "{how}");
        let hits = common::search(
            &mut s,
            &words(345),
            &common::opts(writ_index::SearchMode::Vector, 5),
        );
        // The answer of an exact store built from SQLite.
        let catalog = Catalog::open_read_only(&repo.dir).unwrap();
        let mut exact = VectorStore::from_catalog(&catalog, e.info().dim, &repo.dir).unwrap();
        let q = e.embed(&[&words(345)]).unwrap();
        let want: Vec<i64> = exact
            .search(&q, 5, None, &catalog, &repo.dir)
            .unwrap()
            .iter()
            .map(|(id, _)| *id)
            .collect();
        let got: Vec<i64> = hits.iter().map(|h| h.chunk_id).collect();
        assert_eq!(got, want, "{how}");
    }
}

#[test]
fn a_layout_from_another_generation_or_naming_another_file_is_not_trusted() {
    let repo = Repo::new();
    for f in 0..3 {
        repo.write(&format!("src/m{f}.py"), &file(f, 10, "v"));
    }
    let e = HashEmbedder::new();
    index(&repo, &e, options());
    let dim = e.info().dim;
    let conn = rusqlite::Connection::open(repo.dir.join("catalog.sqlite")).unwrap();
    // An older writ publishing a generation without recording a layout.
    conn.execute(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'",
        [],
    )
    .unwrap();
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    assert!(VectorStore::open(&catalog, &repo.dir, dim)
        .unwrap()
        .is_none());
    drop(catalog);
    let r = index(&repo, &e, options());
    assert!(r.vectors_rebuilt);
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    assert!(VectorStore::open(&catalog, &repo.dir, dim)
        .unwrap()
        .is_some());
    drop(catalog);

    // A layout naming a file outside the folder is not followed.
    let mut l = layout(&repo);
    let outside = repo.dir.parent().unwrap().join("elsewhere.faiss");
    std::fs::copy(repo.dir.join(&l.segments[0].file), &outside).unwrap();
    l.segments[0].file = "../elsewhere.faiss".into();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'vector_layout'",
        [serde_json::to_string(&l).unwrap()],
    )
    .unwrap();
    let catalog = Catalog::open_read_only(&repo.dir).unwrap();
    assert!(VectorStore::open(&catalog, &repo.dir, dim)
        .unwrap()
        .is_none());
}
