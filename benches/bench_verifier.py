"""Benchmark: prl_verifier (Rust) against math-verify 0.9.0 on generated, labelled pairs.

    .venv/bin/python benches/bench_verifier.py            # 6,000 pairs, all of math-verify
    .venv/bin/python benches/bench_verifier.py --n 2000 --mv-limit 500

Not part of the test run. Needs `math-verify[antlr4_13_2]==0.9.0` (the `bench` extra).

The generator makes (gold, generation) pairs across the answer kinds of rust_verifier/README.md, with a label
(is the generation's final answer equivalent to the gold?) known by construction: each kind
produces the gold, several equivalent spellings and several non-equivalent perturbations. The
generation wraps the answer in 300-1,500 characters of step-by-step text and ends with one of
the usual answer formats (\\boxed{}, "The final answer is $..$", "#### ..", "Final answer: ..");
a few generations carry no answer at all (label False). Gold is a bare answer, a GSM8K solution
(`#### N`) or a MATH solution (`\\boxed{}`).

math-verify is run as documented: `verify(parse(gold), parse(generation))`, one process; a bare
gold is wrapped in `$...$` (its README's way to mark a LaTeX gold), solutions are passed as is.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from fractions import Fraction

# ------------------------------------------------------------------------------------------------
# generator: each kind returns (gold, [equivalent spellings], [non-equivalent spellings])


def k_integer(r: random.Random):
    n = r.randint(2, 5000)
    good = [str(n), f"{n:,}" if n >= 1000 else f"{n}.0", f"\\${n}" if r.random() < 0.5 else f"{n}.00"]
    bad = [str(n + r.choice([-1, 1, 10])), str(n * 2)]
    return str(n), good, bad


def k_big_integer(r: random.Random):
    n = r.randint(10**24, 10**30)
    return str(n), [str(n), f"{n:,}"], [str(n + 1), str(n - 1)]


def k_fraction(r: random.Random):
    q = r.randint(2, 40)
    p = r.randint(1, 5 * q)
    f = Fraction(p, q)
    if f.denominator == 1:
        p, q = 2 * p + 1, 2 * q
        f = Fraction(p, q)
    p, q = f.numerator, f.denominator
    k = r.randint(2, 5)
    good = [f"\\frac{{{p}}}{{{q}}}", f"\\dfrac{{{p}}}{{{q}}}", f"{p}/{q}", f"\\frac{{{k * p}}}{{{k * q}}}"]
    if all(d in (2, 5) for d in _factors(q)):
        good.append(str(float(f)))
    bad = [f"\\frac{{{p + 1}}}{{{q}}}", f"\\frac{{{q}}}{{{p}}}" if p != q else f"\\frac{{{p}}}{{{q + 1}}}", f"{float(f):.2f}" if float(f) != round(float(f), 2) else f"{p}/{q + 1}"]
    return f"\\frac{{{p}}}{{{q}}}", good, bad


def _factors(n: int) -> list[int]:
    out, d = [], 2
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out


def k_decimal(r: random.Random):
    v = Fraction(r.randint(1, 99999), 100)
    s = f"{float(v):.2f}"
    return s, [s, s.rstrip("0").rstrip(".") if "." in s else s, f"\\frac{{{v.numerator}}}{{{v.denominator}}}"], [f"{float(v) + 0.01:.2f}", f"{float(v) * 10:.2f}"]


def k_radical(r: random.Random):
    a = r.randint(2, 9)
    b = r.choice([2, 3, 5, 6, 7, 10, 11, 13])
    good = [f"{a}\\sqrt{{{b}}}", f"\\sqrt{{{a * a * b}}}", f"{a} \\sqrt {b}" if b < 10 else f"{a}\\cdot\\sqrt{{{b}}}", f"\\frac{{{2 * a}\\sqrt{{{b}}}}}{{2}}"]
    bad = [f"{a}\\sqrt{{{b + 1}}}", f"{a + 1}\\sqrt{{{b}}}", f"\\sqrt{{{a * b}}}"]
    return f"{a}\\sqrt{{{b}}}", good, bad


def k_pi(r: random.Random):
    k, m = r.randint(1, 12), r.choice([2, 3, 4, 6])
    g = f"\\frac{{{k}\\pi}}{{{m}}}"
    return g, [g, f"\\frac{{{k}}}{{{m}}}\\pi", f"{k}\\pi/{m}"], [f"\\frac{{{k + 1}\\pi}}{{{m}}}", f"\\frac{{{k}}}{{{m}}}", f"{k / m:.3f}"]


def k_complex(r: random.Random):
    a, b = r.randint(-9, 9), r.randint(1, 9)
    g = f"{a}+{b}i"
    return g, [g, f"{b}i+{a}", f"{a} + {b} i"], [f"{a}-{b}i", f"{b}+{a}i" if a != b else f"{a}+{b + 1}i"]


def k_polynomial(r: random.Random):
    a, b = r.randint(-6, 6), r.randint(1, 7)
    # (x+a)(x+b) = x^2 + (a+b)x + ab
    s, p = a + b, a * b
    g = f"x^2{s:+d}x{p:+d}"
    good = [g, f"(x{a:+d})(x{b:+d})", f"{p:+d}+{s}x+x^2".lstrip("+") if s >= 0 else f"x^2-{-s}x{p:+d}"]
    bad = [f"x^2{s:+d}x{p + 1:+d}", f"(x{a:+d})(x{b + 1:+d})"]
    return g, good, bad


def k_solutions(r: random.Random):
    a, b = r.sample(range(-9, 10), 2)
    g = f"{a}, {b}"
    return g, [g, f"{b}, {a}", f"\\{{{b},{a}\\}}", f"x={a} \\text{{ or }} x={b}"], [f"{a}, {b + 20}", f"{a}"]


def k_tuple(r: random.Random):
    a, b = r.sample(range(-9, 10), 2)
    g = f"({a},{b})"
    return g, [g, f"\\left( {a}, {b} \\right)", f"({a}, {b}.0)"], [f"({b},{a})", f"({a},{b + 1})"]


def k_interval(r: random.Random):
    a = r.randint(-9, 5)
    b = a + r.randint(1, 8)
    g = f"[{a},{b})"
    return g, [g, f"\\left[{a}, {b}\\right)", f"{a} \\le x < {b}"], [f"({a},{b})", f"[{a},{b}]", f"[{a},{b + 1})"]


def k_union(r: random.Random):
    a = r.randint(-9, 0)
    b = a + r.randint(1, 5)
    g = f"(-\\infty,{a})\\cup({b},\\infty)"
    return g, [g, f"({b}, \\infty) \\cup (-\\infty, {a})", f"x<{a} \\text{{ or }} x>{b}"], [f"(-\\infty,{a}]\\cup({b},\\infty)", f"(-\\infty,{a})\\cup({b + 1},\\infty)"]


def k_matrix(r: random.Random):
    m = [[r.randint(-9, 9) for _ in range(2)] for _ in range(2)]
    body = " \\\\ ".join(" & ".join(str(x) for x in row) for row in m)
    g = f"\\begin{{pmatrix}} {body} \\end{{pmatrix}}"
    good = [g, f"\\begin{{bmatrix}}{body}\\end{{bmatrix}}"]
    m2 = [row[:] for row in m]
    m2[1][1] += 1
    body2 = " \\\\ ".join(" & ".join(str(x) for x in row) for row in m2)
    bad = [f"\\begin{{pmatrix}} {body2} \\end{{pmatrix}}"]
    return g, good, bad


def k_equation(r: random.Random):
    m, c = r.randint(2, 9), r.randint(1, 9)
    g = f"y={m}x+{c}"
    return g, [g, f"y = {c} + {m}x", f"{m}x - y + {c} = 0"], [f"y={m}x-{c}", f"y={m + 1}x+{c}"]


def k_assignment(r: random.Random):
    v = r.randint(-20, 20)
    return str(v), [f"x = {v}", str(v), f"x={v}.0"], [f"x = {v + 1}", f"x = {-v - 1}"]


def k_inequality(r: random.Random):
    a = r.randint(-9, 9)
    g = f"(-\\infty,{a})"
    return g, [g, f"x<{a}", f"x < {a}"], [f"x\\le {a}", f"x>{a}", f"(-\\infty,{a}]"]


def k_choice(r: random.Random):
    c = r.choice("ABCDE")
    other = r.choice([x for x in "ABCDE" if x != c])
    return f"\\text{{({c})}}", [f"({c})", c, f"\\text{{({c})}}"], [f"({other})", other]


def k_percent(r: random.Random):
    p = r.randint(1, 99)
    return f"{p}\\%", [f"{p}\\%", str(p), f"{p}%"], [f"{p + 1}\\%", str(p + 5)]


def k_degrees(r: random.Random):
    d = r.choice([15, 30, 36, 45, 60, 72, 90, 120, 135, 150])
    return f"{d}^\\circ", [f"{d}^\\circ", str(d), f"{d}^{{\\circ}}", f"{d} degrees"], [f"{d + 5}^\\circ", str(180 - d) if d != 90 else "45"]


def k_units(r: random.Random):
    n = r.randint(2, 500)
    u = r.choice(["cm", "inches", "meters", "feet"])
    return f"{n}\\text{{ {u}}}", [f"{n}\\text{{ {u}}}", str(n), f"{n} {u}"], [f"{n + 1}\\text{{ {u}}}", str(n * 10)]


def k_text(r: random.Random):
    words = ["Monday", "Tuesday", "Wednesday", "even", "odd", "Evelyn", "Navin", "east", "ellipse", "parabola"]
    w = r.choice(words)
    o = r.choice([x for x in words if x != w])
    return f"\\text{{{w}}}", [f"\\text{{{w}}}", w, f"\\textbf{{{w}}}"], [f"\\text{{{o}}}", o]


def k_power(r: random.Random):
    e = r.randint(20, 99)
    return f"\\frac{{1}}{{2^{{{e}}}}}", [f"2^{{-{e}}}", f"\\frac{{1}}{{2^{{{e}}}}}", f"\\left(\\frac12\\right)^{{{e}}}"], [f"2^{{-{e - 1}}}", f"\\frac{{1}}{{2^{{{e + 1}}}}}"]


def k_big_irrational(r: random.Random):
    # differences far below f64 resolution: 10^k + sqrt(a) vs 10^k + sqrt(a+1)
    k = r.randint(20, 40)
    a = r.choice([2, 3, 5, 6, 7])
    g = f"10^{{{k}}}+\\sqrt{{{a}}}"
    good = [g, f"\\sqrt{{{a}}}+10^{{{k}}}", f"10^{{{k}}}+\\sqrt{{{4 * a}}}/2"]
    bad = [f"10^{{{k}}}+\\sqrt{{{a + 1}}}", f"10^{{{k}}}+{math.sqrt(a):.17f}"]
    return g, good, bad


def k_function(r: random.Random):
    m, c = r.randint(2, 9), r.randint(1, 9)
    f = r.choice("fgh")
    g = f"{f}(x)={m}x+{c}"
    return g, [g, f"{m}x+{c}", f"{f}(x) = {c} + {m}x", f"y={m}x+{c}"], [f"{f}(x)={m}x-{c}", f"{m + 1}x+{c}"]


def k_base(r: random.Random):
    b = r.choice([2, 3, 5, 6, 7, 8, 9])
    v = r.randint(b + 1, 500)
    digits = ""
    x = v
    while x:
        digits = str(x % b) + digits
        x //= b
    g = f"{digits}_{{{b}}}" if r.random() < 0.5 else f"{digits}_{b}"
    return g, [g, f"{digits}_{b}", str(v)], [f"{v + 1}", f"{int(digits) + 1}_{{{b}}}" if (int(digits) + 1) % 10 < b else str(v - 1)]


def k_sequence(r: random.Random):
    a, d = r.randint(1, 9), r.randint(2, 5)
    xs = [a + d * i for i in range(3)]
    g = ", ".join(map(str, xs)) + ", \\ldots"
    good = [g, ",".join(map(str, xs)) + ",\\dots", ", ".join(map(str, xs)) + ", ..."]
    bad = [", ".join(map(str, xs[::-1])) + ", \\ldots", ", ".join(map(str, xs))]
    return g, good, bad


def k_unit_conversion(r: random.Random):
    n = r.randint(2, 90)
    u, v, f = r.choice([("m", "cm", 100), ("km", "m", 1000), ("hours", "minutes", 60), ("kg", "g", 1000), ("feet", "inches", 12)])
    g = f"{n}\\text{{ {u}}}"
    return g, [g, f"{n * f}\\text{{ {v}}}", str(n)], [f"{n}\\text{{ {v}}}", f"{n * f}"]


def k_radians(r: random.Random):
    d, rad = r.choice([(30, "\\frac{\\pi}{6}"), (45, "\\frac{\\pi}{4}"), (60, "\\frac{\\pi}{3}"), (90, "\\frac{\\pi}{2}"), (120, "\\frac{2\\pi}{3}"), (135, "\\frac{3\\pi}{4}")])
    g = f"{d}^\\circ"
    return g, [g, rad, str(d)], [f"\\frac{{\\pi}}{{{d // 15 + 2}}}", f"{d + 15}^\\circ"]


KINDS = {
    "integer": k_integer, "big_integer": k_big_integer, "fraction": k_fraction, "decimal": k_decimal,
    "radical": k_radical, "pi": k_pi, "complex": k_complex, "polynomial": k_polynomial,
    "solution_set": k_solutions, "tuple": k_tuple, "interval": k_interval, "union": k_union,
    "matrix": k_matrix, "equation": k_equation, "assignment": k_assignment, "inequality": k_inequality,
    "choice": k_choice, "percent": k_percent, "degrees": k_degrees, "units": k_units, "text": k_text,
    "power": k_power, "big_irrational": k_big_irrational, "function": k_function, "base": k_base,
    "sequence": k_sequence, "unit_conversion": k_unit_conversion, "radians": k_radians,
}

FILLER = [
    "First, we note that {a} + {b} = {c}.",
    "Multiplying both sides by {a}, we get {d}.",
    "Let us check the case where $x = {a}$: then $x^2 = {e}$.",
    "Since {c} is larger than {a}, the inequality holds.",
    "We can rewrite the expression as $\\frac{{{a}}}{{{b}}} \\cdot {b} = {a}$.",
    "Subtracting {b} from {c} leaves {a}.",
    "By the Pythagorean theorem, $a^2 + b^2 = c^2$, so we compute {e} + {f}.",
    "Now consider the sum of the first {a} terms.",
    "This simplifies nicely once we factor out a common term of {b}.",
    "Therefore the remaining quantity is {d} divided by {a}.",
]


def make_generation(r: random.Random, answer: str | None, kind: str) -> str:
    target = r.randint(300, 1500)
    lines = []
    while sum(len(x) + 1 for x in lines) < target - 60:
        a, b = r.randint(2, 99), r.randint(2, 99)
        lines.append(r.choice(FILLER).format(a=a, b=b, c=a + b, d=a * b, e=a * a, f=b * b))
    if answer is None:
        lines.append("I am not able to finish this problem.")
    else:
        styles = ["\\boxed", "final", "final_colon"]
        if kind in ("integer", "big_integer", "decimal"):
            styles.append("hashes")
        s = r.choice(styles)
        if s == "\\boxed":
            lines.append(f"Hence the answer is $\\boxed{{{answer}}}$.")
        elif s == "final":
            lines.append(f"The final answer is ${answer}$. I hope it is correct.")
        elif s == "final_colon":
            lines.append(f"Final answer: {answer}")
        else:
            lines.append(f"#### {answer}")
    return "\n".join(lines)


def make_gold(r: random.Random, gold: str, kind: str) -> str:
    u = r.random()
    if kind in ("integer", "big_integer") and u < 0.4:
        return f"We add the amounts: 3 + 4 = <<3+4=7>>7.\n#### {gold}"
    if u < 0.3:
        return f"Working through the algebra carefully, we find the answer is $\\boxed{{{gold}}}$."
    return gold


def generate(n: int, seed: int = 0) -> list[dict]:
    r = random.Random(seed)
    rows = []
    kinds = list(KINDS)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        gold, good, bad = KINDS[kind](r)
        u = r.random()
        if u < 0.03:
            ans, label = None, False
        elif u < 0.53:
            ans, label = r.choice(good), True
        else:
            ans, label = r.choice(bad), False
        rows.append({"kind": kind, "gold": make_gold(r, gold, kind), "bare_gold": gold, "pred": make_generation(r, ans, kind), "label": label, "answer": ans})
    return rows


# ------------------------------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_prl(rows: list[dict], threads: int | None) -> tuple[list[bool], float]:
    import prl_verifier as pv

    preds = [x["pred"] for x in rows]
    golds = [x["gold"] for x in rows]
    pv.grade(preds[:100], golds[:100], threads=threads)  # warm-up (pool start)
    t = time.perf_counter()
    vs = pv.grade(preds, golds, threads=threads)
    dt = time.perf_counter() - t
    return [v.correct for v in vs], dt


def prl_latencies(rows: list[dict]) -> list[float]:
    import prl_verifier as pv

    out = []
    for x in rows:
        t = time.perf_counter()
        pv.grade([x["pred"]], [x["gold"]], threads=1)
        out.append(time.perf_counter() - t)
    return out


def run_math_verify(rows: list[dict]) -> tuple[list[bool], list[float]]:
    from math_verify import parse, verify

    res, lat = [], []
    for x in rows:
        g = x["gold"]
        gold_text = g if ("\\boxed" in g or "####" in g) else f"${g}$"
        t = time.perf_counter()
        try:
            ok = bool(verify(parse(gold_text), parse(x["pred"])))
        except Exception:
            ok = False
        lat.append(time.perf_counter() - t)
        res.append(ok)
    return res, lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6000, help="pairs to generate (default 6000)")
    ap.add_argument("--mv-limit", type=int, default=None, help="grade only the first K pairs with math-verify")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument("--dump", help="write the generated pairs to this JSONL file")
    args = ap.parse_args()

    rows = generate(args.n, args.seed)
    if args.dump:
        with open(args.dump, "w") as f:
            for x in rows:
                f.write(json.dumps(x) + "\n")
    lens = [len(x["pred"]) for x in rows]
    labels = [x["label"] for x in rows]
    cores = os.cpu_count() or 1
    print(f"pairs: {len(rows)} ({sum(labels)} labelled correct), {len(KINDS)} kinds, generation length {min(lens)}..{max(lens)} chars, {cores} cores")

    prl1, t1 = run_prl(rows, threads=1)
    prl_all, t_all = run_prl(rows, threads=None)
    assert prl1 == prl_all
    lat = prl_latencies(rows)
    acc_prl = sum(a == b for a, b in zip(prl1, labels)) / len(rows)

    mv_rows = rows[: args.mv_limit] if args.mv_limit else rows
    t = time.perf_counter()
    mv, mv_lat = run_math_verify(mv_rows)
    t_mv = time.perf_counter() - t
    mv_labels = [x["label"] for x in mv_rows]
    acc_mv = sum(a == b for a, b in zip(mv, mv_labels)) / len(mv_rows)
    acc_prl_same = sum(a == b for a, b in zip(prl1[: len(mv_rows)], mv_labels)) / len(mv_rows)

    rate1 = len(rows) / t1
    rate_all = len(rows) / t_all
    rate_mv = len(mv_rows) / t_mv
    fig = {
        "pairs": len(rows),
        "math_verify_pairs": len(mv_rows),
        "cores": cores,
        "prl_1_thread_answers_per_s": rate1,
        "prl_all_threads_answers_per_s": rate_all,
        "math_verify_answers_per_s": rate_mv,
        "speedup_per_core": rate1 / rate_mv,
        "prl_agreement": acc_prl,
        "prl_agreement_on_math_verify_subset": acc_prl_same,
        "math_verify_agreement": acc_mv,
        "prl_latency_ms": {"p50": pct(lat, 0.5) * 1e3, "p99": pct(lat, 0.99) * 1e3, "max": max(lat) * 1e3},
        "math_verify_latency_ms": {"p50": pct(mv_lat, 0.5) * 1e3, "p99": pct(mv_lat, 0.99) * 1e3, "max": max(mv_lat) * 1e3},
    }
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for i, x in enumerate(rows):
        k = per_kind[x["kind"]]
        k[0] += prl1[i] == x["label"]
        if i < len(mv_rows):
            k[1] += mv[i] == x["label"]
            k[2] += 1
    counts = Counter(x["kind"] for x in rows)
    fig["per_kind"] = {
        k: {"prl": v[0] / counts[k], "math_verify": (v[1] / v[2]) if v[2] else None} for k, v in sorted(per_kind.items())
    }
    print(f"prl_verifier 1 thread : {rate1:10,.0f} answers/s")
    print(f"prl_verifier {cores} threads: {rate_all:10,.0f} answers/s")
    print(f"math-verify (1 proc) : {rate_mv:10,.1f} answers/s  ({len(mv_rows)} pairs)")
    print(f"speed-up per core    : {rate1 / rate_mv:10,.0f}x")
    print(f"agreement with labels: prl {acc_prl:.4f} (on math-verify's pairs {acc_prl_same:.4f}), math-verify {acc_mv:.4f}")
    pl, ml = fig["prl_latency_ms"], fig["math_verify_latency_ms"]
    print(f"latency ms prl p50 {pl['p50']:.3f} p99 {pl['p99']:.3f} max {pl['max']:.3f}; math-verify p50 {ml['p50']:.2f} p99 {ml['p99']:.2f} max {ml['max']:.2f}")
    print("per kind (agreement prl / math-verify):")
    for k, v in fig["per_kind"].items():
        mvs = f"{v['math_verify']:.3f}" if v["math_verify"] is not None else "-"
        print(f"  {k:14s} {v['prl']:.3f} / {mvs}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
