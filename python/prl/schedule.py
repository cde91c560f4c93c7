"""The learning-rate schedule shared by RL training and SFT: linear warm-up, then constant, linear or
cosine decay to ``min_ratio`` of the peak over the remaining steps."""

from __future__ import annotations

import math

__all__ = ["lr_multiplier"]


def lr_multiplier(step: int, *, total_steps: int, warmup_steps: int = 0, kind: str = "constant",
                  min_ratio: float = 0.0) -> float:
    """Factor on the peak learning rate at ``step`` (0-based).

    >>> [round(lr_multiplier(s, total_steps=4, warmup_steps=2, kind="linear"), 2) for s in range(4)]
    [0.5, 1.0, 0.5, 0.0]
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    frac = min(max(step - warmup_steps, 0) / max(total_steps - warmup_steps, 1), 1.0)
    if kind == "linear":
        return 1.0 - (1.0 - min_ratio) * frac
    if kind == "cosine":
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"unknown schedule {kind!r}; expected constant, linear or cosine")
