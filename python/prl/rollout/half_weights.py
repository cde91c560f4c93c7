"""``rollout.weights=float16``: CPU decoding through float16 copies of the policy's linear weights.

Decoding a batch of a few rows on a CPU reads every weight matrix once per token and does little
arithmetic with it, so it runs at the speed the weights stream from memory, and MKL's float32 GEMM
streams cold [16, 576] x [576, 1536] products at ~3 GB/s on this project's 2-core VM (1.1 ms a call,
against 0.6 ms once the matrix is in cache). fbgemm's half-precision GEMM keeps the weights packed in
float16 (half the bytes) and accumulates in float32: 0.47 ms for the same call, and 1.45x the
generated tokens per second of float32 decoding on SmolLM2-135M (benches/RESULTS.md, "Decoding").

What changes: the weights are rounded to float16 (11 significant bits) for generation only; the
trainer's forwards, gradients and AdamW state stay float32, and pi_old comes from the trainer's own
float32 forward, so the samples come from a policy within float16 rounding of the one being trained
(the same situation as a bf16 vLLM engine next to a float32 trainer). The engine-vs-trainer log-prob
gap the trainer logs measures it. Packed copies are built at the start of each ``generate`` call (the
policy changed since the last) and freed at its end, so they add memory only while decoding.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import torch

__all__ = ["WEIGHT_DTYPES", "half_weights_available", "half_weight_linears"]

WEIGHT_DTYPES = ("float32", "float16")


@functools.lru_cache(maxsize=None)
def half_weights_available() -> bool:
    """Whether this torch build has fbgemm's packed float16 linear (x86 builds do): tried on a 1x1 layer."""
    try:
        packed = torch.ops.quantized.linear_prepack_fp16(torch.ones(1, 1), None)
        return bool(torch.ops.quantized.linear_dynamic_fp16(torch.ones(1, 1), packed).item() == 1.0)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def _half_linear(packed: torch.ScriptObject, x: torch.Tensor) -> torch.Tensor:
    """x [..., in] float32 -> [..., out] float32, through the packed float16 weight [out, in] (+ float32 bias)."""
    return torch.ops.quantized.linear_dynamic_fp16(x, packed)


@contextlib.contextmanager
def half_weight_linears(model: torch.nn.Module) -> Iterator[int]:
    """Inside the block, every float32 CPU ``nn.Linear`` of ``model`` computes with a packed float16 copy
    of its weight (bias float32). Yields how many layers were switched; restores them on exit.
    For no-grad decoding only: the packed weight has no gradient."""
    if not half_weights_available():
        raise RuntimeError("rollout.weights=float16 needs fbgemm's float16 GEMM, which this torch build lacks; "
                           "use rollout.weights=float32")
    switched: list[torch.nn.Module] = []
    try:
        for module in model.modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            weight = module.weight
            if weight.device.type != "cpu" or weight.dtype != torch.float32:
                continue
            bias = module.bias.detach() if module.bias is not None else None
            packed = torch.ops.quantized.linear_prepack_fp16(weight.detach(), bias)
            # an instance attribute wins over the class's forward; nn.Module.__call__ (hooks) still runs
            module.forward = functools.partial(_half_linear, packed)  # type: ignore[method-assign]
            switched.append(module)
        yield len(switched)
    finally:
        for module in switched:
            del module.forward
