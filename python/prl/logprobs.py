"""Per-token log-probs (and entropies) of response tokens under a causal LM.

Batch layout used by the trainer (B samples):

    input_ids      [B, P + T]  left-padded prompt (P columns) then right-padded response (T columns)
    attention_mask [B, P + T]  1 on real prompt and response tokens
    response_mask  [B, T]      1 on real response tokens

Position ids are ``cumsum(attention_mask) - 1`` so that a left-padded prompt sees the positions it
saw during generation. Logits are divided by the sampling temperature, as the rollout engine does.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["response_logprobs", "position_ids_from_mask"]


def position_ids_from_mask(attention_mask: Tensor) -> Tensor:
    """[B, L] 0/1 -> [B, L] positions counting real tokens only (0 on left padding)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


def response_logprobs(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor, response_len: int, *,
                      temperature: float = 1.0, with_entropy: bool = False) -> tuple[Tensor, Tensor | None]:
    """Log-prob of every response token (the last ``response_len`` columns) and optionally the entropy.

    input_ids [B, L], attention_mask [B, L] -> logp [B, T] float32, entropy [B, T] float32 | None
    (T = response_len; values on padding are meaningless: multiply by the response mask).
    """
    B, L = input_ids.shape
    T = int(response_len)
    if not 0 < T < L:
        raise ValueError(f"response_len={T} must lie in [1, {L - 1}] for sequences of length {L}")
    out = model(input_ids=input_ids, attention_mask=attention_mask,
                position_ids=position_ids_from_mask(attention_mask), use_cache=False,
                logits_to_keep=T + 1)
    logits = out.logits[:, -(T + 1):-1, :].float()  # [B, T, V] predicting tokens P..P+T-1
    if temperature != 1.0 and temperature > 0:
        logits = logits / temperature
    logz = torch.logsumexp(logits, dim=-1)  # [B, T]
    targets = input_ids[:, -T:]  # [B, T]
    logp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logz  # [B, T]
    ent = None
    if with_entropy:
        with torch.no_grad():
            p = torch.softmax(logits, dim=-1)  # [B, T, V]
            ent = logz - (p * logits).sum(-1)  # [B, T]
    return logp, ent
