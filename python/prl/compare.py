"""``python -m prl.compare``: the algorithms side by side on the same data, model and budget.

    python -m prl.compare --config configs/demo.yaml --algos grpo,rloo,prl,prime --seeds 3
    python -m prl.compare --config configs/demo.yaml --algos prl --seeds 2 \\
        --ablate "algo.prl.steps=fixed:16;fixed:64;fixed:256;newline;balanced:4,16" --no-sft-control
    python -m prl.compare --config configs/demo.yaml --algos prl --ablate "algo.prl.eta=10;100;1000"

Every run is a normal ``python -m prl.train`` run (its own process, its own run directory under
``--out``) of the recipe with ``algo.name``, ``train.seed`` and the ablated key set; anything after
the options is a ``key=value`` override for all runs.  With ``--sft-control`` (default on) an
equal-time control continues *supervised* training (``prl.sft``) from the same start model for the
mean wall time of the RL runs, and is evaluated the same way: RL is only worth it if it beats
spending that time on more of the same demonstrations.

Writes ``OUT/compare.md`` (the table: held-out greedy accuracy, avg@n and pass@n per variant, mean
+- standard deviation over seeds, and the first evaluated step at which the variant's seed-mean
greedy accuracy reaches GRPO's final one), ``OUT/compare.json`` (every figure) and
``OUT/compare.png`` (held-out greedy accuracy and training accuracy against step).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prl import runlog
from prl.config import ConfigError, load_config

__all__ = ["main", "summarize", "read_metrics"]


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics (did the run fail?)")
    return runlog.read_metrics(path)


def _final_eval(rows: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        if any(k.startswith("eval/") for k in r):
            out.update({k: v for k, v in r.items() if k.startswith("eval/") and isinstance(v, (int, float))})
    return out


def _eval_curve(rows: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in rows if key in r]


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    if not xs:
        return float("nan"), float("nan")
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def summarize(results: dict[str, list[dict[str, Any]]], n: int, baseline: str = "grpo") -> dict[str, Any]:
    """results: variant -> list over seeds of {"metrics": rows, "wall_s": float} -> summary table rows."""
    keys = ["eval/greedy_acc", f"eval/avg@{n}", f"eval/pass@{n}"]
    table: dict[str, Any] = {}
    for variant, runs in results.items():
        finals = [_final_eval(r["metrics"]) for r in runs]
        row: dict[str, Any] = {"seeds": len(runs), "wall_s": _mean_sd([r["wall_s"] for r in runs])}
        for k in keys:
            row[k] = _mean_sd([f[k] for f in finals if k in f])
        # seed-mean greedy-accuracy curve (steps evaluated in every seed)
        curves = [dict(_eval_curve(r["metrics"], "eval/greedy_acc")) for r in runs]
        common = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
        row["curve"] = [(s, statistics.fmean(c[s] for c in curves)) for s in common]
        row["credit"] = _credit_summary(runs)
        table[variant] = row
    if baseline in table:
        target = table[baseline]["eval/greedy_acc"][0]
        for row in table.values():
            row["steps_to_baseline_final"] = next((s for s, a in row["curve"] if s > 0 and a >= target - 1e-9), None)
    return table


CREDIT_COLUMNS = ("first_error_acc", "argmin_acc", "step_auc", "processbench_f1", "rank_auc")


def _credit_summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, tuple[float, float]]]:
    """signal -> metric -> (mean, sd) over seeds of each run's mean over its logged credit/<signal>/<metric>."""
    per_run: list[dict[tuple[str, str], float]] = []
    for r in runs:
        vals: dict[tuple[str, str], list[float]] = {}
        for row in r["metrics"]:
            for k, v in row.items():
                parts = k.split("/")
                if len(parts) == 3 and parts[0] == "credit" and parts[2] in CREDIT_COLUMNS and v == v:
                    vals.setdefault((parts[1], parts[2]), []).append(float(v))
        per_run.append({k: statistics.fmean(v) for k, v in vals.items()})
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for sig, met in sorted({k for pr in per_run for k in pr}):
        out.setdefault(sig, {})[met] = _mean_sd([pr[(sig, met)] for pr in per_run if (sig, met) in pr])
    return out


def render_credit_table(table: dict[str, Any]) -> str:
    """Credit metrics of each variant's process signals (mean over the run's credit steps, then over seeds)."""
    lines = [f"| variant | signal | {' | '.join(CREDIT_COLUMNS)} |", "|---|---|" + "---|" * len(CREDIT_COLUMNS)]
    for v, row in table.items():
        for sig, mets in row.get("credit", {}).items():
            lines.append(f"| {v} | {sig} | " + " | ".join(_fmt(mets.get(c, (float('nan'), 0.0)))
                                                          for c in CREDIT_COLUMNS) + " |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def _fmt(ms: tuple[float, float]) -> str:
    m, sd = ms
    return "n/a" if m != m else f"{m:.3f} +- {sd:.3f}"


def render_table(table: dict[str, Any], n: int, baseline: str = "grpo") -> str:
    head = (f"| variant | seeds | greedy acc | avg@{n} | pass@{n} | steps to {baseline}'s final acc | wall s |\n"
            "|---|---|---|---|---|---|---|\n")
    lines = []
    for v, row in table.items():
        st = row.get("steps_to_baseline_final")
        lines.append(f"| {v} | {row['seeds']} | {_fmt(row['eval/greedy_acc'])} | {_fmt(row[f'eval/avg@{n}'])} | "
                     f"{_fmt(row[f'eval/pass@{n}'])} | {'-' if st is None else st} | {row['wall_s'][0]:.0f} |")
    return head + "\n".join(lines) + "\n"


def _plot(results: dict[str, list[dict[str, Any]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, (variant, runs) in enumerate(results.items()):
        for i, r in enumerate(runs):  # one colour per variant, one line per seed
            ev = _eval_curve(r["metrics"], "eval/greedy_acc")
            tr = _eval_curve(r["metrics"], "acc/mean")
            kw = dict(alpha=0.8, color=colors[j % len(colors)], label=variant if i == 0 else None)
            if ev:
                axes[0].plot(*zip(*ev), marker="o", ms=3, **kw)
            if tr:
                axes[1].plot(*zip(*tr), lw=0.8, **kw)
    axes[0].set(title="held-out greedy accuracy", xlabel="step", ylabel="accuracy")
    axes[1].set(title="training accuracy (samples)", xlabel="step", ylabel="accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _split_overrides(text: str) -> list[str]:
    """'a=1,b=[1, 2],c=x' -> ['a=1', 'b=[1, 2]', 'c=x']: commas inside brackets stay; a comma starts a new
    override only when what follows looks like a key (``name=``)."""
    import re

    out: list[str] = []
    depth = 0
    cur = ""
    for i, ch in enumerate(text):
        depth += ch in "[{("
        depth -= ch in "]})"
        if ch == "," and depth == 0 and re.match(r"\s*[A-Za-z_][\w.]*=", text[i + 1:]):
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _claim(run_dir: Path) -> bool:
    """Take ``run_dir`` for this process (OUT/RUN.claim holds its pid); False when a live process holds it.
    A claim of a dead process is taken over, and its partial run directory removed."""
    import shutil

    claim = run_dir.parent / f"{run_dir.name}.claim"
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(claim.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid == os.getpid():
                return True
            if pid and _alive(pid):
                return False
            claim.unlink(missing_ok=True)  # a dead claim: start the run afresh
            shutil.rmtree(run_dir, ignore_errors=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finished(run_dir: Path) -> bool:
    try:
        return any("eval/final" in r for r in read_metrics(run_dir))
    except (FileNotFoundError, ValueError):
        return False


def _recorded_wall(run_dir: Path) -> float:
    """A finished run's wall time (what the equal-time SFT control gets): OUT/RUN.wall as the run wrote
    it; for a run from before those files, from its claim (written as it started) to its log's last
    write; else the sum of its steps' times (start-up and evaluations not included)."""
    wall_file = run_dir.parent / f"{run_dir.name}.wall"
    claim, log_file = run_dir.parent / f"{run_dir.name}.claim", run_dir.parent / f"{run_dir.name}.log"
    if wall_file.is_file():
        return float(wall_file.read_text())
    if claim.is_file() and log_file.is_file() and log_file.stat().st_mtime > claim.stat().st_mtime:
        return log_file.stat().st_mtime - claim.stat().st_mtime
    return float(sum(r.get("time/step", 0.0) for r in read_metrics(run_dir)))


def _train(config: str, overrides: list[str], run_dir: Path, log) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "prl.train", "--config", config, *overrides, f"train.output_dir={run_dir}",
           "log.progress=false", "ckpt.every=0"]
    t0 = time.perf_counter()
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as f:
        res = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"run failed ({' '.join(cmd)}); see {run_dir.parent / (run_dir.name + '.log')}")
    log(f"  {run_dir.name}: {wall:.0f} s")
    (run_dir.parent / f"{run_dir.name}.wall").write_text(f"{wall:.3f}\n")  # for a later --skip-done
    return {"metrics": read_metrics(run_dir), "wall_s": wall}


def _sft_control_problem(cfg) -> str | None:
    """Why the equal-time SFT control cannot run for this recipe (None: it can)."""
    if cfg.model.init not in ("demo", "long_chain"):
        return (f"--sft-control continues supervised training on the embedded task's demonstrations, so it needs "
                f"model.init=demo or long_chain (the recipe has model.init={cfg.model.init}); pass --no-sft-control")
    if cfg.eval.n < 1:
        return "--sft-control reports avg@n / pass@n like the RL runs: it needs eval.n >= 1"
    return None


def _control_eval_cmd(cfg, model_dir: Path, out: Path, n: int) -> list[str]:
    """prl.eval of the SFT control, on the prompts, template and grading of the RL runs' evaluations."""
    cmd = [sys.executable, "-m", "prl.eval", "--model", str(model_dir), "--data", str(cfg.data.eval_path),
           "--n", str(n), "--k", "1", str(n), "--temperature", str(cfg.eval.temperature),
           "--max-new-tokens", str(cfg.eval.max_new_tokens or cfg.rollout.max_new_tokens),
           "--template", cfg.data.template, "--grader", cfg.reward.grader, "--out", str(out)]
    cmd += ["--limit", str(cfg.data.eval_limit)] if cfg.data.eval_limit is not None else []
    return cmd + ([] if cfg.reward.last_number else ["--no-last-number"])


def _sft_control(cfg, seconds: float, run_dir: Path, n: int, seed: int, log) -> dict[str, Any]:
    """Continue supervised training from the RL start model for ``seconds``, then evaluate it like RL."""
    from prl.bootstrap import resolve_demo
    from prl.models.default import ensure_demo

    resolve_demo(cfg)
    demo = ensure_demo(name=cfg.model.init)
    start = cfg.model.path
    if not start:
        raise ConfigError("--sft-control needs the recipe's start model (model.path or model.init=demo)")
    sft_out = run_dir / "model"
    cmd = [sys.executable, "-m", "prl.sft", "--model", str(start), "--data", str(demo.sft_file),
           "--eval-data", str(demo.dev_file), "--out", str(sft_out), "--max-seconds", str(seconds),
           "--patience", "1000000", "--seed", str(seed), "--no-progress", "--final-samples", "0",
           "--threads", str(cfg.train.threads),  # as the RL runs had (0: torch's default)
           # continue at the rate the SFT stage ended with (its cosine floor), without a new warm-up
           "--lr", str(demo.info["spec"]["sft"]["lr"] * demo.info["spec"]["sft"]["min_lr_ratio"]),
           "--warmup-steps", "0"]
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as f:
        res = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise RuntimeError(f"SFT control failed; see {run_dir.parent / (run_dir.name + '.log')}")
    ev_cmd = _control_eval_cmd(cfg, sft_out, run_dir / "eval.json", n)
    with open(run_dir.parent / f"{run_dir.name}.log", "a") as f:
        res = subprocess.run(ev_cmd, stdout=f, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise RuntimeError(f"evaluating the SFT control failed; see {run_dir.parent / (run_dir.name + '.log')}")
    ev = json.loads((run_dir / "eval.json").read_text())
    metrics = ev.get("metrics", ev)
    wall = time.perf_counter() - t0
    log(f"  {run_dir.name}: {wall:.0f} s")
    return {"metrics": [{"step": 0, **{k: v for k, v in metrics.items() if k.startswith("eval/")}}], "wall_s": wall}


def _write(results, out: Path, n: int, a, variants, t_all: float) -> str:
    table = summarize(results, n, baseline=a.baseline)
    md = render_table(table, n, baseline=a.baseline)
    credit = render_credit_table(table)
    if credit:
        md += "\nCredit diagnostics (prl.credit; mean over each run's logged credit steps, then over seeds):\n\n" + credit
    (out / "compare.md").write_text(md)
    (out / "compare.json").write_text(json.dumps({"table": table, "variants": [v for v, _ in variants],
                                                  "overrides": a.overrides, "config": a.config,
                                                  "total_s": time.perf_counter() - t_all}, indent=1, default=str))
    _plot(results, out / "compare.png")
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prl.compare", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--config", required=True, help="the recipe every run starts from")
    ap.add_argument("--algos", default="grpo,rloo,prl,prime", help="comma-separated algo.name values")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per variant (train.seed = 0 .. seeds-1)")
    ap.add_argument("--ablate", action="append", default=[],
                    help="KEY=V1;V2;... : one variant per value (for each algo); repeatable")
    ap.add_argument("--out", default="runs/compare", help="output directory")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=K=V,K=V",
                    help="a named variant with its own overrides, e.g. 'prl balanced=algo.name=prl,algo.prl.steps="
                         "balanced:8,32' (repeatable; runs after the --algos variants; --algos '' for these only)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs at a time (each gets train.threads = cores / jobs unless set in the overrides)")
    ap.add_argument("--skip-done", action="store_true",
                    help="reuse a run whose directory already holds a finished run (eval/final in metrics.jsonl)")
    ap.add_argument("--reverse", action="store_true",
                    help="run the jobs last-first: a second prl.compare with --reverse (and --skip-done) on the same "
                         "--out shares the work; each run is claimed (OUT/RUN.claim) so none runs twice")
    ap.add_argument("--baseline", default="grpo", help="the variant whose final accuracy defines 'steps to reach'")
    sft = ap.add_mutually_exclusive_group()
    sft.add_argument("--sft-control", dest="sft_control", action="store_true", default=True,
                     help="add the equal-time supervised control (default)")
    sft.add_argument("--no-sft-control", dest="sft_control", action="store_false")
    ap.add_argument("overrides", nargs="*", help="key=value overrides for every run")
    a = ap.parse_args(argv)
    try:
        cfg = load_config(a.config, a.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    algos = [x.strip() for x in a.algos.split(",") if x.strip()]
    variants: list[tuple[str, list[str]]] = []
    ablations = []
    for spec in a.ablate:
        key, _, vals = spec.partition("=")
        if not vals:
            print(f"error: --ablate {spec!r}: expected KEY=V1;V2;...", file=sys.stderr)
            return 2
        ablations.append((key, [v for v in vals.split(";") if v]))
    for algo in algos:
        if not ablations:
            variants.append((algo, [f"algo.name={algo}"]))
        for key, vals in ablations:
            for v in vals:
                variants.append((f"{algo} {key.split('.')[-1]}={v}", [f"algo.name={algo}", f"{key}={v}"]))
    for spec in a.variant:
        name, sep, rest = spec.partition("=")
        if not sep or not name.strip():
            print(f"error: --variant {spec!r}: expected NAME=KEY=V,KEY=V", file=sys.stderr)
            return 2
        variants.append((name.strip(), [kv for kv in _split_overrides(rest) if kv]))
    for _, ov in variants:  # fail fast on a bad key or value
        try:
            load_config(a.config, a.overrides + ov)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if a.sft_control:  # check now what the control needs, not after hours of RL runs
        problem = _sft_control_problem(cfg)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    n = cfg.eval.n

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_all = time.perf_counter()
    threads = [] if a.jobs <= 1 or any(o.startswith("train.threads=") for o in a.overrides) else [
        f"train.threads={max((os.cpu_count() or 1) // a.jobs, 1)}"]
    jobs = []  # (variant, seed, overrides, run dir): seed 0 of every variant first, so partial tables cover all
    for s in range(a.seeds):
        for name, ov in variants:
            safe = name.replace(" ", "_").replace("=", "-").replace(":", "").replace(",", "_").replace("/", "_")
            jobs.append((name, s, a.overrides + threads + ov + [f"train.seed={s}"], out / f"{safe}-seed{s}"))
    done: dict[tuple[str, int], dict[str, Any]] = {}

    def run_one(job: tuple[str, int, list[str], Path]) -> dict[str, Any] | None:
        name, seed, ov, run_dir = job
        if a.skip_done and _finished(run_dir):
            log(f"  {run_dir.name}: done before, reused")
            return {"metrics": read_metrics(run_dir), "wall_s": _recorded_wall(run_dir)}
        if not _claim(run_dir):
            log(f"  {run_dir.name}: running in another prl.compare, skipped here")
            return None
        return _train(a.config, ov, run_dir, log)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(a.jobs, 1)) as pool:
        futures = {pool.submit(run_one, job): job for job in (jobs[::-1] if a.reverse else jobs)}
        elsewhere = []
        for fut in concurrent.futures.as_completed(futures):
            name, seed, _, run_dir = futures[fut]
            res = fut.result()
            if res is None:
                elsewhere.append((name, seed, run_dir))
                continue
            done[(name, seed)] = res
            partial = {v: [done[(v, s)] for s in range(a.seeds) if (v, s) in done] for v, _ in variants}
            _write({v: r for v, r in partial.items() if r}, out, n, a, variants, t_all)  # a table as runs finish
    for name, seed, run_dir in elsewhere:  # the other process's runs: wait for them to finish
        while not _finished(run_dir):
            time.sleep(10)
        done[(name, seed)] = {"metrics": read_metrics(run_dir), "wall_s": _recorded_wall(run_dir)}
    results: dict[str, list[dict[str, Any]]] = {v: [done[(v, s)] for s in range(a.seeds)] for v, _ in variants}
    _write(results, out, n, a, variants, t_all)  # the RL table first, in case the control fails
    if a.sft_control:
        seconds = statistics.fmean(r["wall_s"] for runs in results.values() for r in runs)
        log(f"[compare] supervised control: {seconds:.0f} s of more SFT from the same start")
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(a.jobs, 1)) as pool:  # --jobs at a time
            results["sft (equal time)"] = list(pool.map(
                lambda s: _sft_control(cfg, seconds, out / f"sft_control-seed{s}", n, s, log), range(a.seeds)))
    md = _write(results, out, n, a, variants, t_all)
    print(md)
    print(f"[compare] wrote {out / 'compare.md'}, {out / 'compare.json'}, {out / 'compare.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
