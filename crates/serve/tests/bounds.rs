//! The API's bounds, methods and media types, in process: the router over
//! a service with the hashing fake embedder and a language model whose
//! loader only counts (it never generates), so these run in the fast tier.
//! Each test is a finding of schemathesis against `writ serve`, fixed:
//! out-of-bounds input is a 400 naming the field and its bounds (never
//! clamped, and never reaching the model), integral floats are integers,
//! a wrong method is a JSON 405 with `Allow`, a body that is not JSON a
//! 415, and the OpenAPI document says all of it.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;
use writ_serve::App;
use writ_service::{Places, Service, ServiceError};
use writ_testkit::HashEmbedder;

const AGENT: &str = "agent-token";
const REVIEW: &str = "review-token";

/// The ledger keys of these repositories go to a throwaway folder, set
/// once before any test reads the environment.
fn keys() {
    static KEYS: OnceLock<tempfile::TempDir> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // Safe: every test calls this first, and OnceLock makes the others
        // wait until it is done; nothing reads the variable before.
        std::env::set_var("WRIT_KEY_DIR", dir.path());
        dir
    });
}

/// An indexed repository, its router, and how often the language model
/// was loaded (it never is for input out of bounds).
struct Api {
    _repo: tempfile::TempDir,
    router: axum::Router,
    loads: Arc<AtomicUsize>,
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn api() -> Api {
    keys();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path().canonicalize().unwrap();
    write(
        &root,
        "src/cart.py",
        "def total(prices):\n    \"\"\"Sum of the prices in the cart.\"\"\"\n    return sum(prices)\n",
    );
    write(&root, "README.md", "# Shop\n\nPrices, carts and totals.\n");
    let index = root.join(".writ");
    let embedder: &'static HashEmbedder = Box::leak(Box::new(HashEmbedder::new()));
    writ_index::Indexer::new(&root, &index, embedder, writ_index::IndexOptions::default())
        .run(&AtomicBool::new(false), &|_| {})
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&loads);
    let service = Service::with_models(
        Places {
            repo: root,
            index,
            rules: None,
        },
        embedder,
        Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Err(ServiceError::Models {
                message: "no language model in this test".into(),
                hint: "none".into(),
            })
        }),
    );
    let app = App {
        service,
        token: AGENT.into(),
        review_token: REVIEW.into(),
        remote: false,
        log: Arc::new(|_| {}),
    };
    Api {
        _repo: repo,
        router: writ_serve::router(Arc::new(app)),
        loads,
    }
}

/// A response's status, headers and body (JSON, or the text as a string).
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Api {
    async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A POST with a JSON body and the review token (it may do anything).
    async fn post(&self, uri: &str, body: &Value) -> Answer {
        self.post_as(uri, "application/json", body.to_string())
            .await
    }

    async fn post_as(&self, uri: &str, content_type: &str, body: String) -> Answer {
        let mut req = Request::post(uri).header(header::AUTHORIZATION, format!("Bearer {REVIEW}"));
        if !content_type.is_empty() {
            req = req.header(header::CONTENT_TYPE, content_type);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

/// A 400 whose error names every one of `words`.
fn refused(a: &Answer, words: &[&str], what: &str) {
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {}", a.body);
    let error = a.body["error"].as_str().unwrap_or_default();
    for w in words {
        assert!(error.contains(w), "{what}: `{w}` not in {error:?}");
    }
}

#[tokio::test]
async fn k_outside_1_to_50_is_refused_naming_the_bound_not_clamped() {
    let api = api();
    for k in [
        json!(0),
        json!(51),
        json!(-1),
        json!(41.5),
        json!("5"),
        json!(1e30),
    ] {
        let a = api
            .post("/v1/search", &json!({ "query": "total", "k": k }))
            .await;
        refused(&a, &["`k`", "between 1 and 50"], &format!("search k={k}"));
    }
    for k in ["0", "51", "-11601", "abc", "", "4.5"] {
        let a = api.get(&format!("/v1/search?q=total&k={k}")).await;
        refused(&a, &["`k`", "between 1 and 50"], &format!("GET k={k}"));
    }
    let a = api.get("/v1/search?q=total&k=50").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn integral_floats_are_integers() {
    let api = api();
    let a = api
        .post("/v1/search", &json!({ "query": "total", "k": 41.0 }))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body["hits"].as_array().is_some_and(|h| !h.is_empty()),
        "{}",
        a.body
    );
    let a = api.get("/v1/search?q=total&k=2.0").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body["hits"].as_array().is_some_and(|h| h.len() <= 2),
        "{}",
        a.body
    );
    let chunk = a.body["hits"][0]["chunk_id"].as_i64().unwrap();
    let a = api.get(&format!("/v1/chunks/{chunk}.0")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn blank_queries_are_refused() {
    let api = api();
    for q in ["", "   ", "\u{3000}\n\t"] {
        let a = api.post("/v1/search", &json!({ "query": q })).await;
        refused(&a, &["`query`"], &format!("{q:?}"));
    }
    let a = api.get("/v1/search?q=%20%20").await;
    refused(&a, &["`query`"], "GET q=spaces");
}

#[tokio::test]
async fn ask_refuses_input_out_of_bounds_before_the_model() {
    let api = api();
    let cases = [
        (json!({ "question": "" }), vec!["`question`"]),
        (json!({ "question": " \n " }), vec!["`question`"]),
        (
            json!({ "question": "why?", "max_proposals": 0 }),
            vec!["`max_proposals`", "between 1 and 5"],
        ),
        (
            json!({ "question": "why?", "max_proposals": 6 }),
            vec!["`max_proposals`", "between 1 and 5"],
        ),
        (
            json!({ "question": "why?", "k": 0 }),
            vec!["`k`", "between 1 and 50"],
        ),
        (
            json!({ "question": "why?", "k": 51 }),
            vec!["`k`", "between 1 and 50"],
        ),
        (
            json!({ "question": "why?", "max_tokens": 0 }),
            vec!["`max_tokens`", "between 16 and 2048"],
        ),
        (
            json!({ "question": "why?", "max_tokens": 15 }),
            vec!["`max_tokens`", "between 16 and 2048"],
        ),
        (
            json!({ "question": "why?", "max_tokens": 99_999 }),
            vec!["`max_tokens`", "between 16 and 2048"],
        ),
        (
            json!({ "question": "why?", "paths": ["src/[a"] }),
            vec!["src/[a"],
        ),
        (json!({ "question": "why?", "extra": 1 }), vec!["extra"]),
        (json!(["why?"]), vec!["JSON object"]),
    ];
    for (body, words) in cases {
        let a = api.post("/v1/ask", &body).await;
        refused(&a, &words, &body.to_string());
    }
    assert_eq!(api.loads(), 0, "input out of bounds reached the model");
    // The counter works: input within bounds does reach the model's
    // loader (which fails here: 503, as documented).
    let a = api
        .post(
            "/v1/ask",
            &json!({ "question": "How is the total computed?", "k": 2.0, "max_tokens": 16 }),
        )
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert_eq!(api.loads(), 1);
}

#[tokio::test]
async fn a_glob_that_does_not_parse_is_the_callers_400_not_a_500() {
    let api = api();
    for glob in ["src/[a", "{a,b", "a}", "[z-a]"] {
        let a = api
            .post("/v1/search", &json!({ "query": "total", "paths": [glob] }))
            .await;
        refused(&a, &[glob], glob);
    }
}

#[tokio::test]
async fn source_is_1_to_100_characters_not_bytes() {
    let api = api();
    let note =
        json!({ "kind": "note", "title": "t", "rationale": "r", "citations": [], "text": "x" });
    for source in [
        String::new(),
        "   ".into(),
        "s".repeat(101),
        "é".repeat(101),
    ] {
        let a = api
            .post(
                "/v1/proposals",
                &json!({ "source": source, "proposal": note }),
            )
            .await;
        refused(&a, &["`source`", "1 to 100 characters"], &source);
    }
    // 100 characters of two bytes each: within bounds.
    let a = api
        .post(
            "/v1/proposals",
            &json!({ "source": "é".repeat(100), "proposal": note }),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
}

#[tokio::test]
async fn a_proposal_must_be_an_object() {
    let api = api();
    for proposal in [
        json!("{\"kind\": \"note\"}"),
        json!(5),
        json!(null),
        json!([]),
    ] {
        let a = api
            .post(
                "/v1/proposals",
                &json!({ "source": "t", "proposal": proposal }),
            )
            .await;
        refused(&a, &["`proposal`", "JSON object"], &proposal.to_string());
    }
    // An object that fails validation is recorded as refused (201).
    let a = api
        .post(
            "/v1/proposals",
            &json!({ "source": "t", "proposal": { "kind": "note" } }),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["state"], "refused");
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_with_allow() {
    let api = api();
    for (method, uri, allowed) in [
        ("DELETE", "/v1/status", vec!["GET"]),
        ("PATCH", "/v1/proposals", vec!["GET", "POST"]),
        ("GET", "/v1/ask", vec!["POST"]),
        ("PUT", "/v1/proposals/P1/approve", vec!["POST"]),
        ("OPTIONS", "/v1/search", vec!["GET", "POST"]),
    ] {
        let a = api
            .send(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(
            a.body["error"].as_str().is_some_and(|e| e.contains(method)),
            "{method} {uri}: {}",
            a.body
        );
        let allow = a.headers[header::ALLOW].to_str().unwrap().to_string();
        for m in allowed {
            assert!(allow.contains(m), "{method} {uri}: Allow {allow}");
        }
        assert_eq!(a.headers[header::CONTENT_TYPE], "application/json");
    }
    // Unknown routes stay a JSON 404.
    let a = api.get("/v1/nope").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body["error"].is_string(), "{}", a.body);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let api = api();
    let search = json!({ "query": "total" }).to_string();
    let review = json!({ "reviewer": "ann", "reason": "ok" }).to_string();
    let propose = json!({ "source": "t", "proposal": { "kind": "note" } }).to_string();
    for (uri, body) in [
        ("/v1/search", &search),
        ("/v1/ask", &json!({ "question": "why?" }).to_string()),
        ("/v1/proposals", &propose),
        ("/v1/proposals/P1/approve", &review),
        ("/v1/proposals/P1/reject", &review),
    ] {
        for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
            let a = api.post_as(uri, content_type, body.clone()).await;
            assert_eq!(
                a.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{uri} as {content_type:?}: {}",
                a.body
            );
            assert!(a.body["error"].is_string(), "{}", a.body);
        }
    }
    assert_eq!(api.loads(), 0);
    // JSON with parameters, or a +json type, is JSON.
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.writ+json",
    ] {
        let a = api
            .post_as("/v1/search", content_type, search.clone())
            .await;
        assert_eq!(a.status, StatusCode::OK, "{content_type}: {}", a.body);
    }
}

#[tokio::test]
async fn path_parameters_that_do_not_parse_are_400() {
    let api = api();
    for uri in [
        "/v1/chunks/0",
        "/v1/chunks/-1",
        "/v1/chunks/abc",
        "/v1/chunks/1.5",
        "/v1/chunks/99999999999999999999",
    ] {
        let a = api.get(uri).await;
        refused(&a, &["chunk id"], uri);
    }
    for uri in ["/v1/proposals/%FF", "/v1/explain/%FF"] {
        let a = api.get(uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.body);
        assert!(a.body["error"].is_string(), "{uri}: {}", a.body);
    }
}

/// The OpenAPI document, as served.
async fn document(api: &Api) -> Value {
    let a = api.get("/v1/openapi.json").await;
    assert_eq!(a.status, StatusCode::OK);
    a.body
}

#[tokio::test]
async fn the_document_states_the_bounds_the_server_enforces() {
    let api = api();
    let doc = document(&api).await;
    let schemas = &doc["components"]["schemas"];
    let k_get = doc["paths"]["/v1/search"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "k")
        .unwrap()["schema"]
        .clone();
    for (what, s, min, max) in [
        ("GET k", &k_get, 1, 50),
        ("Search.k", &schemas["Search"]["properties"]["k"], 1, 50),
        ("Ask.k", &schemas["Ask"]["properties"]["k"], 1, 50),
        (
            "Ask.max_proposals",
            &schemas["Ask"]["properties"]["max_proposals"],
            1,
            5,
        ),
        (
            "Ask.max_tokens",
            &schemas["Ask"]["properties"]["max_tokens"],
            16,
            2048,
        ),
    ] {
        assert_eq!(s["type"], "integer", "{what}");
        assert_eq!(
            (s["minimum"].as_u64(), s["maximum"].as_u64()),
            (Some(min), Some(max)),
            "{what}"
        );
    }
    let source = &schemas["Submission"]["properties"]["source"];
    assert_eq!(
        (source["minLength"].as_u64(), source["maxLength"].as_u64()),
        (Some(1), Some(100))
    );
    for (name, field) in [
        ("Search", "query"),
        ("Ask", "question"),
        ("Review", "reviewer"),
        ("Review", "reason"),
    ] {
        let s = &schemas[name]["properties"][field];
        assert_eq!(s["minLength"], 1, "{name}.{field}");
        assert!(s["pattern"].is_string(), "{name}.{field}: not blank");
    }
    for name in ["Search", "Ask", "Submission", "Review"] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
}

#[tokio::test]
async fn the_document_lists_every_status_and_links_a_proposal_onwards() {
    let api = api();
    let doc = document(&api).await;
    let paths = &doc["paths"];
    let statuses = |path: &str, method: &str| -> Vec<String> {
        paths[path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
            .keys()
            .cloned()
            .collect()
    };
    for (path, method, must) in [
        (
            "/v1/proposals/{id}/approve",
            "post",
            &[
                "200", "400", "401", "403", "404", "409", "413", "415", "421", "500", "503",
            ][..],
        ),
        (
            "/v1/proposals/{id}/reject",
            "post",
            &["200", "409", "503"][..],
        ),
        (
            "/v1/ask",
            "post",
            &[
                "200", "400", "401", "403", "404", "409", "413", "415", "421", "500", "503",
            ][..],
        ),
        (
            "/v1/search",
            "post",
            &["200", "400", "413", "415", "503"][..],
        ),
        ("/v1/search", "get", &["200", "400", "503"][..]),
        (
            "/v1/proposals",
            "post",
            &["201", "400", "401", "415", "409", "503"][..],
        ),
        ("/v1/status", "get", &["200", "503"][..]),
    ] {
        let got = statuses(path, method);
        for s in must {
            assert!(
                got.iter().any(|g| g == s),
                "{method} {path} lacks {s}: {got:?}"
            );
        }
    }
    // Every documented error is the Error shape; every operation has an id.
    let mut ids = Vec::new();
    for (path, item) in paths.as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ids.push(
                op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path}"))
                    .to_string(),
            );
            for (status, r) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    // A proposal links to its approval, rejection and chain.
    let links = &paths["/v1/proposals"]["post"]["responses"]["201"]["links"];
    for (name, op) in [
        ("Approve", "approveProposal"),
        ("Reject", "rejectProposal"),
        ("Explain", "explain"),
        ("GetProposal", "getProposal"),
    ] {
        assert_eq!(links[name]["operationId"], op, "{links}");
        assert_eq!(links[name]["parameters"]["id"], "$response.body#/id");
        assert!(ids.iter().any(|i| i == op), "{op} is not an operation");
    }
    let links = &paths["/v1/proposals/{id}"]["get"]["responses"]["200"]["links"];
    assert_eq!(
        links["Approve"]["operationId"], "approveProposal",
        "{links}"
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_nothing_else_is() {
    let api = api();
    let doc = document(&api).await;
    let methods = ["get", "post", "put", "patch", "delete"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "1");
        for method in methods {
            let req = Request::builder()
                .method(method.to_ascii_uppercase().as_str())
                .uri(&concrete)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let a = api.send(req).await;
            let documented = item.get(method).is_some();
            if documented {
                assert_ne!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                let listed: Vec<String> = item[method]["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect();
                assert!(
                    listed.contains(&a.status.as_u16().to_string()),
                    "{method} {path} answered {} (not documented: {listed:?}): {}",
                    a.status,
                    a.body
                );
            } else {
                assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            }
        }
    }
}

/// A threshold that is not a cosine is refused on GET too: a float too
/// large for JSON would otherwise reach the request as no threshold.
#[tokio::test]
async fn a_threshold_out_of_range_is_refused_in_a_query_string() {
    let api = api();
    for t in ["7.7e307", "1.5", "-2", "NaN", "inf"] {
        let a = api.get(&format!("/v1/search?q=total&threshold={t}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{t}: {}", a.body);
        assert!(a.body.to_string().contains("threshold"), "{t}: {}", a.body);
    }
    let a = api.get("/v1/search?q=total&threshold=0.1").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}
