"""Policy losses: PPO-clip with clip-higher and dual clip, three aggregations, optional KL loss.

The loss of a batch is written as ``numerator / normalizer``: the numerator is a sum over the
batch's samples, so a batch cut into micro-batches whose losses are summed (gradient accumulation)
gives exactly the whole-batch loss and gradient, provided every micro-batch is given the
*whole batch's* normalizer (:func:`loss_normalizer`).

=========================  ===========================================  ======================================
agg                        numerator                                    normalizer (whole batch)
=========================  ===========================================  ======================================
token-mean                 sum_i sum_t l_it m_it                        number of valid tokens
seq-mean-token-mean        sum_i (sum_t l_it m_it / sum_t m_it)         number of samples with a valid token
seq-mean-token-sum-norm    sum_i sum_t l_it m_it                        samples * max_response_len (Dr.GRPO)
=========================  ===========================================  ======================================
"""

from __future__ import annotations

import torch
from torch import Tensor

from prl.algos._checks import as_mask, check_bt, check_choice, check_float

__all__ = ["AGGREGATIONS", "KL_KINDS", "kl_penalty", "loss_normalizer", "aggregate_loss", "ppo_clip_loss", "prime_prm_loss",
           "binary_auc"]

AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")
LOG_RATIO_CLAMP = 20.0  # |log pi_theta - log pi_old| bound inside the PPO ratio (as verl)
KL_KINDS = ("k1", "k2", "k3", "low_var_kl")


def kl_penalty(logp: Tensor, ref_logp: Tensor, kind: str = "k1") -> Tensor:
    """Per-token KL estimate between the policy and the reference, from sampled tokens.

    k1 = log p - log q;  k2 = (log p - log q)^2 / 2;  k3 = exp(log q - log p) - (log q - log p) - 1;
    low_var_kl = k3 with the log-ratio clamped to [-20, 20] and the result to [-10, 10] (verl's form).
    logp [B, T], ref_logp [B, T] -> [B, T]
    """
    check_choice("kind", kind, KL_KINDS)
    if logp.shape != ref_logp.shape:
        raise ValueError(f"ref_logp must have the shape of logp {list(logp.shape)}, got {list(ref_logp.shape)}")
    d = logp - ref_logp
    if kind == "k1":
        return d
    if kind == "k2":
        return 0.5 * d.square()
    r = -d
    if kind == "low_var_kl":
        r = r.clamp(-20.0, 20.0)
        return (r.exp() - r - 1).clamp(-10.0, 10.0)
    return r.exp() - r - 1


def loss_normalizer(response_mask: Tensor, agg: str = "token-mean", *, max_response_len: int | None = None) -> float:
    """The normalizer of :func:`ppo_clip_loss` for a whole batch (see the module table).

    response_mask [B, T] -> float.  ``max_response_len`` (seq-mean-token-sum-norm only) defaults to T.
    """
    check_choice("agg", agg, AGGREGATIONS)
    if response_mask.dim() != 2:
        raise ValueError(f"response_mask must have shape [B, T], got shape {list(response_mask.shape)}")
    mask = as_mask("response_mask", response_mask)
    if agg == "token-mean":
        return float(mask.sum().clamp_min(1))
    if agg == "seq-mean-token-mean":
        return float((mask.sum(1) > 0).sum().clamp_min(1))
    L = response_mask.shape[1] if max_response_len is None else max_response_len
    if L < 1:
        raise ValueError(f"max_response_len must be >= 1; got {L}")
    return float(max(response_mask.shape[0], 1) * L)


def aggregate_loss(per_token: Tensor, mask: Tensor, agg: str, normalizer: float | None = None) -> Tensor:
    """Aggregate a per-token loss [B, T] over the valid tokens into a scalar (module table)."""
    check_choice("agg", agg, AGGREGATIONS)
    mask = mask.to(per_token.dtype)
    if normalizer is None:
        normalizer = loss_normalizer(mask, agg)
    # select rather than multiply: NaN * 0 is NaN, and padding may hold any value
    masked = torch.where(mask > 0, per_token, torch.zeros_like(per_token))  # [B, T]
    if agg == "seq-mean-token-mean":
        numer = (masked.sum(1) / mask.sum(1).clamp_min(1)).sum()
    else:
        numer = masked.sum()
    return numer / normalizer


def ppo_clip_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = None,
    agg: str = "token-mean",
    normalizer: float | None = None,
    ref_logp: Tensor | None = None,
    kl_loss_coef: float = 0.0,
    kl_loss_type: str = "low_var_kl",
) -> tuple[Tensor, dict[str, float]]:
    """PPO-clip policy loss.

    ratio = exp(logp - old_logp);  l = max(-A ratio, -A clip(ratio, 1 - clip_low, 1 + clip_high));
    with ``dual_clip = c > 1``, tokens with A < 0 take min(l, -c A) (Ye et al. 2020);
    with ``kl_loss_coef > 0``, ``kl_loss_coef * kl_penalty(logp, ref_logp, kl_loss_type)`` is added per token.

    logp [B, T] (with grad), old_logp [B, T], advantages [B, T], response_mask [B, T] -> (loss [], metrics)
    ``normalizer``: the whole batch's :func:`loss_normalizer` when this is one micro-batch of several.
    metrics: pg_loss, pg_clipfrac, pg_clipfrac_lower, ppo_kl, kl_loss (token means over this call's tokens).
    """
    _check_ppo_args(logp, old_logp, advantages, response_mask, clip_low, clip_high, dual_clip, agg,
                    ref_logp, kl_loss_coef)
    mask = as_mask("response_mask", response_mask).to(logp.dtype)
    valid = mask > 0  # [B, T]
    # Padding positions may hold anything (the trainer's update gives them log-prob 0, pi_old log p(pad)):
    # select them away before exp, since inf * 0 and NaN * 0 are NaN and would reach the loss and the
    # gradient. The log-ratio is clamped to +-LOG_RATIO_CLAMP (verl's bound): exp(20) ~ 5e8 is already
    # far outside any clip range, and the clamp keeps exp finite for a stale or corrupted pi_old.
    logp_v = torch.where(valid, logp, torch.zeros_like(logp))  # [B, T]
    old_v = torch.where(valid, old_logp, torch.zeros_like(old_logp))  # [B, T]
    advantages = torch.where(valid, advantages, torch.zeros_like(advantages))  # [B, T]
    neg_log_ratio = (old_v - logp_v).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)  # [B, T]
    ratio = torch.exp(-neg_log_ratio)  # [B, T]
    pg1 = -advantages * ratio
    pg2 = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    clipped = torch.maximum(pg1, pg2)  # [B, T]
    metrics_mask = mask.detach()
    clipfrac = ((pg2 > pg1).to(logp.dtype) * metrics_mask).sum() / metrics_mask.sum().clamp_min(1)
    per_token = clipped
    lower_frac = torch.zeros((), dtype=logp.dtype)
    if dual_clip is not None:
        pg3 = -advantages * dual_clip
        lower = torch.minimum(pg3, clipped)
        is_lower = (advantages < 0) & (clipped > pg3)
        lower_frac = (is_lower.to(logp.dtype) * metrics_mask).sum() / metrics_mask.sum().clamp_min(1)
        per_token = torch.where(advantages < 0, lower, clipped)
    pg_loss = aggregate_loss(per_token, mask, agg, normalizer)
    loss = pg_loss
    kl_value = torch.zeros((), dtype=logp.dtype)
    if kl_loss_coef:
        assert ref_logp is not None  # checked above
        ref_v = torch.where(valid, ref_logp, torch.zeros_like(ref_logp))  # [B, T] as for pi_old above
        kl = kl_penalty(logp_v, ref_v, kl_loss_type)  # [B, T]
        kl_loss = aggregate_loss(kl, mask, agg, normalizer)
        loss = loss + kl_loss_coef * kl_loss
        kl_value = (kl.detach() * metrics_mask).sum() / metrics_mask.sum().clamp_min(1)
    metrics = {
        "pg_loss": float(pg_loss.detach()),
        "pg_clipfrac": float(clipfrac),
        "pg_clipfrac_lower": float(lower_frac),
        "ppo_kl": float((neg_log_ratio.detach() * metrics_mask).sum() / metrics_mask.sum().clamp_min(1)),
        "kl_loss": float(kl_value),
    }
    return loss, metrics


def _check_ppo_args(logp: Tensor, old_logp: Tensor, advantages: Tensor, response_mask: Tensor, clip_low: float,
                    clip_high: float, dual_clip: float | None, agg: str, ref_logp: Tensor | None,
                    kl_loss_coef: float) -> None:
    check_float("logp", logp)
    if logp.dim() != 2:
        raise ValueError(f"logp must have shape [B, T], got shape {list(logp.shape)}")
    B, T = logp.shape
    for name, x in (("old_logp", old_logp), ("advantages", advantages)):
        check_float(name, x)
        check_bt(name, x, B, T)
    check_bt("response_mask", response_mask, B, T)
    check_choice("agg", agg, AGGREGATIONS)
    if not (0 <= clip_low < 1 and clip_high >= 0):
        raise ValueError(f"need 0 <= clip_low < 1 and clip_high >= 0; got clip_low={clip_low}, clip_high={clip_high}")
    if dual_clip is not None and not dual_clip > 1.0:
        raise ValueError(f"dual_clip must be > 1 (or None); got {dual_clip}")
    if kl_loss_coef and ref_logp is None:
        raise ValueError("kl_loss_coef > 0 needs ref_logp (the reference model's log-probs) [B, T]")


def prime_prm_loss(
    prm_logp: Tensor,
    ref_logp: Tensor,
    rewards: Tensor,
    response_mask: Tensor,
    *,
    beta: float = 0.05,
    normalizer: float | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """PRIME's implicit-PRM loss: binary cross-entropy of sigmoid(sum_t q_t) against the outcome R_i.

    q_t = beta * (prm_logp - ref_logp) on response tokens.  prm_logp [B, T] (with grad),
    ref_logp [B, T], rewards [B] (0/1; values in between are soft labels), response_mask [B, T]
    -> (loss [], metrics with "prm/loss" and "prm/acc").  ``normalizer`` = number of samples in the
    whole batch when this is one micro-batch of several (default: this call's B).
    """
    check_float("prm_logp", prm_logp)
    if prm_logp.dim() != 2:
        raise ValueError(f"prm_logp must have shape [B, T], got shape {list(prm_logp.shape)}")
    B, T = prm_logp.shape
    check_float("ref_logp", ref_logp)
    check_bt("ref_logp", ref_logp, B, T)
    check_bt("response_mask", response_mask, B, T)
    if rewards.dim() != 1 or rewards.shape[0] != B:
        raise ValueError(f"rewards must have shape [B] = [{B}], got shape {list(rewards.shape)}")
    r = rewards.to(prm_logp.dtype)
    if ((r < 0) | (r > 1)).any():
        raise ValueError("rewards for the PRM loss must lie in [0, 1] (binary cross-entropy labels)")
    mask = as_mask("response_mask", response_mask).to(prm_logp.dtype)
    diff = torch.where(mask > 0, prm_logp - ref_logp, torch.zeros_like(prm_logp))  # [B, T]; NaN-safe on padding
    logit = (beta * diff).sum(1)  # [B]
    per_sample = torch.nn.functional.binary_cross_entropy_with_logits(logit, r, reduction="none")  # [B]
    loss = per_sample.sum() / (B if normalizer is None else normalizer)
    acc = ((logit.detach() > 0) == (r > 0.5)).to(prm_logp.dtype).mean()
    return loss, {"prm/loss": float(per_sample.detach().mean()), "prm/acc": float(acc)}


def binary_auc(scores: Tensor, labels: Tensor, groups: Tensor | None = None) -> float:
    """Area under the ROC curve: the probability that a random positive (label > 0.5) scores above a
    random negative, ties counting one half (the Mann-Whitney U statistic).

    scores [N], labels [N], groups [N] | None -> float in [0, 1]; NaN when there is no (positive,
    negative) pair.  With ``groups`` only pairs within the same group count (pooled over groups):
    for PRIME, whose leave-one-out baselines compare a response with the others *of its prompt*,
    that is the ranking that matters; across groups an AUC also rewards telling easy prompts from
    hard ones.  PRIME's sign accuracy (``prm/acc``: logit > 0 vs label) is blind to an offset of
    the logits; the AUC is not.
    """
    if scores.dim() != 1 or labels.shape != scores.shape:
        raise ValueError(f"scores and labels must both have shape [N]; got {list(scores.shape)} and {list(labels.shape)}")
    if groups is not None and groups.shape != scores.shape:
        raise ValueError(f"groups must have shape [N] = {list(scores.shape)}; got {list(groups.shape)}")
    s = scores.detach().double().cpu()
    pos = labels.detach().cpu() > 0.5
    if groups is None:
        g = torch.zeros_like(s, dtype=torch.long)
    else:
        g = groups.detach().cpu().long()
    wins, pairs = 0.0, 0
    for gid in torch.unique(g[pos]).tolist():
        inside = g == gid
        sp, sn = s[inside & pos], s[inside & ~pos]
        if len(sn) == 0:
            continue
        d = sp[:, None] - sn[None, :]
        wins += float((d > 0).double().sum() + 0.5 * (d == 0).double().sum())
        pairs += d.numel()
    return wins / pairs if pairs else float("nan")
