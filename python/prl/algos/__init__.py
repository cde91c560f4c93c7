"""prl.algos: the algorithm core as pure tensor functions, chosen by name.

Advantage estimators take scalars, never config objects, and each declares the inputs it needs,
so the trainer only unpacks its batch and calls::

    est = get_advantage_fn("prl")
    adv = est(rewards=r, group_ids=g, response_mask=m, log_ratio=d, step_ids=s, eta=100.0)

========  ==============================================  ===========================================
name      inputs                                          function
========  ==============================================  ===========================================
grpo      rewards, group_ids, response_mask               :func:`grpo_advantages`
drgrpo    rewards, group_ids, response_mask               :func:`grpo_advantages` (scale_by_std=False)
rloo      rewards, group_ids, response_mask               :func:`rloo_advantages`
prl       + log_ratio, step_ids                           :func:`prl_advantages`
prime     + token_rewards                                 :func:`prime_advantages`
========  ==============================================  ===========================================

Slow loop twins of every function (the test oracles) live in :mod:`prl.algos.reference`.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from typing import Callable

from prl.algos.advantages import (
    grpo_advantages,
    grpo_scalar_advantages,
    group_index,
    masked_mean,
    masked_whiten,
    prime_advantages,
    prime_token_rewards,
    prl_advantages,
    rloo_advantages,
    rloo_scalar_advantages,
)
from prl.algos.losses import (AGGREGATIONS, KL_KINDS, aggregate_loss, binary_auc, kl_penalty, loss_normalizer,
                              ppo_clip_loss, prime_prm_loss)
from prl.algos.steps import fixed_step_ids, parse_steps_spec

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AGGREGATIONS",
    "KL_KINDS",
    "AdvantageEstimator",
    "aggregate_loss",
    "fixed_step_ids",
    "get_advantage_fn",
    "group_index",
    "grpo_advantages",
    "grpo_scalar_advantages",
    "kl_penalty",
    "loss_normalizer",
    "masked_mean",
    "masked_whiten",
    "parse_steps_spec",
    "ppo_clip_loss",
    "prime_advantages",
    "prime_prm_loss",
    "binary_auc",
    "prime_token_rewards",
    "prl_advantages",
    "rloo_advantages",
    "rloo_scalar_advantages",
]


@dataclass(frozen=True)
class AdvantageEstimator:
    """A named advantage function and the batch inputs it needs (keyword arguments)."""

    name: str
    fn: Callable
    inputs: tuple[str, ...]

    def __call__(self, **kwargs):
        missing = [k for k in self.inputs if k not in kwargs]
        if missing:
            raise TypeError(f"advantage estimator {self.name!r} needs inputs {list(self.inputs)}; missing {missing}")
        return self.fn(**kwargs)


_BASE = ("rewards", "group_ids", "response_mask")
ADVANTAGE_ESTIMATORS: dict[str, AdvantageEstimator] = {
    "grpo": AdvantageEstimator("grpo", grpo_advantages, _BASE),
    "drgrpo": AdvantageEstimator("drgrpo", functools.partial(grpo_advantages, scale_by_std=False), _BASE),
    "rloo": AdvantageEstimator("rloo", rloo_advantages, _BASE),
    "prl": AdvantageEstimator("prl", prl_advantages, _BASE + ("log_ratio", "step_ids")),
    "prime": AdvantageEstimator("prime", prime_advantages, _BASE + ("token_rewards",)),
}


def get_advantage_fn(name: str) -> AdvantageEstimator:
    """The advantage estimator registered under ``name`` (grpo, drgrpo, rloo, prl, prime)."""
    try:
        return ADVANTAGE_ESTIMATORS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), ADVANTAGE_ESTIMATORS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown advantage estimator {name!r}{hint}; valid names: {', '.join(ADVANTAGE_ESTIMATORS)}"
        ) from None
