"""The compiled `prl::segmented_future_kl` torch op (cpp/, loaded from prl._C) and its typed wrapper.

    from prl.ops import segmented_future_kl, is_compiled
    out = segmented_future_kl(values, step_ids, future_from="step_end", gamma=1.0)   # [B, T]

Semantics: see prl.algos.future_kl (the module docstring has a worked example). The op runs on CPU
and, where the CUDA kernel was built, on CUDA tensors. When prl._C did not build or load, this module
warns once, loudly, and uses the vectorized PyTorch reference `segmented_future_kl_ref`; the test suite
asserts `is_compiled()`, so a broken build cannot hide behind the fallback.

Raw op schema (no string options, for torch.compile / opcheck):
    torch.ops.prl.segmented_future_kl(Tensor values, Tensor step_ids, bool next_step, float gamma) -> Tensor
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from prl.algos.future_kl import (
    check_future_kl_args,
    segmented_future_kl_ref,
)

__all__ = ["cuda_compiled", "is_compiled", "load_error", "segmented_future_kl"]

_LOAD_ERROR: str | None = None
try:
    from prl import _C  # noqa: F401  (loading the library runs TORCH_LIBRARY(prl, m) registration)
except Exception as e:  # ImportError, or an OSError from a missing/ABI-incompatible libtorch symbol
    _LOAD_ERROR = f"{type(e).__name__}: {e}"


def _op_defined() -> bool:
    try:
        torch.ops.prl.segmented_future_kl.default  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True


_COMPILED = _LOAD_ERROR is None and _op_defined()
if _LOAD_ERROR is None and not _COMPILED:
    _LOAD_ERROR = "prl._C loaded but torch.ops.prl.segmented_future_kl is not registered"
_WARNED = False


def is_compiled() -> bool:
    """True when prl._C loaded and torch.ops.prl.segmented_future_kl exists."""
    return _COMPILED


def load_error() -> str | None:
    """Why the compiled op is unavailable (None when it is loaded)."""
    return _LOAD_ERROR


def cuda_compiled() -> bool:
    """True when the op has a CUDA kernel registered (the CUDA part of cpp/ was built)."""
    if not _COMPILED:
        return False
    return torch._C._dispatch_has_kernel_for_dispatch_key("prl::segmented_future_kl", "CUDA")


if _COMPILED:

    @torch.library.register_fake("prl::segmented_future_kl")
    def _segmented_future_kl_fake(values: Tensor, step_ids: Tensor, next_step: bool, gamma: float) -> Tensor:
        torch._check(values.dim() == 2, lambda: f"values must be [B, T], got {list(values.shape)}")
        torch._check(step_ids.shape == values.shape, lambda: "values and step_ids must have the same shape")
        torch._check(values.is_floating_point(), lambda: f"values must be floating point, got {values.dtype}")
        torch._check(step_ids.dtype in (torch.int32, torch.int64), lambda: f"step_ids must be int32/int64, got {step_ids.dtype}")
        out_dtype = torch.float64 if values.dtype == torch.float64 else torch.float32
        return values.new_empty(values.shape, dtype=out_dtype)


def _warn_fallback() -> None:
    global _WARNED
    if not _WARNED:
        _WARNED = True
        warnings.warn(
            "prl: the compiled op prl._C (torch.ops.prl.segmented_future_kl) is NOT available "
            f"({_LOAD_ERROR}); using the much slower PyTorch reference segmented_future_kl_ref. "
            "Rebuild with scripts/install.sh.",
            RuntimeWarning,
            stacklevel=3,
        )


def segmented_future_kl(
    values: Tensor, step_ids: Tensor, *, future_from: str = "step_end", gamma: float = 1.0
) -> Tensor:
    """Segmented discounted future sum per token; the compiled op when loaded.

    values [B, T] float32/bfloat16/float16/float64, any strides (e.g. the masked log-ratio d_t);
    step_ids [B, T] int32/int64, -1 = excluded token (value ignored, output 0), non-decreasing over
    the included tokens of each row; future_from "step_end" | "next_step"; gamma in [0, 1].
    -> [B, T] float64 if values is float64, else float32.
    """
    next_step = check_future_kl_args(values, step_ids, future_from, gamma)
    if not _COMPILED:
        _warn_fallback()
        return segmented_future_kl_ref(values, step_ids, future_from=future_from, gamma=gamma)
    # both kernels check the step-id order themselves (ValueError naming the row)
    return torch.ops.prl.segmented_future_kl(values, step_ids, next_step, float(gamma))
