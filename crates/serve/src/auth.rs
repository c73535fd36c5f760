//! Which token a route needs, as a layer on the route itself: the router
//! declares every route through [`Access::on`], so no handler can forget
//! to check, and a test walks the table.

use crate::error::ApiError;
use crate::App;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::MethodRouter;
use std::sync::Arc;

/// What a request may do, and so which token it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The page and the API description: no token.
    Public,
    /// Reads: no token on loopback, either token when remote.
    Read,
    /// Propose and ask: the agent token or the review token.
    Propose,
    /// Approve and reject: the review token only.
    Review,
}

impl Access {
    /// `route` guarded by this access.
    pub fn on(self, app: &Arc<App>, route: MethodRouter<Arc<App>>) -> MethodRouter<Arc<App>> {
        if self == Access::Public {
            return route;
        }
        route.route_layer(middleware::from_fn_with_state(
            (Arc::clone(app), self),
            require,
        ))
    }
}

async fn require(
    State((app, access)): State<(Arc<App>, Access)>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    authorize(&app, req.headers(), access)?;
    Ok(next.run(req).await)
}

/// Checks the bearer token the access needs, and refuses cross-origin
/// writes from browsers.
fn authorize(app: &App, headers: &HeaderMap, access: Access) -> Result<(), ApiError> {
    if access == Access::Public || (access == Access::Read && !app.remote) {
        return Ok(());
    }
    // The scheme is case-insensitive (RFC 7235); an empty token, given or
    // configured, never matches.
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    let matches = |token: &str| !token.is_empty() && same(given.as_bytes(), token.as_bytes());
    let reviewer = matches(&app.review_token);
    let agent = matches(&app.token);
    if access == Access::Review && agent && !reviewer {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the agent token cannot approve or reject: a person reviews with the review token",
        )
        .with_hint(
            "the review token's file (outside the repository) is printed by `writ serve` at start",
        ));
    }
    if !(reviewer || (agent && access != Access::Review)) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
            .with_hint("send `Authorization: Bearer <token>`: the index folder's `serve-token` for agents, the review token (its file is printed by `writ serve`) for reviewers"));
    }
    if access != Access::Read {
        // A browser always sends Origin on a cross-site POST; a page of
        // another site must not drive this one (with or without the token).
        if let (Some(origin), Some(host)) = (
            headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
            headers.get(header::HOST).and_then(|v| v.to_str().ok()),
        ) {
            let origin_host = origin.split("://").nth(1).unwrap_or(origin);
            if origin_host != host {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("cross-origin request from `{origin}` refused"),
                ));
            }
        }
    }
    Ok(())
}

/// Compares without an early exit, so timing does not leak the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
