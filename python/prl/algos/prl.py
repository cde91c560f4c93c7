"""PRL (Process Reward Learning): the outcome advantage minus the future KL of each step.

d_t = log pi_old(y_t) - log pi_ref(y_t) (detached); b(l) the last token of step l; s(t) the step of t.

    F_t = sum over s >= b(s(t)) of d_s m_s      (``future_from="step_end"``, the official code: the
                                                 step's own last token included)
        = sum over s >  b(s(t)) of d_s m_s      (``future_from="next_step"``, the paper's formula)
    A_t = A_i^GRPO - F_t / eta                  (``mode="orm"``, default)
    A_t = R_i      - F_t / eta                  (``mode="prm"``, no baseline)

kl_coef = 1 / eta; the official scripts use eta = 100..200, hence the default 100 (eta = 0.1 would
weigh the KL 10x against a 0/1 reward). With ``steps=fixed:1`` and ``mode=prm`` PRL equals REINFORCE
with a k1 KL-in-reward penalty of coefficient 1/eta (gamma = 1, no whitening): a test checks it.
Step splits (``steps``): ``fixed:N`` every N response tokens; ``newline`` a step ends at every token
whose decoded text holds a newline (from text offsets, never from a tokenizer's newline id);
``double_newline``; ``balanced:MIN,MAX`` newline steps with steps under MIN tokens merged forward and
steps over MAX cut (raw newline steps vary wildly in length). The segmented sums run in the
``prl::segmented_future_kl`` op (C++/CUDA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from prl import ops
from prl.algos._checks import as_mask, as_rewards, check_bt, check_choice, check_float, check_group_ids, check_vector
from prl.algos.common import masked_step_ids
from prl.algos.grpo import grpo_scalar_advantages
from prl.algos.registry import register_estimator
from prl.config import setting

__all__ = ["PRLConfig", "prl_advantages"]


@dataclass
class PRLConfig:
    """PRL: outcome advantage minus the future KL of each step (prl.algos.prl)."""

    eta: float = setting(100.0, "kl_coef = 1 / eta", check=lambda v: v > 0, must="must be > 0 (kl_coef = 1/eta)")
    mode: Literal["orm", "prm"] = setting("orm", "'orm': GRPO baseline minus future KL; 'prm': R minus future KL")
    future_from: Literal["step_end", "next_step"] = setting(
        "step_end", "future KL from the step's last token or from the next step")
    steps: str = setting("fixed:256", "step split: fixed:N, newline, double_newline, balanced:MIN,MAX",
                         check="steps_spec")


@register_estimator("prl", config=PRLConfig, min_group=lambda s: 2 if s.mode == "orm" else 1)
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
    sids = masked_step_ids(step_ids, mask)
    if mode == "orm":
        base = grpo_scalar_advantages(rewards, group_ids, scale_by_std=scale_by_std, eps=eps)  # [B]
    else:
        base = as_rewards(rewards)
    future = ops.segmented_future_kl(log_ratio.detach(), sids, future_from=future_from)  # [B, T]
    dtype = torch.promote_types(base.dtype, future.dtype)
    adv = base.to(dtype)[:, None] - future.to(dtype) / eta  # [B, T]
    return adv * mask.to(dtype)
