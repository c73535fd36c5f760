#!/usr/bin/env bash
# Retrieval quality, reproducible, in every language writ chunks by syntax.
# Each pinned package (sources from PyPI, crates.io through cargo's registry
# cache, npm and Debian) goes through `writ eval`: every documented
# function's first doc sentence is a query, docs are blanked in a temporary
# copy, and writ's three modes are scored beside the peers' baseline (40-line
# windows with the path prepended, BM25, their fusion) on the same files with
# the same model. Prints MRR@10, R@1 and R@10 per package and mode.
#
#   scripts/eval.sh            every package
#   scripts/eval.sh rust go    only these languages (python rust go js)
#   scripts/eval.sh --shared   also the make_pyeval.py path of ../shared/eval
#
# Development set (looked at while changing writ): requests, click,
# itertools, indexmap, express, commander, pflag. Everything else is held
# out: read its figures, do not tune to them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
shared=0
langs=()
for a in "$@"; do
  case "$a" in
    --shared) shared=1 ;;
    python|rust|go|js) langs+=("$a") ;;
    *) echo "eval.sh: unknown argument $a (python, rust, go, js, --shared)" >&2; exit 2 ;;
  esac
done
[ ${#langs[@]} -eq 0 ] && langs=(python rust go js)
want() { [[ " ${langs[*]} " == *" $1 "* ]]; }
dir="$WRIT_CACHE/eval"
mkdir -p "$dir/sdists" "$dir/npm" "$dir/deb" "$dir/reports"
sources=()

python_packages=(requests==2.32.3 click==8.1.7 itsdangerous==2.1.2 more-itertools==10.2.0
  flask==3.0.3 attrs==23.2.0 jinja2==3.1.4)
rust_crates=(itertools-0.14.0 indexmap-2.14.2 http-1.5.0 bytes-1.12.2 globset-0.4.22 walkdir-2.5.1)
npm_packages=(express@4.21.2 commander@12.1.0 koa@2.15.3 axios@1.7.9 rxjs@7.8.1)
go_debs=(golang-github-spf13-pflag-dev golang-github-spf13-cobra-dev golang-github-google-go-cmp-dev)

sdist() { # name==version -> the unpacked sdist folder
  local spec="$1" name="${1%%==*}" version="${1##*==}"
  local out="$dir/src/python-$name-$version"
  if [ ! -d "$out" ]; then
    python3 -m pip download -q --no-deps --no-binary :all: --disable-pip-version-check "$spec" -d "$dir/sdists"
    local file
    file="$(ls "$dir"/sdists/* | grep -i "/${name//-/[-_]}-$version\.tar\.gz$" | head -1)"
    mkdir -p "$out.tmp" && tar -xzf "$file" -C "$out.tmp" --strip-components=1 && mv "$out.tmp" "$out"
  fi
  printf '%s\n' "$out"
}
crate() { # name-version -> the crate's sources in cargo's registry cache
  local found
  found="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$1" 2>/dev/null | head -1)"
  if [ -z "$found" ]; then
    (cd "$WRIT_ROOT" && cargo fetch -q)
    found="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$1" | head -1)"
  fi
  printf '%s\n' "$found"
}
npm_package() { # name@version -> the unpacked package
  local out="$dir/src/npm-${1/@/-}"
  if [ ! -d "$out" ]; then
    local tgz
    tgz="$(cd "$dir/npm" && npm pack --silent "$1" | tail -1)"
    mkdir -p "$out.tmp" && tar -xzf "$dir/npm/$tgz" -C "$out.tmp" --strip-components=1 && mv "$out.tmp" "$out"
  fi
  printf '%s\n' "$out"
}
go_deb() { # Debian package -> its Go sources
  local out="$dir/src/deb-$1"
  if [ ! -d "$out" ]; then
    (cd "$dir/deb" && apt-get download -q "$1" >/dev/null 2>&1 || { as_root apt-get update -q >/dev/null && apt-get download -q "$1" >/dev/null; })
    mkdir -p "$out.tmp" && dpkg-deb -x "$(ls "$dir"/deb/"$1"_*.deb | head -1)" "$out.tmp/root"
    mv "$(find "$out.tmp/root/usr/share/gocode/src" -name go.mod -printf '%h\n' | head -1)" "$out"
    rm -rf "$out.tmp"
  fi
  printf '%s\n' "$out"
}

if want python; then for p in "${python_packages[@]}"; do sources+=("python:${p/==/-}:$(sdist "$p")"); done; fi
if want rust; then for c in "${rust_crates[@]}"; do sources+=("rust:$c:$(crate "$c")"); done; fi
if want js; then for p in "${npm_packages[@]}"; do sources+=("js:${p/@/-}:$(npm_package "$p")"); done; fi
if want go; then for d in "${go_debs[@]}"; do sources+=("go:${d#golang-}:$(go_deb "$d")"); done; fi

reports=()
for s in "${sources[@]}"; do
  IFS=: read -r lang name path <<<"$s"
  out="$dir/reports/$name.json"
  echo "eval.sh: $name ($lang)" >&2
  if "$WRIT_BIN" eval "$path" --max-queries 0 --misses 20 --json >"$out" 2>"$out.err"; then
    reports+=("$out")
  else
    echo "eval.sh: $name failed: $(tail -2 "$out.err")" >&2
  fi
done
python3 "$WRIT_ROOT/scripts/eval_table.py" --full "${reports[@]}"

if [ "$shared" = 1 ]; then
  make_eval="$WRIT_ROOT/../shared/eval/make_pyeval.py"
  evals=()
  for spec in "${python_packages[@]}"; do
    name="${spec%%==*}"
    out="$dir/eval-$name-${spec##*==}"
    if [ ! -f "$out/queries.jsonl" ]; then
      file="$(ls "$dir"/sdists/* | grep -i "/${name//-/[-_]}-${spec##*==}\.tar\.gz$" | head -1)"
      rm -rf "$out"
      python3 "$make_eval" "$file" "$out" >/dev/null
    fi
    evals+=("$out")
  done
  echo "== ../shared/eval corpora (make_pyeval.py), every file indexed"
  python3 "$WRIT_ROOT/scripts/eval.py" "$WRIT_BIN" "${evals[@]}"
fi
