"""Input validation shared by the algorithm functions: every error names the argument and what was expected."""

from __future__ import annotations

import torch
from torch import Tensor


def check_float(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def check_vector(name: str, x: Tensor, B: int | None = None) -> int:
    """Check a [B] tensor; return B."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B], got {type(x).__name__}")
    if x.dim() != 1:
        raise ValueError(f"{name} must have shape [B], got shape {list(x.shape)}")
    if B is not None and x.shape[0] != B:
        raise ValueError(f"{name} must have shape [B] = [{B}] (one entry per sample), got shape {list(x.shape)}")
    return x.shape[0]


def check_bt(name: str, x: Tensor, B: int, T: int | None = None) -> int:
    """Check a [B, T] tensor (T taken from the first such tensor when None); return T."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B, T], got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape [B, T], got shape {list(x.shape)}")
    if x.shape[0] != B or (T is not None and x.shape[1] != T):
        want = f"[{B}, {T}]" if T is not None else f"[{B}, T]"
        raise ValueError(f"{name} must have shape {want}, got shape {list(x.shape)}")
    return x.shape[1]


def as_mask(name: str, m: Tensor) -> Tensor:
    """Response mask as a float tensor of 0/1; accepts bool, integer or float 0/1 masks."""
    if m.dtype == torch.bool:
        return m.float()
    if m.is_floating_point() or m.dtype in (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64):
        mf = m.float()
        if not torch.all((mf == 0) | (mf == 1)):
            raise ValueError(f"{name} must contain only 0 and 1")
        return mf
    raise TypeError(f"{name} must be a bool, integer or float 0/1 tensor, got dtype {m.dtype}")


def as_rewards(rewards: Tensor) -> Tensor:
    if rewards.dtype == torch.bool or not rewards.is_floating_point():
        rewards = rewards.float()
    if not torch.isfinite(rewards).all():
        bad = torch.nonzero(~torch.isfinite(rewards)).flatten()[:5].tolist()
        raise ValueError(f"rewards must be finite; non-finite at sample index {bad}")
    return rewards


def check_group_ids(group_ids: Tensor, B: int) -> None:
    check_vector("group_ids", group_ids, B)
    if group_ids.is_floating_point() or group_ids.dtype == torch.bool:
        raise TypeError(f"group_ids must be an integer tensor, got dtype {group_ids.dtype}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
