"""Accuracy on a labelled suite the verifier was not built from: prl_verifier against math-verify.

    .venv/bin/python benches/bench_verifier_suite.py                 # both graders, per-kind table
    .venv/bin/python benches/bench_verifier_suite.py --no-mv         # prl only (fast)
    .venv/bin/python benches/bench_verifier_suite.py --json out.json # figures and every disagreement

Not part of the test run; math-verify is the `bench` extra (`math-verify[antlr4_13_2]==0.9.0`).

`benches/verifier_suite.jsonl` holds one labelled (prediction, gold) pair per line, each with its
`source`: other graders' published test suites (math-verify's own tests with their labels, a few
relabelled by hand with the reason in `note`; NeMo-Skills' `math_equal` tests; the Qwen2.5-Math
grader's tests and examples, labelled by hand), and rewrites of real golds (MATH test, MATH-500,
GSM8K, Minerva OCW) of the kinds of issue 13: multiple-choice hedges and spellings, percent,
degrees inside functions, generations cut off inside their box, values too large to compare,
answer forms once rejected, units, and endings without a box.

prl grades each pair with its defaults (`prl_verifier.grade(pred, gold)`, one thread). math-verify
grades a row taken from its own tests with that test's configuration (`mv_config`: extraction
targets, precision, strict, allow_set_relation_comp), and every other row as documented:
`verify(parse(gold), parse(pred))`, a bare gold wrapped in `$...$`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = os.path.join(HERE, "verifier_suite.jsonl")
# kinds where an accepted wrong answer is a reward hack (issue 13: must be zero)
HACK_KINDS = ("choice_hedge", "percent", "degrees_in_function", "truncated_box", "too_large")


def load(path: str = SUITE) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_prl(rows: list[dict]) -> tuple[list, float, list[float]]:
    import prl_verifier as pv

    preds, golds = [r["pred"] for r in rows], [r["gold"] for r in rows]
    pv.grade(preds[:50], golds[:50], threads=1)  # warm-up
    t = time.perf_counter()
    verdicts = pv.grade(preds, golds, threads=1)
    total = time.perf_counter() - t
    lat = []
    for p, g in zip(preds, golds):
        t1 = time.perf_counter()
        pv.grade([p], [g], threads=1)
        lat.append(time.perf_counter() - t1)
    return verdicts, total, lat


def run_math_verify(rows: list[dict]) -> tuple[list[bool], list[float]]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    res, lat = [], []
    for r in rows:
        g, p = r["gold"], r["pred"]
        t = time.perf_counter()
        try:
            cfg = r.get("mv_config")
            if cfg is not None:
                targets = []
                for m in cfg.get("match_types", ["latex", "expr"]):
                    targets.append(LatexExtractionConfig(boxed_match_priority=0) if m == "latex" else ExprExtractionConfig())
                kw = {k: cfg[k] for k in ("strict", "allow_set_relation_comp") if k in cfg}
                if "precision" in cfg:
                    kw["float_rounding"] = cfg["precision"]
                ok = bool(verify(parse(g, targets), parse(p, targets), **kw))
            else:
                gold_text = g if ("\\boxed" in g or "####" in g) else f"${g}$"
                ok = bool(verify(parse(gold_text), parse(p)))
        except Exception:
            ok = False
        lat.append(time.perf_counter() - t)
        res.append(ok)
    return res, lat


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default=SUITE)
    ap.add_argument("--no-mv", action="store_true", help="skip math-verify")
    ap.add_argument("--json", help="write the figures and the disagreements here")
    a = ap.parse_args()
    rows = load(a.suite)
    verdicts, prl_total, prl_lat = run_prl(rows)
    prl_ok = [v.correct == r["label"] for v, r in zip(verdicts, rows)]
    mv_ok: list[bool | None] = [None] * len(rows)
    mv_lat: list[float] = []
    if not a.no_mv:
        mv_res, mv_lat = run_math_verify(rows)
        mv_ok = [m == r["label"] for m, r in zip(mv_res, rows)]

    kinds: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        kinds[r["kind"]].append(i)
    print(f"{len(rows)} labelled pairs ({sum(r['label'] for r in rows)} correct), {len(kinds)} kinds, from {a.suite}")
    print(f"{'kind':38s} {'n':>4s} {'prl':>7s} {'math-verify':>12s}")
    per_kind = {}
    for k in sorted(kinds):
        idx = kinds[k]
        p = sum(prl_ok[i] for i in idx) / len(idx)
        m = None if a.no_mv else sum(bool(mv_ok[i]) for i in idx) / len(idx)
        per_kind[k] = {"n": len(idx), "prl": p, "math_verify": m}
        print(f"{k:38s} {len(idx):4d} {p:7.3f} {'-' if m is None else f'{m:12.3f}':>12s}")
    acc_prl = sum(prl_ok) / len(rows)
    acc_mv = None if a.no_mv else sum(bool(x) for x in mv_ok) / len(rows)
    print(f"{'ALL':38s} {len(rows):4d} {acc_prl:7.4f} {'-' if acc_mv is None else f'{acc_mv:12.4f}':>12s}")
    hacks = [i for i, r in enumerate(rows) if r["kind"] in HACK_KINDS and not r["label"] and verdicts[i].correct]
    print(f"accepted wrong answers of the hedging / percent / degree / truncation / too-large kinds: prl {len(hacks)}", end="")
    if not a.no_mv:
        mv_h = sum(1 for i, r in enumerate(rows) if r["kind"] in HACK_KINDS and not r["label"] and mv_ok[i] is False)
        print(f", math-verify {mv_h}")
    else:
        print()
    rate = len(rows) / prl_total
    print(f"prl: {rate:,.0f} pairs/s on one thread; latency per call p50 {statistics.median(prl_lat) * 1e3:.3f} ms, "
          f"p99 {pct(prl_lat, 0.99) * 1e3:.3f} ms, max {max(prl_lat) * 1e3:.2f} ms")
    if mv_lat:
        mv_rate = len(rows) / sum(mv_lat)
        print(f"math-verify: {mv_rate:,.1f} pairs/s; p50 {statistics.median(mv_lat) * 1e3:.1f} ms, p99 {pct(mv_lat, 0.99) * 1e3:.1f} ms; "
              f"prl / math-verify per core: {rate / mv_rate:,.0f}x")
    dis = []
    for i, r in enumerate(rows):
        if not prl_ok[i]:
            v = verdicts[i]
            dis.append({"id": r["id"], "kind": r["kind"], "label": r["label"], "prl_status": v.status, "extracted": v.extracted,
                        "gold": r["gold"][-120:], "pred": r["pred"][-160:], "source": r["source"], "math_verify_right": mv_ok[i]})
    print(f"\nprl disagreements with the labels: {len(dis)}")
    for d in dis:
        print(f"  #{d['id']} [{d['kind']}] label={d['label']} prl={d['prl_status']} extracted={d['extracted']!r} gold={d['gold']!r}"
              f"  ({d['source']})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"pairs": len(rows), "prl_accuracy": acc_prl, "math_verify_accuracy": acc_mv, "per_kind": per_kind,
                       "hack_kinds_accepted_wrong_prl": len(hacks), "prl_pairs_per_s": rate,
                       "prl_latency_ms": {"p50": statistics.median(prl_lat) * 1e3, "p99": pct(prl_lat, 0.99) * 1e3, "max": max(prl_lat) * 1e3},
                       "math_verify_pairs_per_s": (len(rows) / sum(mv_lat)) if mv_lat else None, "disagreements": dis}, f, indent=1)


if __name__ == "__main__":
    main()
