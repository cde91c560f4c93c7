"""Micro-batched log-prob forwards that keep torchrun ranks in lock-step.

Under torchrun (FSDP2) every forward all-gathers parameters, so every rank must run the same number
of forwards in the same order. Three rules make that so:

* a rank computes its own contiguous block of rows (:meth:`own_rows`), cut into micro-batches of
  ``train.micro_batch_size``; the number of micro-batches is that of the rank with the most rows, and
  a rank with fewer runs an empty chunk as row 0 with weight 0 (:meth:`rows`);
* each call of :func:`prl.logprobs.response_logprobs` runs a number of forwards that does not depend
  on the rows (``prompt_pass="shared"`` under torchrun: always prompt, then responses);
* decisions to skip (a non-finite loss) are collective (:meth:`all_finite`), so all ranks skip together.

One process: the same code with world size 1.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from prl import distributed as D
from prl.logprobs import CHUNK_TOKENS, response_logprobs
from prl.precision import autocast as autocast_ctx
from prl.rollout import oom_message

__all__ = ["LockstepForward"]


class LockstepForward:
    def __init__(self, env: D.DistEnv, device: torch.device, *, micro_batch_size: int, temperature: float,
                 autocast: str = "off", chunk_tokens: int = CHUNK_TOKENS):
        self.env, self.device = env, device
        self.chunk_tokens = chunk_tokens  # train.logprob_chunk_tokens: LM-head chunk (0: full logits)
        self.autocast = autocast  # model.autocast: "bf16" runs the forwards under torch.autocast (prl.precision)
        self.micro_batch_size = micro_batch_size
        # the trainer's log-probs use the sampling temperature (as the engine did); greedy sampling: 1
        self.temperature = temperature if temperature > 0 else 1.0

    def logp(self, model: torch.nn.Module, b: Any, idx: Tensor, *, grad: bool, entropy: bool = False,
             sampling_temperature: bool = True) -> tuple[Tensor, Tensor | None]:
        """Log-probs of rows ``idx``, trimmed to their own longest prompt/response: [b, T] (zeros past T_b).
        At the sampling temperature (the policy's ratio), or at temperature 1 (``sampling_temperature=
        False``: the models' own distributions, which implicit process rewards are defined on)."""
        P_b = int(b.prompt_lens[idx.cpu()].max())
        T_b = int(b.response_lens[idx.cpu()].max())
        ids = b.input_ids[idx, b.P - P_b: b.P + T_b]  # [b, P_b + T_b]
        att = b.attention_mask[idx, b.P - P_b: b.P + T_b]
        temp = self.temperature if sampling_temperature else 1.0
        prompt_pass = "shared" if self.env.distributed else "auto"
        with torch.set_grad_enabled(grad), autocast_ctx(self.autocast, self.device):
            try:
                lp, ent = response_logprobs(model, ids, att, T_b, temperature=temp, with_entropy=entropy,
                                            prompt_pass=prompt_pass, chunk_tokens=self.chunk_tokens)
            except torch.OutOfMemoryError as e:
                raise RuntimeError(oom_message("the forward pass", "train.micro_batch_size", self.micro_batch_size)) from e
        if T_b < b.T:
            lp = torch.nn.functional.pad(lp, (0, b.T - T_b))
            ent = torch.nn.functional.pad(ent, (0, b.T - T_b)) if ent is not None else None
        return lp, ent

    @torch.no_grad()
    def logp_all(self, model: torch.nn.Module, b: Any, *, entropy: bool = False, sampling_temperature: bool = True
                 ) -> tuple[Tensor, Tensor | None]:
        """Log-probs (and entropies) of every row [B, T]; under torchrun each rank computes its own rows
        and the results are gathered."""
        lps: list[Tensor] = []
        ents: list[Tensor] = []
        for ch in self.chunks(self.own_rows(b.B), most=-(-b.B // self.env.world_size)):
            rows, w = self.rows(ch)
            lp, ent = self.logp(model, b, rows, grad=False, entropy=entropy, sampling_temperature=sampling_temperature)
            if w:
                lps.append(lp)
                if ent is not None:
                    ents.append(ent)
        empty = torch.zeros(0, b.T, device=b.input_ids.device)
        lp = torch.cat(lps) if lps else empty
        ent_all = (torch.cat(ents) if ents else empty) if entropy else None
        if self.env.distributed:
            lp = D.all_gather_padded(lp, self.env)
            ent_all = D.all_gather_padded(ent_all, self.env) if ent_all is not None else None
        return lp, ent_all

    def chunks(self, idx: Tensor, most: int | None = None) -> list[Tensor]:
        """Micro-batches of the rows ``idx``; their count comes from ``most`` = the largest number of
        rows any rank has, so that every rank runs as many (see :meth:`rows`)."""
        m = self.micro_batch_size
        n = max(-(-(len(idx) if most is None else most) // m), 1)
        return [idx[i * m:(i + 1) * m] for i in range(n)]

    def own_rows(self, B: int) -> Tensor:
        """This rank's rows of a B-row batch (a contiguous block; all rows in a single process)."""
        r = D.shard_range(B, self.env)
        return torch.arange(r.start, r.stop, device=self.device)

    @staticmethod
    def rows(ch: Tensor) -> tuple[Tensor, float]:
        """(rows to run, weight): an empty chunk runs row 0 with weight 0, keeping collectives in step."""
        if len(ch):
            return ch, 1.0
        return torch.zeros(1, dtype=torch.long, device=ch.device), 0.0

    def all_finite(self, loss: Tensor) -> bool:
        """Whether the loss is finite on every rank (all ranks then skip together, in step)."""
        bad = 0.0 if bool(torch.isfinite(loss).all()) else 1.0
        return (D.all_reduce_sum(bad, self.env) if self.env.distributed else bad) == 0.0

    def backward(self, loss: Tensor) -> None:
        try:
            loss.backward()
        except torch.OutOfMemoryError as e:
            raise RuntimeError(oom_message("the backward pass", "train.micro_batch_size", self.micro_batch_size)) from e
