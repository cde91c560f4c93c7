"""The training batch: everything one step computes about its kept samples, in one place.

Layout (B kept samples; P prompt columns, T response columns)::

    input_ids      [B, P + T]  left-padded prompt, then right-padded response
    attention_mask [B, P + T]  1 on real prompt and response tokens
    response_mask  [B, T]      float 0/1, 1 on real response tokens

The step fills the later fields as it goes: the policy's log pi_old, the reference's log pi_ref,
d_t = (log pi_old - log pi_ref) masked, step ids, token rewards from a process-reward source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from prl import algos
from prl.rollout import Rollout

__all__ = ["Batch", "build_batch", "step_ids_for", "step_ends"]


@dataclass
class Batch:
    input_ids: Tensor  # [B, P + T]
    attention_mask: Tensor  # [B, P + T]
    response_mask: Tensor  # [B, T] float 0/1
    prompt_lens: Tensor  # [B] (CPU)
    response_lens: Tensor  # [B] (CPU)
    engine_logp: Tensor  # [B, T] the rollout engine's log-probs (0 on padding)
    P: int
    T: int
    rewards: Tensor | None = None  # [B] outcome reward (summed reward functions, any KL-in-reward term)
    correct: Tensor | None = None  # [B] the grader's 0/1 verdict
    group_ids: Tensor | None = None  # [B] the prompt each sample answers
    old_logp: Tensor | None = None  # [B, T] log pi_old (sampling temperature)
    entropy: Tensor | None = None  # [B, T] entropy of pi_old
    ref_logp: Tensor | None = None  # [B, T] log pi_ref (sampling temperature)
    ref_logp_t1: Tensor | None = None  # [B, T] log pi_ref at temperature 1 (for process-reward sources)
    log_ratio: Tensor | None = None  # [B, T] d_t = (log pi_old - log pi_ref) * mask
    step_ids: Tensor | None = None  # [B, T] int32, -1 on padding
    token_rewards: Tensor | None = None  # [B, T] from the process-reward source
    # the kept rollouts (texts, token offsets) and their raw prompt texts, for sources that read text
    # (prl.signals.rule, prl.signals.explicit_prm); filled by prl.step.train_step
    rollouts: list[Rollout] | None = None  # [B]
    prompts: list[str] | None = None  # [B]

    @property
    def B(self) -> int:
        return self.input_ids.shape[0]

    def fields(self) -> dict[str, Any]:
        """The batch fields an advantage estimator may ask for (prl.algos.BATCH_FIELDS)."""
        return {k: getattr(self, k) for k in algos.BATCH_FIELDS}


def build_batch(rollouts: Sequence[Rollout], pad_id: int, device: torch.device) -> Batch:
    """Pack rollouts into the [left-padded prompt | right-padded response] layout."""
    B = len(rollouts)
    P = max(len(r.prompt_ids) for r in rollouts)
    T = max(max(len(r.response_ids) for r in rollouts), 1)
    ids = torch.full((B, P + T), pad_id, dtype=torch.long)  # [B, P+T]
    att = torch.zeros((B, P + T), dtype=torch.long)  # [B, P+T]
    elp = torch.zeros((B, T), dtype=torch.float32)  # [B, T]
    for i, r in enumerate(rollouts):
        p, t = len(r.prompt_ids), len(r.response_ids)
        ids[i, P - p:P] = torch.tensor(r.prompt_ids, dtype=torch.long)
        att[i, P - p:P] = 1
        if t:
            ids[i, P:P + t] = torch.tensor(r.response_ids, dtype=torch.long)
            att[i, P:P + t] = 1
            elp[i, :t] = torch.from_numpy(np.asarray(r.logprobs, dtype=np.float32))
    rmask = att[:, P:].float()  # [B, T]
    return Batch(ids.to(device), att.to(device), rmask.to(device),
                 torch.tensor([len(r.prompt_ids) for r in rollouts]), torch.tensor([len(r.response_ids) for r in rollouts]),
                 elp.to(device), P, T)


def step_ids_for(spec: str, rollouts: Sequence[Rollout], response_mask: Tensor) -> Tensor:
    """Step id of every response token: int32 [B, T], -1 on padding. ``fixed:N`` counts tokens; the
    text modes split the decoded text (prl_verifier.split_steps, on each token's character offsets)."""
    kind, params = algos.parse_steps_spec(spec)
    if kind == "fixed":
        return algos.fixed_step_ids(response_mask, params[0])
    import prl_verifier

    ids = prl_verifier.split_steps([r.text for r in rollouts], [np.asarray(r.offsets, dtype=np.int64) for r in rollouts], spec)
    B, T = response_mask.shape
    out = torch.full((B, T), -1, dtype=torch.int32)
    for i, (r, s) in enumerate(zip(rollouts, ids)):
        s = np.asarray(s, dtype=np.int32)
        if len(s) != len(r.response_ids):
            raise RuntimeError(f"prl_verifier.split_steps returned {len(s)} ids for a response of {len(r.response_ids)} tokens")
        out[i, :len(s)] = torch.from_numpy(s)
    return out.to(response_mask.device)


def step_ends(r: Rollout, sids: np.ndarray) -> list[int]:
    """Character offsets (in ``r.text``) where each step ends, from per-token step ids [T_i]."""
    n = len(sids)
    return [int(r.offsets[j, 1]) for j in range(n) if j == n - 1 or sids[j + 1] != sids[j]]
