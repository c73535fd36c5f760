//! `writ ask --llm-url` against a real OpenAI-compatible server: llama.cpp
//! through `llama-cpp-python[server]` (PyPI, pinned, installed by the test
//! command's set-up as `$WRIT_LLAMACPP_PYTHON`) serving the pinned SmolLM2
//! GGUF on loopback. What it answers is gated and recorded like the local
//! model's; what can be said of a model writ does not hold is recorded and
//! shown; failures are clear, recorded where a proposal was attempted, and
//! never an action; Ctrl-C stops the stream.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::llama::Llama;
use common::{text, writ_cmd, Repo};
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The pinned SmolLM2 behind llama.cpp's server, context `n_ctx`.
fn start(n_ctx: usize) -> Llama {
    Llama::start(&["--n_ctx", &n_ctx.to_string(), "--model_alias", "smollm2"])
}

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "src/shop/cart.py",
        "class Cart:\n    \"\"\"Items and their quantities.\"\"\"\n\n    def __init__(self):\n        self.items = {}\n\n    def total(self):\n        \"\"\"The price of everything in the cart.\"\"\"\n        return sum(c * p for c, p in self.items.values())\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    repo
}

/// Proposals in the ledger (none before the first is recorded).
fn recorded(repo: &Repo) -> usize {
    let out = repo.writ(&["proposals", "--json"]);
    if out.status.code() == Some(6) {
        return 0;
    }
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn a_remote_models_answer_is_gated_recorded_and_shown_for_what_it_is() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let server = start(4096);
    let repo = repo();
    let out = repo.writ(&[
        "ask",
        "--llm-url",
        &server.url,
        "--json",
        "--max-tokens",
        "200",
        "What does Cart.total return?",
    ]);
    let code = out.status.code().unwrap();
    // Held (10), refused (12) or allowed (0): never anything but a record.
    assert!(
        [0, 10, 12].contains(&code),
        "exit {code}: {}",
        text(&out.stderr)
    );
    let items: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = items[0]["result"]["id"].as_str().unwrap().to_string();
    let shown = repo.writ_json(&["show", &id]);
    let prov = &shown["provenance"];
    let r = &prov["remote"];
    assert_eq!(r["endpoint"], server.url.as_str());
    assert_eq!(r["model"], "smollm2", "the id the server reported");
    assert!(
        r["response_id"].as_str().unwrap().starts_with("chatcmpl"),
        "{r}"
    );
    // llama-cpp-python rejects OpenAI's json_schema and takes the
    // json_object + schema dialect: the record says which held it.
    assert_eq!(r["constraint"], "json_object+schema");
    assert_eq!(r["request"]["max_tokens"], 200);
    assert!(r["request"].get("messages").is_none());
    assert_eq!(prov["model"]["architecture"], "remote");
    assert_eq!(prov["prompt"]["chat"], "messages");
    // The prompt is rebuilt and matches; the model cannot be re-hashed,
    // and show says so plainly.
    let checks = &shown["checks"];
    assert!(
        checks["prompt"].as_str().unwrap().starts_with("matches"),
        "{checks}"
    );
    assert!(
        checks["model"]
            .as_str()
            .unwrap()
            .starts_with("cannot be re-checked: a remote model"),
        "{checks}"
    );
    // The answer was held to the schema: it parses as proposals.
    let raw = prov["output"]["raw"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(raw).unwrap();
    assert!(parsed["proposals"].is_array(), "{raw}");
    let verify = repo.writ(&["verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
}

#[test]
fn remote_failures_are_clear_recorded_when_attempted_and_never_actions() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let before = recorded(&repo);
    // Nothing listening: a clear error naming the endpoint, nothing recorded.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}/v1");
    let out = repo.writ(&["ask", "--llm-url", &dead, "What does total do?"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&dead) && err.contains("cannot reach"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(recorded(&repo), before);
    // Credentials in the URL are refused (the key goes in the environment).
    let out = repo.writ(&["ask", "--llm-url", "http://u:secret@127.0.0.1:1/v1", "q"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("WRIT_LLM_API_KEY"));
    assert!(
        !text(&out.stderr).contains("secret"),
        "{}",
        text(&out.stderr)
    );

    // A model the server does not serve: named, with what it serves.
    let server = start(256);
    let out = repo.writ(&["ask", "--llm-url", &server.url, "--llm-model", "gpt-9", "q"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("`gpt-9`") && err.contains("smollm2"), "{err}");
    assert_eq!(recorded(&repo), before);

    // The server refuses the request (the prompt exceeds its 256-token
    // window; writ planned for 8,192): the attempt is recorded, refused,
    // with the server's reason; nothing is applied.
    let out = repo.writ(&[
        "ask",
        "--llm-url",
        &server.url,
        "--json",
        "What does Cart.total return?",
    ]);
    assert_eq!(out.status.code(), Some(12), "{}", text(&out.stderr));
    let items: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(items[0]["result"]["state"], "refused");
    let reason = items[0]["result"]["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("the model failed") && reason.contains(&server.url),
        "{reason}"
    );
    assert_eq!(recorded(&repo), before + 1);
}

#[test]
fn ctrl_c_stops_a_remote_stream_and_records_only_a_refusal() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let server = start(4096);
    let repo = repo();
    let mut child = writ_cmd(
        repo.path(),
        &[
            "ask",
            "--llm-url",
            &server.url,
            "--verbose",
            "--json",
            "--max-tokens",
            "1000",
            "--unconstrained",
            "Explain the Cart class at length.",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Wait for the stream to start, then interrupt.
    let mut err = child.stderr.take().unwrap();
    let mut first = [0u8; 1];
    err.read_exact(&mut first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let items: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 1);
    assert_eq!(items[0]["result"]["state"], "refused");
    let shown = repo.writ_json(&["show", items[0]["result"]["id"].as_str().unwrap()]);
    assert_eq!(shown["provenance"]["output"]["stop"], "cancelled");
}

/// `writ serve --llm-url`: an ask streamed as server-sent events from the
/// remote model, and a client that disconnects mid-stream stops it; the
/// cut-short answer is recorded as refused, never taken in.
#[test]
fn serve_streams_a_remote_ask_and_a_disconnect_stops_it() {
    use std::io::{BufRead, BufReader, Write};
    if writ_testkit::skip_slow_test() {
        return;
    }
    let llama = start(4096);
    let repo = repo();
    let writ = common::server::Server::start_with(repo.path(), &["--llm-url", &llama.url]);
    let body =
        serde_json::json!({ "question": "Explain the Cart class at length.", "max_tokens": 1000 })
            .to_string();
    let mut conn = std::net::TcpStream::connect(&writ.addr).unwrap();
    write!(
        conn,
        "POST /v1/ask/stream HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        writ.addr,
        writ.token,
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let mut tokens = 0;
    let mut line = String::new();
    while tokens < 3 {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended early"
        );
        if line.trim_end() == "event: token" {
            tokens += 1;
        }
        if line.starts_with("content-type") || line.starts_with("Content-Type") {
            assert!(line.contains("text/event-stream"), "{line}");
        }
    }
    // Gone mid-answer.
    conn.shutdown(std::net::Shutdown::Both).unwrap();
    drop(reader);
    let started = Instant::now();
    let refused = loop {
        let (code, list) = writ.get("/v1/proposals");
        if code == 200 && list.as_array().is_some_and(|l| !l.is_empty()) {
            break list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing was recorded after the disconnect"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(refused[0]["state"], "refused", "{refused}");
    let (_, p) = writ.get(&format!(
        "/v1/proposals/{}",
        refused[0]["id"].as_str().unwrap()
    ));
    assert_eq!(p["provenance"]["output"]["stop"], "cancelled", "{p}");
    assert_eq!(p["provenance"]["remote"]["model"], "smollm2");
}

/// `--model` on the command line is never overridden by a configured
/// server (the prompt carries the user's code: it must not go where the
/// command line did not say), and a model file and a server configured
/// together are refused rather than guessed between.
#[test]
fn a_model_file_on_the_command_line_is_never_sent_to_a_configured_server() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = repo();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let missing = repo.path().join("no-such.gguf");
    let out = writ_cmd(
        repo.path(),
        &["ask", "--model", missing.to_str().unwrap(), "q"],
    )
    .env("WRIT_LLM_URL", &url)
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no-such.gguf"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        listener.accept().is_err(),
        "writ connected to the configured server"
    );
    // Both configured (environment), neither on the command line: refused.
    let out = writ_cmd(repo.path(), &["ask", "q"])
        .env("WRIT_LLM_URL", &url)
        .env("WRIT_LLM", &missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("both a model file"),
        "{}",
        text(&out.stderr)
    );
    assert!(listener.accept().is_err());
}

/// On a terminal (a pseudo-terminal from util-linux `script`), the answer
/// streams to stderr as the server writes it, before the summary and the
/// proposals are printed.
#[test]
fn on_a_terminal_the_answer_streams_before_the_summary() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let server = start(4096);
    let repo = repo();
    // The binary's path, quoted for the shell `script` runs.
    let bin = env!("CARGO_BIN_EXE_writ").replace('\'', "'\\''");
    let cmd = format!(
        "'{bin}' ask --llm-url {} --max-tokens 200 'What does Cart.total return?'",
        server.url
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(repo.path())
        .env("XDG_CONFIG_HOME", "/nonexistent/writ-tests")
        .output()
        .unwrap();
    let all = text(&out.stdout);
    let streamed = all.find("proposals").unwrap_or_else(|| panic!("{all}"));
    let summary = all.find("writ: prompt").unwrap_or_else(|| panic!("{all}"));
    assert!(streamed < summary, "{all}");
    assert!(all.contains("decision:"), "{all}");
}
