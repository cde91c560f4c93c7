"""The embedded default: arithmetic data + char tokenizer + tiny Llama warm-started by SFT, cached.

``ensure_demo()`` builds what is missing and returns the paths; a second call (any process) finds
the cache and returns at once. The cache key is a hash of every build parameter (:class:`DemoSpec`)
and of ``BUILD_VERSION``, so changing a knob builds a new entry and never reuses a stale one.

Cache location: ``$PRL_CACHE_DIR`` if set, else ``~/.cache/prl``; an entry is
``{cache}/arith-demo-{key}/`` with::

    data/sft.jsonl    demonstrations (prompt, solution with planted slips, answer, ...)
    data/train.jsonl  RL prompts (prompt, answer)
    data/dev.jsonl    prompts for the SFT early stop (never the held-out set)
    data/test.jsonl   held-out prompts (prompt, answer) for before/after evaluation
    model/            plain HF directory (config.json, model.safetensors, tokenizer files, sft_log.json)
    build.json        the spec, timings and the SFT model's measured held-out figures

Usage::

    python -m prl.models.default            # build (or find) the demo model, print its paths as JSON
    python -m prl.models.default --force    # rebuild

From Python::

    from prl.models.default import ensure_demo
    demo = ensure_demo()          # DemoArtifacts(model_dir=..., train_file=..., test_file=..., ...)

Design (why these numbers): the task is 2-3 operations of +/- with a one-digit operand on a
two-digit running value. The demonstrations carry a planted "forgotten carry" slip on 70% of the
problems that have a carrying addition (the slip's final answer follows it), so a model trained to a
plateau on them imitates the slip most of the time on such problems while its samples at
temperature 1 sometimes carry correctly: greedy accuracy starts well below pass@8, and the verifier
reward can close that gap. More SFT on the same demonstrations cannot.

Measured (2026-11-21, this project's 2-core CPU shared with other jobs, load average ~3.5,
``--threads 1``; BUILD_VERSION 2, key 73fa48b3d311): data + tokenizer 5 s; SFT stopped on plateau
after 800 steps (best dev greedy accuracy 0.61 at step 600), 243 s; whole build 251 s. The SFT model
(Llama, d=128, 3 layers, 0.79M parameters, 33-token char vocabulary) on the 300 held-out prompts:
greedy accuracy 0.653, avg@8 0.551, pass@8 0.887 (temperature 1, no top-k/top-p). The SFT curve
(dev greedy accuracy every 100 steps): .05 .05 .10 .20 .32 .61 .60 .57 - a plateau.
RL check (a bare on-policy GRPO loop outside prl's trainer: 16 prompts x 8 samples, temperature 1,
lr 3e-4, 1 thread) from this model: held-out greedy accuracy 0.653 -> 0.873 after 50 steps (49 s)
and 0.863 after 148 steps (150 s), avg@8 0.551 -> 0.730, pass@8 0.887 -> 0.947. (From the
BUILD_VERSION 1 model, greedy 0.600 -> 0.93 after 50 steps.)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from prl.sft import SFTConfig
from prl.tasks.arithmetic import ArithmeticConfig

BUILD_VERSION = 2  # bump when the build procedure changes in a way the spec does not capture


@dataclass(frozen=True)
class ModelSpec:
    arch: str = field(default="llama", metadata={"help": "llama or qwen2"})
    hidden_size: int = field(default=128, metadata={"help": "hidden size"})
    num_layers: int = field(default=3, metadata={"help": "transformer layers"})
    num_heads: int = field(default=4, metadata={"help": "attention heads"})
    max_position_embeddings: int = field(default=128, metadata={"help": "longest sequence"})


@dataclass(frozen=True)
class DemoSpec:
    task: ArithmeticConfig = field(default_factory=lambda: ArithmeticConfig(slip_rate=0.7))
    sizes: tuple[tuple[str, int], ...] = (("sft", 6000), ("train", 2000), ("dev", 200), ("test", 300))
    data_seed: int = 0
    model: ModelSpec = field(default_factory=ModelSpec)
    sft: SFTConfig = field(default_factory=lambda: SFTConfig(
        lr=3e-3, batch_size=64, max_steps=1200, eval_every=100, eval_size=200, patience=2, progress=True))
    measure_samples: int = 8  # after SFT: held-out avg@k / pass@k at temperature 1 (0: skip)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["task"] = self.task.key_dict()
        d["sft"].pop("progress", None)  # display only, not part of the key
        d["sft"].pop("threads", None)
        return d

    def key(self) -> str:
        blob = json.dumps({"v": BUILD_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def long_chain_spec() -> DemoSpec:
    """The long-chain task (``model.init=long_chain``): 6-10 operations on a running value up to 199,
    written verbosely (``Step 3: 147 + 8 = 155``), so a response is 100-250 characters (= tokens, the
    tokenizer is per character). A demonstration misses the carry of one uniformly drawn carrying
    addition (any step, not just the first) with probability ``slip_rate`` and the chain follows the
    slip, so a slip can sit at any step and propagates to the answer. Credit assignment matters here:
    an outcome reward blames all ~8 steps for one wrong one.

    The SFT stops at a fixed 500 steps (cosine to its floor), not at a plateau: a first build with a
    1500-step schedule reached dev greedy accuracy .02 (step 100), .15 (400), .57 (676), .62 (743) and
    was still rising, above the 25-50% start the study wants (room for RL to show what credit does)
    and ~1 h of this 2-core machine. Sequences are ~4x the demo's, so one SFT step is ~1 s on one core.
    """
    task = ArithmeticConfig(min_steps=6, max_steps=10, start_digits=2, operand_digits=1, max_value=199,
                            slip_rate=0.5, slip_kind="carry_any", step_format="verbose")
    return DemoSpec(task=task, model=ModelSpec(max_position_embeddings=320),
                    sft=SFTConfig(lr=3e-3, batch_size=32, max_steps=500, eval_every=500, eval_size=100,
                                  patience=2, max_new_tokens=260, progress=True))


# the embedded tasks: model.init=NAME builds (once) and uses PRESETS[NAME]()
PRESETS: dict[str, Callable[[], DemoSpec]] = {"demo": DemoSpec, "long_chain": long_chain_spec}


@dataclass(frozen=True)
class DemoArtifacts:
    root: Path
    model_dir: Path
    sft_file: Path
    train_file: Path
    dev_file: Path
    test_file: Path
    info: dict

    def as_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


def cache_dir() -> Path:
    return Path(os.environ.get("PRL_CACHE_DIR") or Path.home() / ".cache" / "prl")


@contextlib.contextmanager
def _lock(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _artifacts(root: Path) -> DemoArtifacts:
    info = json.loads((root / "build.json").read_text())
    d = root / "data"
    return DemoArtifacts(root, root / "model", d / "sft.jsonl", d / "train.jsonl", d / "dev.jsonl",
                         d / "test.jsonl", info)


def ensure_demo(spec: DemoSpec | None = None, *, cache: str | Path | None = None, force: bool = False,
                log=print, name: str = "demo") -> DemoArtifacts:
    """Return the cached demo (data + SFT model) for ``spec`` (default: ``PRESETS[name]()``), building it
    first if missing; the entry is ``{cache}/arith-{name}-{key}``."""
    spec = spec or PRESETS[name]()
    base = Path(cache) if cache is not None else cache_dir()
    root = base / f"arith-{name}-{spec.key()}"
    with _lock(base / f".arith-{name}-{spec.key()}.lock"):
        if (root / "build.json").exists() and not force:
            return _artifacts(root)
        tmp = base / f".arith-{name}-{spec.key()}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        info = build_demo(spec, tmp, log=log)
        (tmp / "build.json").write_text(json.dumps(info, indent=2) + "\n")
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    return _artifacts(root)


def build_demo(spec: DemoSpec, out: Path, *, log=print) -> dict:
    """Build data, tokenizer and SFT model under ``out`` (no caching); returns the build info."""
    import torch

    from prl.models.tiny import build_tokenizer, new_causal_lm
    from prl.sft import evaluate, train_sft
    from prl.tasks.arithmetic import make_splits, write_rows

    t0 = time.time()
    if spec.sft.threads > 0:
        torch.set_num_threads(spec.sft.threads)
    sizes = dict(spec.sizes)
    for need in ("sft", "train", "dev", "test"):
        if need not in sizes:
            raise ValueError(f"DemoSpec.sizes: missing split {need!r} (have {sorted(sizes)})")
    splits = make_splits(spec.task, sizes, seed=spec.data_seed)
    for name, rows in splits.items():
        write_rows(rows, out / "data" / f"{name}.jsonl")
    t_data = time.time() - t0
    log(f"[prl demo] data: {', '.join(f'{k} {len(v)}' for k, v in splits.items())} -> {out / 'data'}")
    corpus = [r["prompt"] + r["solution"] + r["reference"] for rows in splits.values() for r in rows]
    tokenizer = build_tokenizer(corpus, include_printable=False)
    m = spec.model
    model = new_causal_lm(tokenizer, arch=m.arch, hidden_size=m.hidden_size, num_layers=m.num_layers,
                          num_heads=m.num_heads, max_position_embeddings=m.max_position_embeddings,
                          seed=spec.sft.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"[prl demo] tokenizer: {len(tokenizer)} chars; model: {m.arch} {n_params / 1e6:.2f}M params; SFT...")
    sft, dev, test = splits["sft"], splits["dev"], splits["test"]
    sft_log = train_sft(model, tokenizer, [r["prompt"] for r in sft], [r["solution"] for r in sft],
                        [r["prompt"] for r in dev], [r["answer"] for r in dev], spec.sft)
    t_sft = time.time() - t0 - t_data
    log(f"[prl demo] SFT stopped ({sft_log['stopped']}) after {sft_log['steps']} steps, "
        f"best dev greedy acc {sft_log['best_acc']:.3f} at step {sft_log['best_step']}, {t_sft:.0f}s")
    model_dir = out / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / "sft_log.json").write_text(json.dumps(sft_log, indent=2) + "\n")
    figures = {}
    if spec.measure_samples > 0:
        t1 = time.time()
        figures = evaluate(model, tokenizer, [r["prompt"] for r in test], [r["answer"] for r in test],
                           max_new_tokens=spec.sft.max_new_tokens, samples=spec.measure_samples,
                           seed=spec.sft.seed)
        figures["time_s"] = round(time.time() - t1, 1)
        log("[prl demo] held-out: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()
                                                  if isinstance(v, float) and k != "time_s"))
    return {"spec": spec.to_dict(), "key": spec.key(), "params": n_params, "vocab": len(tokenizer),
            "time_data_s": round(t_data, 1), "time_sft_s": round(t_sft, 1),
            "time_total_s": round(time.time() - t0, 1), "sft": {k: sft_log[k] for k in
                                                                ("stopped", "steps", "best_step", "best_acc")},
            "heldout": figures}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prl.models.default", description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", default=None, help="cache root (default $PRL_CACHE_DIR or ~/.cache/prl)")
    ap.add_argument("--force", action="store_true", help="rebuild even if cached")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads for the build (not part of the key)")
    ap.add_argument("--task", choices=sorted(PRESETS), default="demo",
                    help="which embedded task: 'demo' (2-3 steps) or 'long_chain' (6-10 steps, 100-250 tokens)")
    a = ap.parse_args(argv)
    base = PRESETS[a.task]()
    spec = dataclasses.replace(base, sft=dataclasses.replace(base.sft, progress=not a.no_progress, threads=a.threads))
    art = ensure_demo(spec, cache=a.cache_dir, force=a.force, log=lambda s: print(s, file=sys.stderr), name=a.task)
    print(json.dumps(art.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
