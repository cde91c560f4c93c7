"""Per-token log-probs (and entropies) of response tokens under a causal LM.

Batch layout used by the trainer (B samples):

    input_ids      [B, P + T]  left-padded prompt (P columns) then right-padded response (T columns)
    attention_mask [B, P + T]  1 on real prompt and response tokens
    response_mask  [B, T]      1 on real response tokens

Position ids are ``cumsum(attention_mask) - 1`` so that a left-padded prompt sees the positions it
saw during generation. Logits are divided by the sampling temperature, as the rollout engine does.

Shared prompts (``prompt_pass="auto"``, the default): the n samples of a group repeat one prompt, so
the prompt columns are run once per distinct prompt (with the KV cache on), their keys and values
are gathered back to every row, and only the response columns run per row. Same values as the
plain forward up to float rounding, gradients included (they flow into the shared prompt pass);
with 8 samples per prompt the prompt's share of the forward and backward FLOPs drops 8-fold.
:func:`response_logprobs_plain` is the one-pass twin (the oracle in the tests).

Forward count under FSDP: every forward all-gathers the parameters, so all ranks must run the same
number of forwards. "auto" picks one pass or two from the rows a rank holds, which differ between
ranks, and a rank running one forward while another runs two deadlocks. Under torchrun the trainer
therefore passes ``prompt_pass="shared"``: always two forwards (prompt, then responses), even when
every prompt of a micro-batch is distinct (then G = B and the result equals the plain pass), a rule
that depends on nothing rank-local. Gradient checkpointing forces the plain pass on every rank alike.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["PROMPT_PASSES", "response_logprobs", "response_logprobs_plain", "position_ids_from_mask"]


def position_ids_from_mask(attention_mask: Tensor) -> Tensor:
    """[B, L] 0/1 -> [B, L] positions counting real tokens only (0 on left padding)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


PROMPT_PASSES = ("auto", "shared", "plain")


def response_logprobs(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor, response_len: int, *,
                      temperature: float = 1.0, with_entropy: bool = False, prompt_pass: str = "auto"
                      ) -> tuple[Tensor, Tensor | None]:
    """Log-prob of every response token (the last ``response_len`` columns) and optionally the entropy.

    input_ids [B, L], attention_mask [B, L] -> logp [B, T] float32, entropy [B, T] float32 | None
    (T = response_len; values on padding are meaningless: select them away with the response mask).
    ``prompt_pass``: "auto" shares one prompt pass among rows whose prompt columns (ids and mask) are
    equal when some are; "shared" always runs the two passes (the forward count is then independent
    of the rows: what FSDP needs, see the module doc); "plain" always one pass.
    """
    if prompt_pass not in PROMPT_PASSES:
        raise ValueError(f"prompt_pass must be one of {PROMPT_PASSES}, got {prompt_pass!r}")
    B, L = input_ids.shape
    T = int(response_len)
    if not 0 < T < L:
        raise ValueError(f"response_len={T} must lie in [1, {L - 1}] for sequences of length {L}")
    P = L - T
    if prompt_pass != "plain" and not getattr(model, "is_gradient_checkpointing", False):
        key = torch.cat([input_ids[:, :P], attention_mask[:, :P].to(input_ids.dtype)], 1)  # [B, 2P]
        uniq, inv = torch.unique(key, dim=0, return_inverse=True)  # [G, 2P], [B]
        if prompt_pass == "shared" or len(uniq) < B:
            return _shared_prompt_logprobs(model, input_ids, attention_mask, T, uniq[:, :P], uniq[:, P:], inv,
                                           temperature, with_entropy)
    return response_logprobs_plain(model, input_ids, attention_mask, T, temperature=temperature,
                                   with_entropy=with_entropy)


def response_logprobs_plain(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor, response_len: int, *,
                            temperature: float = 1.0, with_entropy: bool = False) -> tuple[Tensor, Tensor | None]:
    """One forward over the whole [B, L] batch (no prompt sharing): [B, T] log-probs (and entropies)."""
    B, L = input_ids.shape
    T = int(response_len)
    if not 0 < T < L:
        raise ValueError(f"response_len={T} must lie in [1, {L - 1}] for sequences of length {L}")
    out = model(input_ids=input_ids, attention_mask=attention_mask,
                position_ids=position_ids_from_mask(attention_mask), use_cache=False,
                logits_to_keep=T + 1)
    logits = out.logits[:, -(T + 1):-1, :]  # [B, T, V] predicting tokens P..P+T-1
    return _gather(logits, input_ids[:, -T:], temperature, with_entropy)


def _shared_prompt_logprobs(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor, T: int,
                            prompt_ids: Tensor, prompt_mask: Tensor, inv: Tensor, temperature: float,
                            with_entropy: bool) -> tuple[Tensor, Tensor | None]:
    """prompt_ids/prompt_mask [G, P] distinct prompts, inv [B] row -> prompt: [B, T] log-probs (and entropies)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)  # type: ignore[arg-type]
    pout = model(input_ids=prompt_ids, attention_mask=prompt_mask.to(attention_mask.dtype),
                 position_ids=position_ids_from_mask(prompt_mask), past_key_values=cache, use_cache=True,
                 logits_to_keep=1)
    for layer in cache.layers:  # [G, H, P, D] -> [B, H, P, D]; differentiable, so gradients reach the prompt pass
        layer.keys = layer.keys.index_select(0, inv)  # type: ignore[union-attr]
        layer.values = layer.values.index_select(0, inv)  # type: ignore[union-attr]
    P = prompt_ids.shape[1]
    rout = model(input_ids=input_ids[:, P:], attention_mask=attention_mask,
                 position_ids=position_ids_from_mask(attention_mask)[:, P:], past_key_values=cache, use_cache=True)
    # the last prompt column predicts the first response token; response column j predicts j + 1
    logits = torch.cat([pout.logits[:, -1:, :].index_select(0, inv), rout.logits[:, : T - 1, :]], 1)  # [B, T, V]
    return _gather(logits, input_ids[:, -T:], temperature, with_entropy)


def _gather(logits: Tensor, targets: Tensor, temperature: float, with_entropy: bool) -> tuple[Tensor, Tensor | None]:
    """logits [B, T, V], targets [B, T] -> log-softmax at the targets [B, T] (float32), entropy [B, T] | None."""
    logits = logits.float()
    if temperature != 1.0 and temperature > 0:
        logits = logits / temperature
    logz = torch.logsumexp(logits, dim=-1)  # [B, T]
    logp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logz  # [B, T]
    ent = None
    if with_entropy:
        with torch.no_grad():
            p = torch.softmax(logits, dim=-1)  # [B, T, V]
            ent = logz - (p * logits).sum(-1)  # [B, T]
    return logp, ent
