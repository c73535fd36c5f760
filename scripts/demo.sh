#!/usr/bin/env bash
# writ's main job on a built-in default: index real third-party code
# (requests 2.32.3 from PyPI), search it, and show the index status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

corpus="$WRIT_TEST_CORPUS"
run() { printf '\n$ writ %s\n' "$*"; "$WRIT_BIN" "$@"; }

run index "$corpus"
run search --repo "$corpus" "send a prepared request with retries" -k 5
run search --repo "$corpus" "how are cookies merged into a session" -k 3 --path 'src/**'
run search --repo "$corpus" "HTTPAdapter" -k 3 --lang python
run status --repo "$corpus"
