//! `writ`: the command-line front end. Glue only: argument parsing, model
//! and path resolution, output formats and exit codes. The work happens in
//! the library crates under `crates/`.

mod args;
mod bench;
mod cmd;
mod exit;
mod models;

use clap::Parser;
use exit::Failure;

fn main() {
    let cli = args::Cli::parse();
    let code = match cmd::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            report(&failure);
            failure.code
        }
    };
    std::process::exit(code as i32);
}

fn report(failure: &Failure) {
    eprintln!("writ: error: {:#}", failure.error);
    if let Some(hint) = &failure.hint {
        eprintln!("writ: hint: {hint}");
    }
}
