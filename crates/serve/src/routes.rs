//! The routes of `writ serve`: each parses its input into a service
//! request, runs it off the async workers, and serialises the typed
//! answer.
//!
//! Every API operation is one row of [`OPERATIONS`]: its method, path,
//! `operationId`, the access it needs ([`Access::on`](crate::auth::Access::on))
//! and the failures it can answer with. The router is built from that
//! table, as the OpenAPI document is; the document's bounds are the
//! service's own ([`writ_service::bounds`]).

use crate::error::{json_errors, ApiError};
use crate::operations::{Operation, OPERATIONS, STATES};
use crate::{App, MAX_BODY};
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use writ_service::bounds::{self, SOURCE_CHARS};
use writ_service::{AskRequest, SearchRequest, ServiceError};

const PAGE: &str = include_str!("page.html");

/// The handler of an operation of the table.
fn handler(op: &Operation) -> Option<MethodRouter<Arc<App>>> {
    Some(match op.id {
        "openapi" => get(openapi),
        "status" => get(status),
        "searchGet" => get(search_get),
        "search" => post(search_post),
        "ask" => post(ask),
        "askStream" => post(ask_stream),
        "listProposals" => get(proposals),
        "propose" => post(propose),
        "getProposal" => get(proposal),
        "approveProposal" => post(approve),
        "rejectProposal" => post(reject),
        "getChunk" => get(chunk),
        "explain" => get(explain),
        "verify" => get(verify),
        "listActions" => get(actions),
        _ => return None,
    })
}

/// The routes, each with the access it needs; errors are JSON, a wrong
/// method included (405 with `Allow`).
pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new().route("/", get(page));
    for op in OPERATIONS {
        // Routes on one path merge; their access layers stay their own. An
        // operation without a handler fails the test below, not a request.
        if let Some(route) = handler(op) {
            router = router.route(op.path, op.access.on(&app, route));
        }
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::map_response(json_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

type ApiResult = Result<Response, ApiError>;

/// A JSON request body: `Content-Type: application/json` (or `…+json`),
/// at most [`MAX_BODY`] bytes, well-formed JSON; each a 4xx naming the
/// problem (415, 413, 400).
pub(crate) struct JsonBody(pub(crate) Value);

/// Whether `headers` declare a JSON body.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody, ApiError> {
        if !is_json(req.headers()) {
            let given = req
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let error = match given {
                Some(t) => format!("the request body is `{t}`, not JSON"),
                None => "the request body has no Content-Type".into(),
            };
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, error)
                .with_hint("send the body as JSON with `Content-Type: application/json`"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body over {MAX_BODY} bytes")
            } else {
                e.body_text()
            };
            ApiError::new(status, msg)
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("request body: {e}")))
    }
}

/// `value` read strictly as `T` (unknown fields refused): a 400 naming the
/// problem.
fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "request body: must be a JSON object, got {}",
                bounds::kind(&value)
            ),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

/// A refusal of the request itself, as the service words it.
fn bad(e: ServiceError) -> ApiError {
    let hint = e.hint();
    let err = ApiError::new(StatusCode::BAD_REQUEST, e.to_string());
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("query string: {}", e.body_text()),
    )
}

/// A path parameter that does not decode (invalid percent-encoding).
fn path_error(e: PathRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, format!("path: {}", e.body_text()))
}

/// Runs blocking work (models, SQLite) off the async workers; a failure
/// becomes its status in one place ([`ApiError::from_service`]).
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    let worker = Arc::clone(app);
    match tokio::task::spawn_blocking(move || f(&worker)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ApiError::from_service(app, e)),
        Err(e) => Err(ApiError::from_service(
            app,
            ServiceError::Internal(format!("a request's worker failed: {e}")),
        )),
    }
}

fn ok<T: Serialize>(value: T) -> ApiResult {
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
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route; see /v1/openapi.json")
}

/// A route that exists under another method; axum adds `Allow`.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("`{method}` is not allowed on `{}`", uri.path()),
    )
    .with_hint("the `Allow` header lists the methods this route takes; see /v1/openapi.json")
}

async fn status(State(app): State<Arc<App>>) -> ApiResult {
    ok(blocking(&app, |app| app.service.status()).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    k: Option<String>,
    threshold: Option<f64>,
    max_tokens: Option<String>,
    #[serde(default)]
    snippets: bool,
    #[serde(default)]
    tests: bool,
    cursor: Option<String>,
}

async fn search_get(
    State(app): State<Arc<App>>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(query_error)?;
    let mut body = json!({ "query": q.q, "snippets": q.snippets, "tests": q.tests });
    // `k=41.0` is 41, as in a body; anything else is refused naming it.
    let integer = |text: String| {
        bounds::integer_text(&text)
            .and_then(|n| i64::try_from(n).ok())
            .map_or(Value::String(text), Value::from)
    };
    if let Some(k) = q.k {
        body["k"] = integer(k);
    }
    if let Some(t) = q.max_tokens {
        body["max_tokens"] = integer(t);
    }
    if let Some(t) = q.threshold {
        // Checked here: JSON has no infinity, so an out-of-range float
        // would reach the request as `null` (no threshold) otherwise.
        if !(-1.0..=1.0).contains(&t) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`threshold` must be a cosine similarity between -1 and 1, got {t}"),
            ));
        }
        body["threshold"] = json!(t);
    }
    if let Some(c) = q.cursor {
        body["cursor"] = json!(c);
    }
    let req = SearchRequest::from_json(body).map_err(bad)?;
    ok(blocking(&app, move |app| app.service.search(&req)).await?)
}

async fn search_post(State(app): State<Arc<App>>, JsonBody(body): JsonBody) -> ApiResult {
    let req = SearchRequest::from_json(body).map_err(bad)?;
    ok(blocking(&app, move |app| app.service.search(&req)).await?)
}

async fn ask(State(app): State<Arc<App>>, JsonBody(body): JsonBody) -> ApiResult {
    // Checked here, before the model is loaded or run.
    let req = AskRequest::from_json(body).map_err(bad)?;
    // A client that goes away drops this future, and with it the guard:
    // the generation stops and is recorded as refused.
    let cancel = writ_llm::Cancel::new();
    let _guard = crate::stream::CancelOnDrop(cancel.clone());
    let answer = blocking(&app, move |app| {
        let answer = app.service.ask(&req, cancel, &mut |_| {})?;
        serde_json::to_value(answer.items())
            .map_err(|e| ServiceError::Internal(format!("encoding the answer: {e}")))
    })
    .await?;
    ok(answer)
}

async fn ask_stream(State(app): State<Arc<App>>, JsonBody(body): JsonBody) -> ApiResult {
    let req = AskRequest::from_json(body).map_err(bad)?;
    crate::stream::ask_stream(app, req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    state: Option<String>,
}

async fn proposals(
    State(app): State<Arc<App>>,
    q: Result<Query<StateQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(query_error)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(writ_gate::State::parse(s).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("unknown state `{s}`"))
                .with_hint(format!("one of: {}", STATES.join(", ")))
        })?),
    };
    ok(blocking(&app, move |app| app.service.proposals(state)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    /// Who proposes (recorded as `external:<source>`).
    source: String,
    /// The proposal (see `writ schema proposal`).
    proposal: Value,
}

async fn propose(State(app): State<Arc<App>>, JsonBody(body): JsonBody) -> ApiResult {
    let sub: Submission = parse(body)?;
    let chars = sub.source.chars().count();
    if !(SOURCE_CHARS.min..=SOURCE_CHARS.max).contains(&chars) || bounds::is_blank(&sub.source) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "`source` must name the proposer in {} to {} characters, not all whitespace (got {chars})",
                SOURCE_CHARS.min, SOURCE_CHARS.max
            ),
        ));
    }
    if !sub.proposal.is_object() {
        // As over MCP: a string holding a proposal is a client's mistake
        // to fix, not a proposal to record as refused.
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "`proposal` must be a JSON object, got {}",
                bounds::kind(&sub.proposal)
            ),
        )
        .with_hint("see `writ schema proposal`"));
    }
    let proposer = writ_gate::Proposer::http(sub.source.trim());
    let intake = blocking(&app, move |app| {
        app.service.propose(&sub.proposal, &proposer)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(intake)).into_response())
}

async fn proposal(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(id) = id.map_err(path_error)?;
    let named = id.clone();
    ok(blocking(&app, move |app| app.service.proposal(&id))
        .await
        .map_err(|e| e.about(&named))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    reviewer: String,
    reason: String,
}

#[derive(Serialize)]
struct SettledView {
    id: String,
    state: writ_gate::State,
    action: Option<String>,
    ruleset_changed: Option<(String, String)>,
}

async fn settle(
    app: Arc<App>,
    id: Result<Path<String>, PathRejection>,
    body: Value,
    approve: bool,
) -> ApiResult {
    let Path(id) = id.map_err(path_error)?;
    let r: Review = parse(body)?;
    if bounds::is_blank(&r.reviewer) || bounds::is_blank(&r.reason) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`reviewer` and `reason` are both required (not empty, not only whitespace)",
        ));
    }
    let named = id.clone();
    let s = blocking(&app, move |app| {
        app.service.settle(
            &id,
            r.reviewer.trim(),
            approve,
            r.reason.trim(),
            writ_rules::Channel::Http,
        )
    })
    .await
    .map_err(|e| e.about(&named))?;
    ok(SettledView {
        id: s.id,
        state: s.state,
        action: s.action,
        ruleset_changed: s.ruleset_changed,
    })
}

async fn approve(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    settle(app, id, body, true).await
}

async fn reject(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    settle(app, id, body, false).await
}

async fn chunk(State(app): State<Arc<App>>, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let Path(id) = id.map_err(path_error)?;
    // Chunk ids are SQLite row ids: 1 and up. `7.0` is 7, as in JSON.
    let id = bounds::integer_text(&id)
        .and_then(|n| i64::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "`{id}` is not a chunk id (an integer from 1 to {})",
                    i64::MAX
                ),
            )
        })?;
    ok(blocking(&app, move |app| app.service.chunk(id)).await?)
}

async fn explain(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(id) = id.map_err(path_error)?;
    let named = id.clone();
    ok(blocking(&app, move |app| app.service.explain(&id))
        .await
        .map_err(|e| e.about(&named))?)
}

async fn verify(State(app): State<Arc<App>>) -> ApiResult {
    ok(blocking(&app, |app| app.service.verify()).await?)
}

async fn actions(State(app): State<Arc<App>>) -> ApiResult {
    ok(blocking(&app, |app| app.service.actions()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_handler() {
        for op in OPERATIONS {
            assert!(handler(op).is_some(), "{} has no handler", op.id);
        }
    }
}
