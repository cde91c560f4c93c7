"""Never hangs, never crashes (issue item 4): each pathological input finishes with a status in
well under 100 ms, and a tiny budget yields `timeout`."""

from __future__ import annotations

import time

import pytest

import prl_verifier as pv

NASTY = {
    "power tower": "\\boxed{" + "2^{" * 40 + "2" + "}" * 40 + "}",
    "huge power": "\\boxed{10^{10^{10}}}",
    "huge factorial": "\\boxed{100000!}",
    "10k nested parens": "\\boxed{" + "(" * 10_000 + "1" + ")" * 10_000 + "}",
    "10k nested braces": "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}",
    "10k unclosed boxes": "\\boxed{" * 10_000,
    "1 MB generation": "lorem ipsum 123 " * 65_536 + "\\boxed{3}",
    "1 MB of digits": "\\boxed{" + "9" * 1_000_000 + "}",
    "invalid latex": "\\boxed{\\frac{\\sqrt{}{}}^^__&&\\\\}",
    "unbalanced": "\\boxed{\\left(\\frac{1}{2}",
    "empty": "",
    "non-ascii": "答案是 \\boxed{三} ✓ ∑ ∫ π ≤ 🙂",
    "nul bytes": "\\boxed{\x00\x01}",
    "long sum": "\\boxed{" + "+".join(["1"] * 3000) + "}",
    "many variables": "\\boxed{" + "".join(f"x_{{{i}}}+" for i in range(500)) + "1}",
    "deep fractions": "\\boxed{" + "\\frac{1}{" * 500 + "2" + "}" * 500 + "}",
}


@pytest.mark.parametrize("name", list(NASTY))
def test_pathological_input_finishes_fast(name: str) -> None:
    pred = NASTY[name]
    t = time.perf_counter()
    (v,) = pv.grade([pred], ["3"], threads=1)
    dt = time.perf_counter() - t
    assert v.status in pv.STATUSES
    assert dt < 0.1, f"{name}: {dt * 1000:.1f} ms"
    # as gold too
    t = time.perf_counter()
    (v,) = pv.grade(["\\boxed{3}"], [pred], threads=1)
    assert time.perf_counter() - t < 0.1
    assert v.status in pv.STATUSES


def test_exactness_survives_the_bounds() -> None:
    (v,) = pv.grade(["\\boxed{2^{1000}+1}"], ["2^{1000}"])
    assert v.status == "wrong"
    (v,) = pv.grade(["\\boxed{2^{1000}}"], ["2^{999} \\cdot 2"])
    assert v.status == "correct"


def test_tiny_budget_gives_timeout() -> None:
    pred = "\\boxed{" + "+".join(f"x_{{{i % 12}}}^{{{i % 7}}}" for i in range(300)) + "}"
    gold = "+".join(f"x_{{{i % 12}}}^{{{i % 7}}}" for i in range(299, -1, -1))
    (v,) = pv.grade([pred], [gold], budget_ms=0.001)
    assert v.status == "timeout"
    (v,) = pv.grade([pred], [gold], budget_ms=2000)
    assert v.status == "correct"
