"""Mixed precision: ``model.autocast=bf16`` runs the forwards in bfloat16 over float32 master weights.

The update's forward (and so its backward), the no-grad log-prob passes (pi_old, the reference, an
implicit PRM) and the transformers engine's generation run under ``torch.autocast(device, bfloat16)``:
matmuls in bf16, parameters, gradients and AdamW's state stay float32 (``model.dtype=float32``), so a
small update at lr 1e-6 is not rounded away as with ``model.dtype=bfloat16``. Log-softmax and the
losses are float32 either way (prl.logprobs upcasts the logits).

Refused where bf16 is emulated: a CPU without native bf16 (AVX512-BF16 / AMX on x86, the bf16
extension on Arm) or a CUDA device without bf16 support; there it would be slower than float32.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from prl.errors import ConfigError

__all__ = ["AUTOCAST_MODES", "cpu_has_bf16", "check_autocast", "autocast"]

AUTOCAST_MODES = ("off", "bf16")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 flags; 'bf16' is Arm's feature name


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (its /proc/cpuinfo flags; False when unknown)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[-1].split())
    return any(f in flags for f in _CPU_BF16_FLAGS)


def _device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_autocast(mode: str, device: str | torch.device, model_dtype: str = "float32") -> None:
    """Raise :class:`ConfigError` (one line) when ``model.autocast=mode`` cannot run on ``device``."""
    if mode not in AUTOCAST_MODES:
        raise ConfigError(f"config key 'model.autocast': {mode!r} is not one of {', '.join(map(repr, AUTOCAST_MODES))}")
    if mode == "off":
        return
    if model_dtype != "float32":
        raise ConfigError(f"config key 'model.autocast': bf16 needs float32 master weights (model.dtype=float32), "
                          f"got model.dtype={model_dtype}")
    dev = _device(device)
    if dev.type == "cuda":
        if not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
            raise ConfigError("config key 'model.autocast': this CUDA device has no bf16 support; use model.autocast=off")
    elif dev.type == "cpu":
        if not cpu_has_bf16():
            raise ConfigError("config key 'model.autocast': this CPU has no native bf16 (no avx512_bf16/amx_bf16 in "
                              "/proc/cpuinfo), so bf16 would be emulated and slower; use model.autocast=off")
    else:
        raise ConfigError(f"config key 'model.autocast': bf16 autocast is supported on cpu and cuda, not {dev.type}")


def autocast(mode: str, device: str | torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast(device, bfloat16)`` for ``mode="bf16"``; a no-op context for "off"."""
    if mode == "off":
        return contextlib.nullcontext()
    if mode != "bf16":
        raise ValueError(f"autocast mode must be one of {AUTOCAST_MODES}, got {mode!r}")
    return torch.autocast(device_type=_device(device).type, dtype=torch.bfloat16)
