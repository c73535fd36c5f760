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
"$WRIT_BIN" bench embed "$corpus" --texts-out "$texts" | tee "$texts.embed"
# The baseline's python: ST_PYTHON, else the cached venv if it has
# sentence-transformers (make it once with
# `python3 -m venv "$WRIT_CACHE/venv-st" && "$WRIT_CACHE/venv-st/bin/pip" install sentence-transformers`).
if [ -z "${ST_PYTHON:-}" ] && "$WRIT_CACHE/venv-st/bin/python" -c 'import sentence_transformers' 2>/dev/null; then
  ST_PYTHON="$WRIT_CACHE/venv-st/bin/python"
fi
if [ -n "${ST_PYTHON:-}" ]; then
  "$ST_PYTHON" "$WRIT_ROOT/../shared/eval/embed_baseline.py" "$WRIT_MODELS/all-minilm-l6-v2" "$texts" 2>/dev/null | tail -1 | tee "$texts.st"
  # tokens/s is the field before "tokens/s" on each line.
  rate() { grep -o '[0-9.]* tokens/s' "$1" | head -1 | cut -d' ' -f1; }
  echo "ratio: writ is $(python3 -c "print(f'{$(rate "$texts.embed")/$(rate "$texts.st"):.2f}')")x sentence-transformers"
else
  echo "(baseline skipped: set ST_PYTHON to a python with sentence-transformers)"
fi
echo "== full index"
/usr/bin/time -f "wall %e s, max RSS %M KB" "$WRIT_BIN" index "$corpus" 2>&1 | tail -2
echo "== re-index after touching one file"
echo "# touched" >> "$corpus/src/requests/utils.py"
/usr/bin/time -f "wall %e s" "$WRIT_BIN" index "$corpus" 2>&1 | tail -2
echo "== no-op re-index and status, one file 1,500 folders deep"
deep="$(mktemp -d)/deep"
mkdir -p "$deep/$(printf 'd/%.0s' $(seq 1500))"
printf 'def at_the_bottom():\n    return 1\n' > "$deep/$(printf 'd/%.0s' $(seq 1500))bottom.py"
"$WRIT_BIN" index "$deep" > /dev/null 2>&1
/usr/bin/time -f "index: wall %e s" "$WRIT_BIN" index "$deep" 2>&1 | tail -1
/usr/bin/time -f "status: wall %e s" "$WRIT_BIN" status --repo "$deep" 2>&1 > /dev/null | tail -1
echo "== search latency"
printf '%s\n' "send a prepared request" "merge session cookies" "HTTPAdapter" "parse a header link" \
  "retry on connection errors" "guess the encoding of a response" "proxy settings from the environment" \
  "build the multipart body" "check the status code and raise" "stream the response body in chunks" > "$texts.q"
"$WRIT_BIN" bench search --repo "$corpus" "$texts.q"
echo "== LLM (the prompt of ../shared/eval/llamacpp_bench.py, $(nproc) threads)"
# Both pinned files, each beside llama.cpp on the same file in the same run
# (llama-cpp-python from the test command's set-up, or LLAMA_PYTHON).
LLAMA_PYTHON="${LLAMA_PYTHON:-${WRIT_LLAMACPP_PYTHON:-$WRIT_CACHE/venv-llamacpp/bin/python}}"
for gguf in smollm2-135m-instruct-q4_1 gemma3-270m-q4_k_m; do
  file="$WRIT_MODELS/$gguf/model.gguf"
  [ -f "$file" ] || { echo "($gguf is not fetched: models/fetch.sh $gguf)"; continue; }
  echo "-- $gguf"
  "$WRIT_BIN" bench llm --model "$file"
  if [ -x "$LLAMA_PYTHON" ]; then
    "$LLAMA_PYTHON" "$WRIT_ROOT/../shared/eval/llamacpp_bench.py" "$file" "$(nproc)"
  else
    echo "(llama.cpp baseline skipped: set LLAMA_PYTHON to a python with llama-cpp-python)"
  fi
done
echo "== writ serve: warm search latency over HTTP, then mixed load (4 clients)"
"$WRIT_BIN" serve --repo "$corpus" --addr 127.0.0.1:0 > "$texts.serve" 2> "$texts.serve.err" &
serve_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$texts.serve" 2>/dev/null && break; sleep 0.2; done
# Agents propose with the index folder's token; approvals take the review
# token, whose file (outside the repository) `writ serve` names at start.
review_file="$(sed -n 's/.*for reviewers (approve, reject) in `\(.*\)`$/\1/p' "$texts.serve.err")"
python3 - "$(sed -n 's/listening on //p' "$texts.serve")" "$(cat "$corpus/.writ/serve-token")" "$texts.q" "$(cat "$review_file")" <<'PY'
import json, sys, threading, time, urllib.parse, urllib.request
addr, token, qfile, review = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
queries = [q for q in open(qfile).read().splitlines() if q]
def get(path):
    with urllib.request.urlopen(f"http://{addr}{path}") as r:
        return json.load(r)
def post(path, body, bearer=token):
    req = urllib.request.Request(f"http://{addr}{path}", json.dumps(body).encode(),
                                 {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
def pct(xs, p):
    xs = sorted(xs); return xs[int((len(xs) - 1) * p)]
get("/v1/search?q=warm+up")
times = []
for i in range(200):
    t = time.perf_counter(); get("/v1/search?" + urllib.parse.urlencode({"q": queries[i % len(queries)], "k": 10})); times.append((time.perf_counter() - t) * 1000)
print(f"warm search over HTTP, 200 queries: p50 {pct(times, .5):.1f} ms, p99 {pct(times, .99):.1f} ms")
lat, lock = [], threading.Lock()
def client(c):
    last = None
    for i in range(75):
        t = time.perf_counter()
        if i % 3 == 0: get("/v1/search?" + urllib.parse.urlencode({"q": queries[i % len(queries)]}))
        elif i % 3 == 1: last = post("/v1/proposals", {"source": f"bench{c}", "proposal": {"kind": "note", "title": f"n{i}", "rationale": "r", "citations": [], "text": "t"}})["id"]
        elif last: post(f"/v1/proposals/{last}/approve", {"reviewer": "bench", "reason": "load"}, review)
        with lock: lat.append((time.perf_counter() - t) * 1000)
t0 = time.perf_counter()
ts = [threading.Thread(target=client, args=(c,)) for c in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
secs = time.perf_counter() - t0
v = get("/v1/verify")
print(f"mixed load: {len(lat)} requests in {secs:.2f}s = {len(lat)/secs:.0f} req/s; p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms; ledger ok={v['ok']} events={v['events']}")
PY
kill -TERM "$serve_pid"; wait "$serve_pid" || true
