//! `writ serve`'s API in process, with no model files and no network:
//! status and search (hits carry their text), proposals gated and held,
//! the review lifecycle with every refusal recorded, malformed requests as
//! 400s naming the problem, an internal failure as a 500 that gives
//! nothing away, and ask over HTTP with a scripted model.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use common::{error, fixture, note, review, AGENT, LIB, REVIEW};
use serde_json::{json, Value};

#[tokio::test]
async fn status_and_search_answer_with_json_hits_that_carry_their_text() {
    let f = fixture(false);
    assert_eq!(f.get(200, "/v1/status").await["files"], 2);
    let answer = f.get(200, "/v1/search?q=add&k=1").await;
    assert_eq!(answer["generation"], 1, "{answer}");
    let hits = &answer["hits"];
    assert_eq!(hits[0]["path"], "src/lib.rs", "{hits}");
    assert_eq!(hits[0]["stale"], false, "{hits}");
    assert!(
        hits[0]["text"].as_str().unwrap().contains("a + b"),
        "{hits}"
    );
    let body = json!({ "query": "guide", "k": 3, "paths": ["docs/**"] });
    let answer = f.expect(200, "POST", "/v1/search", None, &body).await;
    let hits = answer["hits"].as_array().unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| h["path"] == "docs/guide.md"));
    assert!(hits.iter().all(|h| h["text"].is_string()));
    let id = f.lib_chunk().await;
    assert_eq!(
        f.get(200, &format!("/v1/chunks/{id}")).await["path"],
        "src/lib.rs"
    );
}

#[tokio::test]
async fn proposals_are_gated_reviewed_and_every_refusal_recorded() {
    let f = fixture(false);
    let chunk = f.lib_chunk().await;
    // Nothing recorded yet: an unknown id is 404 and named.
    let e = f.get(404, "/v1/proposals/P404").await;
    assert!(error(&e).contains("P404"), "{e}");
    let e = f
        .expect(
            404,
            "POST",
            "/v1/proposals/P404/approve",
            Some(REVIEW),
            &review(),
        )
        .await;
    assert!(error(&e).contains("P404"), "{e}");

    // An edit to a source file from HTTP is held, whoever it says it is.
    let diff = writ_gate::file_diff("src/lib.rs", LIB, &LIB.replace("a + b", "b + a"));
    let edit = json!({ "kind": "edit", "title": "swap", "rationale": "r", "citations": [chunk], "diff": diff });
    let held = f.submit(edit).await;
    assert_eq!(held["state"], "held", "{held}");
    assert!(
        held["decision"].to_string().contains("hold-agent-edits"),
        "{held}"
    );
    let p = f
        .get(
            200,
            &format!("/v1/proposals/{}", held["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(p["source"], "external:test");
    assert!(p["patch"].as_str().unwrap().contains("+    b + a"), "{p}");

    // A note is held too, then recorded by a person with the review token.
    let n = f.submit(note("a note", &[chunk])).await;
    assert_eq!(n["state"], "held", "{n}");
    let id = n["id"].as_str().unwrap().to_string();
    let approve = format!("/v1/proposals/{id}/approve");
    f.expect(403, "POST", &approve, Some(AGENT), &review())
        .await;
    let blank = json!({ "reviewer": "ann", "reason": " " });
    f.expect(400, "POST", &approve, Some(REVIEW), &blank).await;
    let ok = f
        .expect(200, "POST", &approve, Some(REVIEW), &review())
        .await;
    assert_eq!(ok["state"], "recorded", "{ok}");
    let action = ok["action"].as_str().unwrap().to_string();
    let p = f.get(200, &format!("/v1/proposals/{id}")).await;
    let states: Vec<&Value> = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["to"])
        .collect();
    assert_eq!(states, ["proposed", "held", "approved", "recorded"], "{p}");

    // A second approval is a conflict, and the refusal is in the chain.
    f.expect(409, "POST", &approve, Some(REVIEW), &review())
        .await;
    let p = f.get(200, &format!("/v1/proposals/{id}")).await;
    assert_eq!(
        p["events"].as_array().unwrap().last().unwrap()["kind"],
        "refused-transition",
        "{p}"
    );
    assert_eq!(p["state"], "recorded", "{p}");

    // The ledger explains the action and verifies.
    let chain = f.get(200, &format!("/v1/explain/{action}")).await;
    assert!(chain.to_string().contains("human:ann"), "{chain}");
    let actions = f.get(200, "/v1/actions").await;
    assert!(actions
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == action.as_str()));
    assert_eq!(f.get(200, "/v1/verify").await["ok"], true);
    assert_eq!(
        f.get(200, "/v1/proposals?state=held")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Unknown ids, once a ledger exists, are 404 and named, on every route.
    for path in ["/v1/proposals/P404", "/v1/explain/P404"] {
        assert!(error(&f.get(404, path).await).contains("P404"), "{path}");
    }
    let e = f
        .expect(
            404,
            "POST",
            "/v1/proposals/P404/reject",
            Some(REVIEW),
            &review(),
        )
        .await;
    assert!(error(&e).contains("P404"), "{e}");
}

#[tokio::test]
async fn malformed_requests_are_400_naming_the_problem() {
    let f = fixture(false);
    let auth = format!("Bearer {AGENT}");
    let (code, e) = f
        .send(
            "POST",
            "/v1/proposals",
            &[("authorization", &auth)],
            "{not json",
        )
        .await;
    assert_eq!(code, 400, "{e}");
    assert!(error(&e).contains("request body"), "{e}");
    let extra = json!({ "source": "t", "proposal": note("n", &[]), "extra": 1 });
    let e = f
        .expect(400, "POST", "/v1/proposals", Some(AGENT), &extra)
        .await;
    assert!(error(&e).contains("extra"), "{e}");
    let nameless = json!({ "source": " ", "proposal": {} });
    f.expect(400, "POST", "/v1/proposals", Some(AGENT), &nameless)
        .await;
    for path in [
        "/v1/search",
        "/v1/search?q=x&limit=3",
        "/v1/proposals?state=nope",
        "/v1/chunks/abc",
    ] {
        error(&f.get(400, path).await);
    }
    let cobol = json!({ "query": "x", "langs": ["cobol"] });
    assert!(error(&f.expect(400, "POST", "/v1/search", None, &cobol).await).contains("cobol"));
    // A proposal that does not validate is recorded refused (201), not an error.
    assert_eq!(
        f.submit(json!({ "kind": "note" })).await["state"],
        "refused"
    );
    f.get(404, "/v1/no-such-route").await;
}

#[tokio::test]
async fn an_internal_failure_is_500_without_internals_and_logged() {
    let f = fixture(false);
    // The ledger file is a folder: SQLite cannot open it.
    std::fs::create_dir_all(f.root.join(".writ/ledger.sqlite")).unwrap();
    let body = json!({ "source": "test", "proposal": note("n", &[]) });
    let e = f
        .expect(500, "POST", "/v1/proposals", Some(AGENT), &body)
        .await;
    let text = e.to_string();
    let root = f.root.to_string_lossy().to_string();
    for leak in [root.as_str(), "/tmp", "sqlite", "ledger.", ".writ"] {
        assert!(!text.contains(leak), "the 500 gives away `{leak}`: {text}");
    }
    assert!(error(&e).contains("internal error"), "{e}");
    let log = f.log.lock().unwrap().join("\n");
    assert!(
        log.contains("internal error") && log.contains("ledger"),
        "{log}"
    );
}

#[tokio::test]
async fn ask_over_http_records_the_scripted_models_proposals() {
    let f = fixture(false);
    let chunk = f.lib_chunk().await;
    let answer = json!({ "proposals": [{ "kind": "note", "title": "adds two", "citations": [chunk], "rationale": "the code says", "text": "add returns a + b" }] });
    *f.script.lock().unwrap() = answer.to_string();
    let ask = json!({ "question": "what does add do", "k": 10, "max_proposals": 1 });
    f.expect(401, "POST", "/v1/ask", None, &ask).await;
    let items = f.expect(200, "POST", "/v1/ask", Some(AGENT), &ask).await;
    assert_eq!(items[0]["result"]["state"], "held", "{items}");
    assert_eq!(items[0]["proposal"]["title"], "adds two", "{items}");
    let p = f
        .get(
            200,
            &format!(
                "/v1/proposals/{}",
                items[0]["result"]["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(p["provenance"]["via"], "writ ask", "{p}");
    assert!(
        p["checks"]["prompt"]
            .as_str()
            .unwrap()
            .starts_with("matches"),
        "{p}"
    );
}

/// The answer as server-sent events: `token` events whose JSON pieces
/// make up the model's text, then one `result` event with what `/v1/ask`
/// answers. A failure before the first piece is an ordinary JSON error.
#[tokio::test]
async fn ask_streams_tokens_then_the_result_as_server_sent_events() {
    let f = fixture(false);
    let chunk = f.lib_chunk().await;
    let answer = json!({ "proposals": [{ "kind": "note", "title": "adds two", "citations": [chunk], "rationale": "the code says", "text": "add returns a + b" }] });
    *f.script.lock().unwrap() = answer.to_string();
    let ask = json!({ "question": "what does add do", "k": 10, "max_proposals": 1 });
    f.expect(401, "POST", "/v1/ask/stream", None, &ask).await;
    let auth = format!("Bearer {AGENT}");
    let (code, body) = f
        .send(
            "POST",
            "/v1/ask/stream",
            &[("authorization", auth.as_str())],
            &ask.to_string(),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let text = body
        .as_str()
        .unwrap_or_else(|| panic!("not an event stream: {body}"));
    let mut streamed = String::new();
    let mut results = Vec::new();
    for event in text.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let name = event
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .unwrap_or("");
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        assert_eq!(data.len(), 1, "one JSON line per event: {event}");
        let data: Value = serde_json::from_str(data[0]).unwrap();
        match name {
            "token" => streamed.push_str(data["text"].as_str().unwrap()),
            "result" => results.push(data),
            other => panic!("unexpected event `{other}`: {event}"),
        }
    }
    assert_eq!(
        streamed,
        answer.to_string(),
        "the pieces make up the answer"
    );
    assert_eq!(results.len(), 1, "{text}");
    let items = &results[0];
    assert_eq!(items[0]["result"]["state"], "held", "{items}");
    assert_eq!(items[0]["proposal"]["title"], "adds two");
    // Nothing matches: 404 as JSON, before any event.
    let none = json!({ "question": "what does add do", "paths": ["no/such/**"] });
    let (code, body) = f
        .send(
            "POST",
            "/v1/ask/stream",
            &[("authorization", auth.as_str())],
            &none.to_string(),
        )
        .await;
    assert_eq!(code, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing in the index"),
        "{body}"
    );
}
