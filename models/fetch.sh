#!/usr/bin/env bash
# Fetches writ's pinned models (models/manifest.toml) into the model cache,
# verified by sha256. Idempotent. See models/fetch.py for options.
set -euo pipefail
exec python3 "$(dirname "$0")/fetch.py" "$@"
