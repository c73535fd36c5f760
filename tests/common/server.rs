//! A running `writ serve` and a minimal HTTP/1.1 client over std's
//! TcpStream (one request per connection), so the tests talk to the real
//! server the way any client would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `writ serve` on a free loopback port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// The agent token: propose and ask.
    pub token: String,
    /// The reviewer's token: approve and reject.
    pub review_token: String,
}

impl Server {
    pub fn start(repo: &Path) -> Server {
        Server::start_with(repo, &[])
    }

    /// `writ serve` with extra arguments.
    pub fn start_with(repo: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_writ"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .current_dir(repo)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting writ serve: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("reading writ serve: {e}"));
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("writ serve did not start: {line:?} {err}")
            })
            .to_string();
        let token = std::fs::read_to_string(repo.join(".writ/serve-token"))
            .unwrap_or_else(|e| panic!("serve-token: {e}"))
            .trim()
            .to_string();
        // The review token lives outside the repository; writ names its
        // file on stderr (before the address on stdout). The rest of stderr
        // is drained so the server never blocks on it.
        let mut err = BufReader::new(child.stderr.take().unwrap_or_else(|| panic!("no stderr")));
        let mut review_file = None;
        for _ in 0..20 {
            let mut l = String::new();
            if err.read_line(&mut l).unwrap_or(0) == 0 {
                break;
            }
            if let Some(rest) = l.split("for reviewers (approve, reject) in `").nth(1) {
                review_file = rest.split('`').next().map(str::to_string);
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        let review_file =
            review_file.unwrap_or_else(|| panic!("writ serve named no review-token file"));
        let review_token = std::fs::read_to_string(&review_file)
            .unwrap_or_else(|e| panic!("{review_file}: {e}"))
            .trim()
            .to_string();
        Server {
            child,
            addr,
            token,
            review_token,
        }
    }

    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        request(&self.addr, "GET", path, &[], "")
    }

    /// A POST with the bearer token.
    pub fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {}", self.token);
        request(&self.addr, "POST", path, &[("Authorization", &auth)], body)
    }

    /// A POST with the reviewer's token (approve, reject).
    pub fn review(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {}", self.review_token);
        request(&self.addr, "POST", path, &[("Authorization", &auth)], body)
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP request; returns the status and the body parsed as JSON (or
/// the raw text as a JSON string when it is not JSON).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let (status, text) = raw(addr, method, path, headers, body.as_bytes());
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, value)
}

/// One HTTP request with a byte body; returns the status and body text.
/// It is addressed to `Host: addr` unless `headers` names another Host.
pub fn raw(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    head.push_str(&format!(
        "Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    ));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    send(addr, &head, body)
}

/// Sends `head` (a request line and headers, as written) and `body`;
/// returns the status and body text.
pub fn send(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream
        .write_all(head.as_bytes())
        .unwrap_or_else(|e| panic!("writing: {e}"));
    // The server may answer (413) before reading a large body.
    let _ = stream.write_all(body);
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(600)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    // Servers need not close the connection: read what the headers promise.
    let mut bytes = Vec::new();
    match length {
        Some(n) => {
            bytes.resize(n, 0);
            let _ = reader.read_exact(&mut bytes);
        }
        None => {
            let _ = reader.read_to_end(&mut bytes);
        }
    }
    let rest = String::from_utf8_lossy(&bytes).into_owned();
    let body = if lower.contains("transfer-encoding: chunked") {
        dechunk(&rest)
    } else {
        rest
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
