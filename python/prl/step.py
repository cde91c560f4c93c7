"""One training step, top to bottom: generate -> grade -> filter -> log-probs -> step ids -> token
rewards -> advantages -> PPO update -> sync the engine.

Over ``train.prompts_per_step x rollout.n`` samples:

1. take the next prompts (seeded order, position checkpointed) and sample n responses each; under
   torchrun each rank samples its share and the rollouts are gathered, so every rank holds them all;
2. grade with ``reward.grader`` (accuracy, status counts) and sum ``reward.funcs``; a None reward
   ("cannot judge") counts as ``reward.none_value``;
3. prompt filter (``algo.filter``): keep groups whose accuracy lies in [low, high]; a step that keeps
   no group makes no update (``filter/kept_groups = 0``; the log-prob metrics are then absent);
4. log pi_old (the trainer's own forward, or the update's when that is exact: prl.actor) and log
   pi_ref (when something reads it); the KL-in-reward term, if any, comes off the rewards;
5. step ids (when the estimator reads them) and token rewards (from the process-reward source);
6. the estimator by name; 7. the PPO-clip update; 8. one scheduler tick, push the weights to the engine;
9. every ``log.credit_every`` steps (and on sample-logging steps), when a step checker applies: where
   the batch's process signals put the credit (prl.credit).

Sampling is seeded per step (``train.seed`` and the step number), so a resumed run draws exactly
what a straight run draws.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from prl import algos
from prl import distributed as D
from prl.batch import Batch, build_batch, step_ends, step_ids_for
from prl.metrics import advantage_metrics, filter_metrics, logprob_metrics, reward_metrics
from prl.rewards import Scored, score
from prl.rollout import Rollout, SamplingParams

__all__ = ["train_step", "sample_groups", "generate_rollouts", "keep_groups", "PhaseTimer"]

log = logging.getLogger("prl")


def train_step(run: Any) -> dict[str, Any]:
    """One step of ``run`` (a prl.trainer.Trainer); returns the step's metrics."""
    cfg, step, n = run.cfg, run.step + 1, run.cfg.rollout.n
    timer, t0 = PhaseTimer(run.device), time.perf_counter()
    items, rollouts, scored, keep, refills = sample_groups(run, step, timer)  # keep: [G] groups to train on
    golds = [items[r.prompt_index]["answer"] for r in rollouts]
    metrics = reward_metrics(scored.rewards, scored.correct, scored.raw, scored.n_none, rollouts, scored.verdicts,
                             run.statuses, n, cfg.reward.none_value)
    metrics["data/epoch"] = run.data_iter.epoch
    metrics.update(filter_metrics(keep), **{"train/skipped": int(not keep.any()), "train/bad_step": 0})
    if cfg.algo.filter.refill:
        metrics["filter/refill_batches"] = refills
    watch_filter(run, bool(keep.any()))
    rows = np.nonzero(np.repeat(keep, n))[0]  # kept samples
    adv = credit = None
    samples_now = bool(cfg.log.samples_every and step % cfg.log.samples_every == 0 and run.logger is not None)
    if len(rows):
        b = make_batch(run, items, rollouts, scored, rows, n)
        adv = update_policy(run, b, step, timer, metrics)
        credit_now = bool(cfg.log.credit_every and step % cfg.log.credit_every == 0)
        if run.credit_task is not None and (credit_now or samples_now):
            with timer("credit"):
                credit = measure_credit(run, b)
            if credit_now:
                metrics.update(credit.metrics)
    run.actor.schedule_step()
    run.engine.sync_weights(run.actor.policy)
    run.step = step
    metrics["actor/lr"] = run.actor.lr
    metrics.update(timer.times, **{"time/step": time.perf_counter() - t0})
    if samples_now:
        run.logger.samples(step, sample_records(cfg, items, rollouts, golds, scored, rows, adv,
                                                credit.rows if credit is not None else None))
    return metrics


def measure_credit(run: Any, b: Batch) -> Any:
    """Credit diagnostics of the batch's process signals (prl.credit): PRL's KL term when the batch has
    d_t, the process-reward source's token rewards when it has a source."""
    from prl import credit as C
    from prl.tasks.checkers import get_step_checker

    signals = {}
    if b.log_ratio is not None:
        signals["prl"] = (C.prl_signal(), -b.log_ratio / run.cfg.algo.prl.eta)
    if b.token_rewards is not None and run.source is not None:
        name = run.cfg.source_name()
        signals[name] = (C.signal_for_source(name, run.cfg.source_settings()), b.token_rewards)
    assert b.prompts is not None and b.rollouts is not None and b.correct is not None and b.group_ids is not None
    return C.measure_batch(get_step_checker(run.credit_task), b.prompts, b.rollouts, signals,
                           b.correct.tolist(), b.group_ids.tolist())


def update_policy(run: Any, b: Batch, step: int, timer: "PhaseTimer", metrics: dict[str, Any]) -> Any:
    """Steps 4-7 on the kept samples; returns the advantages [B, T] (None when they were not finite)."""
    cfg, est, settings = run.cfg, run.cfg.estimator(), run.cfg.estimator_settings()
    fused = run.actor.can_fuse_old_logp(b.B, reads_old_logp=run.reads_old_logp)
    with timer("logprob"):
        fill_logprobs(run, b, fused, step)
    if not fused:
        metrics.update(logprob_metrics(b))
    if cfg.algo.kl_in_reward_coef:
        assert b.old_logp is not None and b.ref_logp is not None and b.rewards is not None  # never fused (actor doc)
        kl = algos.kl_penalty(b.old_logp, b.ref_logp, cfg.algo.kl_in_reward_type)  # [B, T]
        b.rewards = b.rewards - cfg.algo.kl_in_reward_coef * torch.where(b.response_mask > 0, kl, 0.0).sum(1)
    if "step_ids" in est.needs:
        with timer("steps"):
            assert b.rollouts is not None  # make_batch sets them
            b.step_ids = step_ids_for(settings.steps, b.rollouts, b.response_mask)
    if run.source is not None:
        with timer("prm"):
            if run.source.needs_reference:
                b.ref_logp_t1 = reference_at_temperature_one(run, b)
            b.token_rewards, source_metrics = run.source.token_rewards(b)
            metrics.update(source_metrics)
    with timer("advantage"):
        adv = est.call(b.fields(), settings, cfg.algo).float()  # [B, T]
    metrics.update(advantage_metrics(adv, b, settings if cfg.algo.name == "prl" else None, cfg.algo.eps))
    if not bool(torch.isfinite(adv).all()):
        metrics["train/bad_step"] = 1
        run.actor.guard.bad(step, "non-finite advantages")
        return None
    with timer("update"):
        result = run.actor.update(b, adv, step)
    metrics.update(result.metrics)
    if fused and result.skipped is None:  # the log-prob metrics from the update's own forward
        b.old_logp, b.entropy = result.old_logp, result.entropy
        metrics.update(logprob_metrics(b))
    return adv


def make_batch(run: Any, items: list[dict[str, Any]], rollouts: Sequence[Rollout], scored: Scored, rows: np.ndarray,
               n: int) -> Batch:
    """The kept samples as tensors, with their rewards, correctness and group ids, and their rollouts and
    raw prompts (for step splits and for process-reward sources that read text: rule checker, explicit PRM)."""
    b = build_batch([rollouts[i] for i in rows], run.engine.pad_token_id, run.device)
    b.rollouts = [rollouts[i] for i in rows]
    b.prompts = [items[rollouts[i].prompt_index]["prompt"] for i in rows]
    b.rewards = torch.tensor(scored.rewards[rows], dtype=torch.float32, device=run.device)  # [B]
    b.correct = torch.tensor(scored.correct[rows], dtype=torch.float32, device=run.device)  # [B]
    b.group_ids = torch.tensor(rows // n, dtype=torch.long, device=run.device)  # [B]
    return b


def fill_logprobs(run: Any, b: Batch, fused: bool, step: int) -> None:
    """log pi_old with its entropy (unless fused), log pi_ref (when this step reads it), d_t."""
    if not fused:
        b.old_logp, b.entropy = run.actor.old_logprobs(b)
    if run.ref_this_step(step):
        b.ref_logp = run.forward.logp_all(run.ref, b)[0]  # [B, T]
    if b.old_logp is not None and b.ref_logp is not None:
        b.log_ratio = torch.where(b.response_mask > 0, b.old_logp - b.ref_logp, 0.0)  # [B, T] d_t


def reference_at_temperature_one(run: Any, b: Batch) -> torch.Tensor:
    """log pi_ref at temperature 1 (implicit rewards live on the models' own distributions, as verl's
    PRIME recipe); the pass at the sampling temperature is reused when that is 1 (or greedy)."""
    if run.cfg.rollout.temperature in (0.0, 1.0) and b.ref_logp is not None:
        return b.ref_logp
    return run.forward.logp_all(run.ref, b, sampling_temperature=False)[0]


def sample_groups(run: Any, step: int, timer: "PhaseTimer") -> tuple[list[dict[str, Any]], list[Rollout], Scored,
                                                                     np.ndarray, int]:
    """Steps 1-3: sample and grade ``train.prompts_per_step`` groups and apply the prompt filter. With
    ``algo.filter.refill = K`` (DAPO's dynamic sampling), up to K more batches of prompts are sampled
    while fewer groups than a batch survive the filter; then the first ``prompts_per_step`` kept groups
    train. -> (prompts, rollouts [G * n], scored, keep [G] bool, extra batches sampled)."""
    cfg, n, want = run.cfg, run.cfg.rollout.n, run.cfg.train.prompts_per_step
    items: list[dict[str, Any]] = []
    rollouts: list[Rollout] = []
    parts: list[Scored] = []
    keeps: list[np.ndarray] = []
    for attempt in range(1 + (cfg.algo.filter.refill if cfg.filter_enabled() else 0)):
        new_items = run.data_iter.take(want)
        with timer("generate"):
            new = generate_rollouts(run, new_items, step, attempt)  # [want * n], grouped by prompt
        rollouts += [dataclasses.replace(r, prompt_index=r.prompt_index + len(items)) for r in new]
        items += new_items
        with timer("reward"):
            parts.append(score([r.text for r in new], [r["answer"] for r in new_items for _ in range(n)], cfg.reward))
        keeps.append(keep_groups(parts[-1].correct, n, cfg))
        if sum(int(k.sum()) for k in keeps) >= want:
            break
    keep = np.concatenate(keeps)
    keep[np.cumsum(keep) > want] = False  # a full batch, not more
    return items, rollouts, Scored.concat(parts), keep, len(parts) - 1


def watch_filter(run: Any, kept_any: bool) -> None:
    """Warn once the prompt filter has kept no group for ``algo.filter.warn_after`` steps in a row."""
    f = run.cfg.algo.filter
    run.filter_empty_streak = 0 if kept_any else run.filter_empty_streak + 1
    if f.warn_after and run.filter_empty_streak == f.warn_after:
        log.warning(f"[prl] the prompt filter kept no group for {f.warn_after} steps in a row, so nothing trained: "
                    f"every group's accuracy lies outside [algo.filter.low={f.low}, algo.filter.high={f.high}]; "
                    "widen them, set algo.filter.refill to over-sample, or algo.filter.enabled=off")


def keep_groups(correct: np.ndarray, n: int, cfg: Any) -> np.ndarray:
    """[G] bool: the prompt filter (``algo.filter``) on each group's accuracy; all True when it is off."""
    acc = correct.reshape(-1, n).mean(1)  # [G]
    if not cfg.filter_enabled():
        return np.ones(len(acc), dtype=bool)
    return (acc >= cfg.algo.filter.low - 1e-9) & (acc <= cfg.algo.filter.high + 1e-9)


def generate_rollouts(run: Any, items: list[dict[str, Any]], step: int, attempt: int = 0) -> list[Rollout]:
    """n responses per prompt; under torchrun each rank samples a contiguous share of the prompts and
    the rollouts are gathered, so every rank returns all of them in prompt order. Seeded by (seed, step,
    attempt): a refill batch (attempt > 0) draws fresh samples."""
    c, env, engine = run.cfg, run.env, run.engine
    mine = D.shard_range(len(items), env)
    base = c.train.seed * 1_000_003 + step + attempt * 7_919_000_017
    sp = dict(n=c.rollout.n, temperature=c.rollout.temperature, top_p=c.rollout.top_p,
              max_new_tokens=c.rollout.max_new_tokens)
    if c.rollout.seed_per_prompt:
        groups = [engine.generate([items[i]["ids"]], SamplingParams(**sp, seed=base * 65_537 + i))[0] for i in mine]
    else:
        groups = engine.generate([items[i]["ids"] for i in mine], SamplingParams(**sp, seed=base + 104_729 * env.rank))
    local = [dataclasses.replace(r, prompt_index=mine.start + j) for j, g in enumerate(groups) for r in g]
    if not env.distributed:
        return local
    return [r for part in D.all_gather_objects(local, env) for r in part]


def sample_records(cfg: Any, items: list[dict[str, Any]], rollouts: Sequence[Rollout], golds: Sequence[str],
                   scored: Scored, rows: np.ndarray, adv: torch.Tensor | None,
                   credit_rows: list[list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """The first ``log.num_samples`` completions with prompt, gold, reward, verdict, the first token's
    advantage and step boundaries (as the estimator's step split, else ``algo.prl.steps``, cuts them);
    with ``credit_rows`` (prl.credit, per kept row) each kept completion's newline steps with their
    checker label and the credit each process signal gave them."""
    shown = list(rollouts[: cfg.log.num_samples])
    settings = cfg.estimator_settings()
    spec = getattr(settings, "steps", None) or cfg.algo.prl.steps
    sids = step_ids_for(spec, shown, build_batch(shown, 0, torch.device("cpu")).response_mask)
    row_of = {int(j): i for i, j in enumerate(rows)}
    recs = []
    for i, r in enumerate(shown):
        v = scored.verdicts[i]
        rec = {"prompt": items[r.prompt_index]["prompt"], "completion": r.text, "gold": golds[i],
               "reward": float(scored.rewards[i]), "correct": bool(v.correct), "status": v.status,
               "extracted": getattr(v, "extracted", None), "finish_reason": r.finish_reason,
               "tokens": len(r.response_ids), "step_ends": step_ends(r, sids[i, : len(r.response_ids)].numpy())}
        if adv is not None and i in row_of:
            rec["advantage_first_token"] = float(adv[row_of[i], 0])
        if credit_rows is not None and i in row_of:
            rec["credit_steps"] = credit_rows[row_of[i]]
        recs.append(rec)
    return recs


class PhaseTimer:
    """``with timer("generate"): ...`` adds the phase's wall time to ``times["time/generate"]``."""

    def __init__(self, device: torch.device):
        self.device = device
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times[f"time/{name}"] = self.times.get(f"time/{name}", 0.0) + time.perf_counter() - t0
