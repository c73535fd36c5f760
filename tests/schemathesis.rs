//! Schemathesis (pinned, from PyPI, in a venv outside the clone that
//! `scripts/setup.sh` installs and names in `WRIT_SCHEMATHESIS`) against a
//! real `writ serve` on a small indexed repository: every check it has,
//! on cases generated from `/v1/openapi.json`, so the document and the
//! server cannot drift apart.
//!
//! Two runs, both on loopback, with a fixed seed and a bounded number of
//! examples per operation (`WRIT_SCHEMATHESIS_EXAMPLES`,
//! `WRIT_SCHEMATHESIS_SEED` override them):
//!
//! - every operation but `/v1/ask`, valid and invalid cases, the review
//!   token in an `Authorization` header (it may do everything the agent
//!   token may, and approve and reject too); links from a proposal to its
//!   approval, rejection and chain drive the stateful phase;
//! - `/v1/ask`, invalid cases only. A valid question would run the
//!   language model (20-90 s a call here), so it is left to the in-process
//!   tests with a scripted model. The server is started with
//!   `--model` naming a file that does not exist: should an invalid body
//!   ever get past validation, it fails fast with a 503 (which
//!   `not_a_server_error` reports) rather than generating for a minute.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::server::Server;
use common::{text, wait_bounded, Repo};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "README.md",
        "# Shop\n\nA tiny shop: prices, carts and totals.\n",
    );
    repo.write(
        "src/cart.py",
        "def total(prices):\n    \"\"\"Sum of the prices in the cart.\"\"\"\n    return sum(prices)\n\n\ndef discount(total, percent):\n    return total * (100 - percent) / 100\n",
    );
    repo.write(
        "src/lib.rs",
        "/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    repo
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// One `schemathesis run`; panics with its report unless it passes.
fn run(cli: &PathBuf, work: &std::path::Path, name: &str, args: &[&str]) {
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let started = Instant::now();
    // To a file, not a pipe: a long report must not block the run.
    let log = work.join(format!("{}.log", name.replace([' ', ','], "-")));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(cli)
        .arg("run")
        .args(args)
        .current_dir(work)
        .env("PYTHONPATH", &hooks)
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        // Nothing from a user's config or a previous run's example database.
        .env("HYPOTHESIS_STORAGE_DIRECTORY", work.join(".hypothesis"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", cli.display()));
    let out = wait_bounded(child, Duration::from_secs(600));
    let report = text(&std::fs::read(&log).unwrap());
    let out = out.unwrap_or_else(|| panic!("schemathesis ({name}) ran over 10 minutes:\n{report}"));
    assert!(
        out.status.success(),
        "schemathesis ({name}) failed ({:?}):\n{report}",
        out.status.code()
    );
    // The summary, for whoever reads the test's output.
    let summary: Vec<&str> = report
        .lines()
        .filter(|l| {
            ["generated", "Scenarios", "API Links", "Seed", "Selected"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect();
    eprintln!(
        "schemathesis ({name}): {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        summary.join("\n")
    );
}

#[test]
fn schemathesis_finds_the_server_as_its_document_says() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // The slow tier needs the real tool: a missing one fails, never skips.
    let cli = std::env::var_os("WRIT_SCHEMATHESIS").map(PathBuf::from).unwrap_or_else(|| {
        panic!("WRIT_SCHEMATHESIS is not set: scripts/setup.sh (run by scripts/test.sh) installs schemathesis in a venv and sets it")
    });
    assert!(
        cli.is_file(),
        "WRIT_SCHEMATHESIS `{}` is not a file",
        cli.display()
    );
    let repo = repo();
    let work = tempfile::tempdir().unwrap();
    let no_model = work.path().join("no-language-model.gguf");
    let server = Server::start_with(repo.path(), &["--model", no_model.to_str().unwrap()]);
    let url = format!("http://{}/v1/openapi.json", server.addr);
    let auth = format!("Authorization: Bearer {}", server.review_token);
    let examples = env_or("WRIT_SCHEMATHESIS_EXAMPLES", "50");
    let seed = env_or("WRIT_SCHEMATHESIS_SEED", "1");
    let common = [
        url.as_str(),
        "--checks",
        "all",
        "--header",
        auth.as_str(),
        "--max-examples",
        examples.as_str(),
        "--seed",
        seed.as_str(),
        "--request-timeout",
        "60",
        "--warnings",
        "off",
    ];
    let mut everything = common.to_vec();
    everything.extend([
        "--exclude-path",
        "/v1/ask",
        "--exclude-path",
        "/v1/ask/stream",
    ]);
    run(&cli, work.path(), "every operation but ask", &everything);
    let mut ask = common.to_vec();
    ask.extend([
        "--include-path",
        "/v1/ask",
        "--include-path",
        "/v1/ask/stream",
        "--mode",
        "negative",
        // Nothing links to or from ask: no stateful phase.
        "--phases",
        "examples,coverage,fuzzing",
    ]);
    run(&cli, work.path(), "ask, invalid input only", &ask);
    drop(server);
}
