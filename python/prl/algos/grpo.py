"""GRPO and Dr.GRPO: the group-normalised outcome reward, broadcast to every response token.

    A_i = (R_i - mean_g R) / (std_g R + eps)          grpo   (std: unbiased, as verl and TRL)
    A_i =  R_i - mean_g R                             drgrpo (loss: seq-mean-token-sum-norm)

Worked example (one group of 4 with rewards 1, 0, 0, 1)::

    mean = 0.5, std (unbiased) = 0.5774  ->  A = [+0.866, -0.866, -0.866, +0.866]

A group of one sample has no baseline (an error; sample n >= 2 per prompt). A group whose rewards
are all equal gets exactly 0 (see :func:`grpo_scalar_advantages`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from prl.algos._checks import as_mask, as_rewards, check_bt, check_group_ids, check_vector
from prl.algos.common import broadcast, constant_groups, group_index, require_pairs
from prl.algos.registry import register_estimator

__all__ = ["grpo_scalar_advantages", "grpo_advantages", "drgrpo_advantages"]


# Group statistics are computed in float64 and a group whose rewards are all equal gets exactly 0:
# rewards that are not exact in binary (1.3 = 1 + 0.3 * format) summed in float32 leave a 1-ulp spread
# that GRPO's division by (std ~ 1 ulp) + eps would blow up to a sizeable advantage of one sign.
def grpo_scalar_advantages(rewards: Tensor, group_ids: Tensor, *, scale_by_std: bool = True, eps: float = 1e-6) -> Tensor:
    """Sequence-level GRPO advantage: (R_i - mean_g R) / (std_g R + eps), or without the std (Dr.GRPO).

    rewards [B], group_ids [B] -> [B] (float32, or float64 for float64 rewards); exactly 0 for every
    sample of a group whose rewards are all equal.
    """
    B = check_vector("rewards", rewards)
    check_group_ids(group_ids, B)
    r = as_rewards(rewards)
    inverse, counts = group_index(group_ids)
    require_pairs(counts, group_ids, inverse, "grpo_advantages")
    G = counts.numel()
    r64, cnt = r.double(), counts.double()
    mean = torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, r64) / cnt  # [G]
    centered = r64 - mean[inverse]  # [B]
    if scale_by_std:
        var = torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, centered**2) / (cnt - 1)  # [G]
        centered = centered / (var.sqrt()[inverse] + eps)
    return torch.where(constant_groups(r, inverse, G), 0.0, centered).to(r.dtype)


@register_estimator("grpo", min_group=2)
def grpo_advantages(
    rewards: Tensor, group_ids: Tensor, response_mask: Tensor, *, scale_by_std: bool = True, eps: float = 1e-6
) -> Tensor:
    """GRPO (``scale_by_std=False``: Dr.GRPO) advantage broadcast to every response token.

    rewards [B], group_ids [B], response_mask [B, T] -> [B, T]
    """
    B = check_vector("rewards", rewards)
    check_bt("response_mask", response_mask, B)
    mask = as_mask("response_mask", response_mask)
    adv = grpo_scalar_advantages(rewards, group_ids, scale_by_std=scale_by_std, eps=eps)
    return broadcast(adv, mask.to(adv.dtype))


@register_estimator("drgrpo", min_group=2, loss_agg="seq-mean-token-sum-norm")
def drgrpo_advantages(rewards: Tensor, group_ids: Tensor, response_mask: Tensor) -> Tensor:
    """Dr.GRPO: R_i - mean_g R (no std), every token.  rewards [B], group_ids [B], response_mask [B, T] -> [B, T]"""
    return grpo_advantages(rewards, group_ids, response_mask, scale_by_std=False)
