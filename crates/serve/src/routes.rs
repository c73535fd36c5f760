//! The routes of `writ serve`: each parses its input into a service
//! request, runs it off the async workers, and serialises the typed
//! answer. Which token a route needs is declared here, route by route
//! ([`Access::on`]).

use crate::auth::Access;
use crate::error::ApiError;
use crate::{App, MAX_BODY};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use writ_service::{AskRequest, SearchRequest, ServiceError};

const PAGE: &str = include_str!("page.html");
const OPENAPI: &str = include_str!("openapi.json");

/// The routes, each with the access it needs.
pub fn router(app: Arc<App>) -> Router {
    use Access::{Propose, Public, Read, Review};
    let a = &app;
    Router::new()
        .route("/", Public.on(a, get(page)))
        .route("/v1/openapi.json", Public.on(a, get(openapi)))
        .route("/v1/status", Read.on(a, get(status)))
        .route("/v1/search", Read.on(a, get(search_get).post(search_post)))
        .route("/v1/ask", Propose.on(a, post(ask)))
        .route(
            "/v1/proposals",
            Read.on(a, get(proposals))
                .merge(Propose.on(a, post(propose))),
        )
        .route("/v1/proposals/{id}", Read.on(a, get(proposal)))
        .route("/v1/proposals/{id}/approve", Review.on(a, post(approve)))
        .route("/v1/proposals/{id}/reject", Review.on(a, post(reject)))
        .route("/v1/chunks/{id}", Read.on(a, get(chunk)))
        .route("/v1/explain/{id}", Read.on(a, get(explain)))
        .route("/v1/verify", Read.on(a, get(verify)))
        .route("/v1/actions", Read.on(a, get(actions)))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

type ApiResult = Result<Response, ApiError>;

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
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route; see /v1/openapi.json")
}

async fn status(State(app): State<Arc<App>>) -> ApiResult {
    ok(blocking(&app, |app| app.service.status()).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    k: Option<usize>,
    threshold: Option<f32>,
    max_tokens: Option<usize>,
    #[serde(default)]
    snippets: bool,
    cursor: Option<String>,
}

async fn search_get(
    State(app): State<Arc<App>>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(query_error)?;
    let req = SearchRequest {
        k: q.k.unwrap_or(writ_service::search::DEFAULT_K),
        threshold: q.threshold,
        max_tokens: q.max_tokens,
        snippets: q.snippets,
        cursor: q.cursor,
        ..SearchRequest::new(q.q)
    };
    ok(blocking(&app, move |app| app.service.search(&req)).await?)
}

async fn search_post(State(app): State<Arc<App>>, raw: Result<Bytes, BytesRejection>) -> ApiResult {
    let req: SearchRequest = body(raw)?;
    ok(blocking(&app, move |app| app.service.search(&req)).await?)
}

async fn ask(State(app): State<Arc<App>>, raw: Result<Bytes, BytesRejection>) -> ApiResult {
    let req: AskRequest = body(raw)?;
    let answer = blocking(&app, move |app| {
        let answer = app
            .service
            .ask(&req, writ_llm::Cancel::new(), &mut |_| {})?;
        serde_json::to_value(answer.items())
            .map_err(|e| ServiceError::Internal(format!("encoding the answer: {e}")))
    })
    .await?;
    ok(answer)
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
            ApiError::new(StatusCode::BAD_REQUEST, format!("unknown state `{s}`")).with_hint(
                "one of: proposed, refused, recorded, forbidden, held, approved, rejected, applied",
            )
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

async fn propose(State(app): State<Arc<App>>, raw: Result<Bytes, BytesRejection>) -> ApiResult {
    let sub: Submission = body(raw)?;
    if sub.source.trim().is_empty() || sub.source.len() > 100 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`source` must name the proposer (1 to 100 characters)",
        ));
    }
    let proposer = writ_gate::Proposer::http(sub.source.trim());
    let intake = blocking(&app, move |app| {
        app.service.propose(&sub.proposal, &proposer)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(intake)).into_response())
}

async fn proposal(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
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
    id: String,
    raw: Result<Bytes, BytesRejection>,
    approve: bool,
) -> ApiResult {
    let r: Review = body(raw)?;
    if r.reviewer.trim().is_empty() || r.reason.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`reviewer` and `reason` are both required",
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
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    settle(app, id, raw, true).await
}

async fn reject(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    settle(app, id, raw, false).await
}

async fn chunk(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("`{id}` is not a chunk id")))?;
    ok(blocking(&app, move |app| app.service.chunk(id)).await?)
}

async fn explain(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
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
