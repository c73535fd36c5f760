//! `RemoteLlm` against a server that lies, stalls or never stops: each
//! case is an attack found in review, replayed over a real loopback
//! socket by a scripted HTTP server (the hostile input under test is the
//! server; writ's client is the real one).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod http;
use http::read_request;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use writ_llm::{Cancel, GenerateOptions, RemoteLlm, RemoteSpec, StopReason};

/// How the scripted server answers a chat completion.
#[derive(Clone)]
enum Script {
    /// These bytes (after the status line and headers), then close.
    Sse(String),
    /// These bytes, then hold the connection open for a minute.
    SseThenHold(String),
    /// Keep-alive comments, forever.
    KeepAlive,
    /// Headers, then nothing.
    Silent,
    /// An error status and body.
    Status(u16, String),
    /// A plain JSON completion (no stream).
    Json(String),
    /// A redirect elsewhere.
    Redirect(String),
}

struct Fake {
    url: String,
    /// The bodies of the chat requests it received.
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve(scripts: Vec<Script>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        let mut chats = 0usize;
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (path, body) = read_request(&conn);
            let script = if path.ends_with("/models") {
                None
            } else {
                seen.lock().unwrap().push(body);
                let s = scripts[chats.min(scripts.len() - 1)].clone();
                chats += 1;
                Some(s)
            };
            std::thread::spawn(move || answer(conn, script));
        }
    });
    Fake { url, requests }
}

fn answer(mut conn: TcpStream, script: Option<Script>) {
    let head = |status: u16, kind: &str| {
        format!("HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nConnection: close\r\n\r\n")
    };
    let _ = match script {
        None => {
            let body = r#"{"object":"list","data":[{"id":"m1"}]}"#;
            conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
        }
        Some(Script::Sse(text)) => {
            conn.write_all((head(200, "text/event-stream") + &text).as_bytes())
        }
        Some(Script::SseThenHold(text)) => {
            let _ = conn.write_all((head(200, "text/event-stream") + &text).as_bytes());
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        Some(Script::KeepAlive) => {
            let _ = conn.write_all(head(200, "text/event-stream").as_bytes());
            for _ in 0..600 {
                if conn.write_all(b": ping\n\n").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
        Some(Script::Silent) => {
            let _ = conn.write_all(head(200, "text/event-stream").as_bytes());
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        Some(Script::Status(code, body)) => {
            conn.write_all((head(code, "application/json") + &body).as_bytes())
        }
        Some(Script::Json(body)) => {
            conn.write_all((head(200, "application/json") + &body).as_bytes())
        }
        Some(Script::Redirect(to)) => conn.write_all(
            format!("HTTP/1.1 307 X\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
    };
}

fn chunk(content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
    let content = serde_json::to_string(content).unwrap();
    format!("data: {{\"id\":\"c1\",\"model\":\"m1\",\"choices\":[{{\"delta\":{{\"content\":{content}}},\"finish_reason\":{finish}}}]}}\n\n")
}

fn connect(fake: &Fake, tune: impl FnOnce(&mut RemoteSpec)) -> RemoteLlm {
    let mut spec = RemoteSpec::new(fake.url.clone());
    tune(&mut spec);
    RemoteLlm::connect(spec).unwrap()
}

const PROMPT: &str = r#"[{"role":"user","content":"hi"}]"#;

fn options(max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_tokens,
        ..GenerateOptions::default()
    }
}

#[test]
fn a_lying_token_count_sizes_nothing() {
    let body = chunk("{}", None)
        + "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4294967295,\"completion_tokens\":4294967295}}\n\ndata: [DONE]\n\n";
    let fake = serve(vec![Script::Sse(body)]);
    let mut llm = connect(&fake, |_| {});
    let g = llm
        .generate(PROMPT, &options(50), None, &mut |_| {})
        .unwrap();
    assert_eq!(g.text, "{}");
    assert!(g.tokens.len() <= 50, "{}", g.tokens.len());
    assert!(g.prompt_tokens <= 8192 * 4, "{}", g.prompt_tokens);
}

#[test]
fn keep_alives_forever_meet_the_deadline() {
    let fake = serve(vec![Script::KeepAlive]);
    let mut llm = connect(&fake, |s| s.deadline = Duration::from_secs(2));
    let t = Instant::now();
    let e = llm
        .generate(PROMPT, &options(50), None, &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("within 2 s"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn cancel_is_heard_while_the_server_is_silent() {
    let fake = serve(vec![Script::Silent]);
    let mut llm = connect(&fake, |_| {});
    let cancel = Cancel::new();
    let later = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        later.cancel();
    });
    let opts = GenerateOptions {
        cancel,
        ..options(50)
    };
    let t = Instant::now();
    let g = llm.generate(PROMPT, &opts, None, &mut |_| {}).unwrap();
    assert_eq!(g.stop, StopReason::Cancelled);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_finished_answer_is_kept_when_done_never_comes() {
    let body = chunk("{\"proposals\":[]}", Some("stop"));
    let fake = serve(vec![Script::SseThenHold(body)]);
    let mut llm = connect(&fake, |_| {});
    let t = Instant::now();
    let g = llm
        .generate(PROMPT, &options(50), None, &mut |_| {})
        .unwrap();
    assert_eq!(g.text, "{\"proposals\":[]}");
    assert_eq!(g.stop, StopReason::EndOfTurn);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn only_an_error_about_the_format_falls_back_and_none_is_not_remembered() {
    let schema = serde_json::json!({ "type": "object" });
    // An error that is not about the format: one request, the error.
    let fake = serve(vec![Script::Status(
        400,
        r#"{"error":{"message":"prompt too long"}}"#.into(),
    )]);
    let mut llm = connect(&fake, |_| {});
    let e = llm
        .generate(PROMPT, &options(50), Some(&schema), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("prompt too long"), "{e}");
    assert_eq!(fake.requests.lock().unwrap().len(), 1);
    // Both schema dialects refused: the third request carries none, the
    // record says what was refused, and the next ask tries again.
    let refuse = Script::Status(422, r#"{"detail":"unsupported response_format"}"#.into());
    let ok = Script::Sse(chunk("{}", Some("stop")) + "data: [DONE]\n\n");
    let fake = serve(vec![
        refuse.clone(),
        refuse.clone(),
        ok.clone(),
        refuse.clone(),
    ]);
    let mut llm = connect(&fake, |_| {});
    let g = llm
        .generate(PROMPT, &options(50), Some(&schema), &mut |_| {})
        .unwrap();
    let r = g.remote.unwrap();
    assert_eq!(r.constraint, "none");
    assert_eq!(r.refused.len(), 2, "{:?}", r.refused);
    let sent = fake.requests.lock().unwrap().clone();
    assert_eq!(sent.len(), 3);
    assert!(sent[0].contains("\"json_schema\""));
    assert!(sent[1].contains("\"json_object\""));
    assert!(!sent[2].contains("response_format"));
    let _ = llm.generate(PROMPT, &options(50), Some(&schema), &mut |_| {});
    assert!(fake.requests.lock().unwrap()[3].contains("\"json_schema\""));
}

#[test]
fn multi_line_events_and_whole_completions_are_read() {
    let body = "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"{}\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let fake = serve(vec![Script::Sse(body.into())]);
    let mut llm = connect(&fake, |_| {});
    let g = llm
        .generate(PROMPT, &options(50), None, &mut |_| {})
        .unwrap();
    assert_eq!(g.text, "{}");
    let whole = r#"{"id":"c9","model":"m1","choices":[{"message":{"content":"{\"a\":1}"},"finish_reason":"stop"}]}"#;
    let fake = serve(vec![Script::Json(whole.into())]);
    let mut llm = connect(&fake, |_| {});
    let g = llm
        .generate(PROMPT, &options(50), None, &mut |_| {})
        .unwrap();
    assert_eq!(g.text, "{\"a\":1}");
    assert_eq!(g.remote.unwrap().response_id.as_deref(), Some("c9"));
}

#[test]
fn an_answer_is_bounded_by_its_token_budget() {
    let body: String = (0..2000).map(|_| chunk("xxxxxxxxxxxxxxxx", None)).collect();
    let fake = serve(vec![Script::Sse(body)]);
    let mut llm = connect(&fake, |_| {});
    let g = llm
        .generate(PROMPT, &options(10), None, &mut |_| {})
        .unwrap();
    assert_eq!(g.stop, StopReason::MaxTokens);
    assert!(g.text.len() <= 10 * 16 + 1024, "{}", g.text.len());
}

/// A server that redirects the chat request elsewhere: the prompt (which
/// carries the user's code) goes only to the address the user gave.
#[test]
fn a_redirect_is_not_followed_with_the_prompt() {
    let elsewhere = serve(vec![Script::Sse(chunk("{}", Some("stop")))]);
    let target = format!("{}/chat/completions", elsewhere.url);
    let fake = serve(vec![Script::Redirect(target)]);
    let mut llm = connect(&fake, |_| {});
    let e = llm
        .generate(PROMPT, &options(50), None, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("redirects") && e.contains("307"), "{e}");
    assert!(
        elsewhere.requests.lock().unwrap().is_empty(),
        "the prompt was sent on"
    );
}
