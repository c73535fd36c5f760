//! `writ serve` end to end on a free loopback port: the API and its
//! errors, the token, concurrency under load, SIGTERM and SIGKILL.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::server::{raw, request, send, Server};
use common::{text, Repo};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write("docs/guide.md", "# Guide\n\nRun the tool.\n");
    repo.write(
        "src/lib.rs",
        "/// Adds.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    repo
}

fn note(title: &str) -> Value {
    json!({ "kind": "note", "title": title, "rationale": "r", "citations": [], "text": "t" })
}

fn submit(server: &Server, proposal: &Value) -> (u16, Value) {
    server.post(
        "/v1/proposals",
        &json!({ "source": "test", "proposal": proposal }).to_string(),
    )
}

#[test]
fn the_api_answers_with_json_and_guards_every_change() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let server = Server::start(repo.path());

    // The token file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(repo.path().join(".writ/serve-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let (code, doc) = server.get("/v1/openapi.json");
    assert_eq!(code, 200);
    for p in [
        "/v1/status",
        "/v1/search",
        "/v1/ask",
        "/v1/proposals",
        "/v1/proposals/{id}",
        "/v1/proposals/{id}/approve",
        "/v1/proposals/{id}/reject",
        "/v1/explain/{id}",
        "/v1/verify",
        "/v1/actions",
    ] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
    let (code, status) = server.get("/v1/status");
    assert_eq!((code, status["files"].as_u64()), (200, Some(2)));
    let (code, answer) = server.get("/v1/search?q=add+two+numbers&k=1");
    assert_eq!(code, 200);
    assert!(answer["generation"].as_i64().is_some(), "{answer}");
    let hits = &answer["hits"];
    assert_eq!(hits[0]["path"], "src/lib.rs");
    assert_eq!(hits[0]["stale"], false, "{hits}");
    let (code, hits) = server.post(
        "/v1/search",
        &json!({ "query": "guide", "k": 3, "paths": ["docs/**"] }).to_string(),
    );
    assert_eq!(code, 200);
    assert!(hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["path"] == "docs/guide.md"));

    // Writes need the token; errors are JSON naming the problem.
    let body = json!({ "source": "test", "proposal": note("n") }).to_string();
    let (code, e) = request(&server.addr, "POST", "/v1/proposals", &[], &body);
    assert_eq!(code, 401);
    assert!(e["error"].as_str().unwrap().contains("token"));
    let (code, e) = request(
        &server.addr,
        "POST",
        "/v1/proposals",
        &[("Authorization", "Bearer wrong")],
        &body,
    );
    assert_eq!(code, 401, "{e}");
    let (code, e) = server.post("/v1/proposals", "{not json");
    assert_eq!(code, 400);
    assert!(e["error"].as_str().unwrap().contains("request body"), "{e}");
    let (code, e) = server.post(
        "/v1/proposals",
        &json!({ "source": "t", "proposal": note("n"), "extra": 1 }).to_string(),
    );
    assert_eq!(code, 400);
    assert!(e["error"].as_str().unwrap().contains("extra"), "{e}");
    let big = vec![b'x'; 2 << 20];
    let auth = format!("Bearer {}", server.token);
    let (code, e) = raw(
        &server.addr,
        "POST",
        "/v1/proposals",
        &[("Authorization", &auth)],
        &big,
    );
    assert_eq!(code, 413, "{e}");
    assert!(e.contains("error"), "{e}");
    let (code, e) = server.get("/v1/proposals/P404");
    assert_eq!(code, 404);
    assert!(e["error"].as_str().unwrap().contains("P404"));
    let (code, _) = server.get("/v1/search");
    assert_eq!(code, 400);
    let (code, _) = server.get("/v1/no-such-route");
    assert_eq!(code, 404);

    // A proposal through the same gate as `writ propose`.
    let (code, held) = submit(&server, &note("a held note"));
    assert_eq!(code, 201, "{held}");
    assert_eq!(held["state"], "held");
    let id = held["id"].as_str().unwrap().to_string();
    let (code, refused) = submit(&server, &json!({ "kind": "note" }));
    assert_eq!(
        (code, refused["state"].as_str()),
        (201, Some("refused")),
        "{refused}"
    );
    let (code, listed) = server.get("/v1/proposals?state=held");
    assert_eq!(code, 200);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == id.as_str()));

    // Review: a reason is required, another origin is refused, then approve.
    let path = format!("/v1/proposals/{id}/approve");
    let (code, _) = server.review(
        &path,
        &json!({ "reviewer": "ann", "reason": " " }).to_string(),
    );
    assert_eq!(code, 400);
    let review_auth = format!("Bearer {}", server.review_token);
    let (code, _) = request(
        &server.addr,
        "POST",
        &path,
        &[
            ("Authorization", &review_auth),
            ("Origin", "http://evil.example"),
        ],
        &json!({ "reviewer": "ann", "reason": "ok" }).to_string(),
    );
    assert_eq!(code, 403);
    // The agent token proposes but never approves.
    let (code, e) = server.post(
        &path,
        &json!({ "reviewer": "ann", "reason": "ok" }).to_string(),
    );
    assert_eq!(code, 403, "{e}");
    let (code, ok) = server.review(
        &path,
        &json!({ "reviewer": "ann", "reason": "ok" }).to_string(),
    );
    assert_eq!(code, 200, "{ok}");
    assert_eq!(ok["state"], "recorded");
    let action = ok["action"].as_str().unwrap().to_string();
    let (code, again) = server.review(
        &path,
        &json!({ "reviewer": "ann", "reason": "ok" }).to_string(),
    );
    assert_eq!(code, 409, "{again}");

    let (code, chain) = server.get(&format!("/v1/explain/{action}"));
    assert_eq!(code, 200);
    assert!(chain["events"].to_string().contains("human:ann"), "{chain}");
    let (code, actions) = server.get("/v1/actions");
    assert_eq!(code, 200);
    assert!(actions
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == action.as_str()));
    let (code, v) = server.get("/v1/verify");
    assert_eq!((code, v["ok"].as_bool()), (200, Some(true)), "{v}");

    // The review page is served, with no third-party assets.
    let (code, page) = raw(&server.addr, "GET", "/", &[], b"");
    assert_eq!(code, 200);
    assert!(page.contains("writ review") && !page.contains("https://"));

    // SIGTERM: a clean stop, and the ledger is whole.
    let mut server = server;
    server.signal("-TERM");
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(repo.writ(&["verify"]).status.code(), Some(0));
}

#[test]
fn remote_binding_needs_an_explicit_flag() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let out = repo.writ(&["serve", "--addr", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--allow-remote"));
}

#[test]
fn only_loopback_host_names_are_answered() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let server = Server::start(repo.path());
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    let (code, answer) = server.get("/v1/search?q=add&k=1");
    assert_eq!(code, 200, "{answer}");
    let chunk = format!("/v1/chunks/{}", answer["hits"][0]["chunk_id"]);

    // A page whose name was re-pointed at 127.0.0.1 (DNS rebinding) reads
    // nothing: every route, reads included, refuses another Host.
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_string(),
        format!("localhost.attacker.example:{port}"),
        format!("127.0.0.1:{}", port.parse::<u16>().unwrap() ^ 1),
    ] {
        for path in [&chunk, "/v1/search?q=add", "/v1/proposals", "/", "/v1/nope"] {
            let (code, body) = raw(&server.addr, "GET", path, &[("Host", &host)], b"");
            assert_eq!(code, 421, "Host {host}, {path}: {body}");
            let e: Value = serde_json::from_str(&body).unwrap();
            assert!(e["error"].as_str().unwrap().contains(&host), "{e}");
            assert!(
                e["hint"].as_str().unwrap().contains("--allow-remote"),
                "{e}"
            );
        }
    }
    // Writes too, token or not.
    let auth = format!("Bearer {}", server.token);
    let body = json!({ "source": "t", "proposal": note("n") }).to_string();
    let (code, _) = raw(
        &server.addr,
        "POST",
        "/v1/proposals",
        &[("Host", "attacker.example"), ("Authorization", &auth)],
        body.as_bytes(),
    );
    assert_eq!(code, 421);
    // No Host at all (HTTP/1.0).
    let (code, body) = send(&server.addr, &format!("GET {chunk} HTTP/1.0\r\n\r\n"), b"");
    assert_eq!(code, 421, "{body}");
    assert!(body.contains("Host"), "{body}");

    // The loopback names, with or without the port, are answered.
    for host in [
        server.addr.clone(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ] {
        let (code, body) = raw(&server.addr, "GET", &chunk, &[("Host", &host)], b"");
        assert_eq!(code, 200, "Host {host}: {body}");
    }
}

/// `writ serve` that must refuse to start: its exit code and stderr.
fn serve_refused(repo: &Repo) -> (Option<i32>, String) {
    let mut child = common::writ_cmd(repo.path(), &["serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("writ serve started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

#[test]
fn the_token_file_is_private_and_never_a_link() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let repo = repo();
    let file = repo.path().join(".writ/serve-token");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    // A token others could read is treated as leaked: replaced, mode 0600.
    let old = "a".repeat(64);
    std::fs::write(&file, &old).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = Server::start(repo.path());
    assert_ne!(server.token, old);
    assert_eq!(mode(&file), 0o600);
    let body = json!({ "source": "t", "proposal": note("n") }).to_string();
    let stale = format!("Bearer {old}");
    let (code, _) = request(
        &server.addr,
        "POST",
        "/v1/proposals",
        &[("Authorization", &stale)],
        &body,
    );
    assert_eq!(code, 401);
    drop(server);

    // A link is never read or written through, whatever it points at.
    let target = repo.path().join("elsewhere.txt");
    for content in ["x", &old] {
        std::fs::write(&target, content).unwrap();
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&target, &file).unwrap();
        let (code, err) = serve_refused(&repo);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains(".writ/serve-token") && err.contains("symbolic link"),
            "{err}"
        );
        assert!(err.contains("rm "), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), content);
    }

    // Nor is anything else that is not a regular file.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let (code, err) = serve_refused(&repo);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    std::fs::remove_dir(&file).unwrap();
    let server = Server::start(repo.path());
    assert_eq!(mode(&file), 0o600);
    assert_eq!(server.token.len(), 64);
}

/// Mixed search, propose and approve from concurrent clients: figures
/// printed (never asserted), then the ledger must account for every
/// accepted request and verify.
#[test]
fn load_keeps_the_ledger_whole_and_sigkill_loses_nothing_recorded() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let server = Server::start(repo.path());
    let clients = 4;
    let per_client = 60;
    let started = Instant::now();
    let results: Vec<(Vec<f64>, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let server = &server;
                s.spawn(move || {
                    let mut times = Vec::new();
                    let (mut proposed, mut approved) = (0, 0);
                    let mut last: Option<String> = None;
                    for i in 0..per_client {
                        let t = Instant::now();
                        match i % 3 {
                            0 => {
                                let (code, _) = server.get("/v1/search?q=add&k=3");
                                assert_eq!(code, 200);
                            }
                            1 => {
                                let (code, r) = submit(server, &note(&format!("c{c} n{i}")));
                                assert_eq!(code, 201, "{r}");
                                proposed += 1;
                                last = r["id"].as_str().map(str::to_string);
                            }
                            _ => {
                                if let Some(id) = last.take() {
                                    let (code, r) = server.review(
                                        &format!("/v1/proposals/{id}/approve"),
                                        &json!({ "reviewer": "load", "reason": "ok" }).to_string(),
                                    );
                                    assert_eq!(code, 200, "{r}");
                                    approved += 1;
                                }
                            }
                        }
                        times.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    (times, proposed, approved)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let mut times: Vec<f64> = results.iter().flat_map(|r| r.0.clone()).collect();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    let proposed: usize = results.iter().map(|r| r.1).sum();
    let approved: usize = results.iter().map(|r| r.2).sum();
    eprintln!(
        "load: {} requests from {clients} clients in {secs:.2}s = {:.0} req/s; p50 {:.1} ms, p99 {:.1} ms",
        times.len(),
        times.len() as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
    // Every accepted request is in the ledger: a proposal is two events
    // (proposed, held) and an approval two (approved, recorded).
    let (_, v) = server.get("/v1/verify");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["events"].as_u64(),
        Some((2 * proposed + 2 * approved) as u64),
        "{v}"
    );
    let (_, recorded) = server.get("/v1/proposals?state=recorded");
    assert_eq!(recorded.as_array().unwrap().len(), approved);

    // SIGKILL in the middle of concurrent writes, then a restart.
    std::thread::scope(|s| {
        for c in 0..clients {
            let addr = server.addr.clone();
            let auth = format!("Bearer {}", server.token);
            s.spawn(move || {
                for i in 0..50 {
                    let body = json!({ "source": "kill", "proposal": note(&format!("k{c} {i}")) })
                        .to_string();
                    // Connection errors after the kill are expected.
                    let r = std::panic::catch_unwind(|| {
                        request(
                            &addr,
                            "POST",
                            "/v1/proposals",
                            &[("Authorization", &auth)],
                            &body,
                        )
                    });
                    if r.is_err() {
                        break;
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(150));
        server.signal("-KILL");
    });
    drop(server);
    let verify = repo.writ(&["verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    let all = repo.writ_json(&["proposals"]);
    for p in all.as_array().unwrap() {
        let state = p["state"].as_str().unwrap();
        assert!(
            ["proposed", "held", "recorded", "refused"].contains(&state),
            "undefined state {state} for {}",
            p["id"]
        );
    }
    let server = Server::start(repo.path());
    let (code, v) = server.get("/v1/verify");
    assert_eq!((code, v["ok"].as_bool()), (200, Some(true)));
}

#[test]
fn watch_reindexes_in_the_background_and_search_follows() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let server = Server::start_with(repo.path(), &["--watch"]);
    let (_, before) = server.get("/v1/status");
    let generation = before["generation"].as_i64().unwrap();
    repo.write(
        "src/parse.rs",
        "/// Reads a semantic version string.\npub fn parse_version(s: &str) -> Option<(u32, u32, u32)> {\n    None\n}\n",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, answer) = server.get("/v1/search?q=parse_version&k=1");
        if answer["hits"][0]["path"] == "src/parse.rs" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the change was not indexed: {answer}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, after) = server.get("/v1/status");
    assert!(
        after["generation"].as_i64().unwrap() > generation,
        "{after}"
    );
    // writ's own writes (the ledger) do not trigger more work.
    let (code, _) = submit(&server, &note("during watch"));
    assert_eq!(code, 201);
    let mut server = server;
    server.signal("-TERM");
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
    assert_eq!(repo.writ(&["verify"]).status.code(), Some(0));
}

#[test]
fn bounds_methods_and_media_types_hold_over_the_wire() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let server = Server::start(repo.path());

    // Out of bounds: a 400 naming the field and its bounds, not a clamp.
    let (code, e) = server.post(
        "/v1/search",
        &json!({ "query": "add", "k": 51 }).to_string(),
    );
    assert_eq!(code, 400, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("between 1 and 50"),
        "{e}"
    );
    let (code, hits) = server.post(
        "/v1/search",
        &json!({ "query": "add", "k": 1.0 }).to_string(),
    );
    assert_eq!(
        (code, hits["hits"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{hits}"
    );

    // Ask never reaches the real model for input out of bounds: each
    // answer comes back at once, where generating takes 20 s and more.
    let started = Instant::now();
    for (body, field) in [
        (json!({ "question": "" }), "`question`"),
        (
            json!({ "question": "why?", "max_proposals": 0 }),
            "`max_proposals`",
        ),
        (json!({ "question": "why?", "k": 0 }), "`k`"),
        (
            json!({ "question": "why?", "max_tokens": 0 }),
            "`max_tokens`",
        ),
        (
            json!({ "question": "why?", "max_tokens": 99_999 }),
            "`max_tokens`",
        ),
    ] {
        let (code, e) = server.post("/v1/ask", &body.to_string());
        assert_eq!(code, 400, "{body}: {e}");
        assert!(e["error"].as_str().unwrap().contains(field), "{body}: {e}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // A wrong method: a JSON 405 (its `Allow` is checked in process).
    let (code, head) = send(
        &server.addr,
        &format!(
            "DELETE /v1/proposals HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
        b"",
    );
    assert_eq!(code, 405, "{head}");
    let e: Value = serde_json::from_str(&head).unwrap();
    assert!(e["error"].as_str().unwrap().contains("DELETE"), "{e}");

    // A body that is not JSON: 415, whatever it holds.
    let body = json!({ "query": "add" }).to_string();
    let (code, text) = send(
        &server.addr,
        &format!(
            "POST /v1/search HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            server.addr,
            body.len()
        ),
        body.as_bytes(),
    );
    assert_eq!(code, 415, "{text}");
    assert!(text.contains("\"error\""), "{text}");

    // The document says so.
    let (_, doc) = server.get("/v1/openapi.json");
    let k = &doc["components"]["schemas"]["Search"]["properties"]["k"];
    assert_eq!(
        (k["minimum"].as_u64(), k["maximum"].as_u64()),
        (Some(1), Some(50))
    );
    let approve = &doc["paths"]["/v1/proposals/{id}/approve"]["post"]["responses"];
    assert!(
        approve.get("409").is_some() && approve.get("503").is_some(),
        "{approve}"
    );
}
