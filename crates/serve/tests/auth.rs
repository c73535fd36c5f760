//! The auth table of `writ serve`, in process: every route the router has,
//! with the access it needs, kept in step with `openapi.json` and with the
//! methods each path answers; then walked on loopback and remote without a
//! token, with a wrong one, with the agent's and the reviewer's. A
//! cross-origin write is refused even with the token.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use common::{error, fixture, note, AGENT, REVIEW};
use serde_json::{json, Value};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    Read,
    Propose,
    Review,
}

/// Every route of the router: method, a concrete path, the access it needs.
const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/", Access::Public),
    ("GET", "/v1/openapi.json", Access::Public),
    ("GET", "/v1/status", Access::Read),
    ("GET", "/v1/search?q=add", Access::Read),
    ("POST", "/v1/search", Access::Read),
    ("POST", "/v1/ask", Access::Propose),
    ("POST", "/v1/ask/stream", Access::Propose),
    ("GET", "/v1/proposals", Access::Read),
    ("POST", "/v1/proposals", Access::Propose),
    ("GET", "/v1/proposals/P1", Access::Read),
    ("POST", "/v1/proposals/P1/approve", Access::Review),
    ("POST", "/v1/proposals/P1/reject", Access::Review),
    ("GET", "/v1/chunks/1", Access::Read),
    ("GET", "/v1/explain/P1", Access::Read),
    ("GET", "/v1/verify", Access::Read),
    ("GET", "/v1/actions", Access::Read),
];

/// The table's path in OpenAPI's spelling (`P1` and `1` are `{id}`).
fn templated(path: &str) -> String {
    let path = path.split('?').next().unwrap();
    let parts: Vec<&str> = path
        .split('/')
        .map(|s| if s == "P1" || s == "1" { "{id}" } else { s })
        .collect();
    parts.join("/")
}

fn in_table(method: &str, path: &str) -> Option<Access> {
    let row = ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && templated(p) == templated(path));
    row.map(|r| r.2)
}

#[tokio::test]
async fn the_table_is_the_routers_every_operation_with_its_token() {
    // Every operation the API describes is in the table, with a matching
    // need for a token; every described path is in it; and no path answers
    // a method outside it.
    let f = fixture(false);
    let doc = f.get(200, "/v1/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let method = method.to_uppercase();
            let access = in_table(&method, path)
                .unwrap_or_else(|| panic!("{method} {path} is not in the table"));
            let bearer = matches!(access, Access::Propose | Access::Review);
            // A token is required when no alternative of `security` is the
            // empty requirement `{}` (reads list `{}` beside the bearer:
            // they need it only with --allow-remote).
            let required = op["security"].as_array().is_some_and(|alts| {
                !alts.is_empty()
                    && !alts
                        .iter()
                        .any(|a| a.as_object().is_some_and(serde_json::Map::is_empty))
            });
            assert_eq!(required, bearer, "{method} {path}: {op}");
        }
    }
    for (method, path, access) in ROUTES {
        let described = paths
            .get(&templated(path))
            .and_then(|ops| ops.get(method.to_lowercase()));
        assert!(
            described.is_some() || *access == Access::Public,
            "{method} {path} is not in openapi.json"
        );
        for other in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if in_table(other, path).is_none() {
                f.expect(405, other, path, Some(REVIEW), &Value::Null).await;
            }
        }
    }
}

#[tokio::test]
async fn every_route_needs_the_token_its_access_says_on_loopback_and_remote() {
    for remote in [false, true] {
        let f = fixture(remote);
        for (method, path, access) in ROUTES {
            let body = if *method == "POST" { "{}" } else { "" };
            let needs_token = match access {
                Access::Public => false,
                Access::Read => remote,
                Access::Propose | Access::Review => true,
            };
            let what = format!("remote {remote}: {method} {path}");
            for token in [None, Some("wrong"), Some(AGENT), Some(REVIEW)] {
                let auth = token.map(|t| format!("Bearer {t}"));
                let headers: Vec<(&str, &str)> =
                    auth.iter().map(|a| ("authorization", a.as_str())).collect();
                let (code, e) = f.send(method, path, &headers, body).await;
                let want = match token {
                    None | Some("wrong") if needs_token => Some(401),
                    Some(AGENT) if *access == Access::Review => Some(403),
                    _ => None,
                };
                match want {
                    Some(want) => assert_eq!(code, want, "{what} with {token:?}: {e}"),
                    None => assert!(
                        code != 401 && code != 403,
                        "{what} with {token:?}: {code} {e}"
                    ),
                }
                if code == 401 {
                    assert!(error(&e).contains("token"), "{what}: {e}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_cross_origin_write_is_403_even_with_the_token() {
    let f = fixture(false);
    let host = "127.0.0.1:8080";
    let body = json!({ "source": "t", "proposal": note("n", &[]) }).to_string();
    for (token, path) in [
        (AGENT, "/v1/proposals"),
        (REVIEW, "/v1/proposals/P1/approve"),
    ] {
        let auth = format!("Bearer {token}");
        for origin in ["http://evil.example", "null", "http://127.0.0.1:8081"] {
            let headers = [
                ("authorization", auth.as_str()),
                ("host", host),
                ("origin", origin),
            ];
            let (code, e) = f.send("POST", path, &headers, &body).await;
            assert_eq!(code, 403, "{origin} {path}: {e}");
        }
    }
    // The same origin is served.
    let auth = format!("Bearer {AGENT}");
    let headers = [
        ("authorization", auth.as_str()),
        ("host", host),
        ("origin", "http://127.0.0.1:8080"),
    ];
    assert_eq!(
        f.send("POST", "/v1/proposals", &headers, &body).await.0,
        201
    );
}
