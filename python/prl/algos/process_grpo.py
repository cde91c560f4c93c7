"""Process-supervised GRPO (DeepSeekMath): step rewards normalised over the group, summed to the end.

Response i of group g has steps l = 1..K_i (step ids from the splitter), b(l) the last token of step l,
and a step reward r_{i,l} from a process-reward source (an explicit PRM's score, the rule checker's
0/1, ...). The source places r_{i,l} at b(l) in ``token_rewards`` [B, T] (0 elsewhere); this
estimator reads it there, at the last response token of each step id.

    r~_{i,l} = (r_{i,l} - mean_g r) / (std_g r + eps)   mean and std over all steps of all responses
                                                       of the group (std unbiased; a group whose step
                                                       rewards are all equal, or that has a single
                                                       step, gets r~ = 0 exactly)
    A_{i,t}  = sum over l with b(l) >= t of r~_{i,l}    (``credit="sum"``, the paper's form)
             = min over l with b(l) >= t of r~_{i,l}    (``credit="min"``, min-form credit (PURE):
                                                       blunts the reward hacking of long chains)
             + w_outcome * A_i^GRPO                     (optional outcome term on the outcome reward;
                                                       default 0: the paper's pure process form)

Padding tokens (mask 0) get 0; a row without response tokens gets 0 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from prl.algos._checks import as_mask, check_bt, check_choice, check_float, check_group_ids, check_vector
from prl.algos.common import group_index, masked_step_ids, require_pairs
from prl.algos.grpo import grpo_scalar_advantages
from prl.algos.registry import register_estimator
from prl.config import setting

__all__ = ["ProcessGRPOConfig", "process_grpo_advantages", "step_rewards_from_tokens"]


@dataclass
class ProcessGRPOConfig:
    """Process-supervised GRPO: group-normalised step rewards from a process-reward source (prl.algos.process_grpo)."""

    steps: str = setting("newline", "step split (the same steps the PRM was trained on): fixed:N, newline, "
                         "double_newline, balanced:MIN,MAX", check="steps_spec")
    credit: Literal["sum", "min"] = setting("sum", "a token's advantage: the sum (DeepSeekMath) or the minimum "
                                            "(PURE) of the normalised rewards of the steps ending at or after it")
    w_outcome: float = setting(0.0, "weight of the outcome GRPO advantage added to every token (0: pure process)")


def step_rewards_from_tokens(token_rewards: Tensor, step_ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Step rewards read at each step's last response token.

    token_rewards [B, T], step_ids [B, T] (already -1 where the mask is 0), mask [B, T] bool ->
    (rewards [B, L] float64, exists [B, L] bool) with L = 1 + the largest step id (at least 1).
    """
    B, T = step_ids.shape
    sids = step_ids.long()
    L = max(int(sids.max()) + 1, 1) if sids.numel() else 1
    pos = torch.arange(T, device=sids.device).expand(B, T)
    # b(l): the largest position carrying step id l (valid tokens only; -1 where the step has no token)
    last = torch.full((B, L + 1), -1, dtype=torch.long, device=sids.device)
    col = torch.where(mask, sids, torch.full_like(sids, L))  # padding goes to a spare column
    last.scatter_reduce_(1, col, torch.where(mask, pos, torch.full_like(pos, -1)), "amax")
    last = last[:, :L]  # [B, L]
    exists = last >= 0
    r = torch.gather(token_rewards.double(), 1, last.clamp_min(0))  # [B, L]
    return torch.where(exists, r, 0.0), exists


@register_estimator("process_grpo", config=ProcessGRPOConfig, min_group=2)
def process_grpo_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    response_mask: Tensor,
    step_ids: Tensor,
    token_rewards: Tensor,
    *,
    credit: str = "sum",
    w_outcome: float = 0.0,
    eps: float = 1e-6,
) -> Tensor:
    """Process-supervised GRPO: group-normalised step rewards, each token credited with the later steps'.

    rewards [B] (outcome, used only when w_outcome != 0), group_ids [B], response_mask [B, T],
    step_ids [B, T] (int, non-decreasing along each row's response tokens), token_rewards [B, T] (the
    step reward r_{i,l} at b(l), the step's last token; other positions are ignored) -> [B, T]

    Example: a group of two responses, steps [0, 0, 1] and [0, 1, 1], step rewards (1, 0) and (1, 1):
    mean 0.75, std 0.5 -> r~ = (0.5, -1.5) and (0.5, 0.5); A = [-1, -1, -1.5] and [1, 0.5, 0.5]
    (credit="sum"), [-1.5, -1.5, -1.5] and [0.5, 0.5, 0.5] (credit="min").
    """
    B = check_vector("rewards", rewards)
    check_group_ids(group_ids, B)
    check_float("token_rewards", token_rewards)
    T = check_bt("token_rewards", token_rewards, B)
    check_bt("response_mask", response_mask, B, T)
    check_bt("step_ids", step_ids, B, T)
    check_choice("credit", credit, ("sum", "min"))
    mask = as_mask("response_mask", response_mask) > 0  # [B, T] bool
    sids = masked_step_ids(step_ids, mask)
    r, exists = step_rewards_from_tokens(token_rewards, sids, mask)  # [B, L] float64
    inverse, counts = group_index(group_ids)
    require_pairs(counts, group_ids, inverse, "process_grpo_advantages")
    G = counts.numel()
    # group statistics over all steps of all responses in the group (float64)
    ex = exists.double()
    n_g = torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, ex.sum(1))  # [G]
    sum_g = torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, r.sum(1))
    mean = (sum_g / n_g.clamp_min(1))[inverse][:, None]  # [B, 1]
    centered = torch.where(exists, r - mean, 0.0)  # [B, L]
    var = (torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, (centered ** 2).sum(1))
           / (n_g - 1).clamp_min(1))  # [G]
    hi = torch.where(exists, r, -torch.inf).amax(1)  # [B]
    lo = torch.where(exists, r, torch.inf).amin(1)
    hi_g = torch.full((G,), -torch.inf, dtype=torch.float64, device=r.device).scatter_reduce(0, inverse, hi, "amax")
    lo_g = torch.full((G,), torch.inf, dtype=torch.float64, device=r.device).scatter_reduce(0, inverse, lo, "amin")
    flat = ((hi_g <= lo_g) | (n_g < 2))[inverse][:, None]  # all step rewards equal, or a single step: r~ = 0
    norm = torch.where(exists & ~flat, centered / (var.sqrt()[inverse][:, None] + eps), 0.0)  # [B, L]
    # per step: the sum (or min) over the steps l' >= l (steps are numbered in token order)
    if credit == "sum":
        suffix = norm.flip(1).cumsum(1).flip(1)  # [B, L]
    else:
        suffix = torch.where(exists, norm, torch.inf).flip(1).cummin(1).values.flip(1)
    adv = torch.gather(suffix, 1, sids.long().clamp_min(0))  # [B, T]
    if w_outcome:
        adv = adv + w_outcome * grpo_scalar_advantages(rewards, group_ids, eps=eps).double()[:, None]
    dtype = torch.promote_types(token_rewards.dtype, torch.float32)
    return torch.where(mask, adv, 0.0).to(dtype)
