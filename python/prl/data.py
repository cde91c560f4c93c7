"""Prompt data: load prompts with gold answers, render them for the model, iterate in seeded order.

Supported inputs (``data.format=auto`` picks by suffix):
  * JSONL (``.jsonl``, ``.json`` with one object per line, or a JSON list of objects),
  * Parquet (``.parquet``), Arrow IPC file or stream (``.arrow``, ``.feather``, ``.ipc``),
  * a directory written by ``datasets.Dataset.save_to_disk`` (or a DatasetDict: its ``train`` split).

Errors name the file, the row (1-based, as an editor shows it for JSONL) and the column.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from prl.errors import DataError
from prl.io import read_jsonl

__all__ = ["DataError", "PromptExample", "load_examples", "render_prompt", "encode_prompt", "split_eval", "PromptIterator"]


@dataclass(frozen=True)
class PromptExample:
    prompt: str  # the raw prompt text (before any template)
    answer: str  # the gold answer as stored
    index: int  # row number in its source (0-based)


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
    raise DataError(f"{p}: cannot tell the data format from the suffix {suf!r}; set data.format "
                    "to jsonl, parquet, arrow or datasets")


def _read_jsonl(p: Path) -> list[dict[str, Any]]:
    return read_jsonl(p, line_numbers=True)


def _read_table(p: Path, fmt: str) -> list[dict[str, Any]]:
    import pyarrow as pa

    if fmt == "parquet":
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


def load_examples(path: str | Path, *, prompt_column: str = "prompt", answer_column: str = "answer",
                  fmt: str = "auto", limit: int | None = None) -> list[PromptExample]:
    """Read prompts and gold answers; errors name the file, row and column."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file not found: {p}")
    kind = _detect_format(p, fmt)
    try:
        rows = _read_jsonl(p) if kind == "jsonl" else _read_table(p, kind)
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
        where = f"line {r['__line__']}" if "__line__" in r else f"row {i}"
        for col in (prompt_column, answer_column):
            if col not in r:
                raise DataError(f"{p}: {where} has no column '{col}'")
        prompt, answer = r[prompt_column], r[answer_column]
        if isinstance(prompt, list):  # chat messages: keep the last user turn's text
            raise DataError(f"{p}: {where}, column '{prompt_column}': chat-message lists are not supported; "
                            "store the prompt text")
        if prompt is None or not str(prompt).strip():
            raise DataError(f"{p}: {where}, column '{prompt_column}': empty prompt")
        if answer is None or (isinstance(answer, str) and not answer.strip()):
            raise DataError(f"{p}: {where}, column '{answer_column}': empty gold answer")
        out.append(PromptExample(prompt=str(prompt), answer=str(answer), index=i))
        if limit is not None and len(out) >= limit:
            break
    return out


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
        out = []
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
