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


# ------------------------------------------------------------------ rows without a prediction or gold answer
def test_row_without_gold_is_an_error_naming_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    # line 1 lacks gold (it used to grade as no_answer with exit 0), line 3 is blank, line 4 lacks pred
    src.write_text('{"pred": "8"}\n{"pred": "\\\\boxed{3}", "gold": "3"}\n\n{"gold": "4"}\n{"pred": "5", "gold": null}\n')
    out = tmp_path / "o.jsonl"
    code, err = _main_exit((str(src), "-o", str(out), "--pred-field", "pred", "--gold-field", "gold"), capsys)
    assert code == 2 and not out.exists()
    assert "3 rows lack a prediction or gold answer" in err
    assert "line 1: no value for 'gold' (--gold-field)" in err
    assert "line 4: no value for 'pred' (--pred-field)" in err
    assert "line 5: no value for 'gold'" in err and "--skip-bad-rows" in err
    assert len(err.strip().splitlines()) == 1
    # a column present only after the first row is still seen (and checked)
    src2 = tmp_path / "late.jsonl"
    src2.write_text('{"pred": "8"}\n{"pred": "\\\\boxed{3}", "gold": "3"}\n')
    code, err = _main_exit((str(src2), "-o", str(out), "--pred-field", "pred", "--gold-field", "gold"), capsys)
    assert code == 2 and "line 1: no value for 'gold'" in err
    # explicit --skip-bad-rows: counted, reported, left out of OUTPUT and the metrics
    assert main(["grade", str(src), "-o", str(out), "--pred-field", "pred", "--gold-field", "gold",
                 "--skip-bad-rows", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["rows"] == 1 and s["accuracy"] == 1.0 and s["skipped_rows"] == 3
    assert s["skipped_examples"][0] == "line 1: no value for 'gold' (--gold-field)"
    assert [r["gold"] for r in _read(out)] == ["3"]
    assert main(["grade", str(src), "-o", str(out), "--pred-field", "pred", "--gold-field", "gold", "--skip-bad-rows"]) == 0
    assert "skipped rows (no prediction or gold answer): 3 (line 1: no value for 'gold'" in capsys.readouterr().out


def test_null_gold_in_parquet_and_empty_gold_in_csv_name_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pqf = tmp_path / "in.parquet"
    pq.write_table(pa.table({"p": ["\\boxed{1}", "\\boxed{2}"], "g": ["1", None]}), pqf)
    code, err = _main_exit((str(pqf), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "p", "--gold-field", "g"), capsys)
    assert code == 2 and "row 2: no value for 'g' (--gold-field)" in err
    csv = tmp_path / "in.csv"
    csv.write_text('p,g\n"\\boxed{1}",1\n"\\boxed{2}",\n')
    code, err = _main_exit((str(csv), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "p", "--gold-field", "g"), capsys)
    assert code == 2 and "row 2: no value for 'g'" in err
    # an empty prediction is an answer (no_answer), not a bad row
    pq.write_table(pa.table({"p": ["", "\\boxed{2}"], "g": ["1", "2"]}), pqf)
    assert main(["grade", str(pqf), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "p", "--gold-field", "g", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status_counts"]["no_answer"] == 1


def test_bom_jsonl_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "bom.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + b'{"p": "\\\\boxed{2}", "g": "2"}\n')
    assert main(["grade", str(src), "-o", str(tmp_path / "o.jsonl"), "--pred-field", "p", "--gold-field", "g", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 1.0


# ------------------------------------------------------------------------------------- stdin / stdout
def _run_bytes(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "prl_verifier.cli", *args], input=data, capture_output=True, timeout=60)


def test_stdin_and_stdout_with_format(tmp_path: Path) -> None:
    jsonl = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    r = _run_bytes(["grade", "-", "-o", "-", "--format", "jsonl", "--pred-field", "response", "--gold-field", "gold"], jsonl)
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [x["status"] for x in out] == ["correct", "wrong", "correct", "no_answer"]
    assert b"accuracy: 0.5000" in r.stderr  # the summary moves to stderr: stdout carries the rows
    # parquet through both pipes; a file on one side takes its format from its extension
    r = _run_bytes(["grade", "-", "-o", "-", "--format", "parquet", "--pred-field", "response", "--gold-field", "gold"],
                   _parquet_bytes(ROWS))
    assert r.returncode == 0, r.stderr
    assert pq.read_table(pa.BufferReader(r.stdout)).column("correct").to_pylist() == [True, False, True, False]
    src = tmp_path / "in.csv"
    _write(src, ROWS)
    r = _run_bytes(["grade", str(src), "-o", "-", "--format", "arrow", "--pred-field", "response", "--gold-field", "gold"], b"")
    assert r.returncode == 0, r.stderr
    with ipc.open_file(pa.BufferReader(r.stdout)) as f:
        assert f.read_all().column("status").to_pylist()[3] == "no_answer"
    r = _run_bytes(["grade", "-", "-o", str(tmp_path / "o.csv"), "--format", "jsonl", "--pred-field", "response",
                    "--gold-field", "gold", "--json"], jsonl)
    assert r.returncode == 0 and json.loads(r.stdout)["accuracy"] == 0.5
    assert len(pcsv.read_csv(tmp_path / "o.csv")) == 4
    # '-' without --format: one line, exit 2
    r = _run_bytes(["grade", "-", "-o", "-", "--pred-field", "response", "--gold-field", "gold"], jsonl)
    assert r.returncode == 2 and b"needs --format" in r.stderr and b"Traceback" not in r.stderr


def _parquet_bytes(rows: list[dict]) -> bytes:
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue().to_pybytes()


# ------------------------------------------------------------------------------------- full disk
def _in_small_tmpfs(mnt: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run SCRIPT with a 64 KiB tmpfs mounted at MNT: in a private mount namespace (root: `unshare -m`;
    otherwise a user namespace, `unshare -rm`). Skips the test when neither can mount."""
    import shutil

    mnt.mkdir()
    full = f"mount -t tmpfs -o size=64k tmpfs {mnt} || exit 97\n{script}"
    tried = []
    if shutil.which("unshare"):
        for pre in (["unshare", "-m"], ["unshare", "-rm"]) if os.geteuid() == 0 else (["unshare", "-rm"],):
            r = subprocess.run([*pre, "sh", "-c", full], capture_output=True, text=True, timeout=120)
            if r.returncode != 97 and "unshare failed" not in r.stderr:
                return r
            tried.append(f"{' '.join(pre)}: {r.stderr.strip()[:120]}")
    pytest.skip("cannot mount a small tmpfs to fill up (needs root or unprivileged user namespaces): " + "; ".join(tried))


@pytest.mark.parametrize("out_ext", [".jsonl", ".parquet", ".csv", ".arrow"])
def test_full_disk_leaves_no_partial_output(tmp_path: Path, out_ext: str) -> None:
    n = 300  # ~300 KB of incompressible text: more than the 64 KiB filesystem holds
    rows = [{"p": f"{os.urandom(400).hex()} \\boxed{{{i}}}", "g": str(i)} for i in range(n)]
    src = tmp_path / "in.jsonl"
    _write(src, rows)
    mnt = tmp_path / "small"
    out = mnt / f"graded{out_ext}"
    cli = f"{sys.executable} -m prl_verifier.cli"
    r = _in_small_tmpfs(mnt, f"""
echo previous > {out}
{cli} grade {src} -o {out} --pred-field p --gold-field g; echo "rc=$?"
echo "files: $(ls -A {mnt} | tr '\\n' ' ')"
echo "kept: $(cat {out})"
""")
    assert "rc=1" in r.stdout, (r.stdout, r.stderr)
    assert f"prl-verify: error: no space left on {mnt}" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"files: graded{out_ext} \n" in r.stdout  # no temporary file left behind
    assert "kept: previous" in r.stdout  # the old OUTPUT is untouched


def test_full_disk_code_command(tmp_path: Path) -> None:
    spec = json.dumps({"asserts": ["assert f(1) == 2"]})
    rows = [{"resp": f"no code {os.urandom(400).hex()}", "tests": spec} for _ in range(200)]
    src = tmp_path / "in.jsonl"
    _write(src, rows)
    mnt = tmp_path / "small"
    out = mnt / "graded.jsonl"
    r = _in_small_tmpfs(mnt, f"""
{sys.executable} -m prl_verifier.cli code {src} -o {out} --code-field resp --tests-field tests; echo "rc=$?"
echo "files: $(ls -A {mnt} | tr '\\n' ' ')"
""")
    assert "rc=1" in r.stdout, (r.stdout, r.stderr)
    assert f"no space left on {mnt}" in r.stderr and "Traceback" not in r.stderr
    assert "files: \n" in r.stdout


def test_output_written_atomically_with_usual_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    _write(src, ROWS)
    out = tmp_path / "o.parquet"
    assert main(["grade", str(src), "-o", str(out), "--pred-field", "response", "--gold-field", "gold"]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "o.parquet"]


def test_csv_prediction_and_gold_columns_are_read_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.csv"
    src.write_text("pred,gold\n42,42\n007,7\n0.50,1/2\n")  # bare answers: CSV type guessing made 'pred' int64 (refused)
    out = tmp_path / "o.jsonl"
    assert main(["grade", str(src), "-o", str(out), "--pred-field", "pred", "--gold-field", "gold", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 1.0
    assert [r["pred"] for r in _read(out)] == ["42", "007", "0.50"]
