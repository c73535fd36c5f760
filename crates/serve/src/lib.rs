//! `writ serve`: the HTTP JSON API under `/v1` and the review page at `/`,
//! over `writ-service`.
//!
//! Loopback only unless remote access is allowed: bound to a loopback
//! address, and answering only requests addressed to a loopback name
//! ([`host`]). Every route that changes state needs a bearer token (0600,
//! [`token`]): the agents' token in the index folder (propose, ask), the
//! reviewer's in the key folder outside the repository (approve, reject);
//! with remote access every route needs one. Which token a route needs is
//! decided by the router group it is in ([`auth`]), never by its handler.
//! The blocking work (models, SQLite) runs on tokio's blocking pool;
//! ledger writes are serialised by SQLite's write lock, so a request either
//! records its whole transition or none. Nothing here prints: what the
//! server has to say goes to the caller's [`Log`].

mod auth;
mod error;
mod host;
mod openapi;
mod operations;
mod routes;
mod stream;
mod token;
mod watch;

pub use error::ApiError;
pub use routes::router;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use writ_service::{Service, ServiceError};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// Where the server's messages go (the binary prints them on stderr).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Shared by every request.
pub struct App {
    /// The loaded models and the repository's places.
    pub service: Service,
    /// For agents and tools: propose and ask (and read, when remote).
    pub token: String,
    /// For people: approve and reject (and everything the agent token may
    /// do). An agent that holds only `token` cannot approve its own held
    /// edits.
    pub review_token: String,
    /// Reads need a token too (bound beyond loopback).
    pub remote: bool,
    /// Where internal errors are reported (never to the client).
    pub log: Log,
}

/// How to serve.
pub struct ServeOptions {
    /// The address to bind.
    pub addr: SocketAddr,
    /// Allow a non-loopback address (every route then needs a token).
    pub allow_remote: bool,
    /// Re-index in the background when files change.
    pub watch: bool,
}

/// The server's tokens, made or read before it binds.
pub struct Tokens {
    /// The agents' token.
    pub agent: String,
    /// Its file, in the index folder.
    pub agent_file: PathBuf,
    /// The reviewers' token.
    pub review: String,
    /// Its file, in the key folder outside the repository.
    pub review_file: PathBuf,
}

/// What the server tells its caller once it listens.
pub struct Ready<'a> {
    /// The bound address.
    pub local: SocketAddr,
    /// Where the tokens are.
    pub tokens: &'a Tokens,
    /// Whether `--watch` is on.
    pub watching: bool,
}

/// Why the server did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback address without remote access allowed.
    #[error("refusing to listen on {0}: not a loopback address")]
    NotLoopback(SocketAddr),
    /// The key folder is missing or inside the repository.
    #[error("{0}")]
    Keys(String),
    /// A token file is a link, not a regular file, or unreadable.
    #[error("{0}")]
    Token(String),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(String),
    /// The service failed to start.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ServeError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServeError::NotLoopback(_) => Some("writ serves 127.0.0.1 by default; add --allow-remote to expose it (every route then needs the bearer token)".into()),
            ServeError::Keys(_) => Some("set WRIT_KEY_DIR to a folder outside the repository (or HOME): the review token and the ledger key must not be readable from it".into()),
            ServeError::Service(e) => e.hint(),
            _ => None,
        }
    }
}

/// Reads or makes both tokens for the repository at `places`.
pub fn tokens(places: &writ_service::Places, log: &Log) -> Result<Tokens, ServeError> {
    let agent_file = places.index.join("serve-token");
    let agent = token::load_or_make(&places.index, &agent_file, log)?;
    // The reviewer's token lives outside the repository, beside the ledger
    // key: an agent that can read the repository (and so `serve-token`)
    // cannot read it, nor plant one.
    let keys = writ_service::key_dir()
        .ok_or_else(|| ServeError::Keys("no folder for the review token".into()))?;
    let _ = std::fs::create_dir_all(&keys);
    let canon = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if canon(&keys).starts_with(canon(&places.repo)) {
        return Err(ServeError::Keys(format!(
            "the key folder `{}` is inside the repository",
            keys.display()
        )));
    }
    let index = canon(&places.index);
    let name = writ_core::sha256_hex(index.to_string_lossy().as_bytes());
    let review_file = keys.join(format!("review-{}.token", &name[..32]));
    let review = token::load_or_make(&keys, &review_file, log)?;
    Ok(Tokens {
        agent,
        agent_file,
        review,
        review_file,
    })
}

/// Serves `service` until Ctrl-C or SIGTERM; `ready` runs once the
/// socket is bound (the binary prints the address and token files).
pub fn run(
    service: Service,
    tokens: Tokens,
    options: ServeOptions,
    log: Log,
    ready: impl FnOnce(&Ready<'_>),
) -> Result<(), ServeError> {
    if !options.addr.ip().is_loopback() && !options.allow_remote {
        return Err(ServeError::NotLoopback(options.addr));
    }
    let watch = if options.watch {
        let w = watch::Watch::start(
            service.places.repo.clone(),
            service.places.index.clone(),
            service.embedder(),
            log.clone(),
        )
        .map_err(|e| ServeError::Io(format!("watching the repository: {e}")))?;
        Some(w)
    } else {
        None
    };
    let app = Arc::new(App {
        service,
        token: tokens.agent.clone(),
        review_token: tokens.review.clone(),
        remote: options.allow_remote,
        log,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io(e.to_string()))?;
    let addr = options.addr;
    let watching = watch.is_some();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Io(format!("binding {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| ServeError::Io(e.to_string()))?;
        ready(&Ready {
            local,
            tokens: &tokens,
            watching,
        });
        let remote = app.remote;
        let router = routes::router(app);
        let router = if remote {
            router
        } else {
            host::guard(router, local.port())
        };
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|e| ServeError::Io(e.to_string()))
    })?;
    if let Some(w) = watch {
        w.stop();
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
