"""RLOO: the outcome reward minus the mean reward of the other samples of the group.

    A_i = R_i - mean over j != i in g of R_j          (every response token)
"""

from __future__ import annotations

import torch
from torch import Tensor

from prl.algos._checks import as_mask, as_rewards, check_bt, check_group_ids, check_vector
from prl.algos.common import broadcast, constant_groups, group_index, require_pairs
from prl.algos.registry import register_estimator

__all__ = ["rloo_scalar_advantages", "rloo_advantages"]


def rloo_scalar_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """Sequence-level RLOO advantage: R_i - mean over j != i in the group of R_j.  rewards [B] -> [B]
    (exactly 0 for a group whose rewards are all equal; statistics in float64 as for GRPO)."""
    B = check_vector("rewards", rewards)
    check_group_ids(group_ids, B)
    r = as_rewards(rewards)
    inverse, counts = group_index(group_ids)
    require_pairs(counts, group_ids, inverse, "rloo_advantages")
    G = counts.numel()
    r64 = r.double()
    total = torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, r64)  # [G]
    loo_mean = (total[inverse] - r64) / (counts.double()[inverse] - 1)  # [B]
    return torch.where(constant_groups(r, inverse, G), 0.0, r64 - loo_mean).to(r.dtype)


@register_estimator("rloo", min_group=2)
def rloo_advantages(rewards: Tensor, group_ids: Tensor, response_mask: Tensor) -> Tensor:
    """RLOO advantage broadcast to every response token.  rewards [B], group_ids [B], response_mask [B, T] -> [B, T]."""
    B = check_vector("rewards", rewards)
    check_bt("response_mask", response_mask, B)
    mask = as_mask("response_mask", response_mask)
    adv = rloo_scalar_advantages(rewards, group_ids)
    return broadcast(adv, mask.to(adv.dtype))
