"""PRIME: leave-one-out baselines on implicit process rewards and on the outcome reward.

The token rewards q_t come from a process-reward source (by default the online implicit PRM,
:mod:`prl.signals.implicit_prm`: q_t = beta (log pi_phi(y_t) - log pi_ref(y_t))). Then:

    q    scaled (``reward_norm="batch_norm"``, both PRIME codebases) by 1 / (max over the batch of
         |sum over s >= t of q_s| + 1e-6), so that the largest process return is 1 and beta does not
         set the scale; ``none`` keeps q as is
    r~_t = q_t - mean over j != i in the group of (mean over s of q^j_s)   (the baseline the paper
         describes; its code's variant differs by (q_t - mean_i) / (n - 1))
    G_t  = sum over s >= t of gamma^(s - t) r~_s  (exponents count response tokens only)
    A_t  = w_process G_t + w_outcome A_i^RLOO, whitened over the batch's valid tokens

Defaults gamma = 1, w_p = w_o = 1. The prompt filter (``algo.filter``, groups with accuracy in
[0.2, 0.8]) is on by default for PRIME.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from prl import ops
from prl.algos._checks import as_mask, check_bt, check_choice, check_float, check_group_ids, check_vector
from prl.algos.common import group_index, masked_mean, masked_whiten, position_ids, require_pairs
from prl.algos.registry import register_estimator
from prl.algos.rloo import rloo_scalar_advantages
from prl.config import setting

__all__ = ["PRIMEConfig", "prime_token_rewards", "prime_advantages"]


@dataclass
class PRIMEConfig:
    """PRIME's advantage (prl.algos.prime); its implicit PRM is process_reward.implicit_prm."""

    gamma: float = setting(1.0, "discount of the process return", check=lambda v: 0 < v <= 1, must="must lie in (0, 1]")
    w_process: float = setting(1.0, "weight of the process advantage")
    w_outcome: float = setting(1.0, "weight of the outcome (RLOO) advantage")
    reward_norm: Literal["batch_norm", "none"] = setting("batch_norm", "scale of the token rewards")
    whiten: bool = setting(True, "whiten the advantage over the batch's valid tokens")


def prime_token_rewards(prm_logp: Tensor, ref_logp: Tensor, response_mask: Tensor, *, beta: float = 0.05) -> Tensor:
    """PRIME's implicit process reward q_t = beta * (log pi_phi(y_t) - log pi_ref(y_t)), 0 off the mask.

    prm_logp [B, T], ref_logp [B, T], response_mask [B, T] -> [B, T]
    """
    check_float("prm_logp", prm_logp)
    check_float("ref_logp", ref_logp)
    B, T = prm_logp.shape if prm_logp.dim() == 2 else (None, None)
    if B is None:
        raise ValueError(f"prm_logp must have shape [B, T], got shape {list(prm_logp.shape)}")
    check_bt("ref_logp", ref_logp, B, T)
    check_bt("response_mask", response_mask, B, T)
    mask = as_mask("response_mask", response_mask).to(prm_logp.dtype)
    return beta * (prm_logp - ref_logp) * mask


@register_estimator("prime", config=PRIMEConfig, min_group=2, prompt_filter=True, process_reward="implicit_prm")
def prime_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    token_rewards: Tensor,
    response_mask: Tensor,
    *,
    gamma: float = 1.0,
    w_process: float = 1.0,
    w_outcome: float = 1.0,
    reward_norm: str = "batch_norm",
    whiten: bool = True,
) -> Tensor:
    """PRIME: leave-one-out baselines on the implicit process reward and on the outcome reward.

    q   = token_rewards, scaled (``reward_norm="batch_norm"``) by 1 / (max over the batch of
          |sum over s >= t of q_s| + 1e-6), so that the largest process return is 1
    r~_t = q_t - mean over j != i in the group of (mean over s of q^j_s)
    G_t  = sum over s >= t of gamma^(s - t) r~_s   (exponents count response tokens only)
    A_t  = w_process * G_t + w_outcome * A_i^RLOO,  whitened over the batch's valid tokens

    rewards [B], group_ids [B], token_rewards [B, T], response_mask [B, T] -> [B, T]
    """
    B = check_vector("rewards", rewards)
    check_group_ids(group_ids, B)
    check_float("token_rewards", token_rewards)
    T = check_bt("token_rewards", token_rewards, B)
    check_bt("response_mask", response_mask, B, T)
    check_choice("reward_norm", reward_norm, ("batch_norm", "none"))
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1]; got {gamma}")
    mask = as_mask("response_mask", response_mask)
    pos = position_ids(mask)
    dtype = torch.promote_types(token_rewards.dtype, torch.float32)  # float64 stays float64; half -> float32
    mask = mask.to(dtype)
    q = torch.where(mask > 0, token_rewards.to(dtype), 0.0)  # [B, T]
    if reward_norm == "batch_norm":
        returns = ops.segmented_future_kl(q, pos, future_from="step_end", gamma=1.0)  # [B, T]
        q = q / (returns.abs().max() + 1e-6)
    # leave-one-out baseline on each sample's mean token reward
    inverse, counts = group_index(group_ids)
    require_pairs(counts, group_ids, inverse, "prime_advantages")
    seq_mean = masked_mean(q, mask, dim=1)  # [B]
    total = torch.zeros(counts.numel(), dtype=q.dtype, device=q.device).index_add_(0, inverse, seq_mean)  # [G]
    loo = (total[inverse] - seq_mean) / (counts.to(q.dtype)[inverse] - 1)  # [B]
    r_tilde = (q - loo[:, None]) * mask  # [B, T]
    process = ops.segmented_future_kl(r_tilde, pos, future_from="step_end", gamma=gamma)  # [B, T]
    outcome = rloo_scalar_advantages(rewards, group_ids).to(q.dtype)  # [B]
    adv = (w_process * process + w_outcome * outcome[:, None]) * mask
    return masked_whiten(adv, mask) if whiten else adv
