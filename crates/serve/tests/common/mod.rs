//! The fixture of writ-serve's in-process tests, with no model files and
//! no network: a temp repository indexed with the fake `HashEmbedder`
//! behind an [`App`] whose model is scripted, and requests sent through
//! the router with `tower::ServiceExt::oneshot`.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "fixtures fail the test by panicking"
)]

use axum::body::Body;
use axum::http::{header, Request};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Once, OnceLock};
use tower::ServiceExt;
use writ_ask::{Generator, Scripted};
use writ_serve::App;
use writ_service::{Places, Service};
use writ_testkit::HashEmbedder;

pub const AGENT: &str = "agent-token-for-tests";
pub const REVIEW: &str = "review-token-for-tests";
pub const LIB: &str = "/// Adds.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

/// One key folder for the process (the gate reads `WRIT_KEY_DIR`), set
/// before any test reads it.
pub fn keys() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("writ-serve-router-keys");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("WRIT_KEY_DIR", &dir);
    });
}

pub fn embedder() -> &'static HashEmbedder {
    static E: OnceLock<HashEmbedder> = OnceLock::new();
    E.get_or_init(HashEmbedder::new)
}

/// An indexed temp repository behind an [`App`].
pub struct Fixture {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub app: Arc<App>,
    pub log: Arc<Mutex<Vec<String>>>,
    /// What the scripted model answers (read when the first ask loads it).
    pub script: Arc<Mutex<String>>,
}

pub fn fixture(remote: bool) -> Fixture {
    keys();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("repo");
    for (rel, text) in [
        ("docs/guide.md", "# Guide\n\nRun the tool.\n"),
        ("src/lib.rs", LIB),
    ] {
        std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
        std::fs::write(root.join(rel), text).unwrap();
    }
    let options = writ_index::IndexOptions::default();
    writ_index::Indexer::new(&root, &root.join(".writ"), embedder(), options)
        .run(&AtomicBool::new(false), &|_| {})
        .unwrap();
    let places = Places::resolve(&root, Some(&root), None, None).unwrap();
    let script = Arc::new(Mutex::new(String::new()));
    let answer = Arc::clone(&script);
    let load: writ_service::GeneratorLoader = Box::new(move || {
        let text = answer.lock().unwrap().clone();
        Ok(Box::new(Scripted::new(vec![text])) as Box<dyn Generator>)
    });
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let app = Arc::new(App {
        service: Service::with_models(places, embedder(), load),
        token: AGENT.into(),
        review_token: REVIEW.into(),
        remote,
        log: Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_string())),
    });
    Fixture {
        _tmp: tmp,
        root,
        app,
        log,
        script,
    }
}

impl Fixture {
    /// One request through a fresh router: (status, the JSON body, or the
    /// body as a string when it is not JSON).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !body.is_empty() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Body::from(body.to_string())).unwrap();
        let router = writ_serve::router(Arc::clone(&self.app));
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `method path` with `token` as the bearer and `body` (none when
    /// null): the status must be `want`; returns the body.
    pub async fn expect(
        &self,
        want: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Value {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (code, v) = self.send(method, path, &headers, &text).await;
        assert_eq!(code, want, "{method} {path}: {v}");
        v
    }

    pub async fn get(&self, want: u16, path: &str) -> Value {
        self.expect(want, "GET", path, None, &Value::Null).await
    }

    pub async fn submit(&self, proposal: Value) -> Value {
        let body = json!({ "source": "test", "proposal": proposal });
        self.expect(201, "POST", "/v1/proposals", Some(AGENT), &body)
            .await
    }

    /// The chunk id of `src/lib.rs`.
    pub async fn lib_chunk(&self) -> i64 {
        let answer = self.get(200, "/v1/search?q=add&k=10").await;
        let hits = &answer["hits"];
        let lib = hits
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["path"] == "src/lib.rs");
        lib.unwrap_or_else(|| panic!("{hits}"))["chunk_id"]
            .as_i64()
            .unwrap()
    }
}

/// The error message of an error body.
pub fn error(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

pub fn note(title: &str, citations: &[i64]) -> Value {
    json!({ "kind": "note", "title": title, "rationale": "r", "citations": citations, "text": "t" })
}

pub fn review() -> Value {
    json!({ "reviewer": "ann", "reason": "read it" })
}
