"""The actor: the policy's forward passes and its PPO-clip update.

It owns the policy, its AdamW optimiser and learning-rate schedule, and the bad-step guard. The
update runs ``train.ppo_epochs`` passes over mini-batches of ``train.mini_batch_size`` samples
(shuffled with a per-step generator, so a resumed run draws what a straight run draws), cut into
micro-batches with gradient accumulation; the loss normaliser is the whole mini-batch's, so
micro-batching does not change the loss. Micro-batches are cut along groups (a prompt's samples
together, whatever the shuffle), so the shared prompt pass runs each prompt once. Gradients are clipped at ``optim.max_grad_norm``.

Fused pi_old: with one PPO epoch over one mini-batch, every micro-batch runs before the only optimiser
step, so the update's own forward sees exactly pi_old: log pi_old is its log-probs, detached (ratio 1),
and the separate no-grad pass is redundant (TRL skips it the same way). Used only when nothing reads
pi_old before the update (the estimator reads no log-ratio, no process-reward source, no KL in the
reward), in one process, and -- with gradient checkpointing, whose update runs the policy in train
mode -- only when the model has no dropout (``prl.modeling.has_dropout``), so its train-mode forward
is its eval-mode one.

Timing: the update's metrics split its wall time into ``time/update_forward`` (the micro-batches' forwards
and losses), ``time/update_backward`` and ``time/optimizer`` (gradient clipping and the AdamW step), and
``actor/update_pad_frac`` is the share of padding in the response columns the update's forwards ran (each
micro-batch is cut to its own longest response): what packing rows without padding could save there.

A non-finite loss or gradient norm skips the rest of that step's update with a warning; after
``train.max_bad_steps`` such steps in a row the run aborts (:class:`prl.errors.TrainingAborted`).
The policy stays in eval mode (dropout off, as verl does for RL); with gradient checkpointing it is
switched to train mode for the update only.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from prl import algos
from prl import distributed as D
from prl.errors import TrainingAborted
from prl.lockstep import LockstepForward
from prl.modeling import has_dropout
from prl.schedule import lr_multiplier
from prl.step import PhaseTimer

__all__ = ["Actor", "UpdateResult", "BadStepGuard"]

log = logging.getLogger("prl")


@dataclass
class UpdateResult:
    """What one PPO update did."""

    metrics: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None  # why the update stopped early (a non-finite loss / gradient norm), else None
    old_logp: Tensor | None = None  # fused pi_old: the update's own log-probs [B, T], detached
    entropy: Tensor | None = None  # fused: entropy of pi_old [B, T]


class BadStepGuard:
    """Counts consecutive steps whose update had to be skipped; aborts the run after ``limit``."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row = limit, 0

    def bad(self, step: int, why: str) -> None:
        self.in_a_row += 1
        log.warning(f"[prl] step {step}: {why}; update skipped ({self.in_a_row}/{self.limit} in a row)")
        if self.in_a_row >= self.limit:
            raise TrainingAborted(f"aborting: {self.in_a_row} consecutive steps with {why} (train.max_bad_steps="
                                  f"{self.limit}); lower optim.lr or check the data and model dtype (model.dtype)")

    def good(self) -> None:
        self.in_a_row = 0


class Actor:
    fuse_old_logp = True  # take pi_old from the update's forward when that is exact (module doc)

    def __init__(self, policy: torch.nn.Module, cfg: Any, env: D.DistEnv, forward: LockstepForward):
        self.policy, self.cfg, self.env, self.forward = policy, cfg, env, forward
        o = cfg.optim
        self.opt = torch.optim.AdamW(policy.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.adam_eps,
                                     weight_decay=o.weight_decay)
        total = max(cfg.train.steps, 1)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_multiplier(
            s, total_steps=total, warmup_steps=o.warmup_steps, kind=o.scheduler, min_ratio=o.min_lr_ratio))
        self.guard = BadStepGuard(cfg.train.max_bad_steps)

    # ------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": D.full_optimizer_state_dict(self.policy, self.opt, self.env),
                "scheduler": self.sched.state_dict(), "bad_in_a_row": self.guard.in_a_row}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        D.load_full_optimizer_state_dict(self.policy, self.opt, s["optimizer"], self.env)
        self.sched.load_state_dict(s["scheduler"])
        self.guard.in_a_row = int(s.get("bad_in_a_row", 0))

    @property
    def lr(self) -> float:
        return float(self.opt.param_groups[0]["lr"])

    def schedule_step(self) -> None:
        """One scheduler tick per training step, also when the update was skipped."""
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            self.sched.step()

    # ------------------------------------------------------------------------------ forwards
    def can_fuse_old_logp(self, B: int, reads_old_logp: bool) -> bool:
        """Whether pi_old may come from the update's own forward (module doc)."""
        c = self.cfg
        return (self.fuse_old_logp and not reads_old_logp and c.train.ppo_epochs == 1
                and (c.train.mini_batch_size or B) >= B and not self.env.distributed
                and not (c.model.gradient_checkpointing and has_dropout(self.policy)))

    def old_logprobs(self, b: Any) -> tuple[Tensor, Tensor]:
        """log pi_old [B, T] and its entropy [B, T] (no grad)."""
        lp, ent = self.forward.logp_all(self.policy, b, entropy=True)
        assert ent is not None
        return lp, ent

    # ------------------------------------------------------------------------------ update
    def update(self, b: Any, adv: Tensor, step: int) -> UpdateResult:
        """PPO-clip over ``b`` with advantages ``adv`` [B, T]. ``b.old_logp=None``: fused pi_old."""
        c = self.cfg
        fused = b.old_logp is None
        res = UpdateResult(old_logp=torch.zeros_like(b.response_mask) if fused else None,
                           entropy=torch.zeros_like(b.response_mask) if fused else None)
        gen = torch.Generator().manual_seed(c.train.seed * 7_919 + step)
        if c.model.gradient_checkpointing:
            self.policy.train()
        sums: dict[str, float] = {}
        tokens, gnorms = 0.0, []
        slots = 0.0  # response positions the forwards ran (rows x their micro-batch's longest response)
        timer = PhaseTimer(self.forward.device)
        owner = self._owners(b.B)
        try:
            for _ in range(c.train.ppo_epochs):
                for mb in self._minibatches(b.B, gen):
                    self.opt.zero_grad(set_to_none=True)
                    for rows, w in self._my_microbatches(mb, owner, b.group_ids):
                        with timer("update_forward"):
                            loss, mm = self._micro_loss(b, rows, adv, mb, res)
                        if not self.forward.all_finite(loss):
                            return self._skip(res, step, "a non-finite loss")
                        with timer("update_backward"):
                            # FSDP averages gradients over ranks: scale so the sum is the whole batch's
                            self.forward.backward(loss * (w * self.env.loss_scale))
                        if w:
                            tok = float(b.response_mask[rows].sum())
                            tokens += tok
                            slots += len(rows) * int(b.response_lens[rows.cpu()].max())
                            for k, v in mm.items():  # pg_loss: partial losses add up to the mini-batch's
                                sums[k] = sums.get(k, 0.0) + (v if k == "pg_loss" else v * tok)
                    with timer("optimizer"):
                        gn = D.full_tensor(torch.nn.utils.clip_grad_norm_(self.policy.parameters(),
                                                                          c.optim.max_grad_norm or float("inf")))
                        if not bool(torch.isfinite(gn)):
                            return self._skip(res, step, "a non-finite gradient norm")
                        gnorms.append(float(gn))
                        self.opt.step()
            self.guard.good()
        finally:
            self.opt.zero_grad(set_to_none=True)
            if c.model.gradient_checkpointing:
                self.policy.eval()
        res.metrics = self._update_metrics(tokens, sums, gnorms)
        res.metrics["actor/update_pad_frac"] = 1.0 - tokens / slots if slots else 0.0
        res.metrics.update(timer.times)
        return res

    def _minibatches(self, B: int, gen: torch.Generator) -> list[Tensor]:
        mini = self.cfg.train.mini_batch_size or B
        perm = torch.randperm(B, generator=gen) if self.cfg.train.shuffle_minibatches else torch.arange(B)
        return [perm[s:s + mini] for s in range(0, B, mini)]

    def _owners(self, B: int) -> Tensor:
        """[B] the rank whose block of rows each sample is in (prl.lockstep)."""
        owner = torch.zeros(B, dtype=torch.long)
        for r in range(self.env.world_size):
            owner[list(D.shard_range(B, dataclasses.replace(self.env, rank=r)))] = r
        return owner

    def _my_microbatches(self, mb: Tensor, owner: Tensor, group_ids: Tensor | None = None) -> list[tuple[Tensor, float]]:
        """This rank's micro-batches of mini-batch ``mb`` as (rows, weight), as many on every rank."""
        fw, rank = self.forward, self.env.rank
        mine = mb[owner[mb] == rank]
        if group_ids is not None:
            # a group's rows in one micro-batch: its prompt then runs once (prl.logprobs' shared pass).
            # The mini-batch's gradient is a sum over its micro-batches, so their make-up changes only
            # float summation order; the shuffle still decides which rows share a mini-batch
            mine = mine[torch.argsort(group_ids.cpu()[mine], stable=True)]
        most = int(torch.bincount(owner[mb], minlength=self.env.world_size).max())
        return [fw.rows(ch) for ch in fw.chunks(mine.to(fw.device), most=most)]

    def _micro_loss(self, b: Any, rows: Tensor, adv: Tensor, mb: Tensor, res: UpdateResult) -> tuple[Tensor, dict]:
        c, mask = self.cfg, b.response_mask
        agg = c.loss_agg()
        # the whole mini-batch's normaliser (all ranks hold every row's mask)
        norm = algos.loss_normalizer(mask[mb.to(mask.device)], agg, max_response_len=c.rollout.max_new_tokens
                                     if agg == "seq-mean-token-sum-norm" else None)
        fused = b.old_logp is None
        lp, ent = self.forward.logp(self.policy, b, rows, grad=True, entropy=fused)
        if fused:
            old = lp.detach()
            assert res.old_logp is not None and res.entropy is not None and ent is not None
            res.old_logp[rows], res.entropy[rows] = old, ent
        else:
            old = b.old_logp[rows]
        use_kl = c.algo.kl_loss_coef > 0
        return algos.ppo_clip_loss(lp, old, adv[rows], mask[rows], clip_low=c.algo.clip_low, clip_high=c.algo.clip_high,
                                   dual_clip=c.algo.dual_clip, agg=agg, normalizer=norm,
                                   ref_logp=b.ref_logp[rows] if use_kl else None, kl_loss_coef=c.algo.kl_loss_coef,
                                   kl_loss_type=c.algo.kl_loss_type)

    def _skip(self, res: UpdateResult, step: int, why: str) -> UpdateResult:
        self.opt.zero_grad(set_to_none=True)
        res.skipped = why
        res.metrics = {"train/bad_step": 1}
        self.guard.bad(step, why)
        return res

    def _update_metrics(self, tokens: float, sums: dict[str, float], gnorms: list[float]) -> dict[str, float]:
        if self.env.distributed:  # sums over all ranks
            parts = D.all_gather_objects((tokens, sums), self.env)
            tokens = sum(t for t, _ in parts)
            sums = {}
            for _, part in parts:
                for k, v in part.items():
                    sums[k] = sums.get(k, 0.0) + v
        m = {f"actor/{k}": (v / max(len(gnorms), 1) if k == "pg_loss" else v / max(tokens, 1.0)) for k, v in sums.items()}
        m["actor/grad_norm"] = float(np.mean(gnorms)) if gnorms else 0.0
        m["actor/optimizer_steps"] = len(gnorms)
        return m
