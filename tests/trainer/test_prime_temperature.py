"""PRIME's implicit reward is defined on the models' own distributions: the PRM's log-probs (in its
loss and in q_t) and the reference pass that feeds them run at temperature 1, while the policy's
PPO ratio keeps the sampling temperature (as verl's PRIME recipe)."""

from __future__ import annotations

import pytest

import prl.logprobs
from trainer_helpers import tiny_overrides
from prl.config import load_config
from prl.trainer import Trainer


@pytest.mark.parametrize("update", ["before", "after"])
def test_prm_and_its_reference_at_temperature_one(tmp_path, monkeypatch, update):
    cfg = load_config(None, tiny_overrides(tmp_path / "run", **{
        "algo.name": "prime", "algo.filter.enabled": "off", "algo.prime.update": update,
        "rollout.temperature": 0.7, "train.steps": 1, "eval.at_end": False, "ckpt.save_final": False}))
    t = Trainer(cfg)
    calls: list[tuple[str, float]] = []
    real = prl.logprobs.response_logprobs

    def recording(model, *args, temperature, **kw):
        who = {id(t.prm): "prm", id(t.ref): "ref", id(t.policy): "policy"}[id(model)]
        calls.append((who, temperature))
        return real(model, *args, temperature=temperature, **kw)

    monkeypatch.setattr("prl.lockstep.response_logprobs", recording)
    t.train_step()
    temps = {who: {temp for w, temp in calls if w == who} for who in ("prm", "ref", "policy")}
    assert temps["prm"] == {1.0}
    assert temps["ref"] == {0.7, 1.0}  # 0.7 for the KL metrics, 1.0 for the implicit reward
    assert temps["policy"] == {0.7}
