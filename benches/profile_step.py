"""Where a prl training step's time and memory go: per-phase times and peak RSS, LM-head chunking on and off.

    taskset -c 1 .venv/bin/python benches/profile_step.py                      # the embedded demo model
    taskset -c 1 .venv/bin/python benches/profile_step.py --model smollm2 --steps 3
    taskset -c 1 .venv/bin/python benches/profile_step.py --chunks 0,1024,256
    taskset -c 1 .venv/bin/python benches/profile_step.py --model smollm2 --steps 3 \
        --variant base= --variant gc=model.gradient_checkpointing=true --variant micro4=train.micro_batch_size=4

The run is benches/bench_vs_trl.py's prl side (same model, prompts, batch, lengths and matched
settings: ``prl_overrides``; ``--model smollm2`` is its SmolLM2-135M-Instruct / GSM8K setting), without
the final evaluation, once per setting: by default per value of ``train.logprob_chunk_tokens`` (0: the
model's full [B, T, V] logits, the path before the chunked LM head; 1024: the default), or per named
``--variant NAME=KEY=VALUE,KEY=VALUE`` (prl config overrides on top of the bench's; ``NAME=`` alone is the
bench's setting). Each setting runs in its own process, so each peak RSS (``getrusage`` high-water
mark, imports included) is its own.

Reported per setting: the trainer's phase timers (``time/*`` in metrics.jsonl: generate, reward,
logprob, advantage, update, and inside the update ``update_forward`` / ``update_backward`` /
``optimizer``), as the mean over steps 2.. (step 1 carries one-off warm-up), generated tokens per
second over those steps, peak RSS and peak RSS minus the RSS after importing torch + transformers,
and ``actor/update_pad_frac``: the share of padding in the response columns of the update's forwards
(the bound on what packing rows without padding could save in the update's response tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benches"))

import bench_vs_trl as bench  # noqa: E402

PHASES = ("generate", "reward", "logprob", "advantage", "update", "update_forward", "update_backward", "optimizer")


def worker(spec: dict[str, Any], name: str, overrides: list[str]) -> dict[str, Any]:
    base_rss = bench._common_imports(spec)
    from prl.config import load_config
    from prl.trainer import Trainer

    out = Path(spec["out_dir"]) / f"prl_{name}"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    cfg = load_config(None, bench.prl_overrides(spec, out) + overrides)
    trainer = Trainer(cfg)
    rss_loaded = bench._rss_mib()
    t0 = time.perf_counter()
    trainer.run()
    wall = time.perf_counter() - t0
    peak = bench._peak_rss_mib()
    rows = [r for r in bench._read_jsonl(out / "metrics.jsonl") if "time/step" in r]
    P, n = spec["prompts_per_step"], spec["n"]
    return {"name": name, "overrides": overrides, "wall_s": wall, "base_rss_mib": base_rss, "loaded_rss_mib": rss_loaded,
            "peak_rss_mib": peak, "rows": rows, "tokens": [r["response/length_mean"] * P * n for r in rows]}


def summary(res: dict[str, Any]) -> dict[str, float]:
    rows = res["rows"][1:] if len(res["rows"]) > 1 else res["rows"]
    toks = res["tokens"][1:] if len(res["tokens"]) > 1 else res["tokens"]
    s = {p: statistics.mean(r.get(f"time/{p}", 0.0) for r in rows) for p in PHASES}
    s["step"] = statistics.mean(r["time/step"] for r in rows)
    s["other"] = s["step"] - sum(s[p] for p in ("generate", "reward", "logprob", "advantage", "update"))
    s["tok_per_s"] = sum(toks) / sum(r["time/step"] for r in rows)
    s["peak_rss_mib"] = res["peak_rss_mib"]
    s["train_rss_mib"] = res["peak_rss_mib"] - res["base_rss_mib"]
    s["loaded_rss_mib"] = res["loaded_rss_mib"] - res["base_rss_mib"]
    s["pad_frac"] = statistics.mean(r.get("actor/update_pad_frac", 0.0) for r in rows)
    s["resp_len"] = statistics.mean(r["response/length_mean"] for r in rows)
    s["steps"] = len(rows)
    return s


def table(results: list[dict[str, Any]]) -> str:
    sums = [summary(r) for r in results]
    head = "| | " + " | ".join(r["name"] for r in results) + (" | ratio |" if len(results) == 2 else " |")
    out = [head, "|---" * (len(results) + 1 + (len(results) == 2)) + "|"]
    lines = [("step (s)", "step", "{:.2f}"), ("  generate (s)", "generate", "{:.2f}"),
             ("  reward (s)", "reward", "{:.3f}"), ("  logprob: no-grad passes (s)", "logprob", "{:.3f}"),
             ("  advantage (s)", "advantage", "{:.3f}"), ("  update (s)", "update", "{:.2f}"),
             ("    update forward + loss (s)", "update_forward", "{:.2f}"),
             ("    update backward (s)", "update_backward", "{:.2f}"),
             ("    clip + AdamW step (s)", "optimizer", "{:.3f}"), ("  other (s)", "other", "{:.3f}"),
             ("generated tokens / s", "tok_per_s", "{:,.0f}"), ("mean response length", "resp_len", "{:.1f}"),
             ("update: padded share of response columns", "pad_frac", "{:.1%}"),
             ("peak RSS (MiB)", "peak_rss_mib", "{:,.0f}"),
             ("peak RSS - RSS after torch+transformers (MiB)", "train_rss_mib", "{:,.0f}"),
             ("  of which after loading (models, data) (MiB)", "loaded_rss_mib", "{:,.0f}")]
    for label, k, fmt in lines:
        vals = [s[k] for s in sums]
        row = f"| {label} | " + " | ".join(fmt.format(v) for v in vals)
        if len(vals) == 2:
            row += f" | {vals[1] / vals[0]:.2f}x" if vals[0] and k not in ("pad_frac", "resp_len") else " | "
        out.append(row + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="as bench_vs_trl.py: default the demo model, or 'smollm2'")
    ap.add_argument("--steps", type=int, default=None, help="default 5 (smollm2: 3)")
    ap.add_argument("--chunks", default="0,1024", help="train.logprob_chunk_tokens values, comma-separated "
                    "(ignored when --variant is given)")
    ap.add_argument("--variant", action="append", default=None, metavar="NAME=KEY=VALUE,...",
                    help="a named setting: prl overrides on top of the bench's, comma-separated (repeatable; "
                         "'NAME=' is the bench's setting unchanged)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=None, help="default runs/profile_step_<model>")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--overrides", default="[]", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker is not None:
        res = worker(json.loads(Path(a.spec).read_text()), a.worker, json.loads(a.overrides))
        Path(a.result).write_text(json.dumps(res, indent=1))
        return 0

    name = "smollm2" if a.model == "smollm2" else "demo"
    ns = bench_args(a.model, a.steps or (3 if name == "smollm2" else 5), a.seed,
                    a.out_dir or str(ROOT / "runs" / f"profile_step_{name}"))
    spec = bench._prepare(ns)
    spec_path = Path(spec["out_dir"]) / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "python") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    results = []
    for name, overrides in parse_variants(a.variant, a.chunks):
        res_path = spec_path.with_name(f"result_{name}.json")
        print(f"[profile] {name}: {' '.join(overrides) or '(the bench setting)'} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--overrides", json.dumps(overrides),
               "--spec", str(spec_path), "--result", str(res_path)]
        if subprocess.run(cmd, env=env).returncode != 0:
            raise SystemExit(f"worker failed: {' '.join(cmd)}")
        results.append(json.loads(res_path.read_text()))
    Path(spec["out_dir"], "results.json").write_text(json.dumps({"spec": spec, "results": results}, indent=1))
    print(f"machine: {bench._machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"model {spec['model']}; {ns.steps} steps x {ns.prompts_per_step} prompts x n={ns.n}, max_new_tokens "
          f"{ns.max_new_tokens}, {ns.threads} thread(s); means over steps 2..")
    print(table(results))
    return 0


def parse_variants(variants: list[str] | None, chunks: str) -> list[tuple[str, list[str]]]:
    """--variant NAME=K=V,K=V ... (or, without --variant, one per --chunks value) -> [(name, overrides)]."""
    if not variants:
        return [(f"chunk_tokens={int(c)}", [f"train.logprob_chunk_tokens={int(c)}"])
                for c in chunks.split(",")]
    return list(bench._parse_variants(variants).items())


def bench_args(model: str | None, steps: int, seed: int, out_dir: str) -> argparse.Namespace:
    """bench_vs_trl's arguments for this run, with its per-model defaults."""
    ns = argparse.Namespace(model=model, train=None, test=None, steps=steps, prompts_per_step=None, n=None,
                            max_new_tokens=None, lr=None, last_number=None, dtype="float32", system_prompt=None,
                            temperature=1.0, seed=seed, threads=None, eval_limit=None, eval_n=0, prl_override=None,
                            prl_variant=None, gradient_checkpointing=False,
                            out_dir=out_dir)
    for k, v in (bench.SMOLLM2_DEFAULTS if model == "smollm2" else bench.DEMO_DEFAULTS).items():
        if getattr(ns, k) is None:
            setattr(ns, k, v)
    return ns


if __name__ == "__main__":
    raise SystemExit(main())
