"""Schemathesis hooks for `tests/schemathesis.rs` (loaded through
SCHEMATHESIS_HOOKS with this folder on PYTHONPATH).

One hook, and why: `paths` items are globs, and whether a string is a glob
that globset accepts (balanced, possibly nested `{}` alternates, `[]`
classes with ordered ranges, no dangling `\\`) is not something JSON
Schema can say. The document therefore types them as plain strings, and
writ answers a glob it cannot parse with a 400 naming it; schemathesis
would read that 400 on a schema-valid body as "valid data refused". So
generated globs lose their metacharacters here, and the glob errors are
tested in process instead (crates/serve/tests/bounds.rs). Nothing else is
filtered or changed: every other field reaches the server as generated.
"""

import schemathesis

GLOB_META = str.maketrans({c: "_" for c in "[]{}\\"})


@schemathesis.hook
def map_case(context, case):
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("paths"), list):
        body["paths"] = [
            p.translate(GLOB_META) if isinstance(p, str) else p for p in body["paths"]
        ]
    return case
