#!/usr/bin/env bash
# writ at scale, reported (never asserted); see index/SCALE.md for figures.
#
# (a) A real large corpus every machine that builds writ has: the sources
#     of writ's own dependency tree (`cargo vendor --offline` into a temp
#     folder), indexed for real with the real model: files, chunks, the
#     time split (walk, chunk, embed, publish), peak RSS and index size.
#     By default a fixed subset of twelve crates (Rust and C++, about
#     64,000 chunks, about 25 minutes on 2 cores); SCALE_FULL=1 indexes all
#     of it (hours).
# (b) The vector store alone at 100k, 1M and 3M vectors (SCALE_COUNTS to
#     change), seeded with (a)'s real vectors: `writ bench vectors`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "== (a) vendoring writ's dependency tree"
cargo vendor --offline --manifest-path "$WRIT_ROOT/Cargo.toml" "$work/vendor" > /dev/null
corpus="$work/corpus"
mkdir -p "$corpus"
if [ "${SCALE_FULL:-0}" = 1 ]; then
  cp -r "$work/vendor/." "$corpus/"
else
  for c in tokio candle-transformers faiss-sys rustix candle-core hyper regex-automata \
           rusqlite clap_builder serde_json ureq axum; do
    d="$(ls -d "$work/vendor/$c" "$work/vendor/$c"-[0-9]* 2>/dev/null | head -1)"
    [ -n "$d" ] && cp -r "$d" "$corpus/"
  done
fi
git -C "$corpus" init -q
"$WRIT_BIN" index --estimate "$corpus"
/usr/bin/time -f "wall %e s, peak RSS %M KB" "$WRIT_BIN" index --json "$corpus" > "$work/index.json" 2> "$work/index.err" || {
  cat "$work/index.err"; exit 1; }
tail -1 "$work/index.err"
python3 - "$work/index.json" "$corpus/.writ" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
size = sum(os.path.getsize(os.path.join(sys.argv[2], f)) for f in os.listdir(sys.argv[2]))
p, s = r["phases"], r["seconds"]
print(f"{r['files_scanned']} files, {r['chunks_total']} chunks in {s:.0f} s: "
      f"{r['files_scanned']/s:.1f} files/s, {r['chunks_embedded']/s:.1f} chunks/s")
print("time split: " + ", ".join(f"{k} {v:.1f} s ({100*v/s:.0f}%)" for k, v in p.items()))
print(f"index size {size/2**20:.0f} MiB")
PY
echo "== (b) the vector store alone"
counts=()
for n in ${SCALE_COUNTS:-100000 1000000 3000000}; do counts+=(--count "$n"); done
"$WRIT_BIN" bench vectors --from "$corpus/.writ" --work "$work" "${counts[@]}"
