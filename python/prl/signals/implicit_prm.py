"""PRIME's implicit PRM as a process-reward source (``process_reward.source=implicit_prm``).

The PRM pi_phi starts as a copy of the initial policy; the reference pi_ref is frozen. Token reward
q_t = beta (log pi_phi(y_t) - log pi_ref(y_t)), both at temperature 1 (the implicit reward is defined
on the models' own distributions, as verl's PRIME recipe; the policy's PPO ratio keeps the sampling
temperature). The PRM is trained online on every batch: binary cross-entropy of sigmoid(sum_t q_t)
against the grader's 0/1 correctness (whatever other reward functions add), AdamW with its own lr.
``update=before`` (default) trains on the batch and then scores it; ``after`` scores with the
pre-update PRM, then trains.

Diagnostics: ``prm/auc`` is the PRM's sequence logit ranking correct above wrong responses *of the
same prompt* on each fresh batch before its update (what the leave-one-out baselines compare);
``prm/auc_all`` the same across the batch. A 10-step mean of ``prm/auc`` below 0.4 warns once: the
policy is finding responses the PRM over-rewards faster than the PRM learns (reward hacking).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import torch
from torch import Tensor, nn

from prl import algos
from prl import distributed as D
from prl.config import setting
from prl.modeling import load_causal_lm
from prl.signals import ProcessRewardSource, SourceContext, register_source

__all__ = ["ImplicitPRMConfig", "ImplicitPRM", "prm_gaming_warning"]

log = logging.getLogger("prl")


@dataclass
class ImplicitPRMConfig:
    """PRIME's implicit PRM, trained online on outcome labels (prl.signals.implicit_prm)."""

    beta: float = setting(0.05, "q_t = beta * (log pi_phi - log pi_ref)")
    update: Literal["before", "after"] = setting("before", "update the PRM before scoring the batch, or after")
    lr: float = setting(1e-6, "learning rate of the PRM (AdamW)", check=lambda v: v >= 0, must="must be >= 0")
    weight_decay: float = setting(0.0, "weight decay of the PRM optimiser")
    epochs: int = setting(1, "PRM passes over each batch", check=lambda v: v >= 1, must="must be >= 1")


def prm_gaming_warning(aucs: Sequence[float], window: int = 10, below: float = 0.4) -> str | None:
    """A message when ``prm/auc`` averaged below ``below`` over the last ``window`` measured steps; else None.

    The threshold sits under chance because a batch's AUC is noisy (a few mixed groups): on the demo,
    10-step means reached 0.44 in a run that learned well and 0.26-0.35 in the runs that collapsed."""
    if len(aucs) < window:
        return None
    mean = sum(aucs[-window:]) / window
    if mean >= below:
        return None
    return (f"[prl] PRIME: mean prm/auc {mean:.2f} over the last {window} steps: the implicit PRM ranks the "
            "policy's fresh rollouts well below chance, i.e. the policy is likely gaming it; consider a lower "
            "algo.prime.w_process, a lower optim.lr or a higher process_reward.implicit_prm.lr")


@register_source("implicit_prm", config=ImplicitPRMConfig)
class ImplicitPRM(ProcessRewardSource):
    """PRIME's implicit PRM: q_t = beta (log pi_phi - log pi_ref), pi_phi trained online on outcomes."""

    needs_reference = True

    def __init__(self, ctx: SourceContext, settings: ImplicitPRMConfig):
        c, o = ctx.cfg, ctx.cfg.optim
        self.settings, self.env, self.forward = settings, ctx.env, ctx.forward
        self.max_grad_norm = o.max_grad_norm
        prm_dir = ctx.resume_dir / "prm" if ctx.resume_dir else ctx.init_dir
        prm = load_causal_lm(prm_dir, dtype=getattr(torch, c.model.dtype), device=ctx.device)
        prm.eval()
        self.prm = D.shard_model(prm, ctx.env)
        self.opt = torch.optim.AdamW(self.prm.parameters(), lr=settings.lr, betas=(o.beta1, o.beta2), eps=o.adam_eps,
                                     weight_decay=settings.weight_decay)
        self.aucs: list[float] = []
        self.warned = False

    def models(self) -> dict[str, nn.Module]:
        return {"prm": self.prm}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": D.full_optimizer_state_dict(self.prm, self.opt, self.env)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        D.load_full_optimizer_state_dict(self.prm, self.opt, state["optimizer"], self.env)

    def token_rewards(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        s = self.settings
        metrics: dict[str, float] = {}
        if s.update == "after":
            prm_logp = self.forward.logp_all(self.prm, batch, sampling_temperature=False)[0]  # [B, T]
        metrics.update(self._train(batch))
        if s.update == "before":
            prm_logp = self.forward.logp_all(self.prm, batch, sampling_temperature=False)[0]  # [B, T]
        mask = batch.response_mask
        q = algos.prime_token_rewards(prm_logp, batch.ref_logp_t1, mask, beta=s.beta)  # [B, T]
        metrics["prm/token_reward_mean"] = float((q * mask).sum() / mask.sum().clamp_min(1))
        self._watch_gaming(metrics)
        return q, metrics

    def _train(self, batch: Any) -> dict[str, float]:
        """``epochs`` passes of the PRM loss over the batch; the first pass's fresh-data statistics."""
        s, fw, mask = self.settings, self.forward, batch.response_mask
        metrics: dict[str, float] = {}
        stats: list[dict[str, Any]] = []  # first epoch only: the PRM's accuracy on fresh data
        own = fw.own_rows(batch.B)
        for epoch in range(s.epochs):
            self.opt.zero_grad(set_to_none=True)
            ok = True
            for ch in fw.chunks(own, most=-(-batch.B // self.env.world_size)):
                rows, w = fw.rows(ch)
                lp, _ = fw.logp(self.prm, batch, rows, grad=True, sampling_temperature=False)  # [b, T]
                ref = batch.ref_logp_t1[rows]
                loss, mm = algos.prime_prm_loss(lp, ref, batch.correct[rows], mask[rows], beta=s.beta,
                                                normalizer=float(batch.B))
                if not fw.all_finite(loss):
                    ok = False
                    break
                fw.backward(loss * (w * self.env.loss_scale))
                if epoch == 0 and w:
                    logit = algos.prime_token_rewards(lp.detach(), ref, mask[rows], beta=s.beta).sum(1)  # [b]
                    stats.append({**mm, "w": float(len(ch)), "logit": logit.cpu(), "label": batch.correct[rows].cpu(),
                                  "group": batch.group_ids[rows].cpu()})
            gn = D.full_tensor(torch.nn.utils.clip_grad_norm_(self.prm.parameters(), self.max_grad_norm or float("inf")))
            if ok and bool(torch.isfinite(gn)):
                self.opt.step()
                metrics["prm/grad_norm"] = float(gn)
            else:
                self.opt.zero_grad(set_to_none=True)
                metrics["prm/skipped"] = 1
                break
        self.opt.zero_grad(set_to_none=True)
        if self.env.distributed:
            stats = [st for part in D.all_gather_objects(stats, self.env) for st in part]
        return {**metrics, **_fresh_data_metrics(stats)}

    def _watch_gaming(self, metrics: dict[str, float]) -> None:
        if "prm/auc" not in metrics or self.warned:
            return
        self.aucs.append(float(metrics["prm/auc"]))
        msg = prm_gaming_warning(self.aucs)
        if msg:
            log.warning(msg)
            self.warned = True


def _fresh_data_metrics(stats: list[dict[str, Any]]) -> dict[str, float]:
    """Loss, sign accuracy and AUCs of the PRM on a batch it has not trained on yet."""
    if not stats:
        return {}
    w = sum(s["w"] for s in stats)
    out = {"prm/loss": sum(s["prm/loss"] * s["w"] for s in stats) / w,
           "prm/acc": sum(s["prm/acc"] * s["w"] for s in stats) / w}
    # the sign accuracy above is blind to a shared offset of the logits; the AUCs are not
    logit, label, group = (torch.cat([s[k] for s in stats]) for k in ("logit", "label", "group"))
    for key, groups in (("prm/auc", group), ("prm/auc_all", None)):
        auc = algos.binary_auc(logit, label, groups)
        if auc == auc:  # NaN without a (correct, wrong) pair
            out[key] = auc
    return out
