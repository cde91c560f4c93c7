"""Shared helpers of the trainer tests (tiny random models, the 'sums to 7' prompt set; never a hub)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUM7 = REPO / "configs" / "data" / "tiny_sum7.jsonl"


def tiny_overrides(out: Path, **kw) -> list[str]:
    """Overrides for a fast run on the tiny random model and the 'sums to 7' prompt set."""
    base = {
        "model.init": "tiny", "model.tiny.hidden_size": 32, "model.tiny.num_layers": 2, "model.tiny.num_heads": 2,
        "data.path": str(SUM7), "data.eval_size": 6,
        "rollout.n": 4, "rollout.max_new_tokens": 4,
        "reward.funcs": "[verifier]", "reward.grader": "verifier",
        "optim.lr": 1e-2, "train.steps": 2, "train.prompts_per_step": 4, "train.micro_batch_size": 8,
        "train.output_dir": str(out), "eval.n": 2, "eval.k": "[1, 2]",
        "log.progress": False, "log.samples_every": 1, "log.plot": False, "ckpt.keep_last": 0,
    }
    base.update(kw)
    return [f"{k}={v}" for k, v in base.items()]
