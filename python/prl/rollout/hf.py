"""The Hugging Face transformers rollout engine: batched ``generate`` with left padding.

Runs wherever the policy runs (CPU or GPU). By default it shares the policy module with the trainer,
so ``sync_weights`` has nothing to copy; the engine-vs-trainer log-prob gap the trainer logs then
measures only numerics (KV-cache decoding vs one full forward).

Sampling: temperature (0 = greedy), top-p, ``max_new_tokens``, stop at EOS, ``top_k`` off. With
``SamplingParams.seed`` set, sampling draws from a forked RNG seeded with it, so the same call gives
the same samples whatever happened before.

Two decoders. The default (``fast=True``) is prl's own loop over the model's forward with a KV
cache: the prompt is prefilled once per distinct prompt (the n samples of a group share it; the
cache is gathered to the n rows), and a row that has produced EOS leaves the batch, so the work per
step shrinks as responses finish instead of running every row to the longest response. The slow
twin (``fast=False``, also used under FSDP where every rank must run the same number of forwards)
is transformers' ``generate`` with a logits processor; tests hold the two to the same greedy tokens
and the same sampling distribution. The fast loop samples by inverting the CDF (one uniform per row)
rather than ``torch.multinomial`` (V exponentials per row): the same distribution, ~15x cheaper at a
49k vocabulary.

``weights="float16"`` (``rollout.weights``, CPU) runs the linear layers through packed float16 copies
of the weights while generating (prl.rollout.half_weights).
"""

from __future__ import annotations

import contextlib
from typing import Any, Sequence

import numpy as np
import torch

from prl.errors import ConfigError
from prl.precision import autocast as autocast_ctx

from .base import Rollout, RolloutEngine, SamplingParams
from .half_weights import WEIGHT_DTYPES, half_weight_linears
from .offsets import token_offsets

__all__ = ["HFEngine", "oom_message"]


def oom_message(what: str, knob: str, value: Any) -> str:
    return (f"out of memory during {what}; lower {knob} (now {value}) and run again "
            "(with ckpt.resume=auto to continue from the last checkpoint)")


class _LogprobRecorder:
    """A logits processor that records log-probs of the sampled tokens from the RAW logits / temperature.

    Custom processors run before generate's temperature/top-p warpers, so ``scores`` here are the
    model's logits. At call t the token chosen at call t-1 is ``input_ids[:, -1]``; the last token is
    gathered in :meth:`finish`. Memory: one [b, V] row per step instead of output_logits' [b, T, V].
    """

    def __init__(self, temperature: float):
        self.temperature = temperature
        self.prev: torch.Tensor | None = None  # [b, V] log-softmax of the previous step
        self.out: list[torch.Tensor] = []  # T x [b]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.prev is not None:
            self.out.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        return scores

    def finish(self, seq: torch.Tensor) -> torch.Tensor:
        """seq [b, T] generated tokens -> [b, T] their log-probs."""
        if self.prev is not None and len(self.out) < seq.shape[1]:
            self.out.append(self.prev.gather(1, seq[:, len(self.out):len(self.out) + 1]).squeeze(1))
        if len(self.out) != seq.shape[1]:
            raise RuntimeError(f"HFEngine: recorded {len(self.out)} log-probs for {seq.shape[1]} generated tokens")
        return torch.stack(self.out, dim=1) if self.out else torch.zeros(seq.shape, device=seq.device)


class HFEngine(RolloutEngine):
    name = "hf"

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, batch_size: int = 64,
                 eos_token_ids: Sequence[int] | None = None, synced_gpus: bool = False, fast: bool = True,
                 autocast: str = "off", weights: str = "float32"):
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is None:
            raise ValueError("HFEngine: the tokenizer has neither pad_token nor eos_token")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        # under FSDP every rank must run the same number of forward passes: generate keeps stepping
        # until all ranks are done (transformers' synced_gpus)
        self.synced_gpus = bool(synced_gpus)
        self.fast = bool(fast) and not self.synced_gpus
        self.autocast = autocast  # model.autocast: "bf16" generates under torch.autocast (prl.precision)
        if weights not in WEIGHT_DTYPES:
            raise ValueError(f"HFEngine: weights must be one of {WEIGHT_DTYPES}, got {weights!r}")
        if weights == "float16" and self.synced_gpus:
            raise ConfigError("config key 'rollout.weights': float16 is not supported under torchrun (FSDP shards "
                              "the weights it would copy); use rollout.weights=float32")
        self.weights = weights  # rollout.weights: "float16" decodes through packed half copies (half_weights.py)
        eos = list(eos_token_ids) if eos_token_ids is not None else [tokenizer.eos_token_id]
        self.eos_token_ids = [int(e) for e in eos if e is not None]
        if not self.eos_token_ids:
            raise ValueError("HFEngine: no EOS token id (tokenizer.eos_token_id is None)")
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_token_ids[0]

    # ------------------------------------------------------------------------------------------
    def sync_weights(self, policy: Any) -> None:
        if policy is self.model:
            return  # shared module: nothing to copy
        self.model.load_state_dict(policy.state_dict())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _rng(self, seed: int | None) -> contextlib.AbstractContextManager:
        if seed is None:
            return contextlib.nullcontext()
        dev = self.device
        devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
        ctx = torch.random.fork_rng(devices=devices)

        @contextlib.contextmanager
        def seeded():
            with ctx:
                torch.manual_seed(seed)
                yield

        return seeded()

    @torch.no_grad()
    def generate(self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams) -> list[list[Rollout]]:
        from transformers import GenerationConfig, LogitsProcessorList

        for i, p in enumerate(prompt_ids):
            if len(p) == 0:
                raise ValueError(f"HFEngine.generate: prompt {i} has no tokens")
        flat = [(pi, list(p)) for pi, p in enumerate(prompt_ids) for _ in range(params.n)]
        greedy = params.temperature == 0
        gen_cfg = GenerationConfig(
            do_sample=not greedy,
            temperature=None if greedy else float(params.temperature),
            top_p=None if greedy or params.top_p >= 1.0 else float(params.top_p),
            top_k=None,
            max_new_tokens=int(params.max_new_tokens),
            eos_token_id=self.eos_token_ids,
            pad_token_id=self.pad_token_id,
            return_dict_in_generate=True,
        )
        temp = 1.0 if greedy else float(params.temperature)
        dev = self.device
        was_training = self.model.training
        self.model.eval()
        out: list[list[Rollout]] = [[] for _ in prompt_ids]
        try:
            half = half_weight_linears(self.model) if self.weights == "float16" else contextlib.nullcontext()
            with self._rng(params.seed), autocast_ctx(self.autocast, dev), half:
                for s in range(0, len(flat), self.batch_size):
                    chunk = flat[s: s + self.batch_size]
                    L = max(len(p) for _, p in chunk)
                    ids = torch.full((len(chunk), L), self.pad_token_id, dtype=torch.long)  # [b, L] left padded
                    att = torch.zeros((len(chunk), L), dtype=torch.long)  # [b, L]
                    for r, (_, p) in enumerate(chunk):
                        ids[r, L - len(p):] = torch.tensor(p, dtype=torch.long)
                        att[r, L - len(p):] = 1
                    ids, att = ids.to(dev), att.to(dev)
                    try:
                        if self.fast:
                            seq, lp = self._decode(ids, att, params)  # [b, T], [b, T]
                        else:
                            rec = _LogprobRecorder(temp)
                            res = self.model.generate(  # type: ignore[operator]
                                                      input_ids=ids, attention_mask=att, generation_config=gen_cfg,
                                                      logits_processor=LogitsProcessorList([rec]),
                                                      synced_gpus=self.synced_gpus)
                            seq = res.sequences[:, L:]  # [b, T]
                            lp = rec.finish(seq)  # [b, T]
                    except torch.OutOfMemoryError as e:
                        raise RuntimeError(oom_message("generation", "rollout.batch_size", self.batch_size)) from e
                    seq_c, lp_c = seq.cpu().tolist(), lp.cpu().numpy()
                    for r, (pi, p) in enumerate(chunk):
                        toks = seq_c[r]
                        n, finish = len(toks), "length"
                        for j, t in enumerate(toks):
                            if t in self.eos_token_ids:
                                n, finish = j + 1, "stop"
                                break
                        toks = toks[:n]
                        text, offs = token_offsets(self.tokenizer, toks)
                        out[pi].append(Rollout(prompt_index=pi, prompt_ids=p, response_ids=toks, text=text,
                                               offsets=offs, logprobs=lp_c[r, :n].astype(np.float32),
                                               finish_reason=finish))
        finally:
            self.model.train(was_training)
        return out

    def _decode(self, ids: torch.Tensor, att: torch.Tensor, params: SamplingParams) -> tuple[torch.Tensor, torch.Tensor]:
        """prl's decoder. ids/att [b, L] left-padded prompts -> tokens [b, T] (EOS-padded after a row's
        EOS) and their log-probs [b, T] from the raw logits / temperature (0 after EOS)."""
        from transformers import DynamicCache

        model, dev = self.model, ids.device
        b, L = ids.shape
        greedy = params.temperature == 0
        temp = 1.0 if greedy else float(params.temperature)
        T = int(params.max_new_tokens)
        eos = torch.tensor(self.eos_token_ids, device=dev)
        key = torch.cat([ids, att], 1)  # [b, 2L]: equal prompts (ids and padding) share one prefill
        uniq, inv = torch.unique(key, dim=0, return_inverse=True)  # [G, 2L], [b]
        cache = DynamicCache(config=model.config)  # type: ignore[arg-type]
        pos = (att.cumsum(-1) - 1).clamp_min(0)  # [b, L]
        out = model(input_ids=uniq[:, :L], attention_mask=uniq[:, L:], position_ids=pos[_uniq_first(inv, len(uniq))],
                    past_key_values=cache, use_cache=True, logits_to_keep=1)
        logits = out.logits[:, -1, :].index_select(0, inv)  # [b, V]
        cache.batch_select_indices(inv)  # [G, ...] -> [b, ...] (torch.unique sorts, so always)
        toks = torch.full((b, T), self.eos_token_ids[0], dtype=torch.long, device=dev)  # [b, T]
        lps = torch.zeros((b, T), dtype=torch.float32, device=dev)  # [b, T]
        rows = torch.arange(b, device=dev)  # [a] the batch rows still decoding
        mask, last = att, pos[:, -1:]  # [a, L + t], [a, 1]
        for t in range(T):
            logp = torch.log_softmax(logits.float() / temp, dim=-1)  # [a, V]
            if greedy:
                nxt = logits.argmax(-1)  # [a]
            else:
                probs = logp.exp()
                if params.top_p < 1.0:
                    probs = _top_p(probs, params.top_p)
                nxt = sample_inverse_cdf(probs)  # [a]
            toks[rows, t] = nxt
            lps[rows, t] = logp.gather(1, nxt[:, None]).squeeze(1)
            alive = ~torch.isin(nxt, eos)  # [a]
            if t == T - 1 or not bool(alive.any()):
                break
            if not bool(alive.all()):  # finished rows leave the batch
                keep = alive.nonzero().squeeze(1)
                rows, nxt, mask, last = rows[keep], nxt[keep], mask[keep], last[keep]
                cache.batch_select_indices(keep)
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], 1)
            last = last + 1
            logits = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last, past_key_values=cache,
                           use_cache=True).logits[:, -1, :]
        return toks, lps


def _uniq_first(inv: torch.Tensor, G: int) -> torch.Tensor:
    """For inverse indices inv [b] into G groups: one row index per group [G] (any member)."""
    first = torch.empty(G, dtype=torch.long, device=inv.device)
    first[inv] = torch.arange(len(inv), device=inv.device)
    return first


def sample_inverse_cdf(probs: torch.Tensor) -> torch.Tensor:
    """One token per row from unnormalised probabilities probs [a, V] -> [a], by inverting the CDF.

    The same distribution as ``torch.multinomial(probs, 1)``, which draws V exponentials per row (with
    a 49k vocabulary, 22 ms per decoding step of 16 rows on one CPU core, ~10% of the step) where this
    draws one uniform and runs a cumsum + binary search (~2.6 ms). ``right=True`` never lands on a
    zero-probability token (its CDF equals its predecessor's); a uniform that rounds up to the total
    falls back to the row's most likely token (probability ~2^-24 per draw).
    """
    cdf = probs.cumsum(-1)  # [a, V]
    u = torch.rand((probs.shape[0], 1), dtype=cdf.dtype, device=probs.device) * cdf[:, -1:]  # [a, 1]
    idx = torch.searchsorted(cdf, u, right=True).squeeze(1)  # [a]
    return torch.where(idx < probs.shape[1], idx, probs.argmax(-1))


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filter as transformers' TopPLogitsWarper: drop the tokens whose ascending cumulative
    probability is <= 1 - top_p (the most likely token always stays). probs [a, V] -> [a, V] (unnormalised)."""
    sp, si = probs.sort(dim=-1)  # ascending
    drop_sorted = sp.cumsum(-1) <= (1 - top_p)
    drop_sorted[:, -1] = False
    drop = torch.zeros_like(drop_sorted).scatter(1, si, drop_sorted)
    return probs.masked_fill(drop, 0.0)
