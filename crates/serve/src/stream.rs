//! `POST /v1/ask/stream`: the same ask as `POST /v1/ask`, its answer
//! streamed as server-sent events while the model writes it.
//!
//! The response starts only once the model writes its first piece, so a
//! failure before that (bad input, nothing in the index matches, the rule
//! set does not load, a model that cannot be loaded or reached) is an
//! ordinary JSON error with its status. Then: `event: token` with
//! `{"text": …}` for each piece, and one last `event: result` with the
//! `[{result, proposal}]` list `/v1/ask` answers, or `event: error` with
//! `{"error", "hint", "status"}`. Every piece is JSON-encoded, so nothing
//! the model writes can end an event or forge another.
//!
//! A client that goes away stops the model (the ask's `Cancel` is set when
//! the response is dropped): the cut-short answer is recorded as refused,
//! never taken in. `POST /v1/ask` is cancelled the same way.

use crate::error::ApiError;
use crate::App;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;
use writ_llm::Cancel;
use writ_service::{AskRequest, ServiceError};

/// Sets its flag when dropped: a request whose client has gone (its
/// handler future or response body dropped) stops its generation.
pub(crate) struct CancelOnDrop(pub(crate) Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// What the ask's worker sends the response: pieces, then one last word.
enum Msg {
    Token(String),
    Done(Value),
    Failed(ServiceError),
}

/// Runs the ask on a blocking worker and streams it (see the module).
pub(crate) async fn ask_stream(app: Arc<App>, req: AskRequest) -> Result<Response, ApiError> {
    let cancel = Cancel::new();
    let guard = CancelOnDrop(cancel.clone());
    // Unbounded, so a client that stops reading but stays connected can
    // never block the model (which holds the generator for every ask):
    // the answer's token budget bounds what waits here.
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let worker = Arc::clone(&app);
    tokio::task::spawn_blocking(move || {
        let pieces = tx.clone();
        let stop = cancel.clone();
        let result = worker.service.ask(&req, cancel, &mut |t| {
            // The client is gone: stop generating.
            if pieces.send(Msg::Token(t.to_string())).is_err() {
                stop.cancel();
            }
        });
        let last = match result.and_then(|answer| {
            serde_json::to_value(answer.items())
                .map_err(|e| ServiceError::Internal(format!("encoding the answer: {e}")))
        }) {
            Ok(items) => Msg::Done(items),
            Err(e) => Msg::Failed(e),
        };
        let _ = tx.send(last);
    });
    let first = match rx.recv().await {
        Some(Msg::Failed(e)) => return Err(ApiError::from_service(&app, e)),
        Some(m) => m,
        None => {
            return Err(ApiError::from_service(
                &app,
                ServiceError::Internal("the ask's worker ended without an answer".into()),
            ))
        }
    };
    let state = (Some(first), rx, app, guard, false);
    let events =
        futures_util::stream::unfold(state, |(first, mut rx, app, guard, ended)| async move {
            if ended {
                return None;
            }
            let msg = match first {
                Some(m) => m,
                // The worker ended without a last word (it panicked): say
                // so, so that a cut stream never reads as a finished one.
                None => rx.recv().await.unwrap_or_else(|| {
                    Msg::Failed(ServiceError::Internal(
                        "the ask's worker ended without an answer".into(),
                    ))
                }),
            };
            let last = !matches!(msg, Msg::Token(_));
            let event = event(&app, msg);
            Some((Ok::<Event, Infallible>(event), (None, rx, app, guard, last)))
        });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event(app: &App, msg: Msg) -> Event {
    let (name, data) = match msg {
        Msg::Token(text) => ("token", json!({ "text": text })),
        Msg::Done(items) => ("result", items),
        Msg::Failed(e) => {
            let e = ApiError::from_service(app, e);
            (
                "error",
                json!({ "error": e.error, "hint": e.hint, "status": e.status.as_u16() }),
            )
        }
    };
    // JSON text is one line: it cannot end the event or start another.
    Event::default().event(name).data(data.to_string())
}
