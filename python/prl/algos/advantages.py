"""Advantage estimators: pure, vectorized tensor functions (exact semantics: DESIGN.md section 3).

Notation. B samples (``prompts_per_step * n``), T response tokens (right- or left-padded),
``group_ids[B]`` says which prompt each sample answers (a group = the n samples of one prompt),
``response_mask[B, T]`` is 1 on response tokens and 0 on padding. Every estimator returns an
advantage per token ``[B, T]`` that is exactly 0 where the mask is 0.

Each function here has a slow, obvious twin in :mod:`prl.algos.reference` (Python loops) that the
tests compare it with; the segmented future sums run in the ``prl::segmented_future_kl`` torch op
(:func:`prl.ops.segmented_future_kl`, C++/CUDA, with a PyTorch fallback).

Worked example (GRPO, one group of 4 with rewards 1, 0, 0, 1)::

    mean = 0.5, std (unbiased) = 0.5774  ->  A = [+0.866, -0.866, -0.866, +0.866]

Decisions where the design is silent:
- Group statistics use the unbiased (Bessel) standard deviation, as verl and TRL do.
- A group with a single sample is an error for GRPO, RLOO, PRL-orm and PRIME (no baseline exists);
  sample n >= 2 per prompt.
- ``masked_whiten`` uses the unbiased variance over valid tokens and ``rsqrt(var + 1e-8)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prl import ops
from prl.algos._checks import as_mask, as_rewards, check_bt, check_choice, check_float, check_group_ids, check_vector

__all__ = [
    "group_index",
    "grpo_scalar_advantages",
    "rloo_scalar_advantages",
    "grpo_advantages",
    "rloo_advantages",
    "prl_advantages",
    "prime_token_rewards",
    "prime_advantages",
    "masked_mean",
    "masked_whiten",
]


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


def _require_pairs(counts: Tensor, group_ids: Tensor, inverse: Tensor, who: str) -> None:
    if (counts < 2).any():
        g = int(torch.nonzero(counts < 2)[0, 0])
        gid = int(group_ids[inverse == g][0])
        raise ValueError(
            f"{who}: group {gid} has a single sample; group baselines need at least 2 samples per prompt (n >= 2)"
        )


def _constant_groups(r: Tensor, inverse: Tensor, G: int) -> Tensor:
    """[B] bool: the sample's group has a single reward value (max == min), so its advantage is exactly 0."""
    hi = torch.full((G,), -torch.inf, dtype=r.dtype, device=r.device).scatter_reduce(0, inverse, r, "amax")  # [G]
    lo = torch.full((G,), torch.inf, dtype=r.dtype, device=r.device).scatter_reduce(0, inverse, r, "amin")  # [G]
    return (hi == lo)[inverse]


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
    _require_pairs(counts, group_ids, inverse, "grpo_advantages")
    G = counts.numel()
    r64, cnt = r.double(), counts.double()
    mean = torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, r64) / cnt  # [G]
    centered = r64 - mean[inverse]  # [B]
    if scale_by_std:
        var = torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, centered**2) / (cnt - 1)  # [G]
        centered = centered / (var.sqrt()[inverse] + eps)
    return torch.where(_constant_groups(r, inverse, G), 0.0, centered).to(r.dtype)


def rloo_scalar_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """Sequence-level RLOO advantage: R_i - mean over j != i in the group of R_j.  rewards [B] -> [B]
    (exactly 0 for a group whose rewards are all equal; statistics in float64 as for GRPO)."""
    B = check_vector("rewards", rewards)
    check_group_ids(group_ids, B)
    r = as_rewards(rewards)
    inverse, counts = group_index(group_ids)
    _require_pairs(counts, group_ids, inverse, "rloo_advantages")
    G = counts.numel()
    r64 = r.double()
    total = torch.zeros(G, dtype=torch.float64, device=r.device).index_add_(0, inverse, r64)  # [G]
    loo_mean = (total[inverse] - r64) / (counts.double()[inverse] - 1)  # [B]
    return torch.where(_constant_groups(r, inverse, G), 0.0, r64 - loo_mean).to(r.dtype)


def _broadcast(adv: Tensor, mask: Tensor) -> Tensor:
    return adv[:, None] * mask  # [B, 1] * [B, T] -> [B, T]


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
    return _broadcast(adv, mask.to(adv.dtype))


def rloo_advantages(rewards: Tensor, group_ids: Tensor, response_mask: Tensor) -> Tensor:
    """RLOO advantage broadcast to every response token.  rewards [B], group_ids [B], response_mask [B, T] -> [B, T]."""
    B = check_vector("rewards", rewards)
    check_bt("response_mask", response_mask, B)
    mask = as_mask("response_mask", response_mask)
    adv = rloo_scalar_advantages(rewards, group_ids)
    return _broadcast(adv, mask.to(adv.dtype))


def _masked_step_ids(step_ids: Tensor, mask: Tensor, name: str = "step_ids") -> Tensor:
    """Step ids with -1 forced wherever the mask is 0; errors if a response token has no step."""
    if step_ids.is_floating_point() or step_ids.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor (int32 or int64), got dtype {step_ids.dtype}")
    valid = mask > 0
    if (step_ids[valid] < 0).any():
        row = int(torch.nonzero(valid & (step_ids < 0))[0, 0])
        raise ValueError(f"{name} must be >= 0 on every response token (mask 1); row {row} has a negative id")
    return torch.where(valid, step_ids, torch.full_like(step_ids, -1))


def prl_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    log_ratio: Tensor,
    response_mask: Tensor,
    step_ids: Tensor,
    *,
    eta: float = 100.0,
    mode: str = "orm",
    future_from: str = "step_end",
    scale_by_std: bool = True,
    eps: float = 1e-6,
) -> Tensor:
    """PRL: the outcome reward decomposed into per-step rewards through the future KL.

    F_t = sum over s >= b(step(t)) of d_s m_s        (``future_from="step_end"``, the official code)
        = sum over s >  b(step(t)) of d_s m_s        (``future_from="next_step"``, the paper's formula)
    A_t = A_i^GRPO - F_t / eta                       (``mode="orm"``, default)
    A_t = R_i      - F_t / eta                       (``mode="prm"``, no baseline)

    rewards [B], group_ids [B], log_ratio [B, T] (d = log pi_old - log pi_ref, detached),
    response_mask [B, T], step_ids [B, T] (int, non-decreasing along each row's response tokens;
    values where the mask is 0 are ignored) -> [B, T]

    Example: one response of 4 tokens, steps [0, 0, 1, 1], d = [0.1, 0.2, 0.3, 0.4], eta = 10,
    R = 1, mode="prm": F(step_end) = [0.9, 0.9, 0.4, 0.4] -> A = [0.91, 0.91, 0.96, 0.96].
    """
    B = check_vector("rewards", rewards)
    check_group_ids(group_ids, B)
    check_float("log_ratio", log_ratio)
    T = check_bt("log_ratio", log_ratio, B)
    check_bt("response_mask", response_mask, B, T)
    check_bt("step_ids", step_ids, B, T)
    check_choice("mode", mode, ("orm", "prm"))
    check_choice("future_from", future_from, ("step_end", "next_step"))
    if not eta > 0:
        raise ValueError(f"eta must be > 0 (kl_coef = 1/eta); got {eta}")
    mask = as_mask("response_mask", response_mask)
    sids = _masked_step_ids(step_ids, mask)
    if mode == "orm":
        base = grpo_scalar_advantages(rewards, group_ids, scale_by_std=scale_by_std, eps=eps)  # [B]
    else:
        base = as_rewards(rewards)
    future = ops.segmented_future_kl(log_ratio.detach(), sids, future_from=future_from)  # [B, T]
    dtype = torch.promote_types(base.dtype, future.dtype)
    adv = base.to(dtype)[:, None] - future.to(dtype) / eta  # [B, T]
    return adv * mask.to(dtype)


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


def _position_ids(mask: Tensor) -> Tensor:
    """One step per valid token (for discounted returns through the segmented op). mask [B, T] -> int32 [B, T]."""
    pos = torch.arange(mask.shape[1], device=mask.device, dtype=torch.int32).expand(mask.shape[0], -1)
    return torch.where(mask > 0, pos, torch.full_like(pos, -1))


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
    pos = _position_ids(mask)
    dtype = torch.promote_types(token_rewards.dtype, torch.float32)  # float64 stays float64; half -> float32
    mask = mask.to(dtype)
    q = torch.where(mask > 0, token_rewards.to(dtype), 0.0)  # [B, T]
    if reward_norm == "batch_norm":
        returns = ops.segmented_future_kl(q, pos, future_from="step_end", gamma=1.0)  # [B, T]
        q = q / (returns.abs().max() + 1e-6)
    # leave-one-out baseline on each sample's mean token reward
    inverse, counts = group_index(group_ids)
    _require_pairs(counts, group_ids, inverse, "prime_advantages")
    seq_mean = masked_mean(q, mask, dim=1)  # [B]
    total = torch.zeros(counts.numel(), dtype=q.dtype, device=q.device).index_add_(0, inverse, seq_mean)  # [G]
    loo = (total[inverse] - seq_mean) / (counts.to(q.dtype)[inverse] - 1)  # [B]
    r_tilde = (q - loo[:, None]) * mask  # [B, T]
    process = ops.segmented_future_kl(r_tilde, pos, future_from="step_end", gamma=gamma)  # [B, T]
    outcome = rloo_scalar_advantages(rewards, group_ids).to(q.dtype)  # [B]
    adv = (w_process * process + w_outcome * outcome[:, None]) * mask
    return masked_whiten(adv, mask) if whiten else adv
