#!/usr/bin/env bash
# writ's main job on a built-in default: index real third-party code
# (requests 2.32.3 from PyPI, as a git repository), search it, ask the local
# model (its proposals go through the gate like anyone's), send more
# proposals through the gate, show the review queue, approve one, explain an
# action and verify the ledger.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

repo="$WRIT_CACHE/demo/requests"
if [ ! -d "$repo/.git" ]; then
  mkdir -p "$repo"
  cp -r "$WRIT_TEST_CORPUS/." "$repo/"
  git -C "$repo" init -q
  git -C "$repo" add -A
  git -C "$repo" -c user.name=writ-demo -c user.email=demo@writ.invalid commit -qm "requests 2.32.3"
fi
cd "$repo"
run() { printf '\n$ writ %s\n' "$*"; "$WRIT_BIN" "$@" || printf '(exit %s)\n' "$?"; }

run index
# A demo ledger left by a writ from before ledger keys is adopted as it is
# (writ refuses to write to an unkeyed ledger with history until told so).
[ -f .writ/ledger.sqlite ] && "$WRIT_BIN" verify --adopt-key >/dev/null 2>&1 || true
run search "send a prepared request with retries" -k 5
run search "how are cookies merged into a session" -k 3 --path 'src/**'
run search "HTTPAdapter" -k 3 --lang python
run status

# The local model proposes; the gate decides. Greedy, so this is the same
# every run; SmolLM2-135M is small, so expect modest answers.
run ask "How do I set a timeout on a request?"
run ask "Add an example of a timeout to the README" -k 4 --path '*.md'
last=$("$WRIT_BIN" proposals --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
run show "$last"

# Proposals, as any tool could send them (`writ schema proposal`), citing a
# chunk the search found.
cid=$("$WRIT_BIN" search "Requests is a simple, yet elegant, HTTP library" -k 1 --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"][0]["chunk_id"])')
tmp=$(mktemp -d)
python3 - "$tmp" "$cid" <<'PY'
import json, sys
tmp, cid = sys.argv[1], int(sys.argv[2])
def edit(title, path, old, new, cites):
    return {"kind": "edit", "title": title, "rationale": "demo", "citations": cites,
            "diff": f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n"}
props = {
  "1-doc.json": edit("Say what Requests is in the title", "README.md", "# Requests", "# Requests: HTTP for Humans", [cid]),
  "2-source.json": {"kind": "edit", "title": "Bump the version string", "rationale": "demo", "citations": [cid],
                    "diff": "--- a/src/requests/__version__.py\n+++ b/src/requests/__version__.py\n@@ -8 +8 @@\n-__version__ = \"2.32.3\"\n+__version__ = \"2.32.4\"\n"},
  "3-secret.json": {"kind": "edit", "title": "Add a token", "rationale": "demo", "citations": [cid],
                    "diff": "--- /dev/null\n+++ b/.env\n@@ -0,0 +1 @@\n+TOKEN=hunter2\n"},
  "4-escape.json": edit("Edit outside", "../../etc/passwd", "root", "toor", [999999]),
  "5-command.json": {"kind": "command", "title": "Run the tests", "rationale": "demo", "citations": [], "argv": ["pytest", "-q"]},
}
for name, p in props.items():
    json.dump(p, open(f"{tmp}/{name}", "w"))
PY
for p in "$tmp"/*.json; do run propose --file "$p" --source demo; done
run review
# A person decides what is held: the hand-made version bump is approved,
# an edit the model wrote is read and rejected.
held=$("$WRIT_BIN" review --json | python3 -c 'import json,sys; q=json.load(sys.stdin); print(next((p["id"] for p in q if p["kind"] == "edit" and p["source"] == "external:demo"), ""))')
[ -n "$held" ] && run review approve "$held" --reason "version bump checked by hand" --as demo-reviewer
model_edit=$("$WRIT_BIN" review --json | python3 -c 'import json,sys; q=json.load(sys.stdin); print(next((p["id"] for p in q if p["kind"] == "edit" and p["source"].startswith("model:")), ""))')
[ -n "$model_edit" ] && run review show "$model_edit" && run review reject "$model_edit" --reason "renames a test class to nonsense" --as demo-reviewer
run actions
run proposals
run explain A1
run verify --checkpoint "$WRIT_CACHE/demo/ledger-checkpoint.json"
