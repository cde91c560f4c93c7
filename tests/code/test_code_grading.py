"""Grading programs against tests (prl_verifier.code): HumanEval, both test formats, extraction,
statuses and rewards, the code_tests reward in prl.rewards, and `prl-verify code`."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import prl_verifier
from prl_verifier import cli
from prl_verifier import code as C

W = dict(workers=2, cpu_seconds=2, wall_seconds=5)


# ------------------------------------------------------------------------------------- HumanEval
def test_humaneval_canonical_solutions_pass_and_mutants_fail():
    from prl.tasks.code import humaneval_rows

    rows = humaneval_rows("instruct")
    assert len(rows) == 164
    good = ["Here it is:\n```python\n" + r["solution"] + "\n```\n" for r in rows]
    # mutants: the function replaced by one returning None, and an operator flipped in HumanEval/0
    mutants = ["```python\n" + r["solution"] + f"\n\ndef {r['entry_point']}(*args, **kwargs):\n    return None\n```"
               for r in rows[::20]]
    flipped = rows[0]["solution"].replace("if distance < threshold", "if distance > threshold")
    assert flipped != rows[0]["solution"]
    mutants.append("```python\n" + flipped + "```")
    specs = [r["answer"] for r in rows] + [r["answer"] for r in rows[::20]] + [rows[0]["answer"]]
    v = C.grade_code(good + mutants, specs, **W)
    bad = [(r["id"], x.status, x.detail) for r, x in zip(rows, v) if x.status != "passed"]
    assert bad == []
    assert [x.status for x in v[len(rows):]] == ["failed"] * len(mutants)


def test_humaneval_completion_continues_the_prompt():
    import gzip

    from prl.tasks.code import _humaneval_path, humaneval_rows

    probs = [json.loads(line) for line in gzip.open(_humaneval_path(), "rt")][:8]
    rows = humaneval_rows("complete")[:8]
    assert rows[0]["prompt"] == probs[0]["prompt"]  # the bare prompt, for base models
    v = C.grade_code([p["canonical_solution"] for p in probs], [r["answer"] for r in rows], **W)
    assert [x.status for x in v] == ["passed"] * 8


# ------------------------------------------------------------------------------------- extraction
@pytest.mark.parametrize("response, program", [
    ("text\n```python\nx = 1\n```\nmore\n```python\ny = 2\n```\n", "y = 2"),  # the last python block
    ("```py\nz = 3\n```", "z = 3"),
    ("```\nw = 4\n```", "w = 4"),  # untagged
    ("```python\na = 1\n```\n```text\nnot code\n```", "a = 1"),  # other languages are skipped
    ("def f(x):\n    return x\n", "def f(x):\n    return x\n"),  # the whole response when it parses
    ("The answer is a function that adds one.", None),  # prose does not parse
    ("", None),
    ("```python\n\n```", None),
    ("Sure:\n```python\ndef f(x):\n    return x\n", "def f(x):\n    return x\n"),  # cut off before the closing fence
    ("Sure:\n```python\ndef f(x):\n    return (x", None),  # ... and inside the code
])
def test_extract_program(response, program):
    assert C.extract_program(response) == program


def test_extract_program_with_a_prompt_prefix():
    spec = C.parse_tests({"test": "def check(c):\n    assert c(1) == 2\n", "entry_point": "f",
                          "prompt": "def f(x):\n    \"\"\"add one\"\"\"\n"})
    assert C.extract_program("    return x + 1\n", spec) == "def f(x):\n    \"\"\"add one\"\"\"\n    return x + 1\n"
    full = "```python\ndef f(x):\n    return x + 1\n```"
    assert C.extract_program(full, spec) == "def f(x):\n    return x + 1"


# ------------------------------------------------------------------------------------- test specs
def test_parse_tests_formats():
    a = C.parse_tests('{"asserts": ["assert f(1) == 2", "assert f(2) == 3"], "setup": "import math"}')
    assert a.kind == "assert" and a.total == 2 and a.setup == "import math"
    mbpp = C.parse_tests({"test_list": ["assert f(1) == 2"], "test_setup_code": ""})
    assert mbpp.kind == "assert" and mbpp.total == 1
    he = C.parse_tests({"test": "def check(candidate):\n    assert candidate(1)\n", "entry_point": "g"})
    assert he.tests == ("check(g)",)
    io = C.parse_tests({"inputs": ["1\n", ["2", "3"]], "outputs": ["1\n", "5"]})
    assert io.kind == "stdio" and io.inputs == ("1\n", "2\n3")
    lcb = C.parse_tests([{"input": "1", "output": "2"}])
    assert lcb.kind == "stdio" and lcb.outputs == ("2",)
    assert C.parse_tests(repr({"asserts": ["assert True"]})).kind == "assert"  # a Python-literal dict


@pytest.mark.parametrize("spec, msg", [
    ("", "empty"),
    ("not json", "neither JSON"),
    ({"inputs": ["1"], "outputs": []}, "1 inputs but 0 outputs"),
    ({"asserts": []}, "no assert tests"),
    ({"asserts": ["assert ("]}, "not valid Python"),
    ({"test": "def check(c): pass"}, "entry_point"),
    ({"inputs": ["1"], "outputs": ["1"], "fn_name": "f"}, "call-based"),
    ({"foo": 1}, "needs 'test'"),
])
def test_parse_tests_errors(spec, msg):
    with pytest.raises(ValueError, match=msg):
        C.parse_tests(spec)


def test_bad_spec_names_the_row():
    with pytest.raises(ValueError, match="row 1: bad test spec"):
        C.grade_code(["x = 1", "x = 1"], [{"asserts": ["assert True"]}, {"foo": 1}])


# ------------------------------------------------------------------------------------- formats and statuses
def test_assert_tests_fraction_and_modes():
    prog = "```python\ndef f(x):\n    if x > 3:\n        raise ValueError(x)\n    return x * 2 if x != 2 else 5\n```"
    tests = {"asserts": ["assert f(0) == 0", "assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 6",
                         "assert f(4) == 8"]}
    (v,) = C.grade_code([prog], [tests], **W)
    assert (v.passed, v.total) == (3, 5)
    assert v.outcomes == ("pass", "pass", "fail", "pass", "error")
    assert v.status == "error"  # worst outcome: the ValueError
    assert v.reward("fraction") == pytest.approx(0.6) and v.reward("all") == 0.0
    (w,) = C.grade_code([prog], [{"asserts": tests["asserts"][:4]}], **W)
    assert w.status == "failed" and w.fraction == 0.75


def test_stdio_tests():
    prog = ("```python\nimport sys\nn = int(sys.stdin.readline())\nif n < 0:\n    raise SystemExit(3)\n"
            "print(n * 2, ' ')\nprint()\nsys.exit(0)\n```")
    tests = {"inputs": ["2\n", "5", "-1\n", "7"], "outputs": ["4\n", "10", "", "15"]}
    (v,) = C.grade_code([prog], [tests], **W)
    assert v.outcomes == ("pass", "pass", "error", "fail")  # trailing spaces and blank lines do not matter
    assert v.status == "error" and v.passed == 2
    (w,) = C.grade_code([prog], [{"inputs": ["2", "3"], "outputs": ["4", "6"]}], **W)
    assert w.status == "passed" and w.correct and w.reward() == 1.0


def test_statuses_all_reachable():
    cases = [
        ("def f():\n    return 1\n", {"asserts": ["assert f() == 1"]}, "passed"),
        ("def f():\n    return 2\n", {"asserts": ["assert f() == 1"]}, "failed"),
        ("def f():\n    return 1 / 0\n", {"asserts": ["assert f() == 1"]}, "error"),
        ("def f(:\n", {"asserts": ["assert f() == 1"]}, "no_code"),  # does not parse: no program
        ("```python\ndef f(:\n```", {"asserts": ["assert f() == 1"]}, "error"),  # a fenced SyntaxError runs
        ("while True:\n    pass\n", {"asserts": ["assert True"]}, "timeout"),
    ]
    v = C.grade_code([c[0] for c in cases], [c[1] for c in cases], workers=2, cpu_seconds=1, wall_seconds=3)
    assert [x.status for x in v] == [c[2] for c in cases]
    assert set(C.STATUSES) == {"passed", "failed", "error", "timeout", "no_code", "sandbox_error"}
    assert v[3].reward() == 0.0 and v[3].extracted is None


def test_status_precedence():
    assert C._status(["pass", "pass"]) == "passed"
    assert C._status(["pass", "fail", "error"]) == "error"
    assert C._status(["fail", "timeout", "error"]) == "timeout"
    assert C._status(["pass", "sandbox_error"]) == "sandbox_error"


# ------------------------------------------------------------------------------------- prl.rewards
def test_code_tests_reward_in_the_registry():
    from prl.rewards import REWARD_FUNCS, combine_rewards, grade, grader_statuses

    assert "code_tests" in REWARD_FUNCS
    assert grader_statuses("code") == C.STATUSES
    assert grader_statuses("verifier") == tuple(prl_verifier.STATUSES)
    comps = ["```python\ndef f(x):\n    return x\n```", "nothing here", "import time\ntime.sleep(30)\n"]
    refs = [json.dumps({"asserts": ["assert f(1) == 1", "assert f(2) == 3"]}), json.dumps({"asserts": ["assert 1"]}),
            json.dumps({"asserts": ["assert 1"]})]
    code = {"mode": "fraction", "workers": 2, "wall_seconds": 3, "cpu_seconds": 1, "batch_seconds": 1.5}
    verdicts = grade(comps, refs, grader="code", code=code)
    assert [v.status for v in verdicts] == ["failed", "no_code", "sandbox_error"]  # the sleeper outlives the budget
    total, raw, n_none = combine_rewards(["code_tests"], [1.0], comps, refs, none_value=-1.0, verdicts=verdicts,
                                         grader="code", code=code)
    assert raw["code_tests"] == [0.5, 0.0, None] and n_none == 1 and total == [0.5, 0.0, -1.0]
    total, _, _ = combine_rewards(["code_tests"], [1.0], comps[:2], refs[:2], verdicts=verdicts[:2], grader="code",
                                  code={**code, "mode": "all"})
    assert total == [0.0, 0.0]


# ------------------------------------------------------------------------------------- prl-verify code
def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_cli_code(tmp_path, capsys):
    rows = [
        {"pid": 0, "resp": "```python\ndef f(x):\n    return x + 1\n```", "tests": json.dumps({"asserts": ["assert f(1) == 2"]})},
        {"pid": 0, "resp": "def f(x): return x", "tests": json.dumps({"asserts": ["assert f(1) == 2"]})},
        {"pid": 1, "resp": "print(int(input()) * 2)", "tests": json.dumps({"inputs": ["2"], "outputs": ["4"]})},
        {"pid": 1, "resp": "no code", "tests": json.dumps({"inputs": ["2"], "outputs": ["4"]})},
    ]
    src = _write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.parquet"
    assert cli.main(["code", src, "-o", str(out), "--code-field", "resp", "--tests-field", "tests",
                     "--group-field", "pid", "--workers", "2", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["rows"] == 4 and s["accuracy"] == 0.5 and s["pass@k"] == 1.0 and s["avg@k"] == 0.5
    assert s["status_counts"] == {"passed": 2, "failed": 1, "error": 0, "timeout": 0, "no_code": 1, "sandbox_error": 0}
    t = pq.read_table(out)
    assert t.column("status").to_pylist() == ["passed", "failed", "passed", "no_code"]
    assert t.column("passed").to_pylist() == [1, 0, 1, 0] and t.column("pid").to_pylist() == [0, 0, 1, 1]
    # struct tests (a JSONL object, unified across rows by Arrow) and Parquet input
    rows2 = [{**r, "tests": json.loads(r["tests"])} for r in rows]
    pq.write_table(pa.Table.from_pylist(rows2), tmp_path / "in.parquet")
    assert cli.main(["code", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "o.jsonl"), "--code-field", "resp",
                     "--tests-field", "tests", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 0.5


def test_cli_code_missing_fields_name_the_row(tmp_path, capsys):
    good = {"resp": "x = 1", "tests": json.dumps({"asserts": ["assert x == 1"]})}
    src = _write_jsonl(tmp_path / "in.jsonl", [good, {"resp": "x = 1"}, good])
    with pytest.raises(SystemExit) as e:
        cli.main(["code", src, "-o", str(tmp_path / "o.jsonl"), "--code-field", "resp", "--tests-field", "tests"])
    assert e.value.code == 2
    assert "row 2: no tests in column 'tests'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["code", src, "-o", str(tmp_path / "o.jsonl"), "--code-field", "program", "--tests-field", "tests"])
    assert "no column 'program' for --code-field" in capsys.readouterr().err
    src = _write_jsonl(tmp_path / "bad.jsonl", [good, good, {"resp": "x", "tests": json.dumps({"inputs": ["1"]})}])
    with pytest.raises(SystemExit):
        cli.main(["code", src, "-o", str(tmp_path / "o.jsonl"), "--code-field", "resp", "--tests-field", "tests"])
    assert "row 3: bad test spec" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- steps on code
def test_step_splitter_cuts_code_at_lines():
    text = "```python\ndef f(x):\n    y = x + 1\n\n    return y\n```"
    offsets = [(i, i + 1) for i in range(len(text))]  # one token per character
    ids = prl_verifier.split_steps([text], [offsets], "newline")[0]
    lines = text.split("\n")
    assert int(ids[-1]) == len(lines) - 1  # one step per line
    ids2 = prl_verifier.split_steps([text], [offsets], "double_newline")[0]
    assert int(ids2[-1]) == 1  # the blank line splits it in two
