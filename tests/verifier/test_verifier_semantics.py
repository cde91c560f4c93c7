"""Semantics of grading (rust_verifier/README.md): one row per answer kind, equivalent and non-equivalent."""

from __future__ import annotations

import pytest

import prl_verifier as pv

# (prediction, gold, expected status)
CASES = [
    # extraction
    ("so the answer is \\boxed{18}.", "18", "correct"),
    ("\\boxed{1} first, then \\boxed{2}", "2", "correct"),
    ("\\fbox{7}", "7", "correct"),
    ("The final answer is $\\frac{1}{2}$. I hope it is correct.", "0.5", "correct"),
    ("Final answer: 42", "42", "correct"),
    ("blah\n#### 72", "Natalia sold 48/2 = 24 clips.\n#### 72", "correct"),
    ("She has 3 apples and buys 4, so 7", "7", "correct"),  # last-number fallback
    ("I do not know.", "7", "no_answer"),
    ("", "7", "no_answer"),
    ("\\boxed{5}", "Since ... we get $\\boxed{5}$.", "correct"),  # gold as a MATH solution
    # integers, rationals, decimals, exactness
    ("\\boxed{\\frac12}", "\\dfrac{1}{2}", "correct"),
    ("\\boxed{0.50}", "\\tfrac{1}{2}", "correct"),
    ("\\boxed{\\frac{1}{2^{99}}}", "\\frac{1}{2^{98}}", "wrong"),
    ("\\boxed{123456789012345678901234567891}", "123456789012345678901234567890", "wrong"),
    ("\\boxed{123456789012345678901234567890}", "123456789012345678901234567890", "correct"),
    ("\\boxed{0.333}", "\\frac{1}{3}", "wrong"),
    ("\\boxed{0.\\overline{3}}", "\\frac{1}{3}", "correct"),
    ("\\boxed{5.}", "5", "correct"),
    ("\\boxed{1\\frac{4}{5}}", "\\frac{9}{5}", "correct"),
    # thousands separators, currency, percent, degrees, units
    ("\\boxed{1,000,000}", "1000000", "correct"),
    ("\\boxed{10,\\!080}", "10080", "correct"),
    ("\\boxed{\\$32.50}", "32.5", "correct"),
    ("\\boxed{32.50 \\text{ dollars}}", "\\$32.5", "correct"),
    ("\\boxed{25\\%}", "25", "correct"),
    ("\\boxed{25\\%}", "0.25", "correct"),
    ("\\boxed{30^\\circ}", "30", "correct"),
    ("\\boxed{30^{\\circ}}", "31", "wrong"),
    ("\\boxed{\\frac{\\pi}{6}}", "30^\\circ", "correct"),  # gold in degrees: radians accepted
    ("\\boxed{30^\\circ}", "\\frac{\\pi}{6}", "wrong"),  # gold in radians: degrees are not
    ("\\boxed{864 \\mbox{ inches}^2}", "864", "correct"),
    ("\\boxed{15\\text{ cm}^2}", "15", "correct"),
    ("\\boxed{7\\text{ m}}", "7", "correct"),
    ("\\boxed{7\\mathrm{~kg}}", "7", "correct"),
    ("\\boxed{7\\text{ km/h}}", "7", "correct"),
    ("\\boxed{1\\text{ m}}", "100\\text{ cm}", "correct"),  # converted: both sides name units
    ("\\boxed{1\\text{ m}}", "1\\text{ cm}", "wrong"),
    ("\\boxed{100}", "1\\text{ m}", "wrong"),  # one side without a unit: numbers as written
    # numbers in a base
    ("\\boxed{52_8}", "42", "correct"),
    ("\\boxed{52_{8}}", "52_8", "correct"),
    ("\\boxed{1011_2}", "12", "wrong"),
    ("\\boxed{52}", "52_8", "correct"),  # the digits in the asked base
    # radicals, pi, e, complex
    ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}", "correct"),
    ("\\boxed{\\frac{\\sqrt{3}}{3}}", "\\frac{1}{\\sqrt{3}}", "correct"),
    ("\\boxed{\\sqrt{3}}", "\\sqrt{2}", "wrong"),
    ("\\boxed{\\sqrt[3]{27}}", "3", "correct"),
    ("\\boxed{2\\pi}", "\\pi \\cdot 2", "correct"),
    ("\\boxed{3.14159}", "\\pi", "wrong"),
    ("\\boxed{e^{2}}", "e \\cdot e", "correct"),
    ("\\boxed{3+4i}", "4i+3", "correct"),
    ("\\boxed{3-4i}", "3+4i", "wrong"),
    ("\\boxed{\\frac{1}{i}}", "-i", "correct"),
    # irrational values compared exactly enough (certified ball arithmetic), not at 1e-9
    ("\\boxed{10^{30}+\\sqrt2}", "10^{30}+\\sqrt3", "wrong"),
    ("\\boxed{10^{30}+\\sqrt{8}}", "2\\sqrt2+10^{30}", "correct"),
    ("\\boxed{3.141592653589793}", "\\pi", "wrong"),
    ("\\boxed{\\frac{1}{\\sqrt2+1}}", "\\sqrt2-1", "correct"),
    ("\\boxed{\\sin\\frac{\\pi}{3}}", "\\frac{\\sqrt3}{2}", "correct"),
    ("\\boxed{e^{10^{-30}}}", "1", "wrong"),
    # expressions with variables
    ("\\boxed{x^2+2x+1}", "(x+1)^2", "correct"),
    ("\\boxed{x^2+2x+2}", "(x+1)^2", "wrong"),
    ("\\boxed{\\frac{11+9a}{20}}", "\\frac{9a}{20}+\\frac{11}{20}", "correct"),
    ("\\boxed{2k}", "2m", "wrong"),
    # sets, tuples, lists, intervals, unions
    ("\\boxed{(1, 2)}", "(1,2)", "correct"),
    ("\\boxed{(2, 1)}", "(1,2)", "wrong"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "(3,\\frac{\\pi}{2})", "correct"),
    ("\\boxed{\\{2, 1\\}}", "\\{1,2\\}", "correct"),
    ("\\boxed{\\{2, 3\\}}", "\\{1,2\\}", "wrong"),
    ("\\boxed{3, 1, 2}", "1, 2, 3", "correct"),
    ("\\boxed{1, 2}", "1, 2, 3", "wrong"),
    ("\\boxed{[1, 2)}", "[1,2)", "correct"),
    ("\\boxed{(1, 2]}", "[1,2)", "wrong"),
    ("\\boxed{(-\\infty, 0) \\cup (1, \\infty)}", "(1,\\infty)\\cup(-\\infty,0)", "correct"),
    ("\\boxed{x \\in [-2,7]}", "[-2, 7]", "correct"),
    # sequences with an ellipsis (ordered), determinants
    ("\\boxed{1, 3, 5, \\ldots}", "1,3,5,\\dots", "correct"),
    ("\\boxed{3, 1, 5, \\ldots}", "1,3,5,\\dots", "wrong"),
    ("\\boxed{1, 3, 5}", "1,3,5,\\dots", "wrong"),
    ("\\boxed{\\det\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}", "-2", "correct"),
    ("\\boxed{\\begin{vmatrix}a&b\\\\c&d\\end{vmatrix}}", "ad-bc", "correct"),
    # matrices
    ("\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "correct"),
    ("\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 4 & 3 \\end{pmatrix}}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "wrong"),
    ("\\boxed{\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}}", "\\begin{pmatrix} 0.2 \\\\ -3.6 \\end{pmatrix}", "correct"),
    # equations, inequalities
    ("\\boxed{x=3}", "3", "correct"),
    ("\\boxed{3}", "x = 3", "correct"),
    ("\\boxed{y = 1 + 2x}", "y=2x+1", "correct"),
    ("\\boxed{2x - y + 1 = 0}", "y=2x+1", "correct"),
    ("\\boxed{y = 2x + 2}", "y=2x+1", "wrong"),
    ("\\boxed{x < 3}", "(-\\infty, 3)", "correct"),
    ("\\boxed{x \\le 3}", "(-\\infty, 3)", "wrong"),
    ("\\boxed{x \\ge 2}", "[2,\\infty)", "correct"),
    ("\\boxed{1 \\pm \\sqrt{2}}", "1+\\sqrt2, 1-\\sqrt2", "correct"),
    # function definitions are assignments
    ("\\boxed{f(x) = 2x+1}", "2x+1", "correct"),
    ("\\boxed{2x+1}", "g(t) = 2t+1", "wrong"),  # different variable
    ("\\boxed{2t+1}", "g(t) = 2t+1", "correct"),
    ("\\boxed{f(x) = 2x+3}", "f(x)=2x+1", "wrong"),
    # multiple choice, text
    ("\\boxed{(C)}", "\\text{(C)}", "correct"),
    ("\\boxed{\\text{(C) } 12}", "C", "correct"),
    ("\\boxed{B}", "\\text{(C)}", "wrong"),
    ("\\boxed{\\text{Monday}}", "\\text{monday}", "correct"),
    ("\\boxed{\\text{Tuesday}}", "\\text{Monday}", "wrong"),
    # bare answers as predictions
    ("\\frac{14}{3}", "\\dfrac{14}{3}", "correct"),
    ("x = 2", "2", "correct"),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), CASES)
def test_case(pred: str, gold: str, expected: str) -> None:
    (v,) = pv.grade([pred], [gold], threads=1)
    assert v.status == expected, (pred, gold, v)
    assert v.correct == (expected == "correct")


def test_all_cases_in_one_parallel_call_agree_with_single_calls() -> None:
    preds = [c[0] for c in CASES] * 20
    golds = [c[1] for c in CASES] * 20
    many = pv.grade(preds, golds, threads=2)
    assert [v.status for v in many] == [c[2] for c in CASES] * 20


def test_deterministic() -> None:
    preds = [c[0] for c in CASES]
    golds = [c[1] for c in CASES]
    assert pv.grade(preds, golds, threads=1) == pv.grade(preds, golds, threads=2)


def test_verdict_fields() -> None:
    v = pv.grade(["Thus $\\boxed{\\dfrac{1}{2}}$."], ["#### 0.5"])[0]
    assert v.correct is True and v.status == "correct"
    assert v.extracted == "\\dfrac{1}{2}"
    assert v.normalized_gold == "0.5"
    n = pv.grade(["no idea"], ["5"], last_number=False)[0]
    assert (n.status, n.extracted) == ("no_answer", None)
