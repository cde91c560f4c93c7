"""FSDP2 under torchrun on CPU (gloo): 2 ranks and 1 rank with the same global batch agree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from prl import distributed as D

HERE = Path(__file__).parent


def _torchrun(n: int, script: Path, out: Path, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--standalone",
           str(script), str(out), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the ranks too, not only the launcher
        out, err = proc.communicate()
        raise AssertionError(f"torchrun timed out after 300 s:\n{out[-3000:]}\n{err[-3000:]}") from None
    assert proc.returncode == 0, f"torchrun failed:\n{out[-3000:]}\n{err[-3000:]}"


def test_shard_range_partitions_prompts():
    for n in range(0, 12):
        for w in (1, 2, 3, 5):
            parts = [D.shard_range(n, D.DistEnv(rank=r, world_size=w)) for r in range(w)]
            flat = [i for p in parts for i in p]
            assert flat == list(range(n))
            assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


def test_single_process_helpers_are_identity():
    env = D.DistEnv()
    x = torch.arange(6).reshape(2, 3)
    assert D.all_gather_padded(x, env) is x
    assert D.all_reduce_sum(2.5, env) == 2.5
    assert D.all_gather_objects({"a": 1}, env) == [{"a": 1}]


def test_two_ranks_equal_one_rank_after_a_ppo_step(tmp_path):
    """Same loss (1e-6) and same parameters after one AdamW step (atol 1e-5; gloo reductions
    sum in a different order than one process)."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    _torchrun(1, HERE / "fsdp_step.py", one)
    _torchrun(2, HERE / "fsdp_step.py", two)
    l1, l2 = json.loads((one / "loss.json").read_text()), json.loads((two / "loss.json").read_text())
    assert l2["world"] == 2
    assert abs(l1["loss"] - l2["loss"]) < 1e-6
    s1, s2 = torch.load(one / "state.pt"), torch.load(two / "state.pt")
    assert s1.keys() == s2.keys()
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k], atol=1e-5, rtol=1e-5, msg=lambda m: f"{k}: {m}")
    # the step really changed the parameters (the test would pass trivially otherwise)
    torch.manual_seed(0)
    from transformers import LlamaConfig, LlamaForCausalLM

    fresh = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64))
    moved = max(float((fresh.state_dict()[k] - s1[k]).abs().max()) for k in s1 if k in fresh.state_dict())
    assert moved > 1e-4
