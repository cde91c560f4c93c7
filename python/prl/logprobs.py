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
that depends on nothing rank-local.

Under gradient checkpointing transformers drops the KV cache inside a checkpointed decoder layer,
because its backward replays the layer's forward and a cache written in the forward would be written
again. The shared pass keeps its cache there with two cache layers that the replay cannot corrupt:
the prompt pass records each layer's keys/values on the first call only (a replay returns the
recomputed states and stores nothing), and the response pass reads the gathered prompt states
without storing the concatenation; the decoder layers are marked as allowed to checkpoint with
these caches (transformers' ``_can_checkpoint_with_cache``) for the two forwards only.

Chunked LM head: the [B, T, V] float32 logits of a batch are the largest tensor of the update (B=64,
T=1024 and V=49k make 13 GB, kept for the backward). So the model returns only its final hidden
states [B, T, H] (the decoder's output, read with a forward hook while the model itself runs with
``logits_to_keep=1``), and the LM head, log-softmax, gather (and the no-grad entropy) run over chunks
of ``chunk_tokens`` tokens (flattened over B*T), each under ``torch.utils.checkpoint``: the backward
recomputes a chunk's logits instead of keeping them, so at most one chunk's [chunk, V] logits are
alive at any time. Same values and gradients as the full-logits path up to float rounding. Used for
the architectures whose causal-LM head is a bare linear layer (:data:`CHUNKED_MODEL_TYPES`); other
models keep the full-logits path (:func:`response_logprobs_plain` with ``chunk_tokens=0``).

Limitation, FSDP2 (torchrun): the chunked head would use the LM head's weight outside the root
module's forward, where FSDP2 has not unsharded it (nor registered the reduce-scatter of its
gradient); a model that is an ``FSDPModule`` therefore keeps the full-logits path.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator

import torch
from torch import Tensor

__all__ = ["PROMPT_PASSES", "CHUNK_TOKENS", "CHUNKED_MODEL_TYPES", "response_logprobs", "response_logprobs_plain",
           "position_ids_from_mask", "chunking_applies"]

CHUNK_TOKENS = 1024  # tokens per chunk of the LM head (B*T flattened)
# causal LMs whose logits are exactly lm_head(decoder output): no soft-capping or logit scaling
CHUNKED_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def position_ids_from_mask(attention_mask: Tensor) -> Tensor:
    """[B, L] 0/1 -> [B, L] positions counting real tokens only (0 on left padding)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


PROMPT_PASSES = ("auto", "shared", "plain")


def chunking_applies(model: torch.nn.Module) -> bool:
    """Whether the chunked LM head can stand in for ``model``'s own logits (module doc): a known
    architecture whose head is a bare linear layer, not sharded by FSDP2."""
    from torch.distributed.fsdp import FSDPModule

    if isinstance(model, FSDPModule):
        return False
    cfg = getattr(model, "config", None)
    head = getattr(model, "get_output_embeddings", lambda: None)()
    return (getattr(cfg, "model_type", None) in CHUNKED_MODEL_TYPES and isinstance(head, torch.nn.Linear)
            and hasattr(model, "get_decoder"))


def response_logprobs(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor, response_len: int, *,
                      temperature: float = 1.0, with_entropy: bool = False, prompt_pass: str = "auto",
                      chunk_tokens: int = CHUNK_TOKENS) -> tuple[Tensor, Tensor | None]:
    """Log-prob of every response token (the last ``response_len`` columns) and optionally the entropy.

    input_ids [B, L], attention_mask [B, L] -> logp [B, T] float32, entropy [B, T] float32 | None
    (T = response_len; values on padding are meaningless: select them away with the response mask).
    ``prompt_pass``: "auto" shares one prompt pass among rows whose prompt columns (ids and mask) are
    equal when some are; "shared" always runs the two passes (the forward count is then independent
    of the rows: what FSDP needs, see the module doc); "plain" always one pass.
    ``chunk_tokens``: tokens per chunk of the LM head (module doc); 0: the model's full logits.
    """
    if prompt_pass not in PROMPT_PASSES:
        raise ValueError(f"prompt_pass must be one of {PROMPT_PASSES}, got {prompt_pass!r}")
    B, L = input_ids.shape
    T = int(response_len)
    if not 0 < T < L:
        raise ValueError(f"response_len={T} must lie in [1, {L - 1}] for sequences of length {L}")
    P = L - T
    if prompt_pass != "plain":
        key = torch.cat([input_ids[:, :P], attention_mask[:, :P].to(input_ids.dtype)], 1)  # [B, 2P]
        uniq, inv = torch.unique(key, dim=0, return_inverse=True)  # [G, 2P], [B]
        if prompt_pass == "shared" or len(uniq) < B:
            return _shared_prompt_logprobs(model, input_ids, attention_mask, T, uniq[:, :P], uniq[:, P:], inv,
                                           temperature, with_entropy, chunk_tokens)
    return response_logprobs_plain(model, input_ids, attention_mask, T, temperature=temperature,
                                   with_entropy=with_entropy, chunk_tokens=chunk_tokens)


def response_logprobs_plain(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor, response_len: int, *,
                            temperature: float = 1.0, with_entropy: bool = False, chunk_tokens: int = 0
                            ) -> tuple[Tensor, Tensor | None]:
    """One forward over the whole [B, L] batch (no prompt sharing): [B, T] log-probs (and entropies).
    By default from the model's full [B, T, V] logits (the oracle of the tests); ``chunk_tokens`` > 0:
    the chunked LM head where it applies (module doc)."""
    B, L = input_ids.shape
    T = int(response_len)
    if not 0 < T < L:
        raise ValueError(f"response_len={T} must lie in [1, {L - 1}] for sequences of length {L}")
    chunked = chunk_tokens > 0 and chunking_applies(model)
    with _capture_hidden(model, chunked) as hidden:
        out = model(input_ids=input_ids, attention_mask=attention_mask,
                    position_ids=position_ids_from_mask(attention_mask), use_cache=False,
                    logits_to_keep=1 if chunked else T + 1)
    if chunked:
        return _chunked_gather(model, hidden[0][:, -(T + 1):-1, :], input_ids[:, -T:], temperature, with_entropy,
                               chunk_tokens)
    logits = out.logits[:, -(T + 1):-1, :]  # [B, T, V] predicting tokens P..P+T-1
    return _gather(logits, input_ids[:, -T:], temperature, with_entropy)


def _shared_prompt_logprobs(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor, T: int,
                            prompt_ids: Tensor, prompt_mask: Tensor, inv: Tensor, temperature: float,
                            with_entropy: bool, chunk_tokens: int) -> tuple[Tensor, Tensor | None]:
    """prompt_ids/prompt_mask [G, P] distinct prompts, inv [B] row -> prompt: [B, T] log-probs (and entropies)."""
    from transformers import DynamicCache

    chunked = chunk_tokens > 0 and chunking_applies(model)
    recording, prefix = _cache_layer_classes()
    # two cache objects: a checkpoint replay of a prompt-pass layer must find its own (recording) cache.
    # use_cache=False: the caches are passed explicitly (the flag only asks the model to make one)
    pcache = DynamicCache(config=model.config)  # type: ignore[arg-type]
    pcache.layers = [recording() for _ in pcache.layers]
    with _capture_hidden(model, chunked) as phidden, _checkpoint_with_cache(model):
        pout = model(input_ids=prompt_ids, attention_mask=prompt_mask.to(attention_mask.dtype),
                     position_ids=position_ids_from_mask(prompt_mask), past_key_values=pcache, use_cache=False,
                     logits_to_keep=1)
    # [G, H, P, D] -> [B, H, P, D]; differentiable, so gradients reach the prompt pass
    rcache = DynamicCache(config=model.config)  # type: ignore[arg-type]
    rcache.layers = [prefix(layer.keys.index_select(0, inv), layer.values.index_select(0, inv))  # type: ignore[union-attr]
                     for layer in pcache.layers]
    P = prompt_ids.shape[1]
    with _capture_hidden(model, chunked) as rhidden, _checkpoint_with_cache(model):
        rout = model(input_ids=input_ids[:, P:], attention_mask=attention_mask,
                     position_ids=position_ids_from_mask(attention_mask)[:, P:], past_key_values=rcache,
                     use_cache=False,
                     logits_to_keep=1 if chunked else 0)
    # the last prompt column predicts the first response token; response column j predicts j + 1
    if chunked:  # the prompt column's head runs on the G distinct prompts, as the full-logits path's
        y = input_ids[:, -T:]
        lp0, ent0 = _chunked_gather(model, phidden[0][:, -1, :], y[:, :1], temperature, with_entropy, chunk_tokens,
                                    rows=inv)
        if T == 1:
            return lp0, ent0
        lp1, ent1 = _chunked_gather(model, rhidden[0][:, : T - 1, :], y[:, 1:], temperature, with_entropy, chunk_tokens)
        return torch.cat([lp0, lp1], 1), (torch.cat([ent0, ent1], 1) if ent0 is not None and ent1 is not None else None)
    logits = torch.cat([pout.logits[:, -1:, :].index_select(0, inv), rout.logits[:, : T - 1, :]], 1)  # [B, T, V]
    return _gather(logits, input_ids[:, -T:], temperature, with_entropy)


@functools.lru_cache(maxsize=None)
def _cache_layer_classes() -> tuple[type, type]:
    """(RecordingLayer, PrefixLayer): the shared pass's KV-cache layers (module doc). Built on first use
    (transformers is imported lazily)."""
    from transformers.cache_utils import DynamicLayer

    class RecordingLayer(DynamicLayer):
        """The prompt pass: stores the first keys/values it is given [G, H, P, D]; a checkpoint replay of the
        layer (the backward recomputing its forward) gets its recomputed states back and stores nothing."""

        def update(self, key_states: Tensor, value_states: Tensor, *args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
            if self.is_initialized:
                return key_states, value_states
            self.dtype, self.device = key_states.dtype, key_states.device
            self.keys, self.values, self.is_initialized = key_states, value_states, True
            return key_states, value_states

    class PrefixLayer(DynamicLayer):
        """The response pass: the gathered prompt states [B, H, P, D] followed by the call's own; stores
        nothing, so a replay reads the same prefix."""

        def __init__(self, keys: Tensor, values: Tensor):
            super().__init__()
            self.dtype, self.device = keys.dtype, keys.device
            self.prefix_keys, self.prefix_values = keys, values
            self.keys, self.values, self.is_initialized = keys, values, True

        def update(self, key_states: Tensor, value_states: Tensor, *args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
            return torch.cat([self.prefix_keys, key_states], -2), torch.cat([self.prefix_values, value_states], -2)

    return RecordingLayer, PrefixLayer


@contextlib.contextmanager
def _checkpoint_with_cache(model: torch.nn.Module) -> Iterator[None]:
    """Let checkpointed decoder layers keep the cache argument (transformers drops it otherwise) while the
    shared pass's replay-safe cache layers are in use."""
    if not getattr(model, "is_gradient_checkpointing", False):  # nothing to allow: skip the module walk
        yield
        return
    layers = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)
              and hasattr(type(m), "_can_checkpoint_with_cache")]
    for layer in layers:
        setattr(layer, "_can_checkpoint_with_cache", True)
    try:
        yield
    finally:
        for layer in layers:
            del layer._can_checkpoint_with_cache  # back to the class's False


class _capture_hidden:
    """``with _capture_hidden(model, on) as h``: after the model's forward, ``h[0]`` is its decoder's
    final hidden states [B, L, H] (the LM head's input); a no-op when ``on`` is false."""

    def __init__(self, model: torch.nn.Module, on: bool):
        self.model, self.on, self.out = model, on, []  # type: ignore[var-annotated]
        self.handle: torch.utils.hooks.RemovableHandle | None = None

    def _hook(self, module: torch.nn.Module, args: object, output: object) -> None:
        h = getattr(output, "last_hidden_state", None)
        self.out.append(h if h is not None else output[0])  # type: ignore[index]

    def __enter__(self) -> list[Tensor]:
        if self.on:
            self.handle = self.model.get_decoder().register_forward_hook(self._hook)  # type: ignore[operator]
        return self.out

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.remove()
        if self.on and exc[0] is None and len(self.out) != 1:
            raise RuntimeError(f"logprobs: the decoder ran {len(self.out)} times in one forward of the model")


_RECOMPUTING = [False]  # set while torch.utils.checkpoint recomputes a chunk (its entropy is not needed then)


@contextlib.contextmanager
def _recompute() -> Iterator[None]:
    _RECOMPUTING[0] = True
    try:
        yield
    finally:
        _RECOMPUTING[0] = False


def _contexts() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """torch.utils.checkpoint's context_fn: nothing in the forward, the recomputation flag in the backward."""
    return contextlib.nullcontext(), _recompute()


def _chunk_logp(h: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor, temperature: float,
                with_entropy: bool, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """h [c, H], targets [c] -> log-probs [c] (float32) and entropies [c] (zeros unless asked, no grad).
    ``rows`` [c']: the logits of rows ``rows`` of h (targets [c'])."""
    logits = torch.nn.functional.linear(h, weight, bias)  # [c, V] in the model's dtype, as its LM head
    if rows is not None:
        logits = logits.index_select(0, rows)
    lp, ent = _gather(logits, targets, temperature, with_entropy and not _RECOMPUTING[0])
    return lp, (ent if ent is not None else lp.new_zeros(()).expand(lp.shape))


def _chunked_gather(model: torch.nn.Module, hidden: Tensor, targets: Tensor, temperature: float, with_entropy: bool,
                    chunk_tokens: int, rows: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """hidden [B, T, H], targets [B, T] -> [B, T] log-probs (float32) and entropies | None, via the
    model's LM head over chunks of ``chunk_tokens`` tokens, each checkpointed (module doc).
    With ``rows`` [B']: hidden [G, H] is one column of G distinct rows, row i's logits are those of
    ``hidden[rows[i]]`` and targets is [B', 1] (the shared prompt's last column; one chunk)."""
    from torch.utils.checkpoint import checkpoint

    head = model.get_output_embeddings()  # type: ignore[operator]
    grad = torch.is_grad_enabled() and (hidden.requires_grad or head.weight.requires_grad)

    def run(*args: Any) -> tuple[Tensor, Tensor]:
        if grad:
            return checkpoint(_chunk_logp, *args, use_reentrant=False, context_fn=_contexts)  # type: ignore[return-value]
        return _chunk_logp(*args)

    if rows is not None:
        lp, ent = run(hidden, head.weight, head.bias, targets[:, 0], temperature, with_entropy, rows)
        return lp[:, None], (ent.detach()[:, None] if with_entropy else None)
    B, T, H = hidden.shape
    h, y = hidden.reshape(B * T, H), targets.reshape(B * T)
    lps: list[Tensor] = []
    ents: list[Tensor] = []
    for s in range(0, B * T, chunk_tokens):
        lp, ent = run(h[s:s + chunk_tokens], head.weight, head.bias, y[s:s + chunk_tokens], temperature, with_entropy)
        lps.append(lp)
        ents.append(ent.detach())
    return torch.cat(lps).view(B, T), (torch.cat(ents).view(B, T) if with_entropy else None)


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
