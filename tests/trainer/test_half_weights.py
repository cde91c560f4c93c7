"""rollout.weights=float16 (packed float16 linear weights while decoding) and the inverse-CDF sampler,
each against its plain twin: float32 nn.Linear / the float32 engine, and torch.multinomial."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from prl.config import load_config
from prl.errors import ConfigError
from prl.models.tiny import build_tokenizer, new_causal_lm
from prl.rollout import HFEngine, SamplingParams
from prl.rollout.half_weights import half_weight_linears, half_weights_available
from prl.rollout.hf import sample_inverse_cdf
from trainer_helpers import tiny_overrides

needs_fbgemm = pytest.mark.skipif(not half_weights_available(), reason="torch build without fbgemm float16 GEMM")


def _model(seed: int = 3):
    tok = build_tokenizer(["12+3=15\n\\boxed{15}", "a b\nc"], include_printable=False)
    return tok, new_causal_lm(tok, hidden_size=64, num_layers=2, num_heads=4, seed=seed)


@needs_fbgemm
def test_linears_compute_with_float16_weights_and_are_restored():
    tok, model = _model()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    x = torch.randn(5, 7, 64, generator=torch.Generator().manual_seed(0))
    layer = linears[0]  # a q projection: [64 -> 64]
    plain = layer(x)
    with half_weight_linears(model) as switched:
        assert switched == len(linears)
        half = layer(x)
        # the plain twin: the same product with the weight rounded to float16, accumulated in float32
        bias = layer.bias if layer.bias is not None else None
        oracle = torch.nn.functional.linear(x, layer.weight.detach().half().float(), bias)
        torch.testing.assert_close(half, oracle, rtol=1e-5, atol=1e-5)
        assert float((half - plain).abs().max()) > 0  # it did round the weights
    assert "forward" not in vars(layer)  # the class's float32 forward is back
    assert torch.equal(layer(x), plain)


@needs_fbgemm
def test_float16_engine_samples_within_rounding_of_float32():
    tok, model = _model()
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in ("12+3=", "1=", "a b\nc 15+")]
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=12)
    out32 = HFEngine(model, tok).generate(prompts, greedy)
    out16 = HFEngine(model, tok, weights="float16").generate(prompts, greedy)
    assert [g[0].response_ids for g in out16] == [g[0].response_ids for g in out32]
    lp32 = np.concatenate([g[0].logprobs for g in out32])
    lp16 = np.concatenate([g[0].logprobs for g in out16])
    assert 0 < np.abs(lp16 - lp32).max() < 1e-2  # float16 weights, not float32; but only rounding apart
    # the shared policy module is float32 again after generating
    assert all("forward" not in vars(m) for m in model.modules())


def test_inverse_cdf_sampler_matches_multinomial():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(3, 12, generator=g) ** 3
    probs[:, 0] = 0.0  # zero-probability tokens at both ends and inside are never drawn
    probs[:, -1] = 0.0
    probs[1, 5] = 0.0
    probs = probs.repeat(4000, 1)  # [12000, 12]: 4000 draws of each of the 3 rows
    torch.manual_seed(1)
    ours = sample_inverse_cdf(probs).view(4000, 3)
    theirs = torch.multinomial(probs, 1).view(4000, 3)
    for row in range(3):
        f_ours = np.bincount(ours[:, row].numpy(), minlength=12) / 4000
        f_theirs = np.bincount(theirs[:, row].numpy(), minlength=12) / 4000
        exact = (probs[row] / probs[row].sum()).numpy()
        assert f_ours[0] == 0 and f_ours[-1] == 0 and (row != 1 or f_ours[5] == 0)
        assert 0.5 * np.abs(f_ours - exact).sum() < 0.04  # 4000 draws over 12 tokens: TV ~ 0.02
        assert 0.5 * np.abs(f_ours - f_theirs).sum() < 0.06


def test_inverse_cdf_sampler_one_hot_and_unnormalised():
    probs = torch.tensor([[0.0, 0.0, 3.0], [2.0, 0.0, 0.0], [0.0, 1e-30, 0.0]])
    for _ in range(50):
        assert sample_inverse_cdf(probs).tolist() == [2, 0, 1]


def _cfg(out: Path, *extra: str):
    cfg_overrides = tiny_overrides(out, **{"train.device": "cpu", "eval.at_end": False, "ckpt.save_final": False,
                                          "ckpt.every": 0, "log.tensorboard": False})
    return load_config(None, cfg_overrides + list(extra))


def test_config_refuses_float16_weights_where_they_do_not_apply(tmp_path, monkeypatch):
    import prl.precision

    monkeypatch.setattr(prl.precision, "cpu_has_bf16", lambda: True)  # so autocast=bf16 passes its own check
    with pytest.raises(ConfigError, match="rollout.weights.*rollout.engine=hf"):
        _cfg(tmp_path, "rollout.weights=float16", "rollout.engine=vllm")
    with pytest.raises(ConfigError, match="rollout.weights.*model.dtype=float32"):
        _cfg(tmp_path, "rollout.weights=float16", "model.dtype=bfloat16")
    with pytest.raises(ConfigError, match="rollout.weights.*choose one"):
        _cfg(tmp_path, "rollout.weights=float16", "model.autocast=bf16")
    with pytest.raises(ConfigError, match="rollout.weights"):
        _cfg(tmp_path, "rollout.weights=int8")


@needs_fbgemm
def test_training_with_float16_rollout_weights(tmp_path):
    from prl.trainer import Trainer

    def gaps(weights: str) -> list[float]:
        out = tmp_path / weights
        t = Trainer(_cfg(out, f"rollout.weights={weights}"))
        t.run()
        assert all(p.dtype == torch.float32 for p in t.policy.parameters())
        assert all("forward" not in vars(m) for m in t.policy.modules())
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        steps = [r for r in rows if "actor/grad_norm" in r]
        assert len(steps) == 2 and all(np.isfinite(r["actor/grad_norm"]) for r in steps)
        return [r["rollout/logprob_gap_max"] for r in steps]

    # the engine-vs-trainer log-prob gap is what float16 weights change: float32 summation-order noise
    # with float32 (the engine shares the trainer's module), float16 rounding with float16
    assert all(g < 1e-5 for g in gaps("float32"))
    assert all(1e-5 < g < 1e-2 for g in gaps("float16"))
