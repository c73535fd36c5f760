//! The slow tier's switch and its cookie (rust-analyzer's scheme).
//!
//! Tests that need the real models, the real corpus, Chromium or the MCP
//! SDK start with `if writ_testkit::skip_slow_test() { return; }`. Plain
//! `cargo test` (no models, no network) skips them and passes on the fast
//! tier. `WRIT_SLOW_TESTS=1` runs them, and each one that runs appends its
//! name to a cookie file in the target folder; the README's test command
//! removes the cookie first and fails afterwards unless enough slow tests
//! wrote to it, so a suite that silently skipped its slow tier cannot pass.

use std::io::Write;
use std::path::PathBuf;

/// The environment variable that turns the slow tier on.
pub const SLOW_TESTS: &str = "WRIT_SLOW_TESTS";

/// True when the slow tier is off: the calling test should return now.
/// When it is on, records the running test's name in the cookie.
pub fn skip_slow_test() -> bool {
    let on = std::env::var_os(SLOW_TESTS).is_some_and(|v| v == "1");
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    if !on {
        eprintln!("skipping slow test `{name}` (set {SLOW_TESTS}=1 to run it)");
        return true;
    }
    if let Some(cookie) = cookie_path() {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cookie)
            .and_then(|mut f| writeln!(f, "{name}"));
        if let Err(e) = written {
            eprintln!(
                "cannot write the slow-test cookie `{}`: {e}",
                cookie.display()
            );
        }
    }
    false
}

/// `<target>/writ-slow-tests.cookie`, found from the test binary's path
/// (`<target>/<profile>/deps/<test>`), or `$WRIT_SLOW_COOKIE` when set.
pub fn cookie_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WRIT_SLOW_COOKIE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    Some(target.join("writ-slow-tests.cookie"))
}
