#!/usr/bin/env bash
# writ's benchmarks, reported (never asserted): embedding throughput against
# sentence-transformers on the same chunk texts in the same run, full index
# time, re-index after touching one file, cold and warm search latency, and
# the LLM's prefill/decode speed beside llama.cpp's on the same GGUF.
# The peer baseline needs sentence-transformers (a large install); set
# ST_PYTHON to a python that has it, or the baseline is skipped with a note;
# LLAMA_PYTHON likewise for llama-cpp-python.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
corpus="$(mktemp -d)/requests"
cp -r "$WRIT_TEST_CORPUS" "$corpus"
texts="$(mktemp)"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "== embedding throughput (requests 2.32.3, writ's chunks)"
"$WRIT_BIN" bench embed "$corpus" --texts-out "$texts"
if [ -n "${ST_PYTHON:-}" ]; then
  "$ST_PYTHON" "$WRIT_ROOT/../shared/eval/embed_baseline.py" "$WRIT_MODELS/all-minilm-l6-v2" "$texts" 2>/dev/null | tail -1
else
  echo "(baseline skipped: set ST_PYTHON to a python with sentence-transformers)"
fi
echo "== full index"
/usr/bin/time -f "wall %e s, max RSS %M KB" "$WRIT_BIN" index "$corpus" 2>&1 | tail -2
echo "== re-index after touching one file"
echo "# touched" >> "$corpus/src/requests/utils.py"
/usr/bin/time -f "wall %e s" "$WRIT_BIN" index "$corpus" 2>&1 | tail -2
echo "== search latency"
printf '%s\n' "send a prepared request" "merge session cookies" "HTTPAdapter" "parse a header link" \
  "retry on connection errors" "guess the encoding of a response" "proxy settings from the environment" \
  "build the multipart body" "check the status code and raise" "stream the response body in chunks" > "$texts.q"
"$WRIT_BIN" bench search --repo "$corpus" "$texts.q"
echo "== LLM (the prompt of ../shared/eval/llamacpp_bench.py, $(nproc) threads)"
"$WRIT_BIN" bench llm
if [ -n "${LLAMA_PYTHON:-}" ]; then
  "$LLAMA_PYTHON" "$WRIT_ROOT/../shared/eval/llamacpp_bench.py" "$WRIT_MODELS/smollm2-135m-instruct-q4_1/model.gguf" "$(nproc)"
else
  echo "(llama.cpp baseline skipped: set LLAMA_PYTHON to a python with llama-cpp-python)"
fi
