#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what is
# missing (scripts/setup.sh, here with chromium for the browser test), then
# checks formatting and lints and runs every test with the real models and
# the real corpus.
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
echo "== cargo test (real models, real FAISS and SQLite, requests 2.32.3 as corpus)"
cargo test --release --locked --workspace --no-fail-fast
echo "== writ rules test (the default rule set against rules/tests)"
"$WRIT_BIN" rules check --rules rules
"$WRIT_BIN" rules test --rules rules
echo "== artifacts: screenshots of the review page in $CARGO_TARGET_DIR/tmp/artifacts/"
