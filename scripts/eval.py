#!/usr/bin/env python3
"""Retrieval quality on a ../shared/eval corpus (CodeSearchNet protocol).

Usage: scripts/eval.py WRIT_BINARY EVAL_DIR [EVAL_DIR ...] [-- EXTRA SEARCH ARGS]
EVAL_DIR is what make_pyeval.py wrote: corpus/ and queries.jsonl. Indexes corpus/ (incrementally),
runs every query through `writ search --batch` in each mode, and prints MRR@10, R@1 and R@10.
A hit answers a query when its path is the query's path and its lines overlap the function's.
"""
import json, subprocess, sys


def metrics(writ, corpus, queries, mode, extra):
    inp = "".join(json.dumps({"query": q["query"]}) + "\n" for q in queries)
    out = subprocess.run([writ, "search", "--repo", corpus, "--batch", "-", "-k", "10", "--mode", mode, *extra],
                         input=inp, capture_output=True, text=True, check=True).stdout
    mrr = r1 = r10 = 0.0
    for q, line in zip(queries, out.splitlines()):
        hits = json.loads(line)["hits"]
        for rank, h in enumerate(hits, 1):
            if h["path"] == q["path"] and h["start_line"] <= q["end"] and h["end_line"] >= q["start"]:
                mrr += 1 / rank
                r1 += rank == 1
                r10 += 1
                break
    n = len(queries)
    return mrr / n, r1 / n, r10 / n


def main(writ, *rest):
    dirs, extra = (rest[:rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (rest, [])
    for d in dirs:
        corpus = f"{d}/corpus"
        subprocess.run([writ, "index", corpus], check=True, stderr=subprocess.DEVNULL)
        queries = [json.loads(l) for l in open(f"{d}/queries.jsonl") if l.strip()]
        for mode in ("vector", "lexical", "hybrid"):
            mrr, r1, r10 = metrics(writ, corpus, queries, mode, extra)
            print(f"{d.rstrip('/').split('/')[-1]:<16} {mode:<8} n={len(queries):<4} MRR@10 {mrr:.3f}  R@1 {r1:.3f}  R@10 {r10:.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
