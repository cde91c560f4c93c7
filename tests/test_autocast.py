"""model.autocast=bf16: bfloat16 forwards over float32 master weights (prl.precision)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import prl.precision
from prl.config import load_config
from prl.errors import ConfigError
from prl.logprobs import response_logprobs
from prl.precision import autocast, check_autocast

ROOT = Path(__file__).resolve().parents[1]


def _cfg(out: Path, *extra: str):
    return load_config(ROOT / "configs" / "grpo_tiny.yaml", [
        f"data.path={ROOT / 'configs' / 'data' / 'tiny_sum7.jsonl'}", f"train.output_dir={out}", "train.device=cpu",
        "train.steps=2", "train.prompts_per_step=4", "rollout.n=4", "eval.every=0", "eval.at_end=false",
        "log.progress=false", "log.plot=false", "log.tensorboard=false", "ckpt.every=0", "ckpt.save_final=false",
        *extra])


def test_refused_on_a_cpu_without_native_bf16(monkeypatch, tmp_path):
    monkeypatch.setattr(prl.precision, "cpu_has_bf16", lambda: False)
    with pytest.raises(ConfigError, match="model.autocast.*no native bf16") as e:
        _cfg(tmp_path, "model.autocast=bf16")
    assert "\n" not in str(e.value)
    _cfg(tmp_path, "model.autocast=off")  # the default is never refused


def test_refused_without_float32_master_weights_or_with_a_bad_value(monkeypatch, tmp_path):
    monkeypatch.setattr(prl.precision, "cpu_has_bf16", lambda: True)
    with pytest.raises(ConfigError, match="model.dtype=float32"):
        _cfg(tmp_path, "model.autocast=bf16", "model.dtype=bfloat16")
    with pytest.raises(ConfigError, match="model.autocast"):
        _cfg(tmp_path, "model.autocast=fp8")


def test_refused_on_cuda_without_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ConfigError, match="CUDA device has no bf16"):
        check_autocast("bf16", "cuda")


def test_logprobs_under_autocast_are_close_to_float32():
    from prl.models.tiny import build_tokenizer, new_causal_lm

    tok = build_tokenizer(["0123456789+-=\n abc"], include_printable=False)
    model = new_causal_lm(tok, hidden_size=64, num_layers=2, num_heads=4, seed=0)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, len(tok), (6, 20), generator=g)
    att = torch.ones_like(ids)
    lp32, ent32 = response_logprobs(model, ids, att, 12, temperature=0.8, with_entropy=True)
    with autocast("bf16", "cpu"):
        lp16, ent16 = response_logprobs(model, ids, att, 12, temperature=0.8, with_entropy=True)
    assert lp16.dtype == torch.float32 and ent16 is not None and ent16.dtype == torch.float32
    assert float((lp16 - lp32).detach().abs().max()) > 0  # it did compute in bf16
    torch.testing.assert_close(lp16, lp32, rtol=0.05, atol=0.05)
    torch.testing.assert_close(ent16, ent32, rtol=0.05, atol=0.05)
    lp16.sum().backward()
    assert all(p.dtype == torch.float32 and p.grad is not None and p.grad.dtype == torch.float32
               for p in model.parameters())


def test_train_steps_run_under_bf16_autocast_with_float32_master_weights(monkeypatch, tmp_path):
    from prl.trainer import Trainer

    monkeypatch.setattr(prl.precision, "cpu_has_bf16", lambda: True)  # this check runs on any CPU
    # 8 x 8 samples: with 4 x 4 every group of a seed could tie (reward ~0.05 each), leaving no gradient
    t = Trainer(_cfg(tmp_path / "run", "model.autocast=bf16", "train.prompts_per_step=8", "rollout.n=8"))
    before = [p.detach().clone() for p in t.policy.parameters()]
    seen: list[tuple[bool, bool]] = []  # (autocast on, grad on) at each policy forward
    t.policy.register_forward_pre_hook(lambda m, a: seen.append((torch.is_autocast_enabled("cpu"),
                                                                 torch.is_grad_enabled())))
    t.run()
    assert seen and all(on for on, _ in seen), "a policy forward ran without autocast"
    assert any(g for _, g in seen) and any(not g for _, g in seen)  # the update and the no-grad passes
    assert all(p.dtype == torch.float32 for p in t.policy.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, t.policy.parameters()))
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "actor/grad_norm" in r]
    assert len(steps) == 2 and all(r.get("train/bad_step", 0) == 0 for r in steps)
    assert any(r["actor/grad_norm"] > 0 for r in steps)  # (a step whose groups all tie has no gradient)
