#!/usr/bin/env bash
# Retrieval quality, reproducible: fetches pinned sdists from PyPI, builds the
# docstring -> function eval of ../shared/eval (make_pyeval.py) for each, and
# prints MRR@10, R@1 and R@10 for vector, lexical and hybrid search, in the
# default configuration (every file indexed) and on code only.
# requests and click are the development corpora; the rest are held out.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
make_eval="$WRIT_ROOT/../shared/eval/make_pyeval.py"
if [ ! -f "$make_eval" ]; then
  echo "eval.sh: $make_eval is missing (the shared eval folder beside the checkout)" >&2
  exit 1
fi
dir="$WRIT_CACHE/eval"
mkdir -p "$dir/sdists"
packages=(requests==2.32.3 click==8.1.7 itsdangerous==2.1.2 more-itertools==10.2.0
  flask==3.0.3 attrs==23.2.0 jinja2==3.1.4)
evals=()
for spec in "${packages[@]}"; do
  name="${spec%%==*}"
  out="$dir/eval-$name-${spec##*==}"
  if [ ! -f "$out/queries.jsonl" ]; then
    python3 -m pip download -q --no-deps --no-binary :all: --disable-pip-version-check "$spec" -d "$dir/sdists"
    sdist="$(ls "$dir"/sdists/* | grep -i "/${name//-/[-_]}-${spec##*==}\.tar\.gz$" | head -1)"
    rm -rf "$out"
    python3 "$make_eval" "$sdist" "$out" >/dev/null
  fi
  evals+=("$out")
done
echo "== every file indexed (the default)"
python3 "$WRIT_ROOT/scripts/eval.py" "$WRIT_BIN" "${evals[@]}"
echo "== code only (--lang python: the candidates of a one-chunk-per-function index)"
python3 "$WRIT_ROOT/scripts/eval.py" "$WRIT_BIN" "${evals[@]}" -- --lang python
