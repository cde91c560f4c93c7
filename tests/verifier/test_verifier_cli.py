"""The prl-verify command line: formats, verdict columns, summary, group metrics, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from prl_verifier.cli import main

ROWS = [
    {"id": "a", "response": "so \\boxed{3}", "gold": "3"},
    {"id": "a", "response": "\\boxed{4}", "gold": "3"},
    {"id": "b", "response": "The final answer is $\\frac12$.", "gold": "#### 0.5"},
    {"id": "b", "response": "hmm, not sure", "gold": "#### 0.5"},
]


def _write(path: Path, rows: list[dict]) -> None:
    t = pa.Table.from_pylist(rows)
    ext = path.suffix
    if ext == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif ext == ".parquet":
        pq.write_table(t, path)
    elif ext == ".arrow":
        with ipc.new_file(path, t.schema) as w:
            w.write_table(t)
    elif ext == ".csv":
        pcsv.write_csv(t, path)


def _read(path: Path) -> list[dict]:
    ext = path.suffix
    if ext == ".jsonl":
        return [json.loads(x) for x in path.read_text().splitlines()]
    if ext == ".parquet":
        return pq.read_table(path).to_pylist()
    if ext == ".arrow":
        with ipc.open_file(path) as r:
            return r.read_all().to_pylist()
    return pcsv.read_csv(path).to_pylist()


@pytest.mark.parametrize("in_ext", [".jsonl", ".parquet", ".arrow", ".csv"])
@pytest.mark.parametrize("out_ext", [".jsonl", ".parquet", ".arrow", ".csv"])
def test_formats_roundtrip(tmp_path: Path, in_ext: str, out_ext: str, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = tmp_path / f"in{in_ext}", tmp_path / f"out{out_ext}"
    _write(src, ROWS)
    rc = main(["grade", str(src), "-o", str(dst), "--pred-field", "response", "--gold-field", "gold", "--group-field", "id"])
    assert rc == 0
    out = _read(dst)
    assert [r["id"] for r in out] == ["a", "a", "b", "b"]
    assert [r["response"] for r in out] == [r["response"] for r in ROWS]
    assert [r["correct"] for r in out] == [True, False, True, False]
    assert [r["status"] for r in out] == ["correct", "wrong", "correct", "no_answer"]
    text = capsys.readouterr().out
    assert "accuracy: 0.5000" in text
    assert "correct=2, wrong=1, no_answer=1" in text
    assert "groups: 2 (k = 2)" in text and "avg@k: 0.5000" in text and "pass@k: 1.0000" in text
    assert "answers/s" in text


def test_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    _write(src, ROWS)
    assert main(["grade", str(src), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "response", "--gold-field", "gold", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["rows"] == 4 and s["accuracy"] == 0.5 and s["status_counts"]["no_answer"] == 1


def test_numeric_gold_column_is_accepted(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    _write(src, [{"p": "\\boxed{18}", "g": 18}, {"p": "\\boxed{2.5}", "g": 2.5}])
    assert main(["grade", str(src), "-o", str(tmp_path / "o.parquet"), "--pred-field", "p", "--gold-field", "g"]) == 0
    assert pq.read_table(tmp_path / "o.parquet").column("correct").to_pylist() == [True, True]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = [sys.executable, "-m", "prl_verifier.cli"]
    return subprocess.run([*exe, *args], capture_output=True, text=True, timeout=60)


def _main_exit(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(["grade", *args])
    return int(e.value.code), capsys.readouterr().err


def test_bad_input_exits_2_naming_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "in.jsonl"
    _write(good, ROWS)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"response": "1", "gold": "1"}\n{"response": oops}\n')
    cases = [
        ((str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "response", "--gold-field", "gold"), "missing.jsonl: no such file"),
        ((str(good), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "nope", "--gold-field", "gold"), "no column 'nope'"),
        ((str(good), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "response", "--gold-field", "gold", "--group-field", "grp"), "no column 'grp'"),
        ((str(bad_json), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "response", "--gold-field", "gold"), "bad.jsonl: line 2"),
        ((str(good), "-o", str(tmp_path / "o.txt"), "--pred-field", "response", "--gold-field", "gold"), "unknown file type"),
        ((str(good), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "response", "--gold-field", "gold", "--threads", "0"), "--threads"),
    ]
    for args, msg in cases:
        code, err = _main_exit(args, capsys)
        assert code == 2, (args, err)
        assert msg in err, (msg, err)
    num = tmp_path / "num.parquet"
    pq.write_table(pa.table({"p": [1, 2], "g": ["1", "2"]}), num)
    code, err = _main_exit((str(num), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "p", "--gold-field", "g"), capsys)
    assert code == 2 and "column 'p'" in err and "int64" in err
    # and through the real process boundary once
    r = _cli("grade", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "a", "--gold-field", "b")
    assert r.returncode == 2 and "missing.jsonl: no such file" in r.stderr


def test_help_has_examples() -> None:
    r = _cli("grade", "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "--group-field" in r.stdout


def test_console_script_and_progress(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "prl-verify"
    if not exe.exists():
        pytest.skip("prl-verify console script not installed")
    src = tmp_path / "in.parquet"
    n = 3000
    pq.write_table(pa.table({"p": [f"\\boxed{{{i}}}" for i in range(n)], "g": [str(i) for i in range(n)]}), src)
    env = dict(os.environ, PRL_VERIFY_THREADS="2")
    r = subprocess.run(
        [str(exe), "grade", str(src), "-o", str(tmp_path / "o.parquet"), "--pred-field", "p", "--gold-field", "g", "--progress-min", "1"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "accuracy: 1.0000" in r.stdout
    assert f"{n}/{n}" in r.stderr  # the progress bar
