//! The DNS-rebinding defence: without `--allow-remote`, `writ serve`
//! answers only requests addressed to a loopback name.
//!
//! A page on `attacker.example` can point that name at 127.0.0.1 once the
//! browser has loaded it; its scripts are then "same origin" with the
//! server, and could read proposals, chunks and search results. The
//! browser still sends `Host: attacker.example`, so a server that answers
//! only `127.0.0.1`, `localhost` and `[::1]` (with or without its port)
//! gives that page nothing. One layer over the whole router, reads
//! included; a request without a Host (HTTP/1.0) is refused too.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

/// The names a loopback-only server answers to.
const NAMES: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// `router`, refusing every request whose Host is not a loopback name
/// (optionally with `port`, the port the server listens on).
pub fn guard(router: Router, port: u16) -> Router {
    router.layer(middleware::from_fn_with_state(port, check))
}

async fn check(State(port): State<u16>, req: Request, next: Next) -> Response {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => Some(h.as_bytes()),
        _ => None,
    };
    // An absolute-form target (`GET http://name/ HTTP/1.1`) names the host
    // too, and wins over the header: it must be loopback as well.
    let target_ok = req
        .uri()
        .authority()
        .is_none_or(|a| allowed(a.as_str(), port));
    match host {
        Some(h) if target_ok && std::str::from_utf8(h).is_ok_and(|h| allowed(h, port)) => {
            next.run(req).await
        }
        _ => refuse(host, port),
    }
}

/// Whether `host` (a Host header's value) is a loopback name, alone or
/// with the server's port.
fn allowed(host: &str, port: u16) -> bool {
    let (name, given) = match host.rfind(':') {
        // `[::1]` holds colons of its own; a port follows the `]`.
        Some(i) if !host[i..].contains(']') => (&host[..i], Some(&host[i + 1..])),
        _ => (host, None),
    };
    let port_ok = given.is_none_or(|p| p.parse::<u16>() == Ok(port) && !p.starts_with('+'));
    port_ok && NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn refuse(host: Option<&[u8]>, port: u16) -> Response {
    let error = match host {
        Some(h) => format!(
            "refused: Host `{}` is not a loopback name; without --allow-remote, writ serve answers only 127.0.0.1, localhost and [::1] (a DNS-rebinding defence)",
            String::from_utf8_lossy(h)
        ),
        None => "refused: the request has no single Host header; without --allow-remote, writ serve answers only requests to 127.0.0.1, localhost or [::1] (a DNS-rebinding defence)".to_string(),
    };
    let hint = format!(
        "use http://127.0.0.1:{port}/ or http://localhost:{port}/; to answer other names, restart with `writ serve --allow-remote` (every route then needs the bearer token)"
    );
    let body = json!({ "error": error, "hint": hint });
    (StatusCode::MISDIRECTED_REQUEST, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn loopback_names_pass_with_or_without_the_port() {
        for h in [
            "127.0.0.1",
            "127.0.0.1:7878",
            "localhost",
            "LocalHost:7878",
            "[::1]",
            "[::1]:7878",
        ] {
            assert!(allowed(h, 7878), "{h}");
        }
    }

    #[test]
    fn other_names_and_ports_are_refused() {
        for h in [
            "",
            "attacker.example",
            "attacker.example:7878",
            "127.0.0.1:80",
            "localhost:",
            "localhost:+7878",
            "localhost.:7878",
            "localhost.attacker.example",
            "127.0.0.2:7878",
            "0.0.0.0:7878",
            "[::1]:80",
            "::1",
            "[::2]:7878",
            "127.0.0.1:7878@attacker.example",
        ] {
            assert!(!allowed(h, 7878), "{h}");
        }
    }
}
