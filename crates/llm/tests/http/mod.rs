//! The scripted servers' side of HTTP: one request read off a socket.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;

/// The path and body of one HTTP/1.1 request (body by `Content-Length`).
pub fn read_request(conn: &TcpStream) -> (String, String) {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (path, String::from_utf8_lossy(&body).into_owned())
}
