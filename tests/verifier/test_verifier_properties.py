"""Property tests: the Rust verifier against the constructed truth and the sympy reference.

hypothesis builds random answers (integers, big integers, rationals, radicals, pi, sums,
products, powers; tuples, sets, intervals), renders each in several equivalent LaTeX spellings
and in perturbed ones, and checks that (a) every spelling is graded correct, (b) a perturbation
is graded correct exactly when sympy says the values are equal, and (c) the Rust verdicts agree
with `prl_verifier.reference`. Big integers (up to 10^30) mix with radicals and pi: irrational
values are compared with certified ball arithmetic, so a perturbation of size sqrt(2) on 10^30
(far below f64 resolution) must be seen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prl_verifier as pv

sympy = pytest.importorskip("sympy")
from prl_verifier import reference  # noqa: E402


@dataclass(frozen=True)
class Node:
    kind: str  # int, rat, sqrt, pi, add, mul, pow, neg
    a: object = None
    b: object = None


def ints(big: bool) -> st.SearchStrategy[Node]:
    r = st.integers(-(10**30), 10**30) if big else st.integers(-50, 50)
    return r.map(lambda n: Node("int", n))


def leaves(big: bool) -> st.SearchStrategy[Node]:
    rat = st.tuples(st.integers(-40, 40), st.integers(2, 40)).map(lambda t: Node("rat", t[0], t[1]))
    sq = st.integers(2, 60).map(lambda n: Node("sqrt", n))
    if big:
        return st.one_of(ints(True), ints(False), rat, sq, st.just(Node("pi")))
    return st.one_of(ints(False), rat, sq, st.just(Node("pi")))


def exprs(big: bool) -> st.SearchStrategy[Node]:
    return st.recursive(
        leaves(big),
        lambda kids: st.one_of(
            st.tuples(kids, kids).map(lambda t: Node("add", *t)),
            st.tuples(kids, kids).map(lambda t: Node("mul", *t)),
            st.tuples(kids, st.integers(0, 3)).map(lambda t: Node("pow", *t)),
            kids.map(lambda k: Node("neg", k)),
        ),
        max_leaves=5,
    )


any_expr = st.one_of(exprs(False), exprs(True))


def to_sympy(n: Node):
    k = n.kind
    if k == "int":
        return sympy.Integer(n.a)
    if k == "rat":
        return sympy.Rational(n.a, n.b)
    if k == "sqrt":
        return sympy.sqrt(n.a)
    if k == "pi":
        return sympy.pi
    if k == "add":
        return to_sympy(n.a) + to_sympy(n.b)
    if k == "mul":
        return to_sympy(n.a) * to_sympy(n.b)
    if k == "pow":
        return to_sympy(n.a) ** n.b
    return -to_sympy(n.a)


def render(n: Node, rng: random.Random) -> str:
    """One LaTeX spelling of n, with random but value-preserving choices."""
    k = n.kind

    def wrap(s: str) -> str:
        return rng.choice([f"({s})", f"\\left({s}\\right)", f"{{({s})}}"])

    if k == "int":
        s = str(n.a)
        if abs(n.a) >= 1000 and rng.random() < 0.3:
            s = f"{n.a:,}"
        if rng.random() < 0.2:
            s += ".0"
        return wrap(s) if n.a < 0 else s
    if k == "rat":
        p, q = n.a, n.b
        sign = "-" if p < 0 else ""
        p = abs(p)
        form = rng.choice(["frac", "dfrac", "slash", "tfrac"])
        if form == "slash":
            s = f"{sign}{p}/{q}"
        else:
            s = f"{sign}\\{form}{{{p}}}{{{q}}}"
        return wrap(s)
    if k == "sqrt":
        return rng.choice([f"\\sqrt{{{n.a}}}", f"\\sqrt[2]{{{n.a}}}", f"{n.a}^{{1/2}}" if rng.random() < 0.5 else f"\\sqrt{{{n.a}}}"])
    if k == "pi":
        return "\\pi"
    if k == "add":
        a, b = render(n.a, rng), render(n.b, rng)
        return wrap(f"{a}+{b}" if rng.random() < 0.5 else f"{b}+{a}")
    if k == "mul":
        a, b = render(n.a, rng), render(n.b, rng)
        if rng.random() < 0.5:
            a, b = b, a
        op = rng.choice(["\\cdot", "\\times", "*"])
        return wrap(f"{a} {op} {b}")
    if k == "pow":
        return f"{{{wrap(render(n.a, rng))}}}^{{{n.b}}}"
    return wrap(f"-{render(n.a, rng)}")


def perturb(n: Node, rng: random.Random) -> Node:
    """Change one leaf."""
    k = n.kind
    if k == "int":
        return Node("int", n.a + rng.choice([-1, 1, 2]))
    if k == "rat":
        return Node("rat", n.a + 1, n.b)
    if k == "sqrt":
        return Node("sqrt", n.a + 1)
    if k == "pi":
        return Node("rat", 314159, 100000)
    if k in ("add", "mul"):
        return Node(k, perturb(n.a, rng), n.b) if rng.random() < 0.5 else Node(k, n.a, perturb(n.b, rng))
    if k == "pow":
        return Node("pow", perturb(n.a, rng), n.b) if rng.random() < 0.7 else Node("pow", n.a, n.b + 1)
    return Node("neg", perturb(n.a, rng))


def sym_equal(a, b) -> bool:
    return bool(sympy.simplify(sympy.expand(a - b)) == 0)


def check(pred: str, gold: str, truth: bool) -> None:
    (v,) = pv.grade([f"so the answer is $\\boxed{{{pred}}}$"], [gold], threads=1)
    assert v.correct == truth, (pred, gold, truth, v)
    ref = reference.grade(f"\\boxed{{{pred}}}", gold)
    assert (ref == "correct") == truth, (pred, gold, truth, ref)


@settings(max_examples=60)
@given(any_expr, st.integers(0, 2**32))
def test_scalar_spellings_and_perturbations(node: Node, seed: int) -> None:
    rng = random.Random(seed)
    val = to_sympy(node)
    if val.has(sympy.zoo, sympy.nan):
        return
    gold = render(node, rng)
    for _ in range(3):
        check(render(node, rng), gold, True)
    p = perturb(node, rng)
    pv_ = to_sympy(p)
    if pv_.has(sympy.zoo, sympy.nan):
        return
    check(render(p, rng), gold, sym_equal(val, pv_))


small = exprs(False)


@settings(max_examples=40)
@given(st.lists(small, min_size=2, max_size=3), st.sampled_from(["tuple", "set", "interval", "sequence"]), st.integers(0, 2**32))
def test_structures(items: list[Node], kind: str, seed: int) -> None:
    rng = random.Random(seed)
    vals = [to_sympy(x) for x in items]
    if kind == "interval":
        items, vals = items[:2], vals[:2]

    def show(xs: list[Node], order: list[int], brackets: str = "()") -> str:
        body = ", ".join(render(xs[i], rng) for i in order)
        if kind == "set":
            return f"\\{{{body}\\}}"
        if kind == "sequence":
            return body + ", " + rng.choice(["\\ldots", "\\dots", "\\cdots", "..."])
        return f"{brackets[0]}{body}{brackets[1]}"

    idx = list(range(len(items)))
    br = rng.choice(["[)", "(]", "[]"]) if kind == "interval" else "()"
    gold = show(items, idx, br)
    check(show(items, idx, br), gold, True)
    if kind == "set":
        shuffled = idx[:]
        rng.shuffle(shuffled)
        # a set of equal elements has fewer distinct members: equal as multisets still holds
        check(show(items, shuffled), gold, True)
    else:
        rev = idx[::-1]
        truth = all(sym_equal(vals[i], vals[j]) for i, j in zip(idx, rev))
        check(show(items, rev, br), gold, truth)
    if kind == "interval":
        other = "[]" if br != "[]" else "()"
        check(show(items, idx, other), gold, False)
    # perturb one element
    j = rng.randrange(len(items))
    pert = items[:]
    pert[j] = perturb(items[j], rng)
    new_vals = [to_sympy(x) for x in pert]
    if kind == "set":
        truth = sorted(map(str, map(sympy.nsimplify, vals))) == sorted(map(str, map(sympy.nsimplify, new_vals)))
        truth = truth or all(any(sym_equal(a, b) for b in new_vals) for a in vals) and all(any(sym_equal(a, b) for b in vals) for a in new_vals) and len(set(map(str, vals))) == len(vals)
    else:
        truth = all(sym_equal(a, b) for a, b in zip(vals, new_vals))
    check(show(pert, idx, br), gold, truth)


@settings(max_examples=150)
@given(st.text(max_size=300), st.text(max_size=60))
def test_arbitrary_text_never_raises(pred: str, gold: str) -> None:
    (v,) = pv.grade([pred], [gold], threads=1)
    assert v.status in pv.STATUSES


PIECES = list("0123456789+-*/^_{}()[]|,.=<>!\\ $%abcxyzeipfrqtsdlnoABC\n") + [
    "\\frac", "\\sqrt", "\\boxed{", "\\left(", "\\right)", "\\pi", "\\cdot", "\\{", "\\}", "\\cup", "\\infty",
    "\\text{", "\\begin{pmatrix}", "\\end{pmatrix}", "\\\\", "&", "####", "\\pm", "\\le", "\\overline", "!",
]
LATEXISH = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)


@settings(max_examples=300)
@given(LATEXISH, LATEXISH)
def test_latexish_text_never_raises_or_hangs(pred: str, gold: str) -> None:
    import time

    t = time.perf_counter()
    (v,) = pv.grade([pred], [gold], threads=1)
    assert v.status in pv.STATUSES
    assert time.perf_counter() - t < 0.2
