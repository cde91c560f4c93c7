"""Procedural multi-step arithmetic: problems, reference chains of thought, planted slips, splits.

A problem is a left-to-right chain of operations on a start value, e.g. the prompt ::

    Compute: 47+8-5+19

and its reference solution, one step per line and a final ``\\boxed{}``::

    47+8=55
    55-5=50
    50+19=69
    \\boxed{69}

Operations are ``+`` and ``-`` by default (``*`` by a one-digit factor can be enabled with
``ops="+-*"``); they are applied strictly left to right (the prompt is evaluated as written only
when there is no ``*``; with ``*`` the left-to-right rule is the task's convention and the
reference chain makes it explicit). Every intermediate value stays in ``[0, max_value]``.

Difficulty knobs (:class:`ArithmeticConfig`): ``min_steps``/``max_steps`` (operations per problem),
``start_digits`` (digits of the start value), ``operand_digits`` (digits of each operand),
``max_value`` (bound on every intermediate), ``ops``.

Planted slips (the demonstrations are imperfect the way real ones are). With probability
``slip_rate`` a demonstration carries exactly one wrong intermediate step:

* ``slip_kind="carry"`` (default): the writer forgets a carry. The slip lands on the *first*
  addition step whose ones digits carry (e.g. ``47+8=45`` instead of ``55``): the tens digit
  misses the carry. Problems without such a step get no slip. This is a systematic error, the
  kind a hurried human makes, so a model that imitates the demonstrations learns to make it too,
  and sampling sometimes does not: exactly the gap that a verifiable reward can close.
* ``slip_kind="random"``: a uniformly chosen step gets a result off by a random non-zero amount
  in ``[-9, 9]`` (kept non-negative).

The chain **follows the slip** (``slip_propagates=True``, default): later steps start from the
wrong value, so the final boxed answer is wrong, consistent with the chain, as happens when a
person makes a slip. With ``slip_propagates=False`` later steps restart from the correct value,
so the chain is locally inconsistent but the final answer is right (a "lucky" recovery).

Columns of the written splits (JSONL or Parquet, one row per problem):

==============  ======================================================================
``prompt``      the problem text given to the model (ends with a newline)
``answer``      the gold final answer (an integer, as a string): the column to grade on
``solution``    the demonstration used for SFT (may carry a planted slip), no EOS
``reference``   the clean reference chain of thought
``slip``        whether ``solution`` carries a planted slip (bool)
``steps``       the number of operations
``id``          ``"{split}-{index}"``
==============  ======================================================================

Splits: ``sft`` (demonstrations), ``train`` (RL prompts), ``test`` (held-out). Prompts are unique
across all splits (a held-out prompt never appears in sft or train). Everything is a pure function
of the config and the seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

PROMPT_PREFIX = "Compute: "
STEP_FORMATS = ("plain", "verbose")
SPLITS = ("sft", "train", "test")
COLUMNS = ("id", "prompt", "answer", "solution", "reference", "slip", "steps")


@dataclass(frozen=True)
class ArithmeticConfig:
    """Difficulty and demonstration-noise knobs of the arithmetic task."""

    min_steps: int = field(default=2, metadata={"help": "fewest operations per problem"})
    max_steps: int = field(default=3, metadata={"help": "most operations per problem"})
    start_digits: int = field(default=2, metadata={"help": "digits of the start value"})
    operand_digits: int = field(default=1, metadata={"help": "digits of each operand (1 => 1..9)"})
    max_value: int = field(default=99, metadata={"help": "every intermediate value stays in [0, max_value]"})
    ops: str = field(default="+-", metadata={"help": "operations to draw from: any of '+-*'"})
    slip_rate: float = field(default=0.6, metadata={"help": "probability that an eligible demonstration carries one planted slip"})
    slip_kind: str = field(default="carry", metadata={"help": "'carry' (first carrying addition misses its carry), "
                                                      "'carry_any' (a uniformly drawn carrying addition) or 'random'"})
    slip_propagates: bool = field(default=True, metadata={"help": "later steps follow the slipped value (final answer wrong)"})
    step_format: str = field(default="plain", metadata={"help": "'plain' (47+8=55) or 'verbose' (Step 1: 47 + 8 = 55)"})

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"ArithmeticConfig.{name}={getattr(self, name)!r}: {why}")

        if self.min_steps < 1:
            bad("min_steps", "must be >= 1")
        if self.max_steps < self.min_steps:
            bad("max_steps", f"must be >= min_steps={self.min_steps}")
        if self.start_digits < 1:
            bad("start_digits", "must be >= 1")
        if self.operand_digits < 1:
            bad("operand_digits", "must be >= 1")
        if self.max_value < 10 ** self.start_digits - 1:
            bad("max_value", f"must be >= the largest start value {10 ** self.start_digits - 1}")
        if not self.ops or set(self.ops) - set("+-*"):
            bad("ops", "must be a non-empty string of '+', '-', '*'")
        if not 0.0 <= self.slip_rate <= 1.0:
            bad("slip_rate", "must lie in [0, 1]")
        if self.slip_kind not in ("carry", "carry_any", "random"):
            bad("slip_kind", "must be 'carry', 'carry_any' or 'random'")
        if self.step_format not in STEP_FORMATS:
            bad("step_format", f"must be one of {STEP_FORMATS}")

    def key_dict(self) -> dict:
        """The knobs that name this config in cache keys and seeds. ``step_format`` is left out while it
        is "plain" (it came later), so the existing task's data and cached demo keep their keys."""
        d = dataclasses.asdict(self)
        if d["step_format"] == "plain":
            del d["step_format"]
        return d

    def key(self) -> str:
        """A short stable hash of the config (for cache keys)."""
        blob = json.dumps(self.key_dict(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Problem:
    start: int
    ops: tuple[tuple[str, int], ...]  # (op, operand) applied left to right

    @property
    def prompt(self) -> str:
        return f"{PROMPT_PREFIX}{format_expression(self)}\n"

    @property
    def answer(self) -> int:
        v = self.start
        for op, x in self.ops:
            v = apply_op(v, op, x)
        return v


def apply_op(v: int, op: str, x: int) -> int:
    if op == "+":
        return v + x
    if op == "-":
        return v - x
    if op == "*":
        return v * x
    raise ValueError(f"apply_op: unknown op {op!r}")


def format_expression(p: Problem) -> str:
    return str(p.start) + "".join(f"{op}{x}" for op, x in p.ops)


def carries(v: int, op: str, x: int) -> bool:
    """Whether ``v op x`` is an addition whose ones digits carry (the 'carry' slip's target)."""
    return op == "+" and (v % 10) + (x % 10) >= 10


def sample_problem(cfg: ArithmeticConfig, rng: random.Random) -> Problem:
    """Draw one problem; every intermediate stays in [0, cfg.max_value]."""
    n = rng.randint(cfg.min_steps, cfg.max_steps)
    lo = 10 ** (cfg.start_digits - 1) if cfg.start_digits > 1 else 0
    v = start = rng.randint(lo, 10 ** cfg.start_digits - 1)
    top = 10 ** cfg.operand_digits - 1
    ops: list[tuple[str, int]] = []
    for _ in range(n):
        choices = []
        if "+" in cfg.ops and v + 1 <= cfg.max_value:
            choices.append("+")
        if "-" in cfg.ops and v >= 1:
            choices.append("-")
        if "*" in cfg.ops and 2 * v <= cfg.max_value and v > 0:
            choices.append("*")
        if not choices:  # e.g. only '-' allowed and v == 0: step the other way to stay in range
            choices = ["+"] if v < cfg.max_value else ["-"]
        op = rng.choice(choices)
        if op == "+":
            x = rng.randint(1, min(top, cfg.max_value - v))
        elif op == "-":
            x = rng.randint(1, min(top, v))
        else:
            x = rng.randint(2, min(9, cfg.max_value // v))
        ops.append((op, x))
        v = apply_op(v, op, x)
    return Problem(start, tuple(ops))


def step_line(i: int, a: int, op: str, x: int, c: int, step_format: str = "plain") -> str:
    """Line ``i`` (0-based) of a chain: ``a{op}x=c`` (plain) or ``Step {i+1}: a {op} x = c`` (verbose)."""
    if step_format == "verbose":
        return f"Step {i + 1}: {a} {op} {x} = {c}"
    return f"{a}{op}{x}={c}"


def solution_lines(p: Problem, *, slip_at: int | None = None, slip_value: int | None = None,
                   propagate: bool = True, step_format: str = "plain") -> list[str]:
    """The chain of thought: one line per step ``a{op}b=c`` and the final ``\\boxed{c}``.

    With ``slip_at = i`` step ``i`` writes ``slip_value`` instead of its true result; later steps
    start from it when ``propagate`` (final answer wrong), else from the true value.
    """
    lines = []
    v = p.start
    for i, (op, x) in enumerate(p.ops):
        true = apply_op(v, op, x)
        shown = slip_value if i == slip_at else true
        lines.append(step_line(i, v, op, x, shown, step_format))  # type: ignore[arg-type]
        v = shown if (i == slip_at and propagate) else true  # type: ignore[assignment]  # slip_value is set with slip_at
    lines.append(f"\\boxed{{{v}}}")
    return lines


def _chain_in_range(p: Problem, slip_at: int, slip_value: int, cfg: ArithmeticConfig) -> bool:
    """Whether every value written by the slipped chain stays in [0, cfg.max_value]."""
    if not 0 <= slip_value <= cfg.max_value:
        return False
    if not cfg.slip_propagates:
        return True
    v = slip_value
    for op, x in p.ops[slip_at + 1:]:
        v = apply_op(v, op, x)
        if not 0 <= v <= cfg.max_value:
            return False
    return True


def demonstration(p: Problem, cfg: ArithmeticConfig, rng: random.Random) -> tuple[str, bool]:
    """A demonstration for ``p``: (text, has_slip). Draws the slip decision from ``rng``.

    A slip whose propagated chain would leave ``[0, max_value]`` (e.g. a later subtraction going
    negative from the slipped value) is not planted: that demonstration stays clean.
    """
    slip_at = slip_value = None
    if rng.random() < cfg.slip_rate:
        v = p.start
        candidates = []  # (step index, wrong value)
        for i, (op, x) in enumerate(p.ops):
            true = apply_op(v, op, x)
            if cfg.slip_kind in ("carry", "carry_any"):
                if carries(v, op, x):
                    candidates.append((i, true - 10))
                    if cfg.slip_kind == "carry":
                        break  # the first carrying addition only
            else:
                offs = [d for d in range(-9, 10) if d != 0 and 0 <= true + d <= cfg.max_value]
                candidates.append((i, true + rng.choice(offs)))
            v = true
        candidates = [c for c in candidates if _chain_in_range(p, c[0], c[1], cfg)]
        if candidates:
            slip_at, slip_value = candidates[0] if cfg.slip_kind == "carry" else rng.choice(candidates)
    lines = solution_lines(p, slip_at=slip_at, slip_value=slip_value, propagate=cfg.slip_propagates,
                           step_format=cfg.step_format)
    return "\n".join(lines), slip_at is not None


def make_splits(cfg: ArithmeticConfig, sizes: dict[str, int], *, seed: int = 0) -> dict[str, list[dict]]:
    """Seeded splits ``{name: rows}`` with unique prompts across all splits.

    ``sizes`` maps split names (any of ``sft``, ``train``, ``test``, or others) to row counts.
    Raises ValueError if the problem space is too small to give that many unique prompts.
    """
    for name, n in sizes.items():
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"make_splits: size of split {name!r} is {n!r}, expected an int >= 0")
    rng = random.Random(f"prl-arith-{seed}-{cfg.key()}")
    seen: set[str] = set()
    out: dict[str, list[dict]] = {}
    # held-out first, so the test set does not change when the sft/train sizes change
    order = sorted(sizes, key=lambda s: (s != "test", s != "train", s))
    for name in order:
        rows: list[dict] = []
        tries = 0
        while len(rows) < sizes[name]:
            tries += 1
            if tries > 50 * sizes[name] + 1000:
                raise ValueError(
                    f"make_splits: could not draw {sizes[name]} unique prompts for split {name!r} "
                    f"(got {len(rows)}); raise max_steps/start_digits/operand_digits or lower the sizes")
            p = sample_problem(cfg, rng)
            prompt = p.prompt
            if prompt in seen:
                continue
            seen.add(prompt)
            demo, slip = demonstration(p, cfg, rng)
            rows.append({
                "id": f"{name}-{len(rows)}",
                "prompt": prompt,
                "answer": str(p.answer),
                "solution": demo,
                "reference": "\n".join(solution_lines(p, step_format=cfg.step_format)),
                "slip": slip,
                "steps": len(p.ops),
            })
        out[name] = rows
    return {name: out[name] for name in sizes}


def write_rows(rows: list[dict], path: str | Path) -> Path:
    """Write rows as JSONL (``.jsonl``/``.json``) or Parquet (``.parquet``), by the file suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".jsonl", ".json"):
        with open(path, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in COLUMNS})
        pq.write_table(table, path)
    else:
        raise ValueError(f"write_rows: {path}: unknown suffix {path.suffix!r} (use .jsonl or .parquet)")
    return path


def read_rows(path: str | Path) -> list[dict]:
    """Read rows written by :func:`write_rows` (JSONL or Parquet)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"read_rows: {path} does not exist")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    from prl.io import read_jsonl

    return read_jsonl(path)


def write_splits(out_dir: str | Path, cfg: ArithmeticConfig, sizes: dict[str, int], *, seed: int = 0,
                 fmt: str = "jsonl") -> dict[str, Path]:
    """Make the splits and write ``{out_dir}/{split}.{fmt}`` plus ``meta.json``; returns the paths."""
    if fmt not in ("jsonl", "parquet"):
        raise ValueError(f"write_splits: fmt={fmt!r} must be 'jsonl' or 'parquet'")
    out_dir = Path(out_dir)
    splits = make_splits(cfg, sizes, seed=seed)
    paths = {name: write_rows(rows, out_dir / f"{name}.{fmt}") for name, rows in splits.items()}
    meta = {"task": "arithmetic", "config": dataclasses.asdict(cfg), "seed": seed, "sizes": sizes,
            "prompt_column": "prompt", "answer_column": "answer", "solution_column": "solution",
            "slip_fraction": {n: (sum(r["slip"] for r in rows) / len(rows) if rows else 0.0)
                              for n, rows in splits.items()}}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return paths


# ---------------------------------------------------------------------------------------------
# the exact step checker (process labels and the ``rule`` process-reward source)

_PROMPT_RE = re.compile(r"Compute:\s*(\d+)((?:\s*[-+*]\s*\d+)+)")
_OP_RE = re.compile(r"([-+*])\s*(\d+)")
_LINE_RE = re.compile(r"^\s*(?:Step\s+\d+\s*:\s*)?(-?\d+)\s*([-+*])\s*(\d+)\s*=\s*(-?\d+)\s*$")
_BOX_RE = re.compile(r"^\s*\\boxed\{\s*(-?\d+)\s*\}\s*$")


def parse_problem(prompt: str) -> Problem | None:
    """The problem of a prompt holding ``Compute: 47+8-5`` (anywhere, e.g. inside a chat template), else None."""
    m = _PROMPT_RE.search(prompt or "")
    if not m:
        return None
    return Problem(int(m.group(1)), tuple((op, int(x)) for op, x in _OP_RE.findall(m.group(2))))


def check_steps(prompt: str, steps: list[str]) -> list[int]:
    """1 / 0 per step: is every line of the step exactly right?

    A line ``a op b = c`` is right when ``a op b == c`` exactly, ``a`` is the result written on the
    previous line (the problem's start value for the first line), and ``op b`` is the problem's next
    operation; ``\\boxed{v}`` is right when every operation has been written, ``v`` is the last
    written result and no box came before. Blank lines are right; any other text is wrong. Each line
    is judged on its own operands (a verbose line's ``Step k:`` label is allowed and not judged): after a slip (``47+8=45``) the next line ``45-5=40`` is right,
    so the first wrong step is the slip. When the prompt holds no ``Compute:`` problem, only the
    arithmetic and the chaining of the lines are checked.
    """
    p = parse_problem(prompt)
    prev = p.start if p is not None else None
    done, boxed, out = 0, False, []
    for step in steps:
        ok = True
        for line in str(step).split("\n"):
            if not line.strip():
                continue
            m, b = _LINE_RE.match(line), _BOX_RE.match(line)
            if boxed:
                ok = False  # text after the final answer
            elif m:
                a, op, x, c = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
                right = apply_op(a, op, x) == c and (prev is None or a == prev)
                if p is not None:
                    right = right and done < len(p.ops) and p.ops[done] == (op, x)
                ok = ok and right
                prev, done = c, done + 1
            elif b:
                v = int(b.group(1))
                ok = ok and prev is not None and v == prev and (p is None or done == len(p.ops))
                boxed = True
            else:
                ok = False
        out.append(int(ok))
    return out
