"""Prompt data: load prompts with gold answers, render them for the model, iterate in seeded order.

Supported inputs (``data.format=auto`` picks by suffix):
  * JSONL (``.jsonl``, ``.json`` with one object per line, or a JSON list of objects; a UTF-8
    byte-order mark is fine),
  * Parquet (``.parquet``), Arrow IPC file or stream (``.arrow``, ``.feather``, ``.ipc``),
  * CSV (``.csv``, with a header row; the prompt and answer columns are read as text, so ``007``
    stays ``007``),
  * a directory written by ``datasets.Dataset.save_to_disk`` (or a DatasetDict: its ``train`` split).

Prompts and gold answers must be text; numbers are taken as their text (``18``, ``2.5``), while binary,
nested (lists, structs) and boolean values are refused. Errors name the file, the row (the 1-based
line of a JSONL file, else the 1-based row) and the column.

Checking the gold answers (:func:`check_golds`; ``python -m prl.data check FILE``) finds golds the
verifier cannot use: no answer in them, an answer it cannot parse or match even against itself,
placeholders (``N/A``, ``None``, ``nan``...) and binary junk (``b'\\x00\\x01'``, control characters).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Sequence

from prl.errors import DataError
from prl.io import read_jsonl

__all__ = ["DataError", "PromptExample", "load_examples", "render_prompt", "encode_prompt", "split_eval", "PromptIterator",
           "GoldReport", "check_golds", "main"]


@dataclass(frozen=True)
class PromptExample:
    prompt: str  # the raw prompt text (before any template)
    answer: str  # the gold answer as stored
    index: int  # row number in its source (0-based)
    where: str = field(default="", compare=False, repr=False)  # "line 3" (JSONL) / "row 3": for messages


def _detect_format(p: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if p.is_dir():
        return "datasets"
    suf = p.suffix.lower()
    if suf in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suf in (".parquet", ".pq"):
        return "parquet"
    if suf in (".arrow", ".feather", ".ipc"):
        return "arrow"
    if suf == ".csv":
        return "csv"
    raise DataError(f"{p}: cannot tell the data format from the suffix {suf!r}; set data.format "
                    "to jsonl, parquet, arrow, csv or datasets")


def _read_jsonl(p: Path) -> list[dict[str, Any]]:
    return read_jsonl(p, line_numbers=True)


def _read_table(p: Path, fmt: str, text_columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    import pyarrow as pa

    if fmt == "csv":
        import pyarrow.csv as pcsv

        # the prompt and answer columns as text: no type guessing turns a gold "007" into 7 or "1e3" into 1000.0
        opts = pcsv.ConvertOptions(column_types={c: pa.string() for c in text_columns})
        table = pcsv.read_csv(str(p), convert_options=opts)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(p)
    elif fmt == "arrow":
        import pyarrow.ipc as ipc

        try:
            with pa.memory_map(str(p)) as src:
                table = ipc.open_file(src).read_all()
        except pa.ArrowInvalid:
            with pa.memory_map(str(p)) as src:
                table = ipc.open_stream(src).read_all()
    else:  # datasets directory
        import datasets

        try:
            ds = datasets.load_from_disk(str(p))
        except Exception as e:  # noqa: BLE001 - re-raised with the path
            raise DataError(f"{p}: not a saved datasets directory: {e}") from None
        if isinstance(ds, datasets.DatasetDict):
            if "train" not in ds:
                raise DataError(f"{p}: a DatasetDict without a 'train' split (splits: {list(ds)})")
            ds = ds["train"]
        table = ds.data.table if hasattr(ds.data, "table") else ds.to_arrow()  # type: ignore[attr-defined]
    return table.to_pylist()


def _as_text(value: Any, p: Path, where: str, col: str, what: str) -> str:
    """A prompt / gold value as text: strings as they are, numbers as their text; anything else (binary,
    nested, boolean) is a DataError naming the file, row and column."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise DataError(f"{p}: {where}, column '{col}': {what} is a boolean ({value}), expected text")
    if isinstance(value, (bytes, bytearray, memoryview)):
        head = bytes(value[:12])
        raise DataError(f"{p}: {where}, column '{col}': {what} is binary data ({head!r}{'...' if len(value) > 12 else ''}), "
                        "expected text; store it as a string column")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(f"{p}: {where}, column '{col}': {what} is {value}, not an answer")
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, Decimal):
        return str(value)
    kinds: dict[type, str] = {dict: "a struct / JSON object", list: "a list", tuple: "a list"}
    kind = kinds.get(type(value), type(value).__name__)
    raise DataError(f"{p}: {where}, column '{col}': {what} is {kind}, expected text")


def load_examples(path: str | Path, *, prompt_column: str = "prompt", answer_column: str = "answer",
                  fmt: str = "auto", limit: int | None = None) -> list[PromptExample]:
    """Read prompts and gold answers; errors name the file, row and column."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file not found: {p}")
    kind = _detect_format(p, fmt)
    try:
        rows = _read_jsonl(p) if kind == "jsonl" else _read_table(p, kind, (prompt_column, answer_column))
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - pyarrow's errors do not name the file
        raise DataError(f"{p}: cannot read as {kind}: {e}") from None
    if not rows:
        raise DataError(f"{p}: the file holds no rows")
    cols = [c for c in rows[0] if c != "__line__"]
    for col, what in ((prompt_column, "data.prompt_column"), (answer_column, "data.answer_column")):
        if col not in rows[0]:
            raise DataError(f"{p}: no column '{col}' ({what}); columns: {', '.join(cols)}")
    out = []
    for i, r in enumerate(rows):
        where = f"line {r['__line__']}" if "__line__" in r else f"row {i + 1}"
        for col in (prompt_column, answer_column):
            if col not in r:
                raise DataError(f"{p}: {where} has no column '{col}'")
        prompt, answer = r[prompt_column], r[answer_column]
        if isinstance(prompt, list):  # chat messages: keep the last user turn's text
            raise DataError(f"{p}: {where}, column '{prompt_column}': chat-message lists are not supported; "
                            "store the prompt text")
        if prompt is None or not _as_text(prompt, p, where, prompt_column, "the prompt").strip():
            raise DataError(f"{p}: {where}, column '{prompt_column}': empty prompt")
        if answer is None or not _as_text(answer, p, where, answer_column, "the gold answer").strip():
            raise DataError(f"{p}: {where}, column '{answer_column}': empty gold answer")
        out.append(PromptExample(prompt=_as_text(prompt, p, where, prompt_column, "the prompt"),
                                 answer=_as_text(answer, p, where, answer_column, "the gold answer"), index=i, where=where))
        if limit is not None and len(out) >= limit:
            break
    return out


# ----------------------------------------------------------------------------------------------
# Checking the gold answers

_PLACEHOLDER = re.compile(r"^\s*(?:(?:#?n/a|nan|null|undefined|unknown|tbd|todo)(?:\s|$|[.,;:])"  # "N/A 0" too
                          r"|(?:none|nil|\?+|-+)\s*[.!]?\s*$)", re.I)
_BYTES_REPR = re.compile(r"""^\s*b(['"]).*\1\s*$""", re.S)
_JUNK_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]|\\x[0-9a-fA-F]{2}")

GOLD_PROBLEMS: dict[str, str] = {
    "binary": "binary junk (a bytes repr b'...', control characters or \\xNN escapes)",
    "placeholder": "a placeholder, not an answer (N/A, None, null, nan, unknown, ?, -)",
    "no_answer": "the verifier finds no answer in it",
    "unparsable": "the verifier cannot parse its answer or match it even against itself",
}


@dataclass
class GoldReport:
    """What :func:`check_golds` found: ``counts[kind]`` golds of each problem kind (see
    ``GOLD_PROBLEMS``) and the first few ``examples[kind]`` as (row, gold, detail)."""

    total: int
    counts: dict[str, int]
    examples: dict[str, list[tuple[str, str, str]]]

    @property
    def n_bad(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.n_bad == 0

    def summary(self) -> str:
        """One line: "gold answers: 3 of 120 unusable (placeholder 2: line 4 'N/A 0'; unparsable 1: ...)"."""
        if self.ok:
            return f"gold answers: all {self.total} readable by the verifier"
        parts = []
        for kind, n in self.counts.items():
            if n:
                ex = ", ".join(f"{w} {_clip(g)!r}" for w, g, _ in self.examples[kind][:2])
                parts.append(f"{kind} {n}: {ex}")
        return f"gold answers: {self.n_bad} of {self.total} unusable ({'; '.join(parts)})"

    def lines(self) -> list[str]:
        """The full report: the summary, then per problem kind what it means and its first examples."""
        out = [self.summary()]
        for kind, n in self.counts.items():
            if n:
                out.append(f"  {kind} ({n}): {GOLD_PROBLEMS[kind]}")
                out += [f"    {w}: {_clip(g, 80)!r}" + (f"  [{d}]" if d else "") for w, g, d in self.examples[kind]]
        return out


def _clip(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


def check_golds(examples: Sequence[PromptExample] | Sequence[str], *, max_examples: int = 5,
                threads: int | None = None) -> GoldReport:
    """Find gold answers the verifier cannot use (see ``GOLD_PROBLEMS``): each gold is graded against
    itself (its extracted answer in a ``\\boxed{}``, with the verifier's literal-match shortcut off, so
    the answer has to parse) and screened for placeholders and binary junk. Takes examples (or plain
    gold strings); the report counts each kind and keeps the first ``max_examples`` of each."""
    import prl_verifier as pv

    items = [(e.where or f"row {e.index + 1}", e.answer) if isinstance(e, PromptExample) else (f"row {i + 1}", str(e))
             for i, e in enumerate(examples)]
    counts = {k: 0 for k in GOLD_PROBLEMS}
    found: dict[str, list[tuple[str, str, str]]] = {k: [] for k in GOLD_PROBLEMS}

    def add(kind: str, where: str, gold: str, detail: str = "") -> None:
        counts[kind] += 1
        if len(found[kind]) < max_examples:
            found[kind].append((where, gold, detail))

    rest = []
    for where, gold in items:
        if _BYTES_REPR.match(gold) or _JUNK_CHARS.search(gold):
            add("binary", where, gold)
        elif _PLACEHOLDER.match(gold):
            add("placeholder", where, gold)
        else:
            rest.append((where, gold))
    if rest:
        golds = [g for _, g in rest]
        _, _, _, norm = pv._grade_columns(golds, golds, threads=threads)
        probe = [(i, f"\\boxed{{{n}}}") for i, n in enumerate(norm) if n and n.strip()]
        statuses: dict[int, str] = {}
        if probe:
            _, st, _, _ = pv._grade_columns([b for _, b in probe], [golds[i] for i, _ in probe], threads=threads,
                                            semantic_only=True)
            statuses = {i: s for (i, _), s in zip(probe, st)}
        for i, (where, gold) in enumerate(rest):
            if i not in statuses:
                add("no_answer", where, gold)
            elif statuses[i] != "correct":
                add("unparsable", where, gold, f"its answer {_clip(norm[i] or '', 60)!r} against itself: {statuses[i]}")
    return GoldReport(total=len(items), counts=counts, examples=found)


def split_eval(examples: Sequence[PromptExample], eval_size: float, seed: int) -> tuple[list[PromptExample], list[PromptExample]]:
    """Seeded held-out split: eval_size < 1 is a fraction, >= 1 a count. Returns (train, eval)."""
    n = len(examples)
    k = int(round(eval_size * n)) if eval_size < 1 else int(eval_size)
    if k <= 0:
        return list(examples), []
    if k >= n:
        raise DataError(f"data.eval_size={eval_size} would hold out {k} of {n} rows, leaving none to train on")
    order = list(range(n))
    random.Random(seed + 7919).shuffle(order)
    held = set(order[:k])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


def render_prompt(tokenizer: Any, prompt: str, *, template: str = "auto", plain_template: str = "{prompt}",
                  system_prompt: str | None = None) -> str:
    """The text fed to the model: the chat template when asked for (or 'auto' and present), else plain."""
    has_chat = getattr(tokenizer, "chat_template", None) is not None
    if template == "chat" and not has_chat:
        raise DataError("data.template=chat but the tokenizer has no chat template; use data.template=plain")
    if template == "chat" or (template == "auto" and has_chat):
        msgs = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    try:
        return plain_template.format(prompt=prompt)
    except (KeyError, IndexError) as e:
        raise DataError(f"data.plain_template {plain_template!r}: bad placeholder {e}; use {{prompt}}") from None


def encode_prompt(tokenizer: Any, prompt: str, *, template: str = "auto", plain_template: str = "{prompt}",
                  system_prompt: str | None = None) -> list[int]:
    """Token ids of the rendered prompt. A chat template writes its own special tokens; a plain
    prompt gets the tokenizer's usual ones (e.g. BOS)."""
    text = render_prompt(tokenizer, prompt, template=template, plain_template=plain_template, system_prompt=system_prompt)
    chat = template == "chat" or (template == "auto" and getattr(tokenizer, "chat_template", None) is not None)
    return list(tokenizer(text, add_special_tokens=not chat)["input_ids"])


class PromptIterator:
    """Endless seeded iteration over prompts, epoch by epoch; its position is checkpointable.

    >>> it = PromptIterator(list(range(5)), seed=0, shuffle=False)
    >>> it.take(3), it.take(3), it.state_dict()
    ([0, 1, 2], [3, 4, 0], {'epoch': 1, 'pos': 1, 'seed': 0, 'shuffle': False, 'n': 5})
    """

    def __init__(self, items: Sequence[Any], *, seed: int = 0, shuffle: bool = True):
        if len(items) == 0:
            raise DataError("no training prompts left (all filtered out or the file is empty)")
        self.items = list(items)
        self.seed, self.shuffle = seed, shuffle
        self.epoch, self.pos = 0, 0
        self._order = self._make_order(0)

    def _make_order(self, epoch: int) -> list[int]:
        order = list(range(len(self.items)))
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def take(self, k: int) -> list[Any]:
        out: list[Any] = []
        while len(out) < k:
            if self.pos >= len(self._order):
                self.epoch += 1
                self.pos = 0
                self._order = self._make_order(self.epoch)
            out.append(self.items[self._order[self.pos]])
            self.pos += 1
        return out

    def __iter__(self) -> Iterator[Any]:
        while True:
            yield self.take(1)[0]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pos": self.pos, "seed": self.seed, "shuffle": self.shuffle, "n": len(self.items)}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        if s.get("n") != len(self.items):
            raise DataError(f"checkpoint's data position is for {s.get('n')} prompts but the data has "
                            f"{len(self.items)}: resume with the same data.path, data.limit and data.eval_size")
        self.epoch, self.pos = int(s["epoch"]), int(s["pos"])
        self._order = self._make_order(self.epoch)


def main(argv: list[str] | None = None) -> int:
    """``python -m prl.data check FILE``: the gold-answer report; exit 1 when it finds problems, 2 when
    the file cannot be read."""
    ap = argparse.ArgumentParser(prog="python -m prl.data", description="Check a prompt data file.")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="report gold answers the verifier cannot use (exit 1 when there are any)")
    c.add_argument("path", metavar="FILE", help="JSONL, Parquet, Arrow, CSV or a datasets directory")
    c.add_argument("--prompt-column", default="prompt")
    c.add_argument("--answer-column", default="answer")
    c.add_argument("--format", default="auto", choices=["auto", "jsonl", "parquet", "arrow", "csv", "datasets"])
    c.add_argument("--examples", type=int, default=5, help="examples shown per problem kind (default %(default)s)")
    a = ap.parse_args(argv)
    try:
        ex = load_examples(a.path, prompt_column=a.prompt_column, answer_column=a.answer_column, fmt=a.format)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = check_golds(ex, max_examples=a.examples)
    print(f"{a.path}: {len(ex)} rows")
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
