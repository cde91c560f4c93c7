"""pi_old taken from the update's own forward (one PPO epoch, one mini-batch) equals the separate pass.

The slow twin is the actor with ``fuse_old_logp = False``: a no-grad forward for log pi_old, then
the update. Both must give the same metrics and the same gradient at every optimiser step (compared
as gradients: Adam's first steps turn float noise in near-zero gradients into visible parameter
differences).
"""

from __future__ import annotations

import json

import pytest
import torch

from trainer_helpers import tiny_overrides
from prl.config import load_config
from prl.trainer import Trainer

LOGP_METRICS = ("rollout/logprob_gap", "rollout/logprob_gap_max", "actor/entropy", "actor/kl_ref", "actor/kl_ref_k3")


def _run(tmp_path, name: str, fuse: bool, **kw):
    cfg = load_config(None, tiny_overrides(tmp_path / name, **{"train.steps": 3, "eval.at_end": False,
                                                               "ckpt.save_final": False, "ckpt.every": 0, **kw}))
    t = Trainer(cfg)
    t.actor.fuse_old_logp = fuse
    grads: list[list[torch.Tensor]] = []
    t.actor.opt.register_step_pre_hook(lambda opt, a, k: grads.append([p.grad.clone() for p in t.policy.parameters()]))
    calls = []
    orig = t.forward.logp_all
    t.forward.logp_all = lambda model, b, **kw: (calls.append(model is t.policy), orig(model, b, **kw))[1]
    t.run()
    rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    return grads, [r for r in rows if "time/step" in r], calls


@pytest.mark.parametrize("algo, micro, ckpt", [("grpo", 3, False), ("rloo", 16, False), ("drgrpo", 5, False),
                                               ("grpo", 4, True)])
def test_fused_old_logp_matches_the_separate_pass(tmp_path, algo, micro, ckpt):
    kw = {"algo.name": algo, "train.micro_batch_size": micro, "model.gradient_checkpointing": ckpt}
    fast, mf, calls_f = _run(tmp_path, "fused", True, **kw)
    slow, ms, calls_s = _run(tmp_path, "separate", False, **kw)
    assert calls_f == [False] * 3  # only the reference pass remains
    assert calls_s == [True, False] * 3
    assert len(mf) == len(ms) == 3
    for a, b in zip(mf, ms):
        for k in ("reward/mean", "adv/mean", "actor/pg_clipfrac", "actor/grad_norm") + LOGP_METRICS:
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k  # float rounding differs by chunking
    assert len(fast) == len(slow) == 3
    assert any(g.abs().sum() > 0 for step in fast for g in step)
    for step_f, step_s in zip(fast, slow):
        for a, b in zip(step_f, step_s):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("extra", [{"train.ppo_epochs": 2}, {"train.mini_batch_size": 8},
                                   {"algo.name": "prl", "algo.prl.steps": "fixed:2"},
                                   {"algo.kl_in_reward_coef": 0.01}])
def test_separate_pass_kept_where_pi_old_is_needed_before_the_update(tmp_path, extra):
    _, rows, calls = _run(tmp_path, "run", True, **{"train.steps": 1, **extra})
    assert calls == [True, False]
    assert all(k in rows[0] for k in LOGP_METRICS)


def test_separate_pass_kept_under_gradient_checkpointing_when_the_model_has_dropout(tmp_path):
    """The checkpointed update runs in train mode: with dropout its forward is not pi_old's."""
    from prl.modeling import has_dropout

    cfg = load_config(None, tiny_overrides(tmp_path / "run", **{"train.steps": 1, "model.gradient_checkpointing": True}))
    t = Trainer(cfg)
    assert not has_dropout(t.policy) and t.actor.can_fuse_old_logp(16, reads_old_logp=False)
    t.policy.config.attention_dropout = 0.1
    assert has_dropout(t.policy) and not t.actor.can_fuse_old_logp(16, reads_old_logp=False)
    t.policy.config.attention_dropout = 0.0
    t.policy.model.layers[0].mlp.add_module("drop", torch.nn.Dropout(0.2))
    assert has_dropout(t.policy) and not t.actor.can_fuse_old_logp(16, reads_old_logp=False)
