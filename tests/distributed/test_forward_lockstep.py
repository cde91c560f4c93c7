"""torchrun with micro-batching must not deadlock: every rank runs the same number of forwards.

FSDP2 all-gathers the parameters in every forward, so a rank that runs one forward while another
runs two hangs both.  Before the fix, `response_logprobs` chose the shared-prompt path (two forwards)
or the plain path (one) from the rows each rank happened to hold in a micro-batch; the review's
reproduction (seed 1, micro-batch 3) hung.  Under torchrun the path is now fixed ("shared": always
two forwards).  Each run here has a timeout that fails the test instead of hanging the suite; the
full sweep (seeds 0-9 x micro-batch sizes 1-5) is in the slow tier.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prl.logprobs import response_logprobs, response_logprobs_plain

ROOT = Path(__file__).resolve().parents[2]


def run_grpo_two_ranks(out: Path, seed: int, micro_batch: int, timeout: float = 240.0) -> None:
    """The review's reproduction, with a timeout that fails instead of hanging."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "prl.train", "--config", str(ROOT / "configs" / "grpo_tiny.yaml"), "train.steps=3",
           "train.prompts_per_step=4", "rollout.n=4", f"train.micro_batch_size={micro_batch}", f"train.seed={seed}",
           f"train.output_dir={out}", "eval.at_end=false", "eval.every=0", "log.progress=false", "log.plot=false",
           "log.tensorboard=false", "ckpt.save_final=false", "train.device=cpu"]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT)
    try:
        o, e = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        o, e = proc.communicate()
        raise AssertionError(f"seed={seed} micro_batch={micro_batch}: torchrun hung (killed after {timeout:.0f} s)"
                             f"\n{e[-3000:]}") from None
    assert proc.returncode == 0, f"seed={seed} micro_batch={micro_batch}\n{o[-2000:]}\n{e[-4000:]}"
    assert (out / "metrics.jsonl").read_text().count("\n") >= 3


@pytest.mark.parametrize("seed,micro_batch", [(1, 3), (0, 1)])
def test_review_reproduction_finishes(tmp_path, seed, micro_batch):
    run_grpo_two_ranks(tmp_path / "run", seed, micro_batch)


def test_shared_pass_always_runs_two_forwards_and_equals_plain():
    """The rule torchrun uses: two forwards whatever the rows (distinct prompts, repeats, one row),
    with the plain pass's values and gradients."""
    from prl.models.tiny import build_tokenizer, new_causal_lm

    tok = build_tokenizer(["abc 0123456789+=\n"], kind="char", include_printable=False)
    model = new_causal_lm(tok, hidden_size=32, num_layers=2, num_heads=2, seed=3)
    g = torch.Generator().manual_seed(0)
    for prompts in ([0, 1, 2], [0, 0, 1], [0]):
        B, P, T = len(prompts), 4, 3
        table = torch.randint(3, len(tok), (3, P), generator=g)
        ids = torch.cat([table[prompts], torch.randint(3, len(tok), (B, T), generator=g)], 1)
        att = torch.ones_like(ids)
        att[:, 0] = 0  # a left-padded prompt column
        calls = []
        hook = model.register_forward_pre_hook(lambda m, a, kw: calls.append(1), with_kwargs=True)
        shared, _ = response_logprobs(model, ids, att, T, prompt_pass="shared")
        hook.remove()
        assert len(calls) == 2, (prompts, len(calls))
        plain, _ = response_logprobs_plain(model, ids, att, T)
        torch.testing.assert_close(shared, plain, rtol=1e-5, atol=1e-6)
        gs = torch.autograd.grad(shared.sum(), list(model.parameters()), allow_unused=True)
        gp = torch.autograd.grad(plain.sum(), list(model.parameters()), allow_unused=True)
        for a, b in zip(gs, gp):
            if a is not None or b is not None:
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
