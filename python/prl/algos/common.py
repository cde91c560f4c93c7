"""Helpers shared by the advantage estimators: masked statistics, group indices, step ids.

Notation everywhere in prl.algos: B samples (``prompts_per_step * n``), T response tokens,
``group_ids[B]`` says which prompt each sample answers (a group = the n samples of one prompt),
``response_mask[B, T]`` is 1 on response tokens and 0 on padding.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["masked_mean", "masked_whiten", "group_index", "require_pairs", "constant_groups", "broadcast",
           "masked_step_ids", "position_ids"]


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of ``x`` over entries where ``mask`` is 1 (0 when nothing is valid).  x, mask: [B, T]."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp_min(1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp_min(1)


def masked_whiten(x: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """Whiten ``x`` over its valid entries: (x - mean) / sqrt(var_unbiased + eps); 0 where mask is 0.  [B, T]."""
    mask = mask.to(x.dtype)
    n = mask.sum()
    mean = (x * mask).sum() / n.clamp_min(1)
    var = (((x - mean) * mask) ** 2).sum() / (n - 1).clamp_min(1)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def group_index(group_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Dense group index of each sample and the size of each group.

    group_ids [B] (any integers) -> (inverse [B] in 0..G-1, counts [G]).
    """
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)
    return inverse, counts


def require_pairs(counts: Tensor, group_ids: Tensor, inverse: Tensor, who: str) -> None:
    if (counts < 2).any():
        g = int(torch.nonzero(counts < 2)[0, 0])
        gid = int(group_ids[inverse == g][0])
        raise ValueError(
            f"{who}: group {gid} has a single sample; group baselines need at least 2 samples per prompt (n >= 2)"
        )


def constant_groups(r: Tensor, inverse: Tensor, G: int) -> Tensor:
    """[B] bool: the sample's group has a single reward value (max == min), so its advantage is exactly 0."""
    hi = torch.full((G,), -torch.inf, dtype=r.dtype, device=r.device).scatter_reduce(0, inverse, r, "amax")  # [G]
    lo = torch.full((G,), torch.inf, dtype=r.dtype, device=r.device).scatter_reduce(0, inverse, r, "amin")  # [G]
    return (hi == lo)[inverse]


def broadcast(adv: Tensor, mask: Tensor) -> Tensor:
    return adv[:, None] * mask  # [B, 1] * [B, T] -> [B, T]


def masked_step_ids(step_ids: Tensor, mask: Tensor, name: str = "step_ids") -> Tensor:
    """Step ids with -1 forced wherever the mask is 0; errors if a response token has no step."""
    if step_ids.is_floating_point() or step_ids.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor (int32 or int64), got dtype {step_ids.dtype}")
    valid = mask > 0
    if (step_ids[valid] < 0).any():
        row = int(torch.nonzero(valid & (step_ids < 0))[0, 0])
        raise ValueError(f"{name} must be >= 0 on every response token (mask 1); row {row} has a negative id")
    return torch.where(valid, step_ids, torch.full_like(step_ids, -1))


def position_ids(mask: Tensor) -> Tensor:
    """One step per valid token (for discounted returns through the segmented op). mask [B, T] -> int32 [B, T]."""
    pos = torch.arange(mask.shape[1], device=mask.device, dtype=torch.int32).expand(mask.shape[0], -1)
    return torch.where(mask > 0, pos, torch.full_like(pos, -1))
