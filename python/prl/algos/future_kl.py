"""Segmented future sums ("future KL"): the pure-PyTorch twins of the `prl::segmented_future_kl` op.

Three implementations of one function, each the oracle of the next (every fast path keeps its plain twin):

  segmented_future_kl_loop   Python loops over rows and tokens: slow and obvious (the test oracle)
  segmented_future_kl_ref    vectorized torch (any device): the reference and the fallback of prl.ops
  prl.ops.segmented_future_kl  the compiled C++/CUDA op (cpp/), same semantics

Semantics (per row, over the *included* tokens only; step id -1 marks an excluded token: prompt,
padding, mask 0; its value is ignored, even if NaN/inf, and its output is 0)::

    S_t  = v_t + gamma * S_{next included token after t}     (0 past the end of the row)
    b(t) = the last included token of t's step
    future_from="step_end":  out_t = S_{b(t)}
    future_from="next_step": out_t = S_{first included token after b(t)}   (0 if there is none)

Excluded tokens are skipped entirely, also for the discount exponents. Among the included tokens of a
row the step ids must be non-decreasing (a step is a contiguous run); they need not start at 0 nor be
consecutive; a row may be fully excluded.

Worked example (gamma = 1)::

    values   = [[1., 2., 4., 8., 16.]]
    step_ids = [[0,  0,  1,  1,  -1]]      # two steps of two tokens, last token excluded
    S        =  [15, 14, 12,  8,  -]
    step_end  -> [[14., 14., 8., 8., 0.]]  # S at the step's last token (1 and 3)
    next_step -> [[12., 12., 0., 0., 0.]]  # S at the first token after the step

PRL's future KL is `step_end` with gamma = 1 (F_{b(s(t))}); PRIME's discounted return-to-go is
`step_end` with one step per token (step_ids = position) and gamma < 1.

Output dtype: float64 if `values` is float64, else float32 (bf16/fp16 inputs accumulate in fp32).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "FUTURE_FROM",
    "check_future_kl_args",
    "check_step_ids_order",
    "segmented_future_kl_loop",
    "segmented_future_kl_ref",
]

FUTURE_FROM = ("step_end", "next_step")
_VALUE_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
_ID_DTYPES = (torch.int32, torch.int64)


def check_future_kl_args(values: Tensor, step_ids: Tensor, future_from: str, gamma: float) -> bool:
    """Validate everything that needs no pass over the data; return `next_step` (bool).

    Raises TypeError (wrong types/dtypes) or ValueError (shapes, devices, options), each naming
    the argument and what was expected.
    """
    if not isinstance(values, Tensor):
        raise TypeError(f"values must be a torch.Tensor of shape [B, T], got {type(values).__name__}")
    if not isinstance(step_ids, Tensor):
        raise TypeError(f"step_ids must be a torch.Tensor of shape [B, T], got {type(step_ids).__name__}")
    if values.dim() != 2:
        raise ValueError(f"values must have shape [B, T] (2-D), got shape {list(values.shape)}")
    if step_ids.dim() != 2:
        raise ValueError(f"step_ids must have shape [B, T] (2-D), got shape {list(step_ids.shape)}")
    if values.shape != step_ids.shape:
        raise ValueError(
            f"values and step_ids must have the same shape [B, T]; got values {list(values.shape)} "
            f"and step_ids {list(step_ids.shape)}"
        )
    if values.dtype not in _VALUE_DTYPES:
        raise TypeError(
            f"values must be a floating-point tensor (float32, float64, bfloat16 or float16), got dtype "
            f"{values.dtype}"
        )
    if step_ids.dtype not in _ID_DTYPES:
        raise TypeError(f"step_ids must be an int32 or int64 tensor, got dtype {step_ids.dtype}")
    if values.device != step_ids.device:
        raise ValueError(
            f"values and step_ids must be on the same device; got values on {values.device} and "
            f"step_ids on {step_ids.device}"
        )
    if not isinstance(future_from, str) or future_from not in FUTURE_FROM:
        raise ValueError(f"future_from must be one of 'step_end', 'next_step'; got {future_from!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)):
        raise TypeError(f"gamma must be a float in [0, 1], got {type(gamma).__name__}")
    if not (0.0 <= float(gamma) <= 1.0):  # also rejects NaN
        raise ValueError(f"gamma must be a float in [0, 1], got {gamma!r}")
    return future_from == "next_step"


def check_step_ids_order(step_ids: Tensor) -> None:
    """Raise ValueError naming the first bad row if step ids < -1 occur, or if the step ids of
    the included tokens (id >= 0) decrease inside a row. One vectorized pass (a cummax)."""
    ids = step_ids.long()  # [B, T]
    if ids.numel() == 0:
        return
    low = ids < -1  # [B, T]
    if bool(low.any()):
        r, c = (int(i) for i in torch.nonzero(low)[0])
        raise ValueError(
            f"step_ids must be >= 0 for included tokens or -1 for excluded ones; row {r}, column {c} "
            f"has {int(ids[r, c])}"
        )
    run_max = torch.cummax(ids, dim=1).values  # [B, T] max id so far (excluded -1 never raises it)
    prev_max = torch.cat([torch.full_like(ids[:, :1], -1), run_max[:, :-1]], dim=1)  # [B, T]
    bad = (ids >= 0) & (ids < prev_max)  # [B, T]
    if bool(bad.any()):
        r, c = (int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(
            f"step_ids must be non-decreasing over the included tokens of each row (steps are "
            f"contiguous runs); row {r} decreases at column {c}: {int(ids[r, c])} after {int(prev_max[r, c])}"
        )


def _out_dtype(values: Tensor) -> torch.dtype:
    return torch.float64 if values.dtype == torch.float64 else torch.float32


def segmented_future_kl_loop(
    values: Tensor, step_ids: Tensor, *, future_from: str = "step_end", gamma: float = 1.0
) -> Tensor:
    """Slow, obvious oracle: Python loops over rows and tokens, accumulating in float64.

    values [B, T] float, step_ids [B, T] int (-1 = excluded) -> [B, T] (float64 if values is
    float64, else float32). See the module docstring for the semantics.
    """
    next_step = check_future_kl_args(values, step_ids, future_from, gamma)
    check_step_ids_order(step_ids)
    B, T = values.shape
    vals = values.detach().cpu().double().tolist()
    ids = step_ids.detach().cpu().tolist()
    out = [[0.0] * T for _ in range(B)]
    for r in range(B):
        incl = [t for t in range(T) if ids[r][t] >= 0]  # included positions, in order
        # S over included tokens, from the back: S[k] = v[incl[k]] + gamma * S[k + 1]
        S = [0.0] * (len(incl) + 1)
        for k in range(len(incl) - 1, -1, -1):
            S[k] = vals[r][incl[k]] + gamma * S[k + 1]
        for k, t in enumerate(incl):
            # b = last included index (in incl) of t's step
            b = k
            while b + 1 < len(incl) and ids[r][incl[b + 1]] == ids[r][t]:
                b += 1
            out[r][t] = S[b + 1] if next_step else S[b]
    return torch.tensor(out, dtype=torch.float64).reshape(B, T).to(dtype=_out_dtype(values), device=values.device)


def _rev_linear_scan(b: Tensor, a: Tensor) -> Tensor:
    """Solve C_t = b_t + a_t * C_{t+1} (C_T = 0) along dim 1 by recursive doubling.

    b, a: [B, T] -> C [B, T]. log2(T) vectorized steps; stable for 0 <= a <= 1 (products only shrink).
    """
    T = b.shape[1]
    k = 1
    while k < T:
        # compose position t with the (already composed) block starting at t + k
        b_next = torch.nn.functional.pad(b[:, k:], (0, k))  # [B, T] b_{t+k}, 0 past the end
        a_next = torch.nn.functional.pad(a[:, k:], (0, k))  # [B, T] a_{t+k}, 0 past the end
        b = b + a * b_next
        a = a * a_next
        k *= 2
    return b


def segmented_future_kl_ref(
    values: Tensor, step_ids: Tensor, *, future_from: str = "step_end", gamma: float = 1.0
) -> Tensor:
    """Vectorized PyTorch reference (any device; the fallback when prl._C is not built).

    values [B, T] float (any strides), step_ids [B, T] int32/int64 (-1 = excluded)
    -> [B, T] float64 if values is float64 else float32. See the module docstring.
    gamma = 1 uses a reverse cumsum; gamma < 1 a log2(T)-step recursive-doubling linear scan.
    """
    next_step = check_future_kl_args(values, step_ids, future_from, gamma)
    check_step_ids_order(step_ids)
    B, T = values.shape
    acc = _out_dtype(values)
    dev = values.device
    if B == 0 or T == 0:
        return torch.zeros((B, T), dtype=acc, device=dev)
    ids = step_ids.long()  # [B, T]
    m = ids >= 0  # [B, T] included
    v = torch.where(m, values.to(acc), torch.zeros((), dtype=acc, device=dev))  # [B, T] NaN-safe

    # C_t = S at the first included token at or after t (0 if none): C_t = v_t + g_t C_{t+1},
    # g_t = gamma on included tokens and 1 on excluded ones (they pass the carry through).
    if float(gamma) == 1.0:
        C = torch.flip(torch.cumsum(torch.flip(v, [1]), dim=1), [1])  # [B, T]
    else:
        g = torch.where(m, torch.tensor(float(gamma), dtype=acc, device=dev), torch.ones((), dtype=acc, device=dev))
        C = _rev_linear_scan(v, g)  # [B, T]
    C_pad = torch.cat([C, torch.zeros((B, 1), dtype=acc, device=dev)], dim=1)  # [B, T+1], C_T = 0

    # b(t): the first step end at or after t. Position p ends a step if it is included and the
    # next included token after p (if any) has another step id.
    pos = torch.arange(T, device=dev).expand(B, T)  # [B, T]
    sentinel = torch.full((B, T), T, device=dev, dtype=torch.long)
    first_incl = torch.flip(torch.cummin(torch.flip(torch.where(m, pos, sentinel), [1]), dim=1).values, [1])  # [B, T]
    nxt = torch.cat([first_incl[:, 1:], torch.full((B, 1), T, device=dev, dtype=torch.long)], dim=1)  # [B, T]
    ids_pad = torch.cat([ids, torch.full((B, 1), -2, device=dev, dtype=torch.long)], dim=1)  # [B, T+1]
    is_end = m & (torch.gather(ids_pad, 1, nxt) != ids)  # [B, T]
    b = torch.flip(torch.cummin(torch.flip(torch.where(is_end, pos, sentinel), [1]), dim=1).values, [1])  # [B, T]

    if next_step:
        out = torch.gather(C_pad, 1, torch.clamp(b + 1, max=T))  # S at the first included token after b
    else:
        # S_b = C_b for an included b; excluded positions have b = T (masked below)
        out = torch.gather(C_pad, 1, b)
    return torch.where(m, out, torch.zeros((), dtype=acc, device=dev))  # [B, T]
