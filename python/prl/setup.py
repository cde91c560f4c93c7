"""Building a run, outside the training loop: seeding, data and its encoding, the models (policy,
reference), the rollout engine, and finding the checkpoint to resume."""

from __future__ import annotations

import fcntl
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prl import distributed as D
from prl.checkpoint import find_latest, list_checkpoints
from prl.config import Config, to_dict, to_yaml
from prl.data import PromptExample, encode_prompt, load_examples, render_prompt, split_eval
from prl.errors import ConfigError, DataError, RunDirBusy
from prl.modeling import load_causal_lm
from prl.rollout import RolloutEngine, make_engine

__all__ = ["RunDirLock", "check_lengths", "record_config", "seed_everything", "load_splits", "find_resume", "encode_items", "initial_model_dir", "load_model",
           "build_engine"]

log = logging.getLogger("prl")


class RunDirLock:
    """An exclusive lock on a run directory, held for the run's life: a second run writing into the
    same ``train.output_dir`` (a fresh start or a resume) would corrupt its checkpoints and logs.
    ``fcntl.flock`` on ``OUTPUT_DIR/.lock``, which holds the owner's pid; the kernel drops the lock
    when the owner dies, so a killed run never leaves a stale lock. Under torchrun rank 0 holds it."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / ".lock"
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            self.fd = None
            raise RunDirBusy(f"{out_dir} is in use by another run (pid {holder}); wait for it to end or choose "
                             "another train.output_dir") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def check_lengths(cfg: Config, items: list[dict[str, Any]], model: torch.nn.Module) -> None:
    """Refuse prompt + response lengths beyond the model's context (a long generation would otherwise
    run on for a long time, or fail deep inside the model)."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not limit or not items:
        return
    longest = max(len(it["ids"]) for it in items)
    for key, new in (("rollout.max_new_tokens", cfg.rollout.max_new_tokens), ("eval.max_new_tokens", cfg.eval.max_new_tokens)):
        if new is not None and longest + new > limit:
            raise ConfigError(f"config key '{key}': {new} new tokens after the longest prompt ({longest} tokens) "
                              f"make {longest + new} positions, beyond the model's max_position_embeddings={limit}; "
                              f"lower {key} (at most {limit - longest}) or data.max_prompt_tokens")


# keys a resumed run may change without a warning (extending a run, pointing at its checkpoint)
_RESUME_QUIET = {"train.steps", "ckpt.resume", "log.progress", "log.every", "log.plot", "log.tensorboard"}


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def record_config(out_dir: Path, cfg: Config, *, resumed: bool, step: int = 0) -> list[str]:
    """Write the resolved config to OUTPUT_DIR/config.yaml. A resumed run whose config differs from the
    one recorded warns for each changed key and keeps the old file as config.before-step-N.yaml.
    Returns the changed keys."""
    import yaml

    path = out_dir / "config.yaml"
    changed: list[str] = []
    if resumed and path.is_file():
        old = _flat(yaml.safe_load(path.read_text()) or {})
        new = _flat(to_dict(cfg))
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in _RESUME_QUIET)
        if changed:
            keep = out_dir / f"config.before-step-{step}.yaml"
            path.replace(keep)
            log.warning(f"[prl] resuming with a changed config ({keep.name} keeps the old one): "
                        + "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed))
    path.write_text(to_yaml(cfg))
    return changed


def seed_everything(cfg: Config) -> None:
    """Seeds, determinism and the thread count (train.threads) of this process."""
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True)
    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed % 2**32)
    random.seed(cfg.train.seed)


def load_splits(cfg: Config) -> tuple[list[PromptExample], list[PromptExample]]:
    """(training, held-out) examples: data.eval_path, or a seeded split of data.path."""
    d = cfg.data
    examples = load_examples(d.path, prompt_column=d.prompt_column, answer_column=d.answer_column,  # type: ignore[arg-type]
                             fmt=d.format, limit=d.limit)
    if d.eval_path:
        train = examples
        held_out = load_examples(d.eval_path, prompt_column=d.prompt_column, answer_column=d.answer_column, fmt=d.format)
    else:
        train, held_out = split_eval(examples, d.eval_size, cfg.train.seed)
    if d.eval_limit is not None:
        held_out = held_out[: d.eval_limit]
    return train, held_out


def find_resume(cfg: Config, ckpt_root: Path, out_dir: Path) -> Path | None:
    """The checkpoint ``ckpt.resume`` names (None: a fresh start); refuses to start afresh over checkpoints."""
    if cfg.ckpt.resume == "auto":
        return find_latest(ckpt_root)
    if cfg.ckpt.resume != "no":
        return Path(cfg.ckpt.resume)
    if list_checkpoints(ckpt_root):
        raise ConfigError(f"{out_dir} already holds checkpoints; continue it with ckpt.resume=auto or "
                          "choose another train.output_dir")
    return None


def encode_items(tokenizer: Any, examples: list[PromptExample], cfg: Config, what: str) -> list[dict[str, Any]]:
    """Prompts as token ids (with answer, text and row); prompts over data.max_prompt_tokens are
    dropped (with a warning that counts them)."""
    d = cfg.data
    items, too_long = [], 0
    for e in examples:
        ids = encode_prompt(tokenizer, e.prompt, template=d.template, plain_template=d.plain_template,
                            system_prompt=d.system_prompt)
        if len(ids) > d.max_prompt_tokens:
            too_long += 1
            continue
        if not ids:
            raise DataError(f"{d.path}: row {e.index}: the prompt encodes to no tokens")
        items.append({"ids": ids, "answer": e.answer, "prompt": e.prompt, "index": e.index})
    if too_long:
        log.warning(f"[prl] dropped {too_long} {what} prompts longer than data.max_prompt_tokens={d.max_prompt_tokens}")
    if not items and what == "training":
        raise DataError(f"{d.path}: no training prompt fits in data.max_prompt_tokens={d.max_prompt_tokens}")
    return items


class _NoChat:
    """Stand-in tokenizer for rendering plain prompts before a tokenizer exists."""

    chat_template = None


def initial_model_dir(cfg: Config, out_dir: Path, env: D.DistEnv, train: list[PromptExample],
                      held_out: list[PromptExample], resuming: bool) -> Path:
    """The start model's HF directory; model.init=tiny builds it (rank 0 only; the others wait)."""
    from prl.bootstrap import build_tiny_model

    if cfg.model.init in ("path", "demo", "long_chain", "smollm2"):
        return Path(cfg.model.path)  # type: ignore[arg-type]
    if env.distributed and not env.is_main:
        D.barrier(env)
        return out_dir / "init_model"
    corpus = [render_prompt(_NoChat, e.prompt, template="plain", plain_template=cfg.data.plain_template)
              for e in train + held_out] + [e.answer for e in train]
    init = build_tiny_model(cfg, out_dir, corpus, keep_existing=resuming)
    if env.distributed:
        D.barrier(env)
    return init


def load_model(path: Path, cfg: Config, device: torch.device, env: D.DistEnv, *, trainable: bool) -> torch.nn.Module:
    """An HF causal LM in model.dtype, eval mode, sharded under torchrun (frozen unless ``trainable``)."""
    model = load_causal_lm(path, dtype=getattr(torch, cfg.model.dtype), device=device)
    model.eval()
    if not trainable:
        model.requires_grad_(False)
    elif cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return D.shard_model(model, env)


def build_engine(cfg: Config, policy: torch.nn.Module, tokenizer: Any, policy_dir: Path, env: D.DistEnv) -> RolloutEngine:
    if cfg.rollout.engine == "vllm":
        if not torch.cuda.is_available():
            raise ConfigError("config key 'rollout.engine': vllm needs a CUDA GPU and none is visible; "
                              "use rollout.engine=hf (transformers, CPU or GPU)")
        v = cfg.rollout.vllm
        return make_engine("vllm", model_path=str(policy_dir), tokenizer=tokenizer,
                           tensor_parallel_size=v.tensor_parallel_size, dtype=v.dtype, seed=cfg.train.seed,
                           gpu_memory_utilization=v.gpu_memory_utilization, max_model_len=v.max_model_len,
                           enable_sleep_mode=v.enable_sleep_mode)
    return make_engine(cfg.rollout.engine, model=policy, tokenizer=tokenizer, batch_size=cfg.rollout.batch_size,
                       synced_gpus=env.distributed, fast=cfg.rollout.hf_decoder == "prl",
                       autocast=cfg.model.autocast, weights=cfg.rollout.weights)
