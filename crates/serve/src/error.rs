//! JSON errors, and the one place a service failure becomes an HTTP
//! status. Internal failures reach the server's log, never the client.

use crate::App;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use writ_service::{ErrorKind, ServiceError};

/// A JSON error: `{"error": …, "hint": …}` with a 4xx or 5xx status.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error: String,
    pub(crate) hint: Option<String>,
}

impl ApiError {
    /// An error with a status and a message for the client.
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            hint: None,
        }
    }

    /// Adds what the client can do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Names the id a not-found error is about, if it does not already.
    pub(crate) fn about(mut self, id: &str) -> ApiError {
        if self.status == StatusCode::NOT_FOUND && !self.error.contains(id) {
            self.error = format!("`{id}`: {}", self.error);
        }
        self
    }

    /// The response for a service failure: the status its kind maps to.
    /// An internal failure is logged in full and answered with a line
    /// that gives nothing of writ's internals away.
    pub fn from_service(app: &App, e: ServiceError) -> ApiError {
        let status = status_of(e.kind());
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            (app.log)(&format!("internal error: {e}"));
            return ApiError::new(
                status,
                "internal error; the server's log (stderr of `writ serve`) has the details",
            );
        }
        let error = match e.kind() {
            // Nothing was proposed yet: every id is unknown.
            ErrorKind::NothingRecorded => {
                "no proposal or action with that id: nothing has been proposed here yet".into()
            }
            _ => e.to_string(),
        };
        ApiError {
            status,
            error,
            hint: e.hint(),
        }
    }
}

/// The HTTP status of each kind of failure (the one mapping).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound | ErrorKind::NothingRecorded => StatusCode::NOT_FOUND,
        // A refused transition (an illegal review, or an approval whose
        // re-check failed) is recorded in the ledger and the caller's to
        // resolve; so is a rule set that does not load.
        ErrorKind::Conflict | ErrorKind::Rules => StatusCode::CONFLICT,
        ErrorKind::NotIndexed
        | ErrorKind::Locked
        | ErrorKind::Mismatch
        | ErrorKind::Models
        | ErrorKind::Tampered => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "hint": self.hint });
        (self.status, Json(body)).into_response()
    }
}

/// Makes every error response JSON, including those axum writes on its
/// own: an empty or plain-text 4xx/5xx becomes `{"error", "hint"}` with
/// its status and headers (a 405 keeps its `Allow`). The handlers and
/// fallbacks already answer JSON; this is the net under them.
pub(crate) async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let body = json!({ "error": error, "hint": null }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
