//! The review page in a real browser: headless Chromium driven over the
//! WebDriver protocol (chromedriver) approves a held proposal; the
//! approval must then be in the ledger. A screenshot of the page is kept
//! as a test artifact.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::server::{request, Server};
use common::{text, Repo};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and one browser session; both closed when dropped.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver cannot run ({e}): the test command installs Debian's chromium and chromium-driver")
            });
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"] } } } });
        let (code, v) = request(&addr, "POST", "/session", &[], &caps.to_string());
        assert_eq!(code, 200, "new session: {v}");
        let session = v["value"]["sessionId"].as_str().unwrap().to_string();
        Browser {
            driver,
            addr,
            session,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("/session/{}{path}", self.session);
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (code, v) = request(&self.addr, method, &url, &[], &body);
        assert_eq!(code, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    /// Waits for an element matching `css`.
    fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = format!("/session/{}/element", self.session);
            let body = json!({ "using": "css selector", "value": css }).to_string();
            let (code, v) = request(&self.addr, "POST", &url, &[], &body);
            if code == 200 {
                return v["value"][ELEMENT].as_str().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "no `{css}` on the page: {v}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        );
    }

    fn text_of(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{e}/text"), Value::Null)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn screenshot(&self, file: &std::path::Path) {
        let b64 = self.cmd("GET", "/screenshot", Value::Null);
        std::fs::write(file, base64(b64.as_str().unwrap())).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("/session/{}", self.session);
        let _ = std::panic::catch_unwind(|| request(&self.addr, "DELETE", &url, &[], ""));
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .fold(0u32, |acc, &c| (acc << 6) | u32::from(value(c)))
            << (6 * (4 - chunk.len()));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}

#[test]
fn a_reviewer_approves_a_held_proposal_in_the_browser() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "src/lib.rs",
        "/// Adds.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    let hits = repo.search_hits(&["search", "add two numbers", "-k", "1"]);
    let chunk = hits[0]["chunk_id"].as_i64().unwrap();
    let proposal = json!({ "kind": "edit", "title": "Document overflow", "rationale": "callers should know", "citations": [chunk],
        "diff": "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,2 +1,2 @@\n-/// Adds.\n+/// Adds; overflows like `+`.\n pub fn add(a: i32, b: i32) -> i32 {\n" });
    let file = repo.path().join(".writ/p.json");
    std::fs::write(&file, proposal.to_string()).unwrap();
    let out = repo.writ(&["propose", "--file", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stdout));

    let server = Server::start(repo.path());
    let browser = Browser::start();
    browser.cmd(
        "POST",
        "/url",
        json!({ "url": format!("http://{}/", server.addr) }),
    );
    browser.type_into("#token", &server.review_token);
    browser.click("li[data-id='P1']");
    browser.find("#diff");
    assert!(browser.text_of("#diff").contains("overflows like"));
    browser.find("#cites pre");
    assert!(browser.text_of("#cites").contains("pub fn add"));
    browser.type_into("#reviewer", "browser-reviewer");
    browser.type_into("#reason", "checked the doc comment");
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("review-page.png");
    browser.screenshot(&shot);
    eprintln!("screenshot of the review page: {}", shot.display());
    browser.click("#approve");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let msg = browser.text_of("#msg");
        if msg.contains("recorded") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no approval on the page: {msg:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    browser.screenshot(&artifacts.join("review-page-approved.png"));
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
    drop(browser);
    drop(server);

    let chain = repo.writ_json(&["explain", "P1"]);
    let events = chain["events"].to_string();
    assert!(events.contains("human:browser-reviewer"), "{events}");
    assert!(events.contains("checked the doc comment"), "{events}");
    assert_eq!(chain["action"]["id"], "A1");
    assert_eq!(repo.writ(&["verify"]).status.code(), Some(0));
}
