"""Checkpoints: plain Hugging Face directories plus the trainer's state, written atomically.

Layout of ``OUTPUT_DIR/checkpoints/step_00000012/``::

    policy/            save_pretrained of the policy + its tokenizer (from_pretrained loads it)
    prm/               a process-reward source's model (PRIME's implicit PRM), same form
    trainer_state.pt   optimisers, schedulers, RNG states (python, numpy, torch CPU/CUDA), data position,
                       step counters
    meta.json          {"step": 12, ...}; written last

The directory is built under a temporary name (``.tmp-step_00000012-<pid>``) and renamed into place,
so a run killed at any moment leaves either a complete checkpoint or a temporary directory that the
next run deletes. ``find_latest`` returns the newest complete checkpoint (``ckpt.resume=auto``).
At the end of a run the policy is also written as ``OUTPUT_DIR/final`` (:func:`save_final`). A full
disk is one line (:class:`prl.errors.DiskFullError`) and leaves no partial directory behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from prl.errors import DiskFullError, PrlError

__all__ = ["save_checkpoint", "save_final", "save_hf_dir", "load_trainer_state", "find_latest", "list_checkpoints", "rng_state",
           "set_rng_state", "prune_checkpoints", "CheckpointError"]

_NAME = re.compile(r"^step_(\d{8})$")


class CheckpointError(PrlError, RuntimeError):
    """A checkpoint that cannot be read (incomplete, or of another kind of run)."""


@contextlib.contextmanager
def _no_space_is_one_line(target: Path, tmp: Path, what: str) -> Iterator[None]:
    """Turn ENOSPC while writing ``tmp`` into a DiskFullError naming ``target``'s folder, after removing
    the partial ``tmp`` (a full disk must not stay full of half-written files)."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        # torch.save reports a full disk as RuntimeError("... unexpected pos ..."): judge by the free space
        full = isinstance(e, OSError) and (e.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(e))
        if not full and shutil.disk_usage(tmp.parent).free >= 4 << 20:
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        raise DiskFullError(f"no space left on {target.parent} ({what} not written; the partial files were removed)") from None


def rng_state() -> dict[str, Any]:
    s = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def set_rng_state(s: dict[str, Any]) -> None:
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def list_checkpoints(ckpt_root: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (name step_NNNNNNNN with meta.json), oldest first."""
    root = Path(ckpt_root)
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        m = _NAME.match(d.name)
        if m and d.is_dir() and (d / "meta.json").is_file() and (d / "trainer_state.pt").is_file():
            out.append((int(m.group(1)), d))
    return sorted(out)


def find_latest(ckpt_root: str | Path) -> Path | None:
    cks = list_checkpoints(ckpt_root)
    return cks[-1][1] if cks else None


def _clean_tmp(root: Path) -> None:
    for d in root.glob(".tmp-*"):
        shutil.rmtree(d, ignore_errors=True)


def save_checkpoint(ckpt_root: str | Path, step: int, *, models: dict[str, Any], tokenizer: Any,
                    state: dict[str, Any], meta: dict[str, Any] | None = None,
                    state_dicts: dict[str, dict[str, torch.Tensor]] | None = None) -> Path:
    """Write checkpoint ``step`` atomically; returns its final path.

    models: {"policy": PreTrainedModel, "prm": PreTrainedModel, ...} saved with save_pretrained;
    state: anything torch.save can pickle (optimiser state dicts, RNG, data position, ...).
    state_dicts: {name: full state dict} to write instead of the module's own (FSDP-sharded models:
    the unsharded weights gathered by :func:`prl.distributed.full_state_dict`).
    """
    root = Path(ckpt_root)
    root.mkdir(parents=True, exist_ok=True)
    _clean_tmp(root)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp-step_{step:08d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    with _no_space_is_one_line(final, tmp, f"checkpoint step {step}"):
        tmp.mkdir()
        for name, model in models.items():
            save_hf_dir(tmp / name, model, tokenizer, (state_dicts or {}).get(name))
        torch.save(state, tmp / "trainer_state.pt")
        with open(tmp / "meta.json", "w") as f:
            json.dump({"step": step, "time": time.time(), **(meta or {})}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
    _move_into_place(tmp, final)  # re-saving the same step (e.g. final == periodic) replaces it
    return final


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` to ``final``, replacing an existing ``final``: readers see the old
    directory or the new one, never a half-written one."""
    if final.exists():
        old = final.parent / f".tmp-old-{final.name}-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def save_hf_dir(path: Path, model: Any, tokenizer: Any, state_dict: dict[str, torch.Tensor] | None = None) -> None:
    """A plain Hugging Face directory (``from_pretrained`` loads it): weights, config, tokenizer.
    ``state_dict``: the full weights to write instead of the module's own (FSDP-sharded models)."""
    model.save_pretrained(path, safe_serialization=True, **({"state_dict": state_dict} if state_dict is not None else {}))
    if tokenizer is not None:
        tokenizer.save_pretrained(path)


def save_final(out_dir: str | Path, model: Any, tokenizer: Any, state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """The trained policy as ``OUT_DIR/final``: a plain HF directory with its tokenizer, written under a
    temporary name and renamed into place (replacing an older one)."""
    final = Path(out_dir) / "final"
    tmp = Path(out_dir) / f".tmp-final-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with _no_space_is_one_line(final, tmp, "the final model"):
        save_hf_dir(tmp, model, tokenizer, state_dict)
    _move_into_place(tmp, final)
    return final


def load_trainer_state(ckpt_dir: str | Path) -> dict[str, Any]:
    p = Path(ckpt_dir) / "trainer_state.pt"
    if not p.is_file():
        raise CheckpointError(f"{ckpt_dir}: not a complete checkpoint (no trainer_state.pt)")
    return torch.load(p, map_location="cpu", weights_only=False)


def prune_checkpoints(ckpt_root: str | Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` complete checkpoints (0 keeps all)."""
    if keep_last <= 0:
        return
    for _, d in list_checkpoints(ckpt_root)[:-keep_last]:
        shutil.rmtree(d, ignore_errors=True)
