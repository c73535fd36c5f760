//! Routes, authentication and JSON errors of `writ serve`.

use super::{App, MAX_BODY};
use crate::exit::{ExitCode, Failure};
use crate::service::{AskRequest, SearchRequest};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const PAGE: &str = include_str!("page.html");
const OPENAPI: &str = include_str!("openapi.json");

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/status", get(status))
        .route("/v1/search", get(search_get).post(search_post))
        .route("/v1/ask", post(ask))
        .route("/v1/proposals", get(proposals).post(propose))
        .route("/v1/proposals/{id}", get(proposal))
        .route("/v1/proposals/{id}/approve", post(approve))
        .route("/v1/proposals/{id}/reject", post(reject))
        .route("/v1/chunks/{id}", get(chunk))
        .route("/v1/explain/{id}", get(explain))
        .route("/v1/verify", get(verify))
        .route("/v1/actions", get(actions))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// A JSON error: `{"error": …, "hint": …}` with a 4xx or 5xx status.
pub struct ApiError {
    status: StatusCode,
    error: String,
    hint: Option<String>,
}

impl ApiError {
    fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            hint: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "hint": self.hint });
        (self.status, Json(body)).into_response()
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> ApiError {
        if let Some(writ_gate::GateError::NoLedger(_)) = f.error.downcast_ref() {
            // Nothing was proposed yet: every id is unknown.
            return ApiError {
                status: StatusCode::NOT_FOUND,
                error: "no proposal or action with that id: nothing has been proposed here yet"
                    .into(),
                hint: f.hint,
            };
        }
        let status = match f.code {
            ExitCode::Usage => StatusCode::BAD_REQUEST,
            ExitCode::NoInput => StatusCode::NOT_FOUND,
            ExitCode::NotIndexed | ExitCode::Mismatch | ExitCode::Locked => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ExitCode::Rules => StatusCode::CONFLICT,
            ExitCode::Models => StatusCode::SERVICE_UNAVAILABLE,
            // A refused transition (an illegal review, or an approval
            // whose re-check failed) is the caller's doing, recorded in the
            // ledger; anything else is ours.
            _ => match f.error.downcast_ref::<writ_gate::GateError>() {
                Some(writ_gate::GateError::Ledger(writ_gate::LedgerError::Refused { .. })) => {
                    StatusCode::CONFLICT
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        };
        ApiError {
            status,
            error: format!("{:#}", f.error),
            hint: f.hint,
        }
    }
}

type ApiResult = Result<Response, ApiError>;

impl ApiError {
    /// Names the id a not-found error is about, if it does not already.
    fn about(mut self, id: &str) -> ApiError {
        if self.status == StatusCode::NOT_FOUND && !self.error.contains(id) {
            self.error = format!("`{id}`: {}", self.error);
        }
        self
    }
}

/// What a request may do, and so which token it needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Reads: no token on loopback, either token when remote.
    Read,
    /// Propose and ask: the agent token or the review token.
    Propose,
    /// Approve and reject: the review token only.
    Review,
}

/// Checks the bearer token the access needs, and refuses cross-origin
/// writes from browsers.
fn authorize(app: &App, headers: &HeaderMap, access: Access) -> Result<(), ApiError> {
    if access == Access::Read && !app.remote {
        return Ok(());
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let reviewer = same(given.as_bytes(), app.review_token.as_bytes());
    let agent = same(given.as_bytes(), app.token.as_bytes());
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
    let write = access != Access::Read;
    if write {
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

/// Parses a JSON body strictly: malformed JSON, unknown fields and
/// oversized bodies are 4xx errors naming the problem.
fn body<T: DeserializeOwned>(raw: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = raw.map_err(|e| {
        let status = e.status();
        let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("request body over {MAX_BODY} bytes")
        } else {
            e.body_text()
        };
        ApiError::new(status, msg)
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("query string: {}", e.body_text()),
    )
}

/// Runs blocking work (models, SQLite) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

fn ok(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(PAGE),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route; see /v1/openapi.json")
}

async fn status(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    ok(blocking(move || app.service.status()).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    k: Option<usize>,
}

async fn search_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    let Query(q) = q.map_err(query_error)?;
    let req = SearchRequest {
        query: q.q,
        k: q.k.unwrap_or(10),
        paths: Vec::new(),
        langs: Vec::new(),
    };
    ok(blocking(move || app.service.search_json(&req)).await?)
}

async fn search_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    let req: SearchRequest = body(raw)?;
    ok(blocking(move || app.service.search_json(&req)).await?)
}

async fn ask(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    authorize(&app, &headers, Access::Propose)?;
    let req: AskRequest = body(raw)?;
    ok(blocking(move || app.service.ask(&req)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    state: Option<String>,
}

async fn proposals(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<StateQuery>, QueryRejection>,
) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    let Query(q) = q.map_err(query_error)?;
    ok(blocking(move || {
        let state = crate::show::parse_state(q.state.as_deref())?;
        crate::show::proposals_json(&app.service.places, state)
    })
    .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    /// Who proposes (recorded as `external:<source>`).
    source: String,
    /// The proposal (see `writ schema proposal`).
    proposal: Value,
}

async fn propose(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    authorize(&app, &headers, Access::Propose)?;
    let sub: Submission = body(raw)?;
    if sub.source.trim().is_empty() || sub.source.len() > 100 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`source` must name the proposer (1 to 100 characters)",
        ));
    }
    let proposer = writ_gate::Proposer::http(sub.source.trim());
    let intake = blocking(move || app.service.propose(&sub.proposal, &proposer)).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(intake).unwrap_or(Value::Null)),
    )
        .into_response())
}

async fn proposal(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    let named = id.clone();
    ok(
        blocking(move || crate::show::proposal_json(&app.service.places, &id))
            .await
            .map_err(|e| e.about(&named))?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    reviewer: String,
    reason: String,
}

async fn settle(
    app: Arc<App>,
    headers: HeaderMap,
    id: String,
    raw: Result<Bytes, BytesRejection>,
    approve: bool,
) -> ApiResult {
    authorize(&app, &headers, Access::Review)?;
    let r: Review = body(raw)?;
    if r.reviewer.trim().is_empty() || r.reason.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`reviewer` and `reason` are both required",
        ));
    }
    let settled = blocking(move || {
        Ok(app.service.places.gate().settle(
            &id,
            r.reviewer.trim(),
            approve,
            r.reason.trim(),
            writ_rules::Channel::Http,
        )?)
    })
    .await?;
    ok(
        json!({ "id": settled.id, "state": settled.state.name(), "action": settled.action, "ruleset_changed": settled.ruleset_changed }),
    )
}

async fn approve(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    settle(app, headers, id, raw, true).await
}

async fn reject(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    settle(app, headers, id, raw, false).await
}

async fn chunk(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("`{id}` is not a chunk id")))?;
    ok(blocking(move || app.service.chunk(id)).await?)
}

async fn explain(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    let named = id.clone();
    ok(
        blocking(move || Ok(app.service.places.gate().explain(&id)?))
            .await
            .map_err(|e| e.about(&named))?,
    )
}

async fn verify(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    ok(blocking(move || app.service.verify()).await?)
}

async fn actions(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    authorize(&app, &headers, Access::Read)?;
    ok(blocking(move || Ok(Value::from(app.service.places.gate().actions_json()?))).await?)
}
