//! A WebDriver session on headless Chromium (chromedriver over plain
//! HTTP), for the review page's browser tests: start, navigate, find,
//! click, type, run scripts, take screenshots; closed when dropped.

use super::server::request;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's key codes.
pub const TAB: char = '\u{E004}';
pub const ENTER: char = '\u{E007}';
pub const SPACE: char = '\u{E00D}';

/// chromedriver and one browser session; both closed when dropped.
pub struct Browser {
    pub driver: Child,
    pub addr: String,
    pub session: String,
}

impl Browser {
    pub fn start() -> Browser {
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

    pub fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
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
    pub fn find(&self, css: &str) -> String {
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

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), json!({}));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        );
    }

    /// The rendered text of the element matching `css`, found again when
    /// the page replaced it in between (it re-renders after each action).
    pub fn text_of(&self, css: &str) -> String {
        for _ in 0..20 {
            let e = self.find(css);
            let url = format!("/session/{}/element/{e}/text", self.session);
            let (code, v) = request(&self.addr, "GET", &url, &[], "");
            if code == 200 {
                return v["value"].as_str().unwrap_or("").to_string();
            }
            assert_eq!(v["value"]["error"], "stale element reference", "{css}: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("`{css}` kept being replaced");
    }

    /// Runs `js` (a function body; `arguments` are `args`) in the page and
    /// returns its value; a returned promise is awaited.
    pub fn script(&self, js: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": js, "args": args }),
        )
    }

    pub fn open(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// Waits until the expression `js` is true in the page.
    pub fn wait_until(&self, js: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let body = format!("return !!({js});");
        while self.script(&body, json!([])) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "{what}: `{js}` never became true; the page shows: {}",
                self.script("return document.body.innerText.slice(0, 2000);", json!([]))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Key events only (the Actions API): each char is pressed and released.
    pub fn keys(&self, text: &str) {
        let mut actions = Vec::new();
        for c in text.chars() {
            actions.push(json!({ "type": "keyDown", "value": c.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": c.to_string() }));
        }
        self.cmd(
            "POST",
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        );
    }

    /// A short description of the focused element.
    pub fn focused(&self) -> String {
        let js =
            "const e = document.activeElement; return e ? e.outerHTML.slice(0, 160) : 'nothing';";
        self.script(js, json!([]))
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Presses Tab until the focused element matches `css`.
    pub fn tab_to(&self, css: &str) {
        let js = "return !!document.activeElement && document.activeElement.matches(arguments[0]);";
        for _ in 0..80 {
            if self.script(js, json!([css])) == json!(true) {
                return;
            }
            self.keys(&TAB.to_string());
        }
        panic!(
            "80 presses of Tab never reached `{css}`; focus is on {}",
            self.focused()
        );
    }

    /// Sets the viewport (the page's `innerWidth`) to `width` px.
    pub fn viewport(&self, width: i64, height: i64) {
        let inner = || self.script("return [innerWidth, innerHeight];", json!([]));
        self.cmd(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        );
        let got = inner();
        let (dw, dh) = (
            width - got[0].as_i64().unwrap(),
            height - got[1].as_i64().unwrap(),
        );
        if dw != 0 || dh != 0 {
            self.cmd(
                "POST",
                "/window/rect",
                json!({ "width": width + dw, "height": height + dh }),
            );
        }
        assert_eq!(
            inner()[0],
            json!(width),
            "the viewport is not {width} px wide"
        );
    }

    /// Injects axe-core and runs it on the page: its violations (and, on
    /// stderr, how many rules passed and which it could not decide).
    pub fn axe(&self, axe_js: &str) -> Vec<Value> {
        let version = self.script(&format!("{axe_js}\n;return axe.version;"), json!([]));
        let run = "return axe.run(document).then((r) => ({ passes: r.passes.length, incomplete: r.incomplete.map((v) => v.id + ' (' + v.impact + ') on ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')), violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\\s+/g, ' ')) })) }));";
        let r = self.script(run, json!([]));
        eprintln!(
            "axe-core {version}: {} rules passed, {} violated; undecided: {}",
            r["passes"],
            r["violations"].as_array().map_or(0, Vec::len),
            r["incomplete"]
        );
        r["violations"].as_array().unwrap().clone()
    }

    pub fn screenshot(&self, file: &std::path::Path) {
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

pub fn base64(s: &str) -> Vec<u8> {
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
