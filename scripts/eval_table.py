#!/usr/bin/env python3
"""Summarises `writ eval --json` reports: one row per package, MRR@10 / R@1 / R@10 per mode,
the best peer figure and writ's margin over it, and whether hybrid fell more than 0.01 below
the better of writ's single engines.

Usage: scripts/eval_table.py [--full] REPORT.json [REPORT.json ...]
--full adds one line per package and mode with MRR@10, R@1 and R@10.
"""
import json, os, sys

MODES = ["hybrid", "vector", "lexical", "peer-rrf", "peer-vector", "peer-bm25"]


def full(paths):
    print(f"{'package':<24} {'mode':<12} {'MRR@10':>7} {'R@1':>6} {'R@10':>6}")
    for p in paths:
        r = json.load(open(p))
        name = os.path.basename(p)[:-5]
        for x in r["overall"]:
            print(f"{name:<24} {x['mode']:<12} {x['mrr10']:>7.3f} {x['r1']:>6.3f} {x['r10']:>6.3f}")


def main(paths):
    print(f"{'package':<24} {'lang':<10} {'n':>4}  " + "  ".join(f"{m:>11}" for m in MODES) + "   vs best peer  hybrid-best single")
    for p in paths:
        r = json.load(open(p))
        s = {x["mode"]: x for x in r["overall"]}
        lang = "+".join(l["language"] for l in r["languages"][:2])
        cells = "  ".join(f"{s[m]['mrr10']:>11.3f}" if m in s else f"{'-':>11}" for m in MODES)
        peer = max((s[m]["mrr10"] for m in MODES[3:] if m in s), default=float("nan"))
        single = max(s["vector"]["mrr10"], s["lexical"]["mrr10"])
        name = os.path.basename(p)[:-5]
        print(f"{name:<24} {lang:<10} {r['tasks']:>4}  {cells}   {s['hybrid']['mrr10'] - peer:>+12.3f}  {s['hybrid']['mrr10'] - single:>+17.3f}")
    print()
    print("R@1 / R@10 (hybrid, best peer mode by MRR)")
    for p in paths:
        r = json.load(open(p))
        s = {x["mode"]: x for x in r["overall"]}
        best = max(MODES[3:], key=lambda m: s[m]["mrr10"] if m in s else -1)
        name = os.path.basename(p)[:-5]
        print(f"{name:<24} hybrid {s['hybrid']['r1']:.3f} / {s['hybrid']['r10']:.3f}   {best} {s[best]['r1']:.3f} / {s[best]['r10']:.3f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args == ["--full"]:
        sys.exit(__doc__)
    if args[0] == "--full":
        main(args[1:])
        print()
        full(args[1:])
    else:
        main(args)
