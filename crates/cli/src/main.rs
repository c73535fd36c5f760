//! `writ`: the command-line front end. Glue only: argument parsing,
//! printing and exit codes (ripgrep's `crates/core` layout). The work
//! happens in the library crates under `crates/`: `writ-service` resolves
//! places and models and answers requests, `writ-ask` runs the ask
//! pipeline, `writ-serve` and `writ-mcp` are the other two front ends.

mod args;
mod ask;
mod bench;
mod bench_gate;
mod bench_vectors;
mod cmd;
mod config;
mod ctx;
mod docs;
mod eval;
mod exit;
mod keys;
mod models;
mod out;
mod review;
mod rules;
mod servers;
mod settings;
mod show;
mod term;

use clap::{CommandFactory, FromArgMatches};
use exit::Failure;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // candle's CPU pool spin-waits between ops; writ parallelises embedding
    // across batches instead (one worker per core), which measured 1.3x
    // faster. A value the user set wins.
    // `writ ask` runs one model on both cores instead, so it keeps
    // candle's default pool.
    let matches = args::Cli::command().get_matches();
    let mut cli = args::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let generates = matches!(
        &cli.command,
        args::Command::Ask(_)
            | args::Command::Serve(_)
            | args::Command::Mcp(_)
            | args::Command::Bench(args::BenchArgs {
                what: args::BenchWhat::Llm { .. }
            })
    );
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() && !generates {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let code = match settings::apply(&mut cli, &matches).and_then(|()| cmd::run(cli)) {
        Ok(code) => code,
        Err(failure) if out::is_broken_pipe(&failure.error) => out::quiet_exit(),
        Err(failure) => {
            report(&failure);
            failure.code
        }
    };
    std::process::exit(code as i32);
}

/// Prints a failure on stderr. Messages quote outside text (file names,
/// proposal fields, rule files), so they are shown with controls escaped;
/// the line breaks of a multi-line message are kept but indented, so no
/// quoted text can start a line that looks like writ's own.
fn report(failure: &Failure) {
    use std::io::Write;
    let shown = |s: &str| term::block(s).replace('\n', "\n    ");
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "writ: error: {}",
        shown(&format!("{:#}", failure.error))
    );
    if let Some(hint) = &failure.hint {
        let _ = writeln!(err, "writ: hint: {}", shown(hint));
    }
}
