"""The new user's path and faults: one writer per run directory, lengths the model can hold, a final
model, a full disk, a prompt filter that keeps nothing, changed configs on resume, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer_helpers import REPO, SUM7, tiny_overrides
from prl.config import ConfigError, load_config
from prl.trainer import Trainer


def _train_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "prl.train", *tiny_overrides(out), "log.plot=false", "log.tensorboard=false", *extra]


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------------------ the run-directory lock


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(_train_cmd(out, "train.steps=100000", "eval.n=0", "eval.at_end=false"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 240
        while not (out / "metrics.jsonl").is_file():  # the first run is training (it holds the lock)
            assert first.poll() is None, first.stderr.read()[-3000:]
            assert time.time() < deadline, "the first run did not start training"
            time.sleep(0.5)
        for resume in ("auto", "no"):
            second = subprocess.run(_train_cmd(out, f"ckpt.resume={resume}"), capture_output=True, text=True,
                                    timeout=240)
            assert second.returncode == 2, second.stderr[-3000:]
            msg = second.stderr.strip().splitlines()[-1]
            assert f"is in use by another run (pid {first.pid})" in msg, msg
        n_before = len(_rows(out))
        time.sleep(2)
        steps = [r["step"] for r in _rows(out) if "time/step" in r]
        assert steps == sorted(steps) and len(_rows(out)) >= n_before  # the first run's log is intact
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # the kernel dropped the killed run's lock: a resume takes over
    third = subprocess.run(_train_cmd(out, "ckpt.resume=auto", "train.steps=1"), capture_output=True, text=True,
                           timeout=300)
    assert third.returncode == 0, third.stderr[-3000:]


def test_lock_released_after_run_and_after_a_failed_start(tmp_path):
    cfg = load_config(None, tiny_overrides(tmp_path / "run", **{"train.steps": 1, "eval.at_end": False}))
    Trainer(cfg).run()
    bad = load_config(None, tiny_overrides(tmp_path / "run", **{"train.steps": 1, "rollout.max_new_tokens": 5000}))
    with pytest.raises(ConfigError):
        Trainer(bad)
    again = load_config(None, tiny_overrides(tmp_path / "run", **{"train.steps": 2, "ckpt.resume": "auto",
                                                                   "eval.at_end": False}))
    Trainer(again).run()  # neither the finished run nor the failed start kept the lock


# ------------------------------------------------------------------------------ lengths and final model


def test_response_length_beyond_the_context_is_refused():
    cfg = load_config("configs/prl_tiny.yaml", ["rollout.max_new_tokens=100000", "train.output_dir=/tmp/prl-ctx-check"])
    with pytest.raises(ConfigError, match=r"rollout.max_new_tokens.*100000 new tokens.*max_position_embeddings=512"):
        Trainer(cfg)


def test_final_model_is_a_plain_hf_directory(tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    t = Trainer(load_config(None, tiny_overrides(out, **{"train.steps": 2, "eval.at_end": False})))
    t.run()
    model = AutoModelForCausalLM.from_pretrained(out / "final")
    for (name, a), b in zip(t.policy.state_dict().items(), model.state_dict().values()):
        assert (a == b).all(), name
    assert (out / "final" / "tokenizer.json").is_file()
    assert not list(out.glob(".tmp-*"))


def test_readme_commands_as_written(tmp_path):
    """The README's "Using it" block, run in a fresh folder with the repository's configs."""
    import shutil

    shutil.copytree(REPO / "configs", tmp_path / "configs")
    block = (REPO / "README.md").read_text().split("## Using it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("  #")[0].strip() for line in block.strip().splitlines()]
    (tmp_path / "generations.jsonl").write_text('{"pred": "\\\\boxed{8}", "gold": "8"}\n{"pred": "7", "gold": "8"}\n')
    ran = 0
    for line in lines:
        if line.startswith("torchrun") or "algo.name=grpo" in line:
            continue  # torchrun: tests/distributed; a second recipe run adds nothing here
        cmd = line.replace(".venv/bin/python", sys.executable).replace(".venv/bin/prl-verify",
                                                                         str(Path(sys.executable).parent / "prl-verify"))
        proc = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        ran += 1
    assert ran >= 6
    assert (tmp_path / "runs" / "prl_tiny" / "final" / "config.json").is_file()
    assert list((tmp_path / "runs" / "prl_tiny" / "plots").glob("*.png"))
    assert (tmp_path / "graded.parquet").is_file()


# ------------------------------------------------------------------------------ a full disk


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_is_one_line_and_leaves_no_partial_checkpoint(small_disk):
    out = small_disk / "run"
    proc = subprocess.run(_train_cmd(out, "train.steps=50", "eval.at_end=false", "eval.n=0"), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no space left on") and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    leftovers = [p for p in out.rglob(".tmp-*")]
    assert not leftovers, leftovers


# ------------------------------------------------------------------------------ the prompt filter


def test_filter_that_keeps_nothing_warns(tmp_path, capsys):
    # the random tiny model answers almost nothing right: a [0.9, 1] filter keeps no group
    cfg = load_config(None, tiny_overrides(tmp_path / "run", **{
        "train.steps": 3, "algo.filter.enabled": "on", "algo.filter.low": 0.9, "algo.filter.high": 1.0,
        "algo.filter.warn_after": 2, "eval.at_end": False}))
    Trainer(cfg).run()
    err = capsys.readouterr().err
    assert err.count("the prompt filter kept no group for 2 steps in a row") == 1, err
    assert "algo.filter.low=0.9" in err
    assert all(r["train/skipped"] == 1 for r in _rows(tmp_path / "run") if "time/step" in r)


def test_refill_samples_more_batches_until_full(tmp_path):
    cfg = load_config(None, tiny_overrides(tmp_path / "run", **{
        "train.steps": 2, "algo.filter.enabled": "on", "algo.filter.low": 0.0, "algo.filter.high": 0.1,
        "algo.filter.refill": 3, "eval.at_end": False}))
    Trainer(cfg).run()
    for r in (r for r in _rows(tmp_path / "run") if "time/step" in r):
        assert 0 <= r["filter/refill_batches"] <= 3
        assert r["filter/kept_groups"] <= 4  # train.prompts_per_step: a full batch, not more
        if r["filter/refill_batches"] < 3:  # it stopped early only because the batch was full
            assert r["filter/kept_groups"] == 4


@pytest.mark.slow
def test_prime_tiny_recipe_learns(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "prl.train", "--config", "configs/prime_tiny.yaml",
                           f"train.output_dir={tmp_path / 'run'}", "log.progress=false", "log.plot=false"],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [r for r in _rows(tmp_path / "run") if "time/step" in r]
    assert sum(r["filter/kept_groups"] for r in steps) > 0
    assert max(r["reward/mean"] for r in steps[-5:]) > 0.5


# ------------------------------------------------------------------------------ resume and errors


def test_resume_with_a_changed_config_warns_and_keeps_both(tmp_path, capsys):
    out = tmp_path / "run"
    Trainer(load_config(None, tiny_overrides(out, **{"train.steps": 1, "eval.at_end": False}))).run()
    capsys.readouterr()
    Trainer(load_config(None, tiny_overrides(out, **{"train.steps": 2, "eval.at_end": False, "ckpt.resume": "auto",
                                                      "algo.name": "rloo", "optim.lr": 0.5}))).run()
    err = capsys.readouterr().err
    assert "resuming with a changed config" in err and "algo.name: 'grpo' -> 'rloo'" in err and "optim.lr" in err
    assert "name: grpo" in (out / "config.before-step-1.yaml").read_text()
    assert "name: rloo" in (out / "config.yaml").read_text()


@pytest.mark.parametrize("override, match", [
    ("optim.lr=-1", "config key 'optim.lr': must be >= 0"),
    ("rollout.n=1", "config key 'rollout.n'"),
    ("train.device=cuda", "train.device"),
    ("rollout.engine=vllm", "rollout.engine"),
    ("reward.funcs=[verifer]", "'verifer' is not a registered reward function.*'verifier'"),
    ("model.init=path", "model.path"),
])
def test_bad_settings_are_one_line(tmp_path, override, match):
    if "cuda" in override or "vllm" in override:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present")
    proc = subprocess.run(_train_cmd(tmp_path / "run", override), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    import re

    assert re.search(match, lines[0]), lines[0]


def test_temperature_zero_warns(tmp_path, capsys):
    t = Trainer(load_config(None, tiny_overrides(tmp_path / "run", **{"rollout.temperature": 0.0, "train.steps": 1})))
    t.close()
    assert "rollout.temperature=0" in capsys.readouterr().err


def test_progress_lines_when_not_a_terminal(tmp_path):
    proc = subprocess.run(_train_cmd(tmp_path / "run", "train.steps=4", "log.every=2", "log.progress=true",
                                     "eval.at_end=false"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"], proc.stderr[-2000:]
    assert all("reward=" in line and "s/step" in line and "ETA" in line for line in lines)


def test_data_with_a_byte_order_mark(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + SUM7.read_bytes())
    from prl.data import load_examples

    assert len(load_examples(p)) == len(load_examples(SUM7))


def test_text_keys_keep_words_yaml_reads_as_booleans():
    """`ckpt.resume=no` on the command line (YAML reads 'no' as False) is the text 'no'."""
    assert load_config("configs/prl_tiny.yaml", ["ckpt.resume=no"]).ckpt.resume == "no"
    assert load_config("configs/prl_tiny.yaml", ["data.system_prompt=yes"]).data.system_prompt == "yes"
    assert load_config("configs/prl_tiny.yaml", ["log.progress=no"]).log.progress is False  # a flag stays a flag
