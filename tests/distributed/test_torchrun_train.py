"""`torchrun --nproc-per-node 2 -m prl.train` (FSDP2 on CPU, gloo) against one process.

With the same global batch (rollout.seed_per_prompt makes the samples independent of how prompts
are split over ranks), 2 ranks and 1 rank log the same loss and end with the same parameters, and a
checkpoint written by 2 ranks resumes in 1.  Tolerance (PRIME: see the test): 1e-5 (absolute and relative) on every
parameter (Adam eps 1e-3): gloo sums the shards' gradients in another order than one process does, and the
micro-batches differ, so gradients agree to float rounding, not bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]


def _run(nproc: int, out: Path, *overrides: str, steps: int = 1) -> list[dict]:
    args = ["--config", str(ROOT / "configs" / "prl_tiny.yaml"), f"train.output_dir={out}", f"train.steps={steps}",
            "train.prompts_per_step=4", "rollout.n=4", "train.micro_batch_size=3", "rollout.seed_per_prompt=true",
            "rollout.hf_decoder=transformers",  # the decoder torchrun uses (ranks decode in lockstep)
            # Adam's first step moves every weight by about lr * sign(gradient): a weight whose gradient
            # is ~0 would follow the sign of float noise; a large eps makes the step linear in tiny gradients
            "optim.adam_eps=1e-3",
            # FSDP2 modules keep the full-logits path (prl.logprobs), so one process must too: the two
            # log-prob paths agree to float rounding only, which PRIME's step-1 normalisation amplifies
            "train.logprob_chunk_tokens=0",
            f"data.path={ROOT / 'configs/data/tiny_sum7.jsonl'}", "eval.at_end=false", "eval.every=0",
            "log.progress=false", "log.plot=false", "log.tensorboard=false", "train.device=cpu", *overrides]
    if nproc == 1:
        cmd = [sys.executable, "-m", "prl.train", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "-m", "prl.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=ROOT)
    try:
        o, e = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        o, e = proc.communicate()
        raise AssertionError(f"timed out:\n{o[-3000:]}\n{e[-3000:]}") from None
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{o[-3000:]}\n{e[-5000:]}"
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _policy(out: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(out / "checkpoints" / f"step_{step:08d}" / "policy" / "model.safetensors")


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], tol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=tol, rtol=tol, msg=lambda m: f"{k}: {m}")


@pytest.mark.parametrize("algo, ckpt", [("prl", False), ("prime", False), ("prl", True)])
def test_two_ranks_match_one_rank(tmp_path, algo, ckpt):
    """ckpt: gradient checkpointing, whose backward replays each decoder layer with the shared prompt
    pass's caches (prl.logprobs): the ranks must still run the same forwards and gather the same weights."""
    extra = ["algo.name=" + algo] + (["algo.filter.enabled=off"] if algo == "prime" else []) + (
        ["model.gradient_checkpointing=true"] if ckpt else [])
    one = _run(1, tmp_path / "one", *extra)
    two = _run(2, tmp_path / "two", *extra)
    m1, m2 = one[-1], two[-1]
    assert m1["reward/mean"] == m2["reward/mean"]  # the same samples, graded the same
    for key in ("actor/pg_loss", "actor/ppo_kl", "actor/entropy", "actor/grad_norm"):
        assert abs(m1[key] - m2[key]) <= 1e-4 * max(1.0, abs(m1[key])), (key, m1[key], m2[key])
    if algo == "prime":
        assert abs(m1["prm/loss"] - m2["prm/loss"]) < 1e-5
    p1, p2 = _policy(tmp_path / "one", 1), _policy(tmp_path / "two", 1)
    # PRIME at step 1: q = beta (log pi_phi - log pi_ref) with pi_phi one small step from pi_ref is a
    # difference of nearly equal numbers, and the batch normalisation rescales it to O(1): float noise
    # of 1e-7 in the log-probs becomes ~1e-4 in the advantages (one step moves weights by ~1e-2)
    _close(p1, p2, tol=1e-5 if algo == "prl" else 1e-3)
    init = load_file(tmp_path / "one" / "init_model" / "model.safetensors")
    assert max(float((init[k] - p1[k]).abs().max()) for k in p1) > 1e-4  # the step moved the weights


def test_checkpoint_of_two_ranks_resumes_in_one(tmp_path):
    _run(2, tmp_path / "run")  # step 1 on 2 ranks, checkpointed
    resumed = _run(1, tmp_path / "run", "ckpt.resume=auto", steps=2)
    _run(1, tmp_path / "straight", steps=2)
    assert resumed[-1]["step"] == 2
    _close(_policy(tmp_path / "run", 2), _policy(tmp_path / "straight", 2))
