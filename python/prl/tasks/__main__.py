"""``python -m prl.tasks arithmetic --out DIR [--sft N --train N --test N --seed S --format jsonl|parquet]``

Writes ``DIR/{sft,train,test}.{jsonl|parquet}`` and ``DIR/meta.json``. Columns: ``prompt`` (the
problem), ``answer`` (gold), ``solution`` (demonstration, may carry a planted slip), ``reference``
(clean chain), ``slip``, ``steps``, ``id``. Task knobs are the fields of ``ArithmeticConfig``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from prl.tasks.arithmetic import ArithmeticConfig, write_splits


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {s!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prl.tasks", description="write seeded task splits")
    ap.add_argument("task", choices=["arithmetic"], help="which task")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--sft", type=int, default=6000, help="rows of the sft split (demonstrations)")
    ap.add_argument("--train", type=int, default=2000, help="rows of the train split (RL prompts)")
    ap.add_argument("--test", type=int, default=300, help="rows of the held-out test split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    for f in dataclasses.fields(ArithmeticConfig):
        typ = _bool if f.type in (bool, "bool") else type(f.default)
        ap.add_argument("--" + f.name.replace("_", "-"), type=typ, default=f.default, help=f.metadata.get("help"))
    a = ap.parse_args(argv)
    try:
        cfg = ArithmeticConfig(**{f.name: getattr(a, f.name) for f in dataclasses.fields(ArithmeticConfig)})
        paths = write_splits(a.out, cfg, {"sft": a.sft, "train": a.train, "test": a.test}, seed=a.seed,
                             fmt=a.format)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: str(v) for k, v in paths.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
