"""train.logprob_chunk_tokens: the chunked LM head (> 0) gives the run the full-logits path (0) gives.

A 2-step run on the tiny model with 0 (full [B, T, V] logits), 1024 (the default: one chunk here) and 7
(many chunks, one ending mid-row) must log the same metrics and end with the same weights, within float
tolerance (the chunked head sums in another order). The key reaches prl.logprobs: the chunked path runs
only when it is > 0. Negative values are refused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "trainer"))

from trainer_helpers import tiny_overrides  # noqa: E402

from prl import logprobs  # noqa: E402
from prl.config import ConfigError, load_config  # noqa: E402
from prl.trainer import Trainer  # noqa: E402

COMPARED = ("reward/mean", "adv/mean", "actor/pg_loss", "actor/pg_clipfrac", "actor/grad_norm", "actor/entropy",
            "actor/kl_ref", "rollout/logprob_gap", "actor/update_pad_frac")


def _run(tmp_path: Path, chunk: int, monkeypatch) -> tuple[list[dict], dict[str, torch.Tensor], int]:
    calls = []
    orig = logprobs._chunked_gather
    monkeypatch.setattr(logprobs, "_chunked_gather", lambda *a, **k: (calls.append(1), orig(*a, **k))[1])
    out = tmp_path / f"chunk{chunk}"
    cfg = load_config(None, tiny_overrides(out, **{"train.logprob_chunk_tokens": chunk, "eval.at_end": False,
                                                   "ckpt.save_final": False, "ckpt.every": 0}))
    t = Trainer(cfg)
    assert t.forward.chunk_tokens == chunk
    t.run()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    weights = {k: v.detach().clone() for k, v in t.policy.state_dict().items()}
    t.close()
    return [r for r in rows if "time/step" in r], weights, len(calls)


def test_chunked_head_matches_full_logits_in_a_run(tmp_path, monkeypatch):
    full, w_full, n_full = _run(tmp_path, 0, monkeypatch)
    assert n_full == 0  # 0: the model's own logits, never the chunked head
    assert len(full) == 2
    for chunk in (1024, 7):
        rows, w, n = _run(tmp_path, chunk, monkeypatch)
        assert n > 0, chunk
        assert len(rows) == 2
        for a, b in zip(full, rows):
            for k in COMPARED:
                if k in a:
                    assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), (chunk, k)
            assert {"time/update_forward", "time/update_backward", "time/optimizer"} <= b.keys()
        assert w.keys() == w_full.keys()
        for k in w_full:
            torch.testing.assert_close(w[k], w_full[k], rtol=1e-4, atol=1e-6, msg=lambda m: f"{chunk} {k}: {m}")


def test_negative_chunk_refused(tmp_path):
    with pytest.raises(ConfigError, match="train.logprob_chunk_tokens"):
        load_config(None, tiny_overrides(tmp_path, **{"train.logprob_chunk_tokens": -1}))
