"""Micro-batches are cut along groups (one prompt's samples together), so the shared prompt pass runs
each prompt once even when mini-batch rows are shuffled; the update's gradient does not change."""

from __future__ import annotations

import torch

from prl.config import load_config
from prl.trainer import Trainer
from trainer_helpers import tiny_overrides


def _run(tmp_path, name: str, micro: int):
    cfg = load_config(None, tiny_overrides(tmp_path / name, **{
        "train.steps": 2, "rollout.n": 4, "train.prompts_per_step": 4, "train.micro_batch_size": micro,
        "train.shuffle_minibatches": True, "eval.at_end": False, "ckpt.save_final": False, "ckpt.every": 0}))
    t = Trainer(cfg)
    grads: list[list[torch.Tensor]] = []
    t.actor.opt.register_step_pre_hook(lambda opt, a, k: grads.append([p.grad.clone() for p in t.policy.parameters()]))
    groups: list[list[int]] = []  # the group ids of each update forward's rows
    orig = t.forward.logp

    def logp(model, b, rows, **kw):
        if kw.get("grad"):
            groups.append(sorted(set(b.group_ids[rows].tolist())))
        return orig(model, b, rows, **kw)

    t.forward.logp = logp
    t.run()
    return grads, groups


def test_micro_batches_follow_groups_and_keep_the_gradient(tmp_path):
    grads4, groups4 = _run(tmp_path, "micro4", 4)
    grads16, groups16 = _run(tmp_path, "micro16", 16)
    assert len(groups4) == 2 * 4 and all(len(g) == 1 for g in groups4)  # one prompt per micro-batch
    assert sorted(g[0] for g in groups4[:4]) == [0, 1, 2, 3]
    assert groups16 == [[0, 1, 2, 3]] * 2
    assert any(g.abs().sum() > 0 for step in grads16 for g in step)
    for step4, step16 in zip(grads4, grads16):
        for a, b in zip(step4, step16):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
