"""prl.algos: the algorithm core as pure tensor functions, chosen by name.

Advantage estimators register themselves (:mod:`prl.algos.registry`) in one file per family; the
config, ``--help``, validation and the training step read that registry. As a library::

    est = get_advantage_fn("prl")
    adv = est(rewards=r, group_ids=g, response_mask=m, log_ratio=d, step_ids=s, eta=100.0)

========  ==============================================  ==================================
name      batch fields                                    file
========  ==============================================  ==================================
grpo      rewards, group_ids, response_mask               grpo.py
drgrpo    rewards, group_ids, response_mask               grpo.py (loss seq-mean-token-sum-norm)
rloo      rewards, group_ids, response_mask               rloo.py
prl       + log_ratio, step_ids                           prl.py
prime     + token_rewards                                 prime.py
========  ==============================================  ==================================

``process_grpo`` (process_grpo.py) reads step_ids and token_rewards (step rewards at each step's end).

Slow loop twins of every function (the test oracles) live in :mod:`prl.algos.reference`; the exact
formulas and the deviations from the papers are in docs/algorithms.md.
"""

from __future__ import annotations

from prl.algos.common import group_index, masked_mean, masked_whiten
from prl.algos.grpo import drgrpo_advantages, grpo_advantages, grpo_scalar_advantages
from prl.algos.losses import (AGGREGATIONS, KL_KINDS, aggregate_loss, binary_auc, kl_penalty, loss_normalizer,
                              ppo_clip_loss, prime_prm_loss)
from prl.algos.prime import PRIMEConfig, prime_advantages, prime_token_rewards
from prl.algos.prl import PRLConfig, prl_advantages
from prl.algos.process_grpo import ProcessGRPOConfig, process_grpo_advantages  # registers "process_grpo"
from prl.algos.registry import BATCH_FIELDS, ESTIMATORS, EstimatorSpec, get_estimator, register_estimator
from prl.algos.rloo import rloo_advantages, rloo_scalar_advantages
from prl.algos.steps import fixed_step_ids, parse_steps_spec

get_advantage_fn = get_estimator  # the name the README's library example uses

__all__ = [
    "AGGREGATIONS",
    "BATCH_FIELDS",
    "ESTIMATORS",
    "EstimatorSpec",
    "KL_KINDS",
    "PRIMEConfig",
    "PRLConfig",
    "aggregate_loss",
    "binary_auc",
    "drgrpo_advantages",
    "fixed_step_ids",
    "get_advantage_fn",
    "get_estimator",
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
    "prime_token_rewards",
    "prl_advantages",
    "ProcessGRPOConfig",
    "process_grpo_advantages",
    "register_estimator",
    "rloo_advantages",
    "rloo_scalar_advantages",
]
