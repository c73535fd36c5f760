//! `writ serve` and `writ mcp`: load the service once, hand it to the
//! server crate, and print what the server has to say.

use crate::args::{McpArgs, ServeArgs};
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::term::clean;
use std::io::Write;
use std::sync::Arc;
use writ_service::Service;

/// Messages from the server on stderr, one line each with every control
/// escaped (a message quoting a request cannot start a line of its own).
fn log() -> writ_serve::Log {
    Arc::new(|msg: &str| eprintln!("writ: {}", clean(msg)))
}

pub fn serve(args: ServeArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    if !args.addr.ip().is_loopback() && !args.allow_remote {
        return Err(writ_serve::ServeError::NotLoopback(args.addr).into());
    }
    let log = log();
    let tokens = writ_serve::tokens(&places, &log)?;
    let service = Service::open(places, crate::ctx::models(&args.models))?;
    let repo = service.places.repo.clone();
    let options = writ_serve::ServeOptions {
        addr: args.addr,
        allow_remote: args.allow_remote,
        watch: args.watch,
    };
    writ_serve::run(service, tokens, options, log, |ready| {
        if ready.watching {
            eprintln!("writ: watching for changes; re-indexing in the background");
        }
        let local = ready.local;
        eprintln!(
            "writ: serving {} on http://{local}/ (review page) and http://{local}/v1/ (API)",
            clean(&repo.display().to_string())
        );
        eprintln!(
            "writ: bearer token for agents (propose, ask) in `{}`; for reviewers (approve, reject) in `{}`",
            clean(&ready.tokens.agent_file.display().to_string()),
            clean(&ready.tokens.review_file.display().to_string())
        );
        // Scripts (and tests) read the bound address from stdout; one that
        // does not read it (a closed stdout) does not stop the server.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {local}").and_then(|()| out.flush());
    })?;
    eprintln!("writ: stopped cleanly");
    Ok(ExitCode::Ok)
}

/// Serves MCP on stdin/stdout until stdin closes.
pub fn mcp(args: McpArgs) -> CmdResult {
    let places = crate::ctx::places(&args.gate)?;
    let service = Service::open(places, crate::ctx::models(&args.models))?;
    let stdin = std::io::stdin();
    writ_mcp::serve(service, stdin, std::io::stdout())
        .map_err(|e| Failure::new(ExitCode::Error, e))?;
    Ok(ExitCode::Ok)
}
