"""Monitoring knobs: ``log.kl_ref_every`` and PRIME's PRM-gaming warning.

``log.kl_ref_every``: the reference forward only feeds metrics for GRPO / Dr.GRPO / RLOO without KL
terms, so skipping it (on some steps, or always with the model not loaded) must leave training
bit-identical and only drop the KL metrics on the skipped steps.  PRL, PRIME and KL terms read pi_ref
and must keep it every step whatever the key says."""

from __future__ import annotations

import json

import pytest
import torch

from trainer_helpers import tiny_overrides
from prl.config import ConfigError, load_config
from prl.trainer import Trainer


def _run(tmp_path, name: str, **kw):
    cfg = load_config(None, tiny_overrides(tmp_path / name, **{"train.steps": 4, "eval.at_end": False,
                                                               "ckpt.save_final": False, "ckpt.every": 0,
                                                               "rollout.n": 8, "rollout.max_new_tokens": 3,
                                                               "train.micro_batch_size": 32, **kw}))
    t = Trainer(cfg)
    t.run()
    rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    return t, [r for r in rows if "time/step" in r]


@pytest.mark.parametrize("algo", ["grpo", "rloo"])
def test_skipping_the_reference_changes_nothing_but_the_metric(tmp_path, algo):
    every, every_r = _run(tmp_path, "every", **{"algo.name": algo, "log.kl_ref_every": 1})
    second, second_r = _run(tmp_path, "second", **{"algo.name": algo, "log.kl_ref_every": 2})
    never, never_r = _run(tmp_path, "never", **{"algo.name": algo, "log.kl_ref_every": 0})
    assert sum(r["actor/optimizer_steps"] for r in every_r) >= 2  # the runs did train
    assert every.ref is not None and second.ref is not None
    assert never.ref is None  # not even loaded
    for a, b, c in zip(every.policy.parameters(), second.policy.parameters(), never.policy.parameters()):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert all("actor/kl_ref" in r for r in every_r)
    assert ["actor/kl_ref" in r for r in second_r] == [False, True, False, True]
    assert not any("actor/kl_ref" in r for r in never_r)
    for r1, r2 in zip(every_r, second_r):
        if "actor/kl_ref" in r2:
            assert r2["actor/kl_ref"] == pytest.approx(r1["actor/kl_ref"], abs=1e-7)
        for k in ("reward/mean", "actor/entropy", "actor/grad_norm"):
            assert r1[k] == r2[k], k


@pytest.mark.parametrize("algo, extra", [("prl", {}), ("prime", {"algo.filter.enabled": "off"}),
                                         ("grpo", {"algo.kl_loss_coef": 0.01}),
                                         ("rloo", {"algo.kl_in_reward_coef": 0.01})])
def test_algorithms_that_read_the_reference_keep_it(tmp_path, algo, extra):
    t, rows = _run(tmp_path, algo, **{"algo.name": algo, "log.kl_ref_every": 0, "train.steps": 2, **extra})
    assert t.ref is not None
    assert all("actor/kl_ref" in r for r in rows if not r.get("train/skipped"))


def test_negative_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="log.kl_ref_every"):
        load_config(None, tiny_overrides(tmp_path / "x", **{"log.kl_ref_every": -1}))


def test_prm_gaming_warning():
    """PRIME's early warning fires on a window of below-chance prm/auc, not before and not above 0.5."""
    from prl.trainer import prm_gaming_warning

    assert prm_gaming_warning([0.3] * 9) is None  # not enough steps yet
    assert prm_gaming_warning([0.9] * 5 + [0.3] * 5) is None  # mean 0.6 over the window
    assert prm_gaming_warning([0.1] * 20 + [0.9] * 5 + [0.3] * 5) is None  # only the last 10 count
    msg = prm_gaming_warning([0.5, 0.6, 0.7] + [0.3, 0.4] * 5)
    assert msg is not None and "prm/auc 0.35" in msg and "algo.prime.w_process" in msg
    assert prm_gaming_warning([0.45, 0.44] * 5) is None  # noise around chance does not fire
    assert prm_gaming_warning([0.7, 0.8, 0.6, 0.7, 0.81] * 4) is None  # a PRM that ranks well
    assert prm_gaming_warning([0.5] * 10) is None  # chance is not below chance
    assert prm_gaming_warning([0.5] * 10, below=0.6) is not None
