//! `RemoteEmbedder` against scripted `/v1/embeddings` servers over a real
//! loopback socket: one without `/models`, one that swaps models after
//! writ connected, one that refuses long inputs, one that lists a model id
//! writ will not record. Each case is a finding of review, replayed; the
//! client under test is writ's real one.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod http;
use http::read_request;

use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use writ_core::Embedder;
use writ_llm::{RemoteEmbedSpec, RemoteEmbedder};

/// Answers a request: (path, JSON body or Null) to (status, body).
type Handler = dyn Fn(&str, &Value) -> (u16, String) + Send + Sync;

/// A server on a free loopback port answering with `handler`.
fn serve(handler: Arc<Handler>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || {
                let (path, body) = read_request(&conn);
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let (status, text) = handler(&path, &body);
                let mut conn = conn;
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    url
}

/// A vector that depends on the text (and on `model`, 0 or 1).
fn vector(text: &str, model: usize) -> Vec<f64> {
    let first = f64::from(text.bytes().next().unwrap_or(0));
    let v = vec![1.0, (text.len() % 13) as f64, first / 50.0, 0.5];
    if model == 0 {
        v
    } else {
        v.into_iter().rev().collect()
    }
}

fn embeddings(body: &Value, model: usize) -> String {
    let data: Vec<Value> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"index": i, "embedding": vector(t.as_str().unwrap(), model)}))
        .collect();
    json!({ "data": data }).to_string()
}

fn models(ids: &[&str]) -> String {
    let data: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
    json!({ "data": data }).to_string()
}

fn spec(url: &str, model: Option<&str>) -> RemoteEmbedSpec {
    let mut spec = RemoteEmbedSpec::new(url);
    spec.model = model.map(String::from);
    spec
}

#[test]
fn a_server_without_models_is_used_when_the_model_is_named() {
    let url = serve(Arc::new(|path: &str, body: &Value| {
        if path.ends_with("/models") {
            (404, r#"{"error":"Not Found"}"#.into())
        } else {
            (200, embeddings(body, 0))
        }
    }));
    let e = RemoteEmbedder::connect(&spec(&url, Some("bge-small"))).unwrap();
    assert_eq!(e.info().id, "remote:bge-small");
    assert_eq!(e.info().dim, 4);
    assert_eq!(e.embed(&["fn a() {}"]).unwrap().len(), 4);
    let err = RemoteEmbedder::connect(&spec(&url, None)).err().unwrap();
    assert!(err.to_string().contains("--embed-url-model"), "{err}");
}

#[test]
fn a_model_swapped_after_connecting_is_caught_before_its_vectors_are_used() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let url = serve(Arc::new(move |path: &str, body: &Value| {
        if path.ends_with("/models") {
            return (200, models(&["emb"]));
        }
        // The probes at connect get model 0; every later request model 1.
        let model = usize::from(seen.fetch_add(1, Ordering::SeqCst) > 0);
        (200, embeddings(body, model))
    }));
    let e = RemoteEmbedder::connect(&spec(&url, None)).unwrap();
    let err = e.embed(&["fn a() {}", "fn b() {}"]).unwrap_err();
    assert!(err.to_string().contains("changed during the run"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn inputs_a_server_refuses_as_too_long_are_cut_until_taken() {
    let longest = Arc::new(Mutex::new(0usize));
    let seen = Arc::clone(&longest);
    let url = serve(Arc::new(move |path: &str, body: &Value| {
        if path.ends_with("/models") {
            return (200, models(&["emb"]));
        }
        let inputs = body["input"].as_array().unwrap();
        let max = inputs
            .iter()
            .map(|t| t.as_str().unwrap().len())
            .max()
            .unwrap();
        {
            let mut l = seen.lock().unwrap();
            *l = (*l).max(max);
        }
        if max > 200 {
            return (
                413,
                r#"{"error":{"message":"input is too long: exceeds the maximum of 64 tokens"}}"#
                    .into(),
            );
        }
        (200, embeddings(body, 0))
    }));
    let e = RemoteEmbedder::connect(&spec(&url, None)).unwrap();
    let long = "x".repeat(1_000);
    let huge = "é".repeat(1 << 20);
    let v = e.embed(&["short", &long, &huge, "also short"]).unwrap();
    assert_eq!(v.len(), 4 * 4);
    // Nothing larger than 512 tokens at 3 bytes each was ever sent.
    assert!(
        *longest.lock().unwrap() <= 512 * 3,
        "{}",
        longest.lock().unwrap()
    );
}

#[test]
fn a_model_id_writ_would_not_record_is_refused() {
    let id = "m".repeat(1_000);
    let listed = models(&[&id]);
    let url = serve(Arc::new(move |path: &str, body: &Value| {
        if path.ends_with("/models") {
            (200, listed.clone())
        } else {
            (200, embeddings(body, 0))
        }
    }));
    let err = RemoteEmbedder::connect(&spec(&url, None)).err().unwrap();
    assert!(err.to_string().contains("will not record"), "{err}");
    assert!(err.to_string().len() < 600, "{err}");
}
