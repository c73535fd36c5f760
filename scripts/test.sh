#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what is
# missing (scripts/setup.sh, here with chromium for the browser test), then
# checks formatting and lints and runs both test tiers: the fast one (plain
# `cargo test` runs it alone) and the slow one (the real models, the real
# corpus, chromium, the MCP SDK), which must run (WRIT_SLOW_TESTS=1 and
# its cookie).
set -euo pipefail
# The browser test of the review page needs chromium and chromedriver.
export WRIT_BROWSER=1
# Ledger keys of the test repositories go to a throwaway folder, not the
# user's ~/.local/share/writ/keys.
WRIT_KEY_DIR="${WRIT_KEY_DIR:-$(mktemp -d -t writ-test-keys-XXXXXX)}"
export WRIT_KEY_DIR
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$WRIT_ROOT"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --release --locked --quiet --workspace --all-targets -- -D warnings
echo "== cargo test, both tiers (the slow one: real models, requests 2.32.3, chromium, the MCP SDK)"
# The slow tier runs only when asked, and every slow test that runs writes
# its name to a cookie: no cookie (or too few names) means the slow tier
# was skipped, and the suite fails rather than pass on the fast tier alone.
export WRIT_SLOW_TESTS=1
cookie="$CARGO_TARGET_DIR/writ-slow-tests.cookie"
rm -f "$cookie"
started=$SECONDS
cargo test --release --locked --workspace --no-fail-fast
ran=$(sort -u "$cookie" 2>/dev/null | wc -l)
echo "== slow tier: $ran slow tests ran (both tiers: $((SECONDS - started)) s)"
if [ "$ran" -lt "${WRIT_SLOW_MIN:-40}" ]; then
  echo "error: only $ran slow tests ran (cookie $cookie); the slow tier was skipped" >&2
  exit 1
fi
echo "== writ rules test (the default rule set against rules/tests)"
"$WRIT_BIN" rules check --rules rules
"$WRIT_BIN" rules test --rules rules
echo "== artifacts: screenshots of the review page in $CARGO_TARGET_DIR/tmp/artifacts/"
