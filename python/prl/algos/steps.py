"""Step ids from token positions.  Text-based splitting (newline, balanced) lives in the Rust
verifier (:func:`prl_verifier.split_steps`), which sees the decoded text and token offsets."""

from __future__ import annotations

import torch
from torch import Tensor

from prl.algos._checks import as_mask

__all__ = ["fixed_step_ids", "parse_steps_spec"]


def fixed_step_ids(response_mask: Tensor, step_len: int) -> Tensor:
    """Step index of each response token when every ``step_len`` response tokens form a step.

    response_mask [B, T] -> int32 [B, T]; -1 where the mask is 0.  Positions count response tokens
    only, so left padding does not shift the steps.

    >>> fixed_step_ids(torch.tensor([[0, 1, 1, 1, 1, 1]]), 2).tolist()
    [[-1, 0, 0, 1, 1, 2]]
    """
    if isinstance(step_len, bool) or not isinstance(step_len, int) or step_len < 1:
        raise ValueError(f"step_len must be a positive integer; got {step_len!r}")
    if response_mask.dim() != 2:
        raise ValueError(f"response_mask must have shape [B, T], got shape {list(response_mask.shape)}")
    mask = as_mask("response_mask", response_mask) > 0  # [B, T]
    pos = torch.cumsum(mask.to(torch.int64), dim=1) - 1  # [B, T] index among response tokens
    ids = torch.div(pos, step_len, rounding_mode="floor").to(torch.int32)
    return torch.where(mask, ids, torch.full_like(ids, -1))


def parse_steps_spec(spec: str) -> tuple[str, tuple[int, ...]]:
    """Parse a step-splitting spec: ``fixed:N``, ``newline``, ``double_newline``, ``balanced:MIN,MAX``.

    Returns (kind, params).  Errors name the spec and the accepted forms.
    """
    forms = "'fixed:N', 'newline', 'double_newline' or 'balanced:MIN,MAX'"
    kind, _, arg = spec.partition(":")
    try:
        if kind == "fixed":
            n = int(arg)
            if n < 1:
                raise ValueError
            return kind, (n,)
        if kind in ("newline", "double_newline") and not arg:
            return kind, ()
        if kind == "balanced":
            lo, hi = (int(v) for v in arg.split(","))
            if not 1 <= lo <= hi:
                raise ValueError
            return kind, (lo, hi)
    except ValueError:
        pass
    raise ValueError(f"invalid step spec {spec!r}; expected {forms} with positive integers (MIN <= MAX)")
