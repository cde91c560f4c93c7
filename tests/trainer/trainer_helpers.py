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


def grouped_batch(seed: int, vocab: int, groups: int, n: int, *, max_response: int = 7, first_id: int = 3,
                  shuffle: bool = False):
    """A log-prob batch whose prompts repeat: ``groups`` left-padded prompts of distinct lengths (ids from
    ``first_id``), each repeated n times, then right-padded responses of 1..max_response tokens; rows
    shuffled when ``shuffle`` (so a group's rows are not adjacent). -> ids [B, P+T], attention [B, P+T],
    T, response mask [B, T]."""
    import torch

    g = torch.Generator().manual_seed(seed)
    plens = torch.randint(2, 9, (groups,), generator=g)
    rlens = torch.randint(1, max_response + 1, (groups * n,), generator=g)
    P, T = int(plens.max()), int(rlens.max())
    ids = torch.zeros(groups * n, P + T, dtype=torch.long)  # [B, P+T], pad id 0
    att = torch.zeros_like(ids)
    for gi in range(groups):
        prompt = torch.randint(first_id, vocab, (int(plens[gi]),), generator=g)
        for j in range(n):
            i = gi * n + j
            ids[i, P - len(prompt):P], att[i, P - len(prompt):P] = prompt, 1
            r = int(rlens[i])
            ids[i, P:P + r], att[i, P:P + r] = torch.randint(3, vocab, (r,), generator=g), 1
    perm = torch.randperm(len(ids), generator=g) if shuffle else torch.arange(len(ids))
    return ids[perm], att[perm], T, att[perm, P:].float()
