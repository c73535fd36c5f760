//! Search results for agents, through the service every front end calls,
//! on a real index built with the fake embedder (no models): the index
//! generation and its build time on every answer, a `stale` flag per hit,
//! each engine's rank beside the fused score and the cosine similarity, a
//! similarity threshold, a token budget with snippets and a cursor, and
//! out-of-bounds input refused, never clamped.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use writ_index::{IndexOptions, Indexer};
use writ_service::{ErrorKind, Places, SearchRequest, Service, ServiceError};
use writ_testkit::HashEmbedder;

fn embedder() -> &'static HashEmbedder {
    Box::leak(Box::new(HashEmbedder::new()))
}

fn index(root: &Path, e: &'static HashEmbedder) {
    Indexer::new(root, &root.join(".writ"), e, IndexOptions::default())
        .run(&AtomicBool::new(false), &|_| {})
        .unwrap();
}

/// A repository of `n` Python files, each with one function.
fn repo(n: usize) -> (tempfile::TempDir, Service) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    for i in 0..n {
        let body = (0..12)
            .map(|l| format!("    total_{i} = compute_price_{i}(item, {l})\n"))
            .collect::<String>();
        std::fs::write(
            root.join(format!("shop_{i}.py")),
            format!("def price_of_item_{i}(item):\n    \"\"\"The price of an item.\"\"\"\n{body}    return total_{i}\n"),
        )
        .unwrap();
    }
    let e = embedder();
    index(&root, e);
    let places = Places::resolve(&root, None, None, None).unwrap();
    let service = Service::with_models(
        places,
        e,
        Box::new(|| Err(ServiceError::Internal("no generator in this test".into()))),
    );
    (tmp, service)
}

fn kind(r: Result<writ_service::SearchResponse, ServiceError>) -> ErrorKind {
    r.expect_err("refused").kind()
}

#[test]
fn every_answer_names_its_generation_and_build_time_and_hits_are_fresh() {
    let (_tmp, s) = repo(3);
    let a = s.search(&SearchRequest::new("price of item")).unwrap();
    assert_eq!(a.generation, 1);
    assert!(a.indexed_at.is_some_and(|t| t > 1_600_000_000), "{a:?}");
    assert!(!a.hits.is_empty());
    assert!(a
        .hits
        .iter()
        .all(|h| !h.stale && !h.truncated && !h.text.is_empty()));
    assert!(!a.truncated);
}

#[test]
fn a_hit_whose_file_changed_since_indexing_is_stale() {
    let (tmp, s) = repo(3);
    let root = tmp.path().canonicalize().unwrap();
    let before = s.search(&SearchRequest::new("price_of_item_1")).unwrap();
    let path = before.hits[0].hit.path.clone();
    std::fs::write(root.join(&path), "def something_else():\n    pass\n").unwrap();
    let after = s.search(&SearchRequest::new("price_of_item_1")).unwrap();
    let hit = after.hits.iter().find(|h| h.hit.path == path).unwrap();
    assert!(hit.stale, "{hit:?}");
    // Others are not.
    assert!(after
        .hits
        .iter()
        .filter(|h| h.hit.path != path)
        .all(|h| !h.stale));
    // A deleted file is stale too; a touch that keeps the bytes is not.
    std::fs::remove_file(root.join(&path)).unwrap();
    let gone = s.search(&SearchRequest::new("price_of_item_1")).unwrap();
    assert!(gone.hits.iter().find(|h| h.hit.path == path).unwrap().stale);
}

#[test]
fn scores_are_shown_per_engine_and_the_threshold_is_on_similarity() {
    let (_tmp, s) = repo(6);
    let a = s
        .search(&SearchRequest::new("compute_price_2 item"))
        .unwrap();
    let top = &a.hits[0].hit;
    assert!(top.similarity.is_some(), "{top:?}");
    assert!(top.vector_rank.is_some() || top.lexical_rank.is_some());
    assert!(a
        .hits
        .iter()
        .any(|h| h.hit.lexical_rank.is_some() && h.hit.bm25.is_some()));
    let mut strict = SearchRequest::new("compute_price_2 item");
    strict.threshold = Some(0.99);
    let b = s.search(&strict).unwrap();
    assert!(
        b.hits.len() < a.hits.len(),
        "{} vs {}",
        b.hits.len(),
        a.hits.len()
    );
    assert!(b.hits.iter().all(|h| h.hit.similarity.unwrap() >= 0.99));
}

#[test]
fn a_budget_cuts_hits_to_snippets_then_pages_with_a_cursor() {
    let (_tmp, s) = repo(12);
    let mut req = SearchRequest::new("price of an item");
    req.k = 10;
    let whole = s.search(&req).unwrap();
    assert_eq!(whole.hits.len(), 10);
    req.max_tokens = Some(700);
    let cut = s.search(&req).unwrap();
    assert!(cut.truncated);
    assert!(cut.tokens <= 700, "{}", cut.tokens);
    assert!(cut.hits.len() < 10 && !cut.hits.is_empty());
    let cursor = cut.next_cursor.clone().expect("a cursor for the rest");
    // The next page starts where this one stopped.
    req.cursor = Some(cursor);
    let next = s.search(&req).unwrap();
    assert_eq!(
        next.hits[0].hit.chunk_id,
        whole.hits[cut.hits.len()].hit.chunk_id
    );
    // Snippet mode keeps every hit short.
    let mut snip = SearchRequest::new("price of an item");
    snip.snippets = true;
    let sn = s.search(&snip).unwrap();
    assert!(sn.hits.iter().all(|h| h.text.lines().count() <= 8));
    assert!(sn.hits.iter().any(|h| h.truncated));
}

#[test]
fn a_cursor_from_another_generation_is_refused() {
    let (tmp, s) = repo(12);
    let mut req = SearchRequest::new("price of an item");
    req.max_tokens = Some(500);
    let cut = s.search(&req).unwrap();
    let root = tmp.path().canonicalize().unwrap();
    std::fs::write(root.join("new.py"), "def fresh():\n    return 1\n").unwrap();
    index(&root, embedder());
    req.cursor = cut.next_cursor;
    let e = s.search(&req).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("generation"), "{e}");
}

#[test]
fn out_of_bounds_input_is_refused_not_clamped() {
    let (_tmp, s) = repo(2);
    for q in ["", "   ", "\n\t"] {
        assert_eq!(kind(s.search(&SearchRequest::new(q))), ErrorKind::BadInput);
    }
    for k in [0, 51, 100_000] {
        let mut r = SearchRequest::new("price");
        r.k = k;
        assert_eq!(kind(s.search(&r)), ErrorKind::BadInput, "k {k}");
    }
    let mut r = SearchRequest::new("price");
    r.max_tokens = Some(5);
    assert_eq!(kind(s.search(&r)), ErrorKind::BadInput);
    let mut r = SearchRequest::new("price");
    r.threshold = Some(1.5);
    assert_eq!(kind(s.search(&r)), ErrorKind::BadInput);
    let mut r = SearchRequest::new("price");
    r.langs = vec!["cobol".into()];
    assert_eq!(kind(s.search(&r)), ErrorKind::BadInput);
}
