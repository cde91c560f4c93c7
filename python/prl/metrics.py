"""What a training step logs, as pure functions of what it computed (one function per phase).

Every key is listed with its meaning in the README ("Logged metrics").
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from prl import algos

__all__ = ["reward_metrics", "filter_metrics", "logprob_metrics", "advantage_metrics", "masked_token_mean"]


def masked_token_mean(x: Tensor, mask: Tensor) -> float:
    """Mean of ``x`` [B, T] over the valid tokens of ``mask`` [B, T] (padding selected away, not multiplied)."""
    return float(torch.where(mask > 0, x, 0.0).sum() / mask.sum().clamp_min(1))


def reward_metrics(rewards: np.ndarray, correct: np.ndarray, raw: dict[str, list], n_none: int, rollouts: Sequence[Any],
                   verdicts: Sequence[Any], statuses: Sequence[str], n: int, none_value: float) -> dict[str, float]:
    """rewards [G*n] (summed reward functions), correct [G*n] 0/1 -> reward, accuracy, length, status metrics."""
    lens = np.array([len(r.response_ids) for r in rollouts])
    acc_g = correct.reshape(-1, n).mean(1)  # [G]
    m: dict[str, float] = {"reward/mean": float(rewards.mean()), "reward/std": float(rewards.std())}
    if len(raw) > 1:
        for name, vals in raw.items():
            m[f"reward/{name}"] = float(np.mean([v if v is not None else none_value for v in vals]))
    m["reward/none_count"] = n_none
    m["acc/mean"] = float(correct.mean())
    m[f"acc/pass@{n}"] = float((acc_g > 0).mean())
    m["response/length_mean"] = float(lens.mean())
    m["response/length_max"] = int(lens.max())
    m["response/clip_ratio"] = float(np.mean([r.finish_reason == "length" for r in rollouts]))
    for s in statuses:
        m[f"verifier/{s}"] = sum(1 for v in verdicts if v.status == s)
    return m


def filter_metrics(keep_groups: np.ndarray) -> dict[str, float]:
    return {"filter/dropped_groups": int((~keep_groups).sum()), "filter/kept_groups": int(keep_groups.sum())}


def logprob_metrics(b: Any) -> dict[str, float]:
    """Engine gap, entropy and KL(pi_old || pi_ref) (the KL only on steps with the reference forward)."""
    mask = b.response_mask
    gap = torch.where(mask > 0, (b.engine_logp - b.old_logp).abs(), 0.0)  # [B, T]
    m = {"rollout/logprob_gap": float(gap.sum() / mask.sum().clamp_min(1)), "rollout/logprob_gap_max": float(gap.max()),
         "actor/entropy": masked_token_mean(b.entropy, mask)}
    if b.ref_logp is not None:
        m["actor/kl_ref"] = masked_token_mean(b.old_logp - b.ref_logp, mask)  # k1 estimate of KL(pi_old || pi_ref)
        m["actor/kl_ref_k3"] = masked_token_mean(algos.kl_penalty(b.old_logp, b.ref_logp, "k3"), mask)
    return m


def advantage_metrics(adv: Tensor, b: Any, prl_settings: Any = None, eps: float = 1e-6) -> dict[str, float]:
    """Mean and mean |A|; for PRL the future-KL term F it subtracted and the steps per response."""
    mask = b.response_mask
    m = {"adv/mean": masked_token_mean(adv, mask), "adv/abs_mean": masked_token_mean(adv.abs(), mask)}
    if prl_settings is not None:
        base = (algos.grpo_scalar_advantages(b.rewards, b.group_ids, eps=eps) if prl_settings.mode == "orm"
                else b.rewards)
        future = (base[:, None] * mask - adv) * prl_settings.eta  # [B, T] F_{b(s(t))}
        m["prl/future_kl_mean"] = masked_token_mean(future, mask)
        m["prl/steps_per_response"] = float((b.step_ids.max(1).values + 1).float().mean())
    return m
