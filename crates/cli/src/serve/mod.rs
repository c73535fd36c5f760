//! `writ serve`: the HTTP JSON API under `/v1` and the review page at `/`.
//!
//! Loopback only unless `--allow-remote`: bound to a loopback address, and
//! answering only requests addressed to a loopback name (`host`). Every
//! route that changes state needs a bearer token (0600, `token`): the
//! agents' token in the index folder (propose, ask), the reviewer's in the
//! key folder outside the repository (approve, reject); with
//! `--allow-remote` every route needs one. The blocking work (models, SQLite)
//! runs on tokio's blocking pool; ledger writes are serialised by SQLite's
//! write lock, so a request either records its whole transition or none.

mod api;
mod host;
mod token;
mod watch;

use crate::args::ServeArgs;
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::gate::Places;
use crate::service::Service;
use anyhow::anyhow;
use std::io::Write;
use std::sync::Arc;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// Shared by every request.
pub struct App {
    pub service: Service,
    /// For agents and tools: propose and ask (and read, when remote).
    pub token: String,
    /// For people: approve and reject (and everything the agent token
    /// may do). An agent that holds only `token` cannot approve its own
    /// held edits.
    pub review_token: String,
    /// Reads need the token too (bound beyond loopback).
    pub remote: bool,
}

pub fn serve(args: ServeArgs) -> CmdResult {
    let places = Places::from_args(&args.gate)?;
    if !args.addr.ip().is_loopback() && !args.allow_remote {
        return Err(Failure::new(
            ExitCode::Usage,
            anyhow!("refusing to listen on {}: not a loopback address", args.addr),
        )
        .hint("writ serves 127.0.0.1 by default; add --allow-remote to expose it (every route then needs the bearer token)"));
    }
    let token_file = places.index.join("serve-token");
    let token = token::load_or_make(&places.index, &token_file)?;
    // The reviewer's token lives outside the repository, beside the ledger
    // key: an agent that can read the repository (and so `serve-token`)
    // cannot read it, nor plant one.
    let keys = crate::gate::key_dir().ok_or_else(|| {
        Failure::new(ExitCode::Error, anyhow!("no folder for the review token"))
            .hint("set WRIT_KEY_DIR (or HOME): writ keeps the review token and the ledger key outside the repository")
    })?;
    let _ = std::fs::create_dir_all(&keys);
    let canon = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if canon(&keys).starts_with(canon(&places.repo)) {
        return Err(Failure::new(
            ExitCode::Error,
            anyhow!("the key folder `{}` is inside the repository", keys.display()),
        )
        .hint("set WRIT_KEY_DIR to a folder outside the repository: the review token and the ledger key must not be readable from it"));
    }
    let index = places
        .index
        .canonicalize()
        .unwrap_or_else(|_| places.index.clone());
    let name = writ_core::sha256_hex(index.to_string_lossy().as_bytes());
    let review_file = keys.join(format!("review-{}.token", &name[..32]));
    let review_token = token::load_or_make(&keys, &review_file)?;
    let service = Service::open(places, args.models)?;
    let watch = if args.watch {
        let w = watch::Watch::start(
            service.places.repo.clone(),
            service.places.index.clone(),
            service.embedder(),
        )
        .map_err(|e| Failure::new(ExitCode::Error, anyhow!("watching the repository: {e}")))?;
        eprintln!("writ: watching for changes; re-indexing in the background");
        Some(w)
    } else {
        None
    };
    let app = Arc::new(App {
        service,
        token,
        review_token,
        remote: args.allow_remote,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(ExitCode::Error, e))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| Failure::new(ExitCode::Error, anyhow!("binding {}: {e}", args.addr)))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::new(ExitCode::Error, e))?;
        eprintln!(
            "writ: serving {} on http://{local}/ (review page) and http://{local}/v1/ (API)",
            crate::term::clean(&app.service.places.repo.display().to_string())
        );
        eprintln!(
            "writ: bearer token for agents (propose, ask) in `{}`; for reviewers (approve, reject) in `{}`",
            crate::term::clean(&token_file.display().to_string()),
            crate::term::clean(&review_file.display().to_string())
        );
        // Scripts (and tests) read the bound address from stdout; one that
        // does not read it (a closed stdout) does not stop the server.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {local}").and_then(|()| out.flush());
        drop(out);
        let remote = app.remote;
        let router = api::router(app);
        let router = if remote {
            router
        } else {
            host::guard(router, local.port())
        };
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|e| Failure::new(ExitCode::Error, e))
    })?;
    if let Some(w) = watch {
        w.stop();
    }
    eprintln!("writ: stopped cleanly");
    Ok(ExitCode::Ok)
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
