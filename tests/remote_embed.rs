//! `--embed-url` against a real OpenAI-compatible `/v1/embeddings` server:
//! llama.cpp through `llama-cpp-python[server]` serving the pinned SmolLM2
//! GGUF with mean pooling. An index built through the server is searched
//! through it, re-indexed incrementally, and refused when writ is pointed
//! at another model, or at the same name whose vectors changed.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::llama::Llama;
use common::{text, Repo};
use serde_json::Value;

/// SmolLM2 as an embedding model named `emb`, pooled as `pooling` says
/// (llama.cpp's `llama_pooling_type`: 0 none, 1 mean, 3 last token).
fn embedding_server(pooling: u8) -> Llama {
    let pooling = format!("llama.pooling_type=int:{pooling}");
    Llama::start(&[
        "--embedding",
        "true",
        "--model_alias",
        "emb",
        "--n_ctx",
        "2048",
        "--kv_overrides",
        &pooling,
    ])
}

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "src/shop/cart.py",
        "class Cart:\n    \"\"\"Items and their quantities.\"\"\"\n\n    def total(self):\n        \"\"\"The price of everything in the cart.\"\"\"\n        return sum(c * p for c, p in self.items.values())\n",
    );
    repo.write(
        "src/net/retry.py",
        "def backoff(attempt):\n    \"\"\"Seconds to wait before retrying a failed request.\"\"\"\n    return min(60, 2 ** attempt)\n",
    );
    repo.write(
        "src/db/users.py",
        "def active_users(conn):\n    \"\"\"Rows of users who can log in.\"\"\"\n    return conn.execute('SELECT id FROM users WHERE active = 1').fetchall()\n",
    );
    repo.commit_all();
    repo
}

fn ok(repo: &Repo, args: &[&str]) -> Value {
    let out = repo.writ(args);
    assert!(out.status.success(), "writ {args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_index_built_through_an_embedding_server_is_searched_through_it_and_refused_when_it_changes() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let mean = embedding_server(1);
    let url = mean.url.clone();
    let first = ok(&repo, &["index", "--embed-url", &url, "--json"]);
    assert!(first["chunks_embedded"].as_u64().unwrap() >= 3, "{first}");

    // The manifest names the served model and carries its fingerprint.
    let status = ok(&repo, &["status", "--embed-url", &url, "--json"]);
    let model = &status["manifest"]["model"];
    assert_eq!(model["id"], "remote:emb", "{status}");
    assert_eq!(model["dim"], 576, "{status}");
    assert_eq!(
        model["fingerprint"].as_array().map(Vec::len),
        Some(4 * 576),
        "{status}"
    );

    let hits = ok(
        &repo,
        &[
            "search",
            "--embed-url",
            &url,
            "--json",
            "how long to wait before retrying",
        ],
    );
    assert_eq!(hits["hits"][0]["path"], "src/net/retry.py", "{hits}");

    // One changed file: only its chunk goes to the server again.
    repo.write(
        "src/net/retry.py",
        "def backoff(attempt):\n    \"\"\"Seconds to wait before retrying a failed request.\"\"\"\n    return min(30, 2 ** attempt)\n",
    );
    let again = ok(&repo, &["index", "--embed-url", &url, "--json"]);
    assert_eq!(again["files_changed"], 1, "{again}");
    assert_eq!(again["chunks_embedded"], 1, "{again}");

    // The local model is another model: refused, naming both.
    let out = repo.writ(&["search", "cart total"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("remote:emb") && err.contains("all-MiniLM-L6-v2"),
        "{err}"
    );
    drop(mean);

    // The same name, now answering with other vectors (last-token
    // pooling): refused for reading and for writing, with the reason.
    let last = embedding_server(3);
    for args in [
        vec!["search", "--embed-url", &last.url, "cart total"],
        vec!["index", "--embed-url", &last.url],
    ] {
        let out = repo.writ(&args);
        assert_eq!(
            out.status.code(),
            Some(5),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains("probe texts differ"), "{err}");
    }
    drop(last);

    // A server that pools nothing answers a vector per token: refused
    // with the fix, before anything is written.
    let none = embedding_server(0);
    let fresh = Repo::new();
    fresh.write("a.py", "def f():\n    return 1\n");
    fresh.commit_all();
    let out = fresh.writ(&["index", "--embed-url", &none.url]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("mean pooling"),
        "{}",
        text(&out.stderr)
    );
    assert!(!fresh.path().join(".writ/catalog.sqlite").exists());
}

#[test]
fn an_embedding_server_url_with_credentials_or_nothing_behind_it_is_refused_clearly() {
    let repo = Repo::new();
    repo.write("a.py", "def f():\n    return 1\n");
    repo.commit_all();
    let out = repo.writ(&["index", "--embed-url", "http://user:secret@127.0.0.1:9/v1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(!err.contains("secret"), "{err}");
    assert!(err.contains("WRIT_EMBED_API_KEY"), "{err}");

    // Port 9 (discard) on loopback: nothing listens.
    let out = repo.writ(&["index", "--embed-url", "http://127.0.0.1:9/v1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--embed-url"),
        "{}",
        text(&out.stderr)
    );
}
