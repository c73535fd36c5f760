//! Search over a real index built with the fake `HashEmbedder`: hybrid,
//! vector and lexical modes each put the chunk that defines a unique
//! identifier first; path and language filters apply *before* the top k
//! (k=3 filtered returns 3 in-filter hits even when the unfiltered top k
//! is all elsewhere); lexical mode never calls the model; hits carry their
//! similarity; `search_many` answers like one `search` per query.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use common::{opts, py_fn, search, symbols, Repo};
use writ_core::Language;
use writ_index::{IndexError, SearchMode, SearchOptions};
use writ_testkit::{CountingEmbedder, HashEmbedder};

const MODES: [SearchMode; 3] = [SearchMode::Hybrid, SearchMode::Vector, SearchMode::Lexical];

/// Five languages, one function each with a distinctive name.
fn polyglot() -> Repo {
    Repo::with(&[
        (
            "src/widget.rs",
            "/// Frobnicates the widget in place.\npub fn frobnicate_widget_quux(w: &mut Widget) {\n    \
             w.level += 1;\n}\n",
        ),
        ("app/users.py", &py_fn("load_user_record", "database rows")),
        (
            "web/menu.js",
            "function renderSidebarMenu(items) {\n  return items.map((i) => `<li>${i}</li>`);\n}\n",
        ),
        (
            "web/api.ts",
            "export function fetchInvoiceTotals(id: string): Promise<number> {\n  return get(`/invoices/${id}`);\n}\n",
        ),
        (
            "cmd/serve.go",
            "package cmd\n\n// ListenAndAccept opens the port.\nfunc ListenAndAccept(port int) error {\n\treturn nil\n}\n",
        ),
    ])
}

#[test]
fn every_mode_finds_the_chunk_that_defines_a_unique_identifier() {
    let repo = polyglot();
    let e = HashEmbedder::new();
    repo.index(&e);
    let mut s = repo.searcher(&e);
    let cases = [
        (
            "frobnicate_widget_quux",
            "frobnicate_widget_quux",
            "src/widget.rs",
        ),
        (
            "frobnicateWidgetQuux",
            "frobnicate_widget_quux",
            "src/widget.rs",
        ),
        ("load_user_record", "load_user_record", "app/users.py"),
        ("renderSidebarMenu", "renderSidebarMenu", "web/menu.js"),
        ("fetchInvoiceTotals", "fetchInvoiceTotals", "web/api.ts"),
        ("ListenAndAccept", "ListenAndAccept", "cmd/serve.go"),
    ];
    for mode in MODES {
        for (query, symbol, path) in cases {
            let hits = search(&mut s, query, &opts(mode, 3));
            let top = hits
                .first()
                .unwrap_or_else(|| panic!("{mode:?} {query}: no hit"));
            assert_eq!(
                (top.symbol.as_deref(), top.path.as_str()),
                (Some(symbol), path),
                "{mode:?} {query}: {:?}",
                symbols(&hits)
            );
            assert!(top.text.contains(symbol) && top.start_line >= 1);
            assert!(top.end_line >= top.start_line);
            assert_eq!(top.text_hash.len(), 64);
        }
    }
}

#[test]
fn hybrid_puts_code_before_the_doc_that_names_it() {
    let repo = polyglot();
    repo.write(
        "README.md",
        "# Widgets\n\nCall `frobnicate_widget_quux` to frobnicate a widget: \
         frobnicate widget quux, frobnicate the widget quux.\n",
    );
    let e = HashEmbedder::new();
    repo.index(&e);
    let mut s = repo.searcher(&e);
    let hits = search(
        &mut s,
        "frobnicate widget quux",
        &opts(SearchMode::Hybrid, 3),
    );
    let paths: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(paths.first(), Some(&"src/widget.rs"), "{paths:?}");
    assert!(paths.contains(&"README.md"), "{paths:?}");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn lexical_mode_never_calls_the_model_and_others_give_similarities() {
    let repo = polyglot();
    let e = CountingEmbedder::new(HashEmbedder::new());
    repo.index(&e);
    let mut s = repo.searcher(&e);
    e.reset();
    let hits = search(&mut s, "load_user_record", &opts(SearchMode::Lexical, 3));
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.similarity.is_none()));
    assert_eq!(e.calls(), 0);
    for mode in [SearchMode::Hybrid, SearchMode::Vector] {
        let hits = search(&mut s, "load_user_record", &opts(mode, 5));
        // Every hit has its cosine, lexical-only ones included.
        assert!(hits.iter().all(|h| h.similarity.is_some()), "{mode:?}");
        let top = hits[0].similarity.unwrap();
        assert!(top > 0.3 && top <= 1.0 + 1e-5, "{mode:?}: {top}");
    }
    assert_eq!(e.calls(), 2, "one embedding per query");
}

#[test]
fn search_many_answers_like_one_search_per_query_with_one_model_call() {
    let repo = polyglot();
    let e = CountingEmbedder::new(HashEmbedder::new());
    repo.index(&e);
    let mut s = repo.searcher(&e);
    let queries = ["frobnicate widget", "invoice totals", "sidebar menu"];
    let o = opts(SearchMode::Hybrid, 3);
    e.reset();
    let many = s.search_many(&queries, &o).unwrap();
    assert_eq!(e.calls(), 1);
    for (q, batch) in queries.iter().zip(&many) {
        let one = search(&mut s, q, &o);
        let ids = |h: &[writ_index::Hit]| h.iter().map(|h| h.chunk_id).collect::<Vec<_>>();
        assert_eq!(ids(batch), ids(&one), "{q}");
    }
}

/// Twelve chunks all about the query under `src/`, and a few that mention
/// one of its words once under `lib/` (Python) and `go/` (Go).
fn crowded() -> Repo {
    let repo = Repo::new();
    for i in 0..12 {
        repo.write(
            &format!("src/tok_{i:02}.py"),
            &format!(
                "def tokenize_stream_{i}(stream):\n    \
                 \"\"\"Tokenize the stream into tokens: tokenize stream tokens.\"\"\"\n    \
                 tokens = tokenize(stream)\n    return tokens\n"
            ),
        );
    }
    for i in 0..4 {
        repo.write(
            &format!("lib/misc_{i}.py"),
            &format!(
                "def misc_helper_{i}(path):\n    \
                 \"\"\"Read the configuration file {i}, merge defaults, then tokenize.\"\"\"\n    \
                 config = read_config(path)\n    return merge_defaults(config)\n"
            ),
        );
        repo.write(
            &format!("go/other_{i}.go"),
            &format!(
                "package other\n\n// OtherThing{i} opens a database connection to tokenize a DSN.\n\
                 func OtherThing{i}(dsn string) error {{\n\treturn connect(dsn)\n}}\n"
            ),
        );
    }
    repo
}

const QUERY: &str = "tokenize stream tokens";

#[test]
fn filters_apply_before_the_top_k() {
    let repo = crowded();
    let e = HashEmbedder::new();
    assert_eq!(repo.index(&e).chunks_total, 20);
    let mut s = repo.searcher(&e);
    for mode in MODES {
        // Unfiltered, the top 3 are all under src/.
        let top = search(&mut s, QUERY, &opts(mode, 3));
        assert_eq!(top.len(), 3, "{mode:?}");
        assert!(
            top.iter().all(|h| h.path.starts_with("src/")),
            "{mode:?}: {top:?}"
        );

        let by_path = SearchOptions {
            paths: vec!["lib/**".into()],
            ..opts(mode, 3)
        };
        let hits = search(&mut s, QUERY, &by_path);
        assert_eq!(hits.len(), 3, "{mode:?} path filter: {:?}", symbols(&hits));
        assert!(
            hits.iter().all(|h| h.path.starts_with("lib/")),
            "{mode:?}: {hits:?}"
        );

        let by_lang = SearchOptions {
            languages: vec![Language::Go],
            ..opts(mode, 3)
        };
        let hits = search(&mut s, QUERY, &by_lang);
        assert_eq!(
            hits.len(),
            3,
            "{mode:?} language filter: {:?}",
            symbols(&hits)
        );
        assert!(hits
            .iter()
            .all(|h| h.language == "go" && h.path.starts_with("go/")));

        // Both filters must hold: Python under go/ does not exist.
        let both = SearchOptions {
            paths: vec!["go/**".into()],
            languages: vec![Language::Python],
            ..opts(mode, 3)
        };
        assert!(search(&mut s, QUERY, &both).is_empty(), "{mode:?}");

        // A bare `*.go` glob matches at any depth; two globs are a union.
        let globs = SearchOptions {
            paths: vec!["*.go".into(), "lib/misc_0.py".into()],
            ..opts(mode, 10)
        };
        let hits = search(&mut s, QUERY, &globs);
        assert_eq!(hits.len(), 5, "{mode:?}: {:?}", symbols(&hits));
    }
}

#[test]
fn a_bad_glob_is_an_error_not_an_empty_answer() {
    let repo = crowded();
    let e = HashEmbedder::new();
    repo.index(&e);
    let mut s = repo.searcher(&e);
    let bad = SearchOptions {
        paths: vec!["src/[".into()],
        ..SearchOptions::default()
    };
    let err = s.search(QUERY, &bad).err().unwrap();
    assert!(matches!(err, IndexError::Glob { .. }), "{err}");
}

#[test]
fn answers_are_deterministic_and_k_bounds_them() {
    let repo = crowded();
    let e = HashEmbedder::new();
    repo.index(&e);
    let mut s = repo.searcher(&e);
    for mode in MODES {
        let a = search(&mut s, QUERY, &opts(mode, 7));
        let b = search(&mut s, QUERY, &opts(mode, 7));
        let ids = |h: &[writ_index::Hit]| h.iter().map(|h| h.chunk_id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "{mode:?}");
        assert_eq!(a.len(), 7, "{mode:?}");
        assert!(a.windows(2).all(|w| w[0].score >= w[1].score), "{mode:?}");
        assert!(search(&mut s, QUERY, &opts(mode, 0)).is_empty(), "{mode:?}");
    }
}
