"""Benchmark of the segmented future-KL op: compiled op vs vectorized PyTorch reference vs Python loop.

    .venv/bin/python benches/bench_future_kl.py            # CPU (and CUDA when a GPU is present)
    .venv/bin/python benches/bench_future_kl.py --device cpu --min-run-time 0.5

Shapes (B, T, step_len) = (64, 1024, 256), (256, 4096, 256), (256, 4096, 16): float32 log-ratios,
int32 step ids = position // step_len, right padding (response lengths uniform in [T/2, T]),
future_from = step_end, gamma = 1 (PRL's future KL) and gamma = 0.99 with one step per token
(PRIME's discounted return). Timings: torch.utils.benchmark.Timer (median of blocked_autorange).
The Python loop oracle (prl.algos.future_kl.segmented_future_kl_loop) is timed on the first
`--loop-rows` rows only and extrapolated linearly to B (its cost is per row); marked "~" in the
table. On CUDA the op's achieved bandwidth (values + ids read, output written) is compared with a
device-to-device copy (torch.Tensor.copy_) of the same tensor sizes.
Prints a markdown table (ratios from this one run) for benches/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time

import torch
from torch.utils.benchmark import Timer

import prl.ops as ops
from prl.algos.future_kl import segmented_future_kl_loop, segmented_future_kl_ref

SHAPES = [(64, 1024, 256), (256, 4096, 256), (256, 4096, 16)]


def make_inputs(B: int, T: int, step_len: int, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    values = (torch.randn(B, T, generator=g) * 0.1).float()  # [B, T] log-ratio-like
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)  # [B]
    pos = torch.arange(T)
    ids = torch.where(pos[None] < lengths[:, None], pos[None] // step_len, -1).to(torch.int32)  # [B, T]
    return values.to(device), ids.to(device)


def median_s(stmt: str, env: dict, min_run_time: float) -> float:
    return Timer(stmt=stmt, globals=env).blocked_autorange(min_run_time=min_run_time).median


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def bench_device(device: str, args) -> list[str]:
    rows = []
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for B, T, step_len in SHAPES:
        for gamma, sl in ((1.0, step_len), (0.99, 1)):
            if gamma != 1.0 and (B, T, step_len) != (256, 4096, 16):
                continue  # the discounted per-token case once, at the big shape
            v, ids = make_inputs(B, T, sl, device)
            env = dict(torch=torch, ops=ops, ref=segmented_future_kl_ref, v=v, ids=ids, g=gamma)
            # correctness first: the op must agree with the reference on these inputs
            torch.testing.assert_close(ops.segmented_future_kl(v, ids, gamma=gamma),
                                       segmented_future_kl_ref(v, ids, gamma=gamma), rtol=1e-4, atol=1e-3)
            t_op = median_s("torch.ops.prl.segmented_future_kl(v, ids, False, g)", env, args.min_run_time)
            t_wrap = median_s("ops.segmented_future_kl(v, ids, gamma=g)", env, args.min_run_time)
            t_ref = median_s("ref(v, ids, gamma=g)", env, args.min_run_time)
            t_loop = None
            if device == "cpu" and args.loop_rows > 0:
                n = min(args.loop_rows, B)
                vs, is_ = v[:n].clone(), ids[:n].clone()
                t0 = time.perf_counter()
                segmented_future_kl_loop(vs, is_, gamma=gamma)
                t_loop = (time.perf_counter() - t0) * B / n
            extra = ""
            if device == "cuda":
                dst_v, dst_i, dst_o = torch.empty_like(v), torch.empty_like(ids), torch.empty_like(v)
                env.update(dst_v=dst_v, dst_i=dst_i, dst_o=dst_o)
                # the same traffic as the op: read values + ids, write a float32 [B, T]
                t_copy = median_s("dst_v.copy_(v); dst_i.copy_(ids)", env, args.min_run_time)
                op_bytes = v.numel() * (v.element_size() + ids.element_size() + 4)
                copy_bytes = 2 * v.numel() * (v.element_size() + ids.element_size())
                extra = (f" | {op_bytes / t_op / 1e9:.0f} GB/s | {copy_bytes / t_copy / 1e9:.0f} GB/s"
                         f" | {op_bytes / t_op / (copy_bytes / t_copy):.2f}")
            sync()
            loop_s = f"~{t_loop * 1e3:,.0f} ms" if t_loop is not None else "-"
            loop_x = f"~{t_loop / t_op:,.0f}x" if t_loop is not None else "-"
            steps = f"{sl}" + (f", gamma={gamma}" if gamma != 1.0 else "")
            rows.append(
                f"| {device} | {B} | {T} | {steps} | {t_op * 1e3:.3f} ms | {t_wrap * 1e3:.3f} ms | {t_ref * 1e3:.2f} ms "
                f"| {loop_s} | **{t_ref / t_op:.1f}x** | {loop_x}{extra} |"
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    ap.add_argument("--min-run-time", type=float, default=1.0, help="seconds per Timer measurement")
    ap.add_argument("--loop-rows", type=int, default=4, help="rows timed for the Python loop (0: skip)")
    args = ap.parse_args()
    if not ops.is_compiled():
        raise SystemExit(f"the compiled op is not available ({ops.load_error()}); run scripts/install.sh")
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not (torch.cuda.is_available() and ops.cuda_compiled()):
        if args.device == "cuda":
            raise SystemExit("no CUDA device (or the CUDA kernel was not built)")
        devices.remove("cuda")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} CPU threads, CPU: {cpu_name()}"
          + (f", GPU: {torch.cuda.get_device_name()}" if "cuda" in devices else ", no GPU"))
    print("| device | B | T | step_len | op | op via prl.ops | vectorized ref | Python loop | ref / op | loop / op |"
          + (" op GB/s | copy GB/s | op / copy |" if "cuda" in devices else ""))
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|---|" if "cuda" in devices else ""))
    for d in devices:
        bench_device(d, args)


if __name__ == "__main__":
    main()
