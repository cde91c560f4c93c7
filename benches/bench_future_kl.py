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
device-to-device copy (torch.Tensor.copy_) of the same tensor sizes, twice: end to end (the Timer:
launches, the op's step-id check with its host sync, the kernels) and on the device alone (the
summed kernel/memcpy times that torch.profiler records over --profile-iters calls; "scan kernel" is
the future-KL kernel by itself, without the step-id check's kernels).
Prints a markdown table (ratios from this one run) for benches/RESULTS.md; --json FILE also writes
every figure as JSON (scripts/gpu_check.sh reads it). --shapes "BxTxS,..." replaces the shapes.
"""

from __future__ import annotations

import argparse
import json
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


def profiled_s(fn, iters: int, device: str, match: str | None = None) -> float:
    """Mean time per call of ``fn`` from torch.profiler: on CUDA the summed durations of the device
    events (kernels, memcpys) whose name contains ``match`` (all when None); on the CPU the
    durations of the top-level op events named ``match`` (how the dry run exercises this code)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    fn()
    sync()
    # CPU activity on CUDA too (the usual pairing); only the device-side events are summed there
    acts = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if device == "cuda" else [ProfilerActivity.CPU]
    with profile(activities=acts) as prof:
        for _ in range(iters):
            fn()
        sync()
    want = DeviceType.CUDA if device == "cuda" else DeviceType.CPU
    total_us = sum(e.time_range.elapsed_us() for e in prof.events()
                   if e.device_type == want and (match is None or match in e.name))
    if total_us <= 0:
        raise RuntimeError(f"the profiler recorded no {want} event matching {match!r}")
    return total_us / iters / 1e6


def parse_shapes(text: str | None) -> list[tuple[int, int, int]]:
    if not text:
        return SHAPES
    return [tuple(int(x) for x in item.lower().split("x")) for item in text.split(",") if item.strip()]  # type: ignore[misc]


def bench_device(device: str, args, records: list[dict] | None = None) -> list[str]:
    rows = []
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    shapes = parse_shapes(args.shapes)
    for B, T, step_len in shapes:
        for gamma, sl in ((1.0, step_len), (0.99, 1)):
            if gamma != 1.0 and (B, T, step_len) != shapes[-1]:
                continue  # the discounted per-token case once, at the last shape
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
            rec = dict(device=device, B=B, T=T, step_len=sl, gamma=gamma, op_s=t_op, op_wrapper_s=t_wrap,
                       ref_s=t_ref, loop_s=t_loop, ref_over_op=t_ref / t_op)
            if args.profile_iters > 0 and device == "cpu":  # the profiler path, exercised on the CPU
                rec["op_profiled_s"] = profiled_s(lambda: torch.ops.prl.segmented_future_kl(v, ids, False, gamma),
                                                  args.profile_iters, device, "prl::segmented_future_kl")
            if device == "cuda":
                dst_v, dst_i, dst_o = torch.empty_like(v), torch.empty_like(ids), torch.empty_like(v)
                env.update(dst_v=dst_v, dst_i=dst_i, dst_o=dst_o)
                # the same traffic as the op: read values + ids, write a float32 [B, T]
                t_copy = median_s("dst_v.copy_(v); dst_i.copy_(ids)", env, args.min_run_time)
                op_bytes = v.numel() * (v.element_size() + ids.element_size() + 4)
                copy_bytes = 2 * v.numel() * (v.element_size() + ids.element_size())
                extra = (f" | {op_bytes / t_op / 1e9:.0f} GB/s | {copy_bytes / t_copy / 1e9:.0f} GB/s"
                         f" | {op_bytes / t_op / (copy_bytes / t_copy):.2f}")
                rec.update(op_bytes=op_bytes, copy_bytes=copy_bytes, copy_s=t_copy, op_GBps=op_bytes / t_op / 1e9,
                           copy_GBps=copy_bytes / t_copy / 1e9, op_over_copy=op_bytes / t_op / (copy_bytes / t_copy))
                if args.profile_iters > 0:
                    try:  # device time alone: no launch gaps, no host sync
                        def op_call():
                            return torch.ops.prl.segmented_future_kl(v, ids, False, gamma)

                        def copy_call():
                            dst_v.copy_(v)
                            dst_i.copy_(ids)

                        it = args.profile_iters
                        k_op = profiled_s(op_call, it, device)  # every kernel the op launches
                        k_scan = profiled_s(op_call, it, device, "future_kl")  # the scan kernel alone
                        k_copy = profiled_s(copy_call, it, device)
                        rec.update(op_device_s=k_op, scan_kernel_s=k_scan, copy_device_s=k_copy,
                                   op_device_GBps=op_bytes / k_op / 1e9, scan_kernel_GBps=op_bytes / k_scan / 1e9,
                                   copy_device_GBps=copy_bytes / k_copy / 1e9,
                                   op_device_over_copy=(op_bytes / k_op) / (copy_bytes / k_copy),
                                   scan_kernel_over_copy=(op_bytes / k_scan) / (copy_bytes / k_copy))
                        extra += (f" | {rec['op_device_GBps']:.0f} / {rec['scan_kernel_GBps']:.0f} / "
                                  f"{rec['copy_device_GBps']:.0f} GB/s | {rec['scan_kernel_over_copy']:.2f}")
                    except Exception as e:  # noqa: BLE001 - the Timer figures above still stand
                        rec["profile_error"] = repr(e)
                        extra += " | profiler failed | -"
            sync()
            loop_s = f"~{t_loop * 1e3:,.0f} ms" if t_loop is not None else "-"
            loop_x = f"~{t_loop / t_op:,.0f}x" if t_loop is not None else "-"
            steps = f"{sl}" + (f", gamma={gamma}" if gamma != 1.0 else "")
            rows.append(
                f"| {device} | {B} | {T} | {steps} | {t_op * 1e3:.3f} ms | {t_wrap * 1e3:.3f} ms | {t_ref * 1e3:.2f} ms "
                f"| {loop_s} | **{t_ref / t_op:.1f}x** | {loop_x}{extra} |"
            )
            print(rows[-1], flush=True)
            if records is not None:
                records.append(rec)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    ap.add_argument("--min-run-time", type=float, default=1.0, help="seconds per Timer measurement")
    ap.add_argument("--loop-rows", type=int, default=4, help="rows timed for the Python loop (0: skip)")
    ap.add_argument("--shapes", default=None, help="comma-separated BxTxSTEP_LEN (default: %s)"
                    % ",".join("x".join(map(str, sh)) for sh in SHAPES))
    ap.add_argument("--profile-iters", type=int, default=50,
                    help="calls profiled for the device-only times on CUDA (and the op's CPU event; 0: skip)")
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    args = ap.parse_args(argv)
    if not ops.is_compiled():
        raise SystemExit(f"the compiled op is not available ({ops.load_error()}); run scripts/install.sh")
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not (torch.cuda.is_available() and ops.cuda_compiled()):
        if args.device == "cuda":
            raise SystemExit("no CUDA device (or the CUDA kernel was not built)")
        devices.remove("cuda")
    gpu = torch.cuda.get_device_name() if "cuda" in devices else None
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} CPU threads, CPU: {cpu_name()}"
          + (f", GPU: {gpu}" if gpu else ", no GPU"))
    prof_cols = "cuda" in devices and args.profile_iters > 0
    print("| device | B | T | step_len | op | op via prl.ops | vectorized ref | Python loop | ref / op | loop / op |"
          + (" op GB/s | copy GB/s | op / copy |" if "cuda" in devices else "")
          + (" device-only GB/s: op / scan kernel / copy | scan kernel / copy |" if prof_cols else ""))
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|---|" if "cuda" in devices else "")
          + ("---|---|" if prof_cols else ""))
    records: list[dict] = []
    for d in devices:
        bench_device(d, args, records)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "cpu": cpu_name(), "cpu_threads": torch.get_num_threads(),
                       "gpu": gpu, "cuda": torch.version.cuda, "rows": records}, f, indent=1)


if __name__ == "__main__":
    main()
