"""prl.tasks.arithmetic: problems, reference chains, planted slips, splits and files."""

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prl.tasks import __main__ as tasks_cli
from prl.tasks.arithmetic import (
    ArithmeticConfig,
    Problem,
    carries,
    demonstration,
    make_splits,
    read_rows,
    sample_problem,
    solution_lines,
    write_rows,
)

LINE = re.compile(r"^(\d+)([-+*])(\d+)=(\d+)$")
BOXED = re.compile(r"^\\boxed\{(\d+)\}$")


def parse_chain(text):
    """(steps [(a, op, b, c)], boxed) of a solution; asserts the format."""
    lines = text.split("\n")
    steps = []
    for ln in lines[:-1]:
        m = LINE.match(ln)
        assert m, f"bad step line {ln!r} in {text!r}"
        steps.append((int(m[1]), m[2], int(m[3]), int(m[4])))
    m = BOXED.match(lines[-1])
    assert m, f"bad final line {lines[-1]!r}"
    return steps, int(m[1])


def true_value(a, op, b):
    return {"+": a + b, "-": a - b, "*": a * b}[op]


def test_worked_example():
    p = Problem(47, (("+", 8), ("-", 5), ("+", 19)))
    assert p.prompt == "Compute: 47+8-5+19\n"
    assert p.answer == 69
    assert "\n".join(solution_lines(p)) == "47+8=55\n55-5=50\n50+19=69\n\\boxed{69}"
    # the forgotten carry on the first carrying addition, followed by the rest of the chain
    slipped = solution_lines(p, slip_at=0, slip_value=45)
    assert "\n".join(slipped) == "47+8=45\n45-5=40\n40+19=59\n\\boxed{59}"
    # not propagated: later steps restart from the true value, the final answer is right
    lucky = solution_lines(p, slip_at=0, slip_value=45, propagate=False)
    assert "\n".join(lucky) == "47+8=45\n55-5=50\n50+19=69\n\\boxed{69}"
    assert carries(47, "+", 8) and not carries(41, "+", 8) and not carries(47, "-", 8)


configs = st.builds(
    ArithmeticConfig,
    min_steps=st.integers(1, 3),
    max_steps=st.integers(3, 5),
    start_digits=st.integers(1, 2),
    operand_digits=st.integers(1, 2),
    max_value=st.sampled_from([99, 200, 999]),
    ops=st.sampled_from(["+-", "+", "-", "+-*"]),
    slip_rate=st.floats(0, 1),
    slip_kind=st.sampled_from(["carry", "random"]),
    slip_propagates=st.booleans(),
)


@given(cfg=configs, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=150, deadline=None)
def test_problems_and_demonstrations(cfg, seed):
    rng = random.Random(seed)
    p = sample_problem(cfg, rng)
    assert cfg.min_steps <= len(p.ops) <= cfg.max_steps
    assert 0 <= p.start < 10 ** cfg.start_digits
    # the reference chain is correct step by step and boxes the answer
    steps, boxed = parse_chain("\n".join(solution_lines(p)))
    v = p.start
    for (a, op, b, c), (op2, x) in zip(steps, p.ops, strict=True):
        assert (a, op, b) == (v, op2, x)
        assert c == true_value(a, op, b)
        assert 0 <= c <= cfg.max_value
        v = c
    assert boxed == p.answer == v
    # a demonstration has at most one wrong step; its chain follows the slip when it propagates
    text, slip = demonstration(p, cfg, rng)
    steps, boxed = parse_chain(text)
    wrong = [i for i, (a, op, b, c) in enumerate(steps) if c != true_value(a, op, b)]
    assert len(wrong) == int(slip)
    assert all(0 <= c <= cfg.max_value for *_, c in steps)
    if slip:
        i = wrong[0]
        a, op, b, c = steps[i]
        if cfg.slip_kind == "carry":
            assert carries(a, op, b) and c == a + b - 10
            assert not any(carries(*s[:3]) for s in steps[:i])  # the first carrying addition
        else:
            assert 1 <= abs(c - true_value(a, op, b)) <= 9
        if cfg.slip_propagates:
            assert boxed != p.answer and boxed == steps[-1][3]
            assert all(steps[j][0] == steps[j - 1][3] for j in range(1, len(steps)))
        else:
            assert boxed == p.answer
    else:
        assert boxed == p.answer


def test_slip_rate_is_respected():
    cfg = ArithmeticConfig(slip_rate=0.6)
    rows = make_splits(cfg, {"sft": 3000}, seed=1)["sft"]
    eligible = [r for r in rows if any(carries(a, op, b) for a, op, b, _ in parse_chain(r["reference"])[0])]
    frac = sum(r["slip"] for r in eligible) / len(eligible)
    assert 0.55 < frac < 0.65
    assert not any(r["slip"] for r in rows if r not in eligible)
    clean = make_splits(ArithmeticConfig(slip_rate=0.0), {"sft": 200}, seed=1)["sft"]
    assert all(r["solution"] == r["reference"] and not r["slip"] for r in clean)


def test_splits_seeded_unique_and_stable():
    cfg = ArithmeticConfig()
    a = make_splits(cfg, {"sft": 500, "train": 200, "test": 100}, seed=3)
    b = make_splits(cfg, {"sft": 500, "train": 200, "test": 100}, seed=3)
    c = make_splits(cfg, {"sft": 500, "train": 200, "test": 100}, seed=4)
    assert a == b and a != c
    prompts = [r["prompt"] for rows in a.values() for r in rows]
    assert len(prompts) == len(set(prompts)) == 800
    # the held-out split does not depend on the sizes of the others
    d = make_splits(cfg, {"sft": 50, "test": 100}, seed=3)
    assert d["test"] == a["test"]
    for r in a["test"]:
        assert r["prompt"].startswith("Compute: ") and r["prompt"].endswith("\n")
        assert parse_chain(r["reference"])[1] == int(r["answer"])


def test_errors_name_the_field():
    with pytest.raises(ValueError, match="max_steps"):
        ArithmeticConfig(min_steps=3, max_steps=2)
    with pytest.raises(ValueError, match="slip_kind"):
        ArithmeticConfig(slip_kind="typo")
    with pytest.raises(ValueError, match="ops"):
        ArithmeticConfig(ops="+/")
    with pytest.raises(ValueError, match="max_value"):
        ArithmeticConfig(start_digits=3, max_value=99)
    tiny = ArithmeticConfig(min_steps=1, max_steps=1, start_digits=1, max_value=9, ops="+")
    with pytest.raises(ValueError, match="unique prompts for split 'sft'"):
        make_splits(tiny, {"sft": 10_000})
    with pytest.raises(ValueError, match="split 'test'"):
        make_splits(ArithmeticConfig(), {"test": -1})


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_files_roundtrip_and_cli(tmp_path, fmt, capsys):
    rows = make_splits(ArithmeticConfig(), {"test": 20}, seed=0)["test"]
    path = write_rows(rows, tmp_path / f"x.{fmt}")
    assert read_rows(path) == rows
    rc = tasks_cli.main(["arithmetic", "--out", str(tmp_path / "d"), "--sft", "30", "--train", "20",
                         "--test", "10", "--format", fmt, "--max-steps", "4", "--slip-propagates", "false"])
    assert rc == 0
    paths = json.loads(capsys.readouterr().out)
    assert set(paths) == {"sft", "train", "test"}
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["config"]["max_steps"] == 4 and meta["config"]["slip_propagates"] is False
    assert meta["prompt_column"] == "prompt" and meta["answer_column"] == "answer"
    got = read_rows(paths["sft"])
    assert len(got) == 30 and {"prompt", "answer", "solution", "reference", "slip", "steps", "id"} <= set(got[0])
    assert tasks_cli.main(["arithmetic", "--out", str(tmp_path / "e"), "--slip-rate", "1.5"]) == 2
    assert "slip_rate" in capsys.readouterr().err


def test_read_rows_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_rows(bad)
    with pytest.raises(FileNotFoundError):
        read_rows(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="suffix"):
        write_rows([], tmp_path / "x.csv")
