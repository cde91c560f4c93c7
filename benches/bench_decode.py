"""Decoding speed of prl's transformers engine: the sampler and ``rollout.weights``, one process, one run.

    taskset -c 1 .venv/bin/python benches/bench_decode.py                    # SmolLM2-135M-Instruct, GSM8K prompts
    taskset -c 1 .venv/bin/python benches/bench_decode.py --model demo

Settings (each a whole ``HFEngine.generate`` call over the same prompts, seeded):

- ``multinomial``: float32 weights, tokens drawn with ``torch.multinomial`` (the sampler before this
  bench: V exponentials per row per step) -- the baseline;
- ``inverse_cdf``: float32 weights, the engine's sampler now (one uniform per row, cumsum + search);
- ``float16``: the sampler now and ``rollout.weights=float16`` (packed float16 linear weights).

Prompts: the bench_vs_trl SmolLM2 setting (4 GSM8K training questions in SmolLM2's chat template with
the smollm2_gsm8k recipe's system prompt, n=4, 128 new tokens, temperature 1) or the demo's (16 demo
prompts, n=8, 48 new tokens). Settings alternate over ``--repeats`` rounds after one warm-up call;
the table gives the median time per call, generated tokens per second and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import torch  # noqa: E402

import prl.rollout.hf as hf  # noqa: E402
from prl.rollout import HFEngine, SamplingParams  # noqa: E402

SETTINGS = ("multinomial", "inverse_cdf", "float16")


def _multinomial(probs: torch.Tensor) -> torch.Tensor:
    return torch.multinomial(probs, 1).squeeze(1)


def load(model_name: str) -> tuple[Any, Any, list[list[int]], SamplingParams]:
    """(model, tokenizer, prompt token ids, sampling params) of the bench_vs_trl setting for the model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prl.config import Config
    from prl.data import encode_prompt

    if model_name == "smollm2":
        import yaml

        from prl.bootstrap import resolve_packaged

        recipe = yaml.safe_load((ROOT / "configs" / "smollm2_gsm8k.yaml").read_text())
        cfg = Config()
        cfg.model.init = "smollm2"
        cfg.data.path = recipe["data"]["path"]
        cfg.data.eval_path = recipe["data"]["eval_path"]
        resolve_packaged(cfg)
        tok = AutoTokenizer.from_pretrained(str(cfg.model.path))
        model = AutoModelForCausalLM.from_pretrained(str(cfg.model.path), dtype=torch.float32)
        with open(str(cfg.data.path)) as f:
            questions = [json.loads(next(f))[recipe["data"]["prompt_column"]] for _ in range(4)]
        prompts = [encode_prompt(tok, q, system_prompt=recipe["data"]["system_prompt"]) for q in questions]
        return model, tok, prompts, SamplingParams(n=4, temperature=1.0, max_new_tokens=128, seed=0)
    from prl.models.default import ensure_demo

    demo = ensure_demo()
    tok = AutoTokenizer.from_pretrained(str(demo.model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(demo.model_dir), dtype=torch.float32)
    with open(demo.train_file) as f:
        prompts = [encode_prompt(tok, json.loads(next(f))["prompt"]) for _ in range(16)]
    return model, tok, prompts, SamplingParams(n=8, temperature=1.0, max_new_tokens=48, seed=0)


def run(engines: dict[str, HFEngine], prompts: list[list[int]], sp: SamplingParams, setting: str) -> tuple[float, int]:
    sampler: Callable[[torch.Tensor], torch.Tensor] = _multinomial if setting == "multinomial" else \
        hf.sample_inverse_cdf
    saved = hf.sample_inverse_cdf
    hf.sample_inverse_cdf = sampler  # the engine looks the sampler up at call time
    try:
        t0 = time.perf_counter()
        out = engines[setting].generate(prompts, sp)
        dt = time.perf_counter() - t0
    finally:
        hf.sample_inverse_cdf = saved
    return dt, sum(len(r.response_ids) for group in out for r in group)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["smollm2", "demo"], default="smollm2")
    ap.add_argument("--repeats", type=int, default=2, help="timed rounds over the settings (after one warm-up)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the raw timings here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, tok, prompts, sp = load(a.model)
    engines = {s: HFEngine(model, tok, weights="float16" if s == "float16" else "float32") for s in SETTINGS}
    run(engines, prompts, sp, "inverse_cdf")  # warm-up
    times: dict[str, list[float]] = {s: [] for s in SETTINGS}
    tokens: dict[str, list[int]] = {s: [] for s in SETTINGS}
    for rnd in range(a.repeats):
        order = SETTINGS if rnd % 2 == 0 else SETTINGS[::-1]
        for s in order:
            dt, n = run(engines, prompts, sp, s)
            times[s].append(dt)
            tokens[s].append(n)
            print(f"[decode] round {rnd} {s}: {dt:.2f} s, {n} tokens", file=sys.stderr, flush=True)
    load_avg = os.getloadavg()[0]
    print(f"{a.model}: {len(prompts)} prompts x n={sp.n}, {sp.max_new_tokens} new tokens, {a.threads} thread(s), "
          f"{a.repeats} rounds, load average {load_avg:.1f}")
    base = statistics.median(t / n for t, n in zip(times["multinomial"], tokens["multinomial"]))
    print("| setting | median s / call | generated tokens (per call) | tokens / s | speed vs multinomial |")
    print("|---|---|---|---|---|")
    for s in SETTINGS:
        per_tok = statistics.median(t / n for t, n in zip(times[s], tokens[s]))
        print(f"| {s} | {statistics.median(times[s]):.2f} | {statistics.median(tokens[s]):.0f} | {1 / per_tok:,.1f} "
              f"| {base / per_tok:.2f}x |")
    if a.json:
        Path(a.json).write_text(json.dumps({"times": times, "tokens": tokens, "load": load_avg}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
