"""Grading conventions that a policy could exploit or that reject right answers (issue 13).

Each class has a table test and, where the sympy reference models it, a hypothesis test that the
Rust verdicts agree with ``prl_verifier.reference`` and with the truth known by construction.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prl_verifier as pv

sympy = pytest.importorskip("sympy")
from prl_verifier import reference  # noqa: E402


def status(pred: str, gold: str, **kw) -> str:
    return pv.grade([pred], [gold], threads=1, **kw)[0].status


# ------------------------------------------------------------------ wrong answers a policy finds

HEDGES = [
    "C, D", "\\text{(C) or (D)}", "\\text{C and D}", "(C) or (D)", "C/D", "A = 5", "B^2", "E_2", "\\mathrm{E}*2",
    "\\text{(C) 12 or (D) 13}", "C+D", "CD",
]
ONE_OPTION = ["\\textbf{(B)}", "(B)", "B)", "\\text{B}", "B", "\\text{(B) } 12", "\\mathbf{B}", "\\text{Option B}"]


@pytest.mark.parametrize("pred", HEDGES)
@pytest.mark.parametrize("gold", ["A", "B", "C", "D", "E", "\\text{(C)}", "\\textbf{(D)}"])
def test_choice_hedges_are_wrong(pred: str, gold: str) -> None:
    assert status(f"\\boxed{{{pred}}}", gold) == "wrong"
    assert reference.grade(f"\\boxed{{{pred}}}", gold) in ("wrong", "unparsable")


@pytest.mark.parametrize("pred", ONE_OPTION)
def test_choice_spellings_of_one_option(pred: str) -> None:
    for gold in ["B", "(B)", "\\text{(B)}", "\\textbf{(B)}"]:
        assert status(f"\\boxed{{{pred}}}", gold) == "correct", (pred, gold)
        assert status(f"\\boxed{{{pred}}}", gold.replace("B", "C")) == "wrong", (pred, gold)


def test_multi_select_needs_the_whole_set() -> None:
    gold = "\\text{C, F, H}"
    assert status("\\boxed{\\text{C, F}}", gold) == "wrong"
    assert status("\\boxed{\\text{C, F, H, J}}", gold) == "wrong"
    assert status("\\boxed{\\text{H, F, C}}", gold) == "correct"
    assert status("\\boxed{(C), (F), and (H)}", gold) == "correct"


LETTERS = st.lists(st.sampled_from("ABCDEFGH"), min_size=1, max_size=4, unique=True)


@settings(max_examples=120, deadline=None)
@given(LETTERS, LETTERS, st.integers(0, 2**32))
def test_choice_sets_against_reference(gold: list[str], pred: list[str], seed: int) -> None:
    rng = random.Random(seed)
    item = lambda c: rng.choice([c, f"({c})", f"{c})"])  # noqa: E731
    sep = lambda: rng.choice([", ", " and ", " or ", ", and "])  # noqa: E731
    g = "\\text{" + ", ".join(gold) + "}" if len(gold) > 1 else (gold[0] if gold[0] <= "E" else f"({gold[0]})")
    body = item(pred[0])
    for c in pred[1:]:
        body += sep() + item(c)
    p = "\\boxed{" + rng.choice([body, f"\\text{{{body}}}", f"\\textbf{{{body}}}"]) + "}"
    truth = set(gold) == set(pred)
    assert (status(p, g) == "correct") == truth, (p, g)
    assert (reference.grade(p, g) == "correct") == truth, (p, g)


def test_percent_never_both_readings() -> None:
    assert status("\\boxed{0.5\\%}", "0.5") == "wrong"
    assert status("\\boxed{50\\%}", "0.5") == "correct"
    assert status("\\boxed{50\\%}", "50") == "correct"
    assert status("\\boxed{5000\\%}", "50") == "wrong"


@settings(max_examples=80, deadline=None)
@given(st.integers(-2000, 2000), st.sampled_from([1, 2, 4, 5, 8, 10, 100]))
def test_percent_one_reading_per_gold(num: int, den: int) -> None:
    g = sympy.Rational(num, den)
    gold = f"\\frac{{{num}}}{{{den}}}" if den > 1 else str(num)
    x, y = g, g * 100  # `x%` read as x, and `(100 g)%` read as g

    def lit(v) -> str:
        return f"\\frac{{{v.p}}}{{{v.q}}}" if v.q != 1 else str(v.p)

    a, b = status(f"\\boxed{{{lit(x)}\\%}}", gold), status(f"\\boxed{{{lit(y)}\\%}}", gold)
    if g != 0:
        assert not (a == "correct" and b == "correct"), (gold, a, b)
    assert "correct" in (a, b), (gold, a, b)
    # the reading is the one the sympy reference takes
    assert (reference.grade(f"\\boxed{{{lit(x)}\\%}}", gold) == "correct") == (a == "correct")
    assert (reference.grade(f"\\boxed{{{lit(y)}\\%}}", gold) == "correct") == (b == "correct")
    # |gold| <= 1 is a fraction: `x%` means x/100
    assert (b == "correct") == (abs(g) <= 1)


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("\\boxed{\\cos(13)}", "\\cos 13^\\circ", "wrong"),
        ("\\boxed{\\cos 13}", "\\cos 13^{\\circ}", "wrong"),
        ("\\boxed{\\sin 77^\\circ}", "\\cos 13^\\circ", "correct"),
        ("\\boxed{\\sin(77°)}", "\\cos 13^\\circ", "correct"),
        ("\\boxed{\\cos \\frac{13\\pi}{180}}", "\\cos 13^\\circ", "correct"),
        ("\\boxed{\\frac{\\sqrt3}{2}}", "\\cos 30^\\circ", "correct"),
        ("\\boxed{\\tan 30^\\circ}", "\\frac{\\sqrt{3}}{3}", "correct"),
        ("\\boxed{\\tan 30}", "\\frac{\\sqrt{3}}{3}", "wrong"),
        ("\\boxed{13^\\circ}", "13", "correct"),
    ],
)
def test_degrees_inside_functions(pred: str, gold: str, expected: str) -> None:
    assert status(pred, gold) == expected


@settings(max_examples=80, deadline=None)
@given(st.integers(-1000, 1000), st.text(alphabet="abc 123+=\n.", max_size=40), st.integers(0, 6))
def test_truncated_box_is_no_answer(n: int, prefix: str, cut: int) -> None:
    full = f"\\frac{{{n}}}{{7}}"
    part = full[: max(0, len(full) - 1 - cut)]
    for pred in [f"{prefix} so \\boxed{{{part}", f"{prefix} \\boxed{{{n}}} or rather \\boxed{{{part}", f"{prefix} {n} \\boxed"]:
        assert status(pred, str(n)) == "no_answer", pred
        assert status(pred, str(n), strict=True) == "no_answer", pred
        assert reference.grade(pred, str(n)) == "no_answer", pred


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("10^{10^{10}}+1", "10^{10^{10}}"),
        ("2^{2^{2^{2^{2}}}}+1", "2^{2^{2^{2^{2}}}}"),
        ("2^{1000000}+\\sqrt2", "2^{1000000}+\\sqrt3"),
        ("9^{9^9}-1", "9^{9^9}"),
    ],
)
def test_too_large_to_certify_is_undecided(pred: str, gold: str) -> None:
    (v,) = pv.grade([f"\\boxed{{{pred}}}"], [gold], threads=1)
    assert v.status == "undecided" and not v.correct
    assert pv.reward([f"\\boxed{{{pred}}}"], [gold]) == [0.0]


# ------------------------------------------------------------------ right answers once rejected

RIGHT = [
    ("x_{0}", "x_0"),
    ("\\{1\\pm\\sqrt{5},-2\\}", "\\{1+\\sqrt5, 1-\\sqrt5, -2\\}"),
    ("a+b=4", "4"),
    ("(p,q)=(3,2)", "(3,2)"),
    ("10,\\!080", "10\\,080"),
    ("RCs", "sRC"),
    ("\\frac{1}{1+RCs}", "\\frac{1}{sRC+1}"),
    ("so x = \\frac{1}{2}", "\\frac{1}{2}"),
    ("x \\gt 5", "(5, \\infty)"),
    ("x \\lt 5", "x < 5"),
    ("x \\ne 5", "x \\neq 5"),
    ("x != 5", "x \\ne 5"),
    ("x >= 5", "[5, \\infty)"),
    ("x <= 5", "x \\le 5"),
    ("x ≥ 5", "x \\geq 5"),
    ("x ≤ 5", "(-\\infty, 5]"),
    ("x ≠ 5", "x \\neq 5"),
    ("\\frac{1}{\\sqrt3} \\approx 0.577", "\\frac{\\sqrt{3}}{3}"),
    ("-\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}-1&-2\\\\-3&-4\\end{pmatrix}"),
    ("\\left[\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right]", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    ("5 \\mathrm{erg/s}", "5"),
    ("5 erg/s", "5"),
    ("5 \\mathrm{eV}", "5"),
    ("5 \\mathrm{cm}^{-1}", "5"),
    ("5 cm^{-1}", "5"),
    ("5 km/h", "5"),
    ("5^{\\circ}\\mathrm{C}", "5"),
    ("0,111", "0.111"),
    ("1,000", "1000"),
    ("(" * 400 + "7" + ")" * 400, "7"),
    ("\\frac{1}{" * 200 + "7" + "}" * 200, "7"),
]
# the same kinds, perturbed: still wrong
RIGHT_PERTURBED = [
    ("x_{1}", "x_0"),
    ("\\{1\\pm\\sqrt{5},-3\\}", "\\{1+\\sqrt5, 1-\\sqrt5, -2\\}"),
    ("a+b=5", "4"),
    ("x+1=4", "4"),
    ("(p,q)=(2,3)", "(3,2)"),
    ("10,\\!081", "10\\,080"),
    ("RC", "sRC"),
    ("so x = \\frac{1}{3}", "\\frac{1}{2}"),
    ("x \\ge 5", "(5, \\infty)"),
    ("\\frac{1}{\\sqrt2} \\approx 0.577", "\\frac{\\sqrt{3}}{3}"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}-1&-2\\\\-3&-4\\end{pmatrix}"),
    ("6 \\mathrm{eV}", "5"),
    ("0,112", "0.111"),
    ("1,000", "1"),
    ("(" * 400 + "8" + ")" * 400, "7"),
    ("\\frac{1}{" * 201 + "7" + "}" * 201, "7"),
]


@pytest.mark.parametrize(("pred", "gold"), RIGHT, ids=[f"right{i}" for i in range(len(RIGHT))])
def test_right_answers(pred: str, gold: str) -> None:
    assert status(f"\\boxed{{{pred}}}", gold) == "correct"


@pytest.mark.parametrize(("pred", "gold"), RIGHT_PERTURBED, ids=[f"perturbed{i}" for i in range(len(RIGHT_PERTURBED))])
def test_right_answer_kinds_perturbed(pred: str, gold: str) -> None:
    assert status(f"\\boxed{{{pred}}}", gold) == "wrong"


# ------------------------------------------------------------------ extraction without a box

FORMATS = {
    # name: (template, found by the default chain, found in strict mode)
    "box": ("We compute.\nSo the answer is $\\boxed{{{a}}}$.", True, True),
    "final": ("We compute.\nThe final answer is ${a}$. I hope it is correct.", True, True),
    "hashes": ("We compute.\n#### {a}", True, True),
    "answer_is": ("We compute the sum.\n... so the answer is {a}.", True, False),
    "answer_math": ("We compute.\nAnswer $ {a} $", True, False),
    "final_sentence": ("We compute the sum.\nTherefore ${a}$ is the result.", True, False),
    "display": ("We compute the sum:\n\\[\n{a}\n\\]", True, False),
    "two_sentences": ("We compute. Thus we have ${a}$. It checks out 0 times.", False, False),
    "box_then_final": ("So $\\boxed{{0}}$ at first.\nFinal Answer: The final answer is ${a}$. I hope it is correct.", True, True),
    "final_sentence_is": ("We compute.\nFinal Answer: The value of $x$ is {a}. I hope it is correct.", True, True),
    "chat_turn": ("We compute.\nTherefore ${a}$ is the result. <|im_start|>user 0", True, False),
    "doubled": ("We compute.\nSo the answer is $\\\\boxed{{{a2}}}$.", True, True),
}


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(sorted(FORMATS)), st.integers(-500, 500), st.integers(1, 9), st.booleans(), st.booleans())
def test_extraction_chain_against_reference(fmt: str, num: int, den: int, same: bool, strict: bool) -> None:
    template, found, found_strict = FORMATS[fmt]
    gold = f"\\frac{{{num}}}{{{den}}}"
    pval = sympy.Rational(num, den) if same else sympy.Rational(num + 1, den)
    ans = f"\\frac{{{pval.p}}}{{{pval.q}}}" if pval.q != 1 else str(pval.p)
    pred = template.format(a=ans, a2=ans.replace("\\", "\\\\"))
    got = status(pred, gold, strict=strict)
    ref = reference.grade(pred, gold, strict=strict)
    if fmt == "two_sentences":
        # the final sentence has no math: the last number (0) is graded, or nothing in strict mode
        expected = "no_answer" if strict else ("correct" if num == 0 else "wrong")
    elif (found_strict if strict else found):
        expected = "correct" if same else "wrong"
    else:
        expected = "no_answer"
    assert got == expected, (pred, gold, strict, got)
    assert ref == expected, (pred, gold, strict, ref)


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("Therefore $x \\gt 5$ is the solution.", "x > 5"),
        ("Answer $ \\frac{10}{9} $", "\\frac{10}{9}"),
        ("We solve it.\n... so the answer is (3, 2).", "(3, 2)"),
        ("\\boxed{k = 45} and \\boxed{n = 2}", "k = 45, n = 2"),
        ("The roots are $\\boxed{-2}$ and $\\boxed{1}$.", "-2, 1"),
    ],
)
def test_extraction_examples(pred: str, gold: str) -> None:
    assert status(pred, gold) == "correct"
    strict = status(pred, gold, strict=True)
    assert strict == ("correct" if "boxed" in pred else "no_answer")


# conventions of other graders' suites: the Rust verifier and the sympy reference agree
OTHER_GRADERS = [
    ("so \\boxed{255}. Total 10,455. Final Answer: The final answer is $10,455$. I hope", "10455", "correct"),
    ("Final Answer: The largest $n$ is 34.", "34", "correct"),
    ("Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", "120", "correct"),
    ("The final answer is 12,000,023. I hope it is correct.", "12000023", "correct"),
    ("The final answer is \\((-6, 10)\\). I hope it is correct", "(-6,10)", "correct"),
    ("so \\boxed{7}. The final answer is positive, because both are.", "7", "correct"),
    ("So the pair is $(7, 6)$. <|im_start|>user", "(7,6)", "correct"),
    ("so \\\\boxed{\\\\frac{1}{2}}", "0.5", "correct"),
    ("The roots are $\\boxed{-2}$ and $\\boxed{1}$.", "1, -2", "correct"),
    ("\\boxed{1} first, then \\boxed{2}", "2", "correct"),
    ("\\boxed{3} or \\boxed{4}", "4", "wrong"),
    ("\\boxed{\\{3, 17, 3\\}}", "\\{3, 17\\}", "correct"),
    ("\\boxed{\\{3, 17, 4\\}}", "\\{3, 17\\}", "wrong"),
    ("The final answer is \"$12 $ and $13 $\".", "12, 13", "correct"),
    ("The final answer is $3$ or $4$.", "3", "wrong"),
    ("The final answer is $5$ dollars and $3$ cents.", "5", "correct"),
    ("We get two roots.\nThe solutions are $1$ and $-2$.", "1, -2", "correct"),
    ("We get two roots.\nThe solutions are $1$ and $-2$.", "-2", "wrong"),
    ("We check: $$x = 3$$ Hence the result is 2.", "2", "correct"),  # the display ends its sentence
]


@pytest.mark.parametrize(("pred", "gold", "expected"), OTHER_GRADERS)
def test_other_graders_conventions_match_reference(pred: str, gold: str, expected: str) -> None:
    assert status(pred, gold) == expected
    assert reference.grade(pred, gold) == expected
