"""prl_verifier: grade model answers against gold answers, and split responses into steps.

The work is done in Rust (``prl_verifier._prl_verifier``), in parallel with the GIL released.
Bad *calls* (length mismatch, bad mode string, bad offsets, missing column) raise subclasses of
:class:`VerifierError` (itself a ``ValueError``); bad *answers* are never exceptions, they are a
status per row: ``correct``, ``wrong``, ``no_answer``, ``unparsable``, ``timeout`` or
``undecided`` (the answers could not be told apart, but equality could not be certified either:
values too large to compare exactly; never counted correct).

>>> import prl_verifier
>>> [v.status for v in prl_verifier.grade(["so \\\\boxed{\\\\frac{1}{2}}", "#### 17"], ["0.5", "#### 18"])]
['correct', 'wrong']

Threads: ``threads=None`` uses ``PRL_VERIFY_THREADS`` if set, else all cores; ``threads=1`` runs
on the calling thread (no pool). Pools are rebuilt in a forked child.

Arrow: :func:`grade_batch` and :func:`split_steps_batch` take any object exposing the Arrow
PyCapsule interface (``__arrow_c_array__`` / ``__arrow_c_stream__``: pyarrow, polars, DuckDB,
nanoarrow ...). pyarrow imports it and hands the text columns to Rust; no Arrow crate is compiled
into the extension (pyo3-arrow + arrow-rs cost about 3.5 CPU-minutes of release build on their
own, more than the whole verifier, for a step that is a small fraction of grading time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._prl_verifier import (
    DEFAULT_BUDGET_MS,
    InvalidArgumentError,
    InvalidColumnError,
    InvalidModeError,
    InvalidOffsetsError,
    LengthMismatchError,
    Verdict,
    VerifierError,
    __version__,
    _check_mode,
    _grade_columns,
    _resolve_threads as _resolve_threads,  # used by cli.py
    _split_steps_flat,
    grade,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "DEFAULT_BUDGET_MS",
    "STATUSES",
    "InvalidArgumentError",
    "InvalidColumnError",
    "InvalidModeError",
    "InvalidOffsetsError",
    "LengthMismatchError",
    "Verdict",
    "VerifierError",
    "__version__",
    "grade",
    "grade_batch",
    "reward",
    "split_steps",
    "split_steps_batch",
]

STATUSES: tuple[str, ...] = ("correct", "wrong", "no_answer", "unparsable", "timeout", "undecided")


def reward(completions: Sequence[str], references: Sequence[str], **kw: Any) -> list[float | None]:
    """Reward function in the open-r1 shape: 1.0 correct, 0.0 wrong / no answer / timeout / undecided,
    None when the gold answer cannot be judged (status ``unparsable`` with an unusable gold)."""
    out: list[float | None] = []
    for v in grade(list(completions), list(references), **kw):
        if v.status == "unparsable" and not v.normalized_gold:
            out.append(None)
        else:
            out.append(1.0 if v.correct else 0.0)
    return out


# ----------------------------------------------------------------------------------------------
# Step splitting


def _offsets_to_flat(offsets: Sequence[Any], n_texts: int) -> tuple[bytes, list[int]]:
    """Per-text [n_i, 2] offsets -> (int64 bytes of [sum n_i, 2], counts)."""
    if len(offsets) != n_texts:
        raise LengthMismatchError(f"length mismatch: texts and offsets ({n_texts} vs {len(offsets)})")
    arrays = []
    counts = []
    for row, o in enumerate(offsets):
        try:
            a = np.asarray(o, dtype=np.int64)
        except (TypeError, ValueError) as e:
            raise InvalidOffsetsError(f"offsets[{row}] is not a list of (start, end) integer pairs: {e}") from None
        if a.size == 0:
            a = a.reshape(0, 2)
        if a.ndim != 2 or a.shape[1] != 2:
            raise InvalidOffsetsError(f"offsets[{row}] has shape {a.shape}; expected [n_tokens, 2] (start, end) pairs")
        arrays.append(a)
        counts.append(a.shape[0])
    flat = np.ascontiguousarray(np.concatenate(arrays, axis=0) if arrays else np.zeros((0, 2), np.int64), dtype="<i8")
    return flat.tobytes(), counts


def _check_texts(texts: Sequence[Any], name: str = "texts") -> list[str]:
    if isinstance(texts, str):
        raise InvalidArgumentError(f"{name} must be a list of strings, not a single string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InvalidArgumentError(f"{name}[{i}] is {type(t).__name__}, expected str")
    return out


def split_steps(
    texts: Sequence[str],
    offsets: Sequence[Any],
    mode: str,
    *,
    threads: int | None = None,
) -> list[np.ndarray]:
    """Step id (int32, starting at 0, non-decreasing) of every token of every text.

    ``offsets[i]`` holds each token's (start, end) character offsets into ``texts[i]`` (as HF
    fast tokenizers return with ``return_offsets_mapping=True``): a list of pairs or an
    ``[n_tokens, 2]`` array. Modes: ``fixed:N``, ``newline``, ``double_newline``,
    ``balanced:MIN,MAX``. A token whose text contains the newline closes its step.

    >>> split_steps(["a\\nb"], [[(0, 2), (2, 3)]], "newline")[0].tolist()
    [0, 1]
    """
    _check_mode(mode)
    texts = _check_texts(texts)
    flat, counts = _offsets_to_flat(offsets, len(texts))
    ids = np.frombuffer(_split_steps_flat(texts, flat, counts, mode, threads=threads), dtype="<i4").astype(np.int32)
    out = []
    start = 0
    for c in counts:
        out.append(ids[start : start + c])
        start += c
    return out


# ----------------------------------------------------------------------------------------------
# Arrow


def _as_record_batch(batch: Any) -> "pa.RecordBatch":
    import pyarrow as pa

    if isinstance(batch, pa.RecordBatch):
        return batch
    if isinstance(batch, pa.Table):
        return batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist([], schema=batch.schema)
    if hasattr(batch, "__arrow_c_array__"):
        return pa.record_batch(batch)
    if hasattr(batch, "__arrow_c_stream__"):
        t = pa.table(batch)
        return t.combine_chunks().to_batches()[0] if t.num_rows else pa.RecordBatch.from_pylist([], schema=t.schema)
    raise InvalidArgumentError(
        f"expected an Arrow record batch (an object with __arrow_c_array__ or __arrow_c_stream__), got {type(batch).__name__}"
    )


def _text_column(rb: "pa.RecordBatch", name: str, role: str) -> list[str]:
    import pyarrow as pa

    if name not in rb.schema.names:
        raise InvalidColumnError(f"no column {name!r} for the {role} (columns: {', '.join(rb.schema.names)})")
    col = rb.column(name)
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.dictionary_decode()
        t = col.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
        raise InvalidColumnError(f"column {name!r} ({role}) has type {t}; expected a string column")
    return ["" if v is None else v for v in col.to_pylist()]


def grade_batch(
    batch: Any,
    *,
    pred: str = "pred",
    gold: str = "gold",
    threads: int | None = None,
    budget_ms: float = DEFAULT_BUDGET_MS,
    last_number: bool = True,
    strict: bool = False,
) -> "pa.RecordBatch":
    """Grade the ``pred`` column against the ``gold`` column of an Arrow record batch.

    Returns a record batch with the columns ``correct`` (bool), ``status`` (string),
    ``extracted`` (string, null when nothing was found) and ``normalized_gold`` (string).
    Null cells are read as empty strings (a null prediction gets ``no_answer``).
    """
    import pyarrow as pa

    rb = _as_record_batch(batch)
    preds = _text_column(rb, pred, "predictions")
    golds = _text_column(rb, gold, "gold answers")
    correct, status, extracted, normalized = _grade_columns(
        preds, golds, threads=threads, budget_ms=budget_ms, last_number=last_number, strict=strict
    )
    return pa.RecordBatch.from_arrays(
        [
            pa.array(correct, type=pa.bool_()),
            pa.array(status, type=pa.string()),
            pa.array(extracted, type=pa.string()),
            pa.array(normalized, type=pa.string()),
        ],
        names=["correct", "status", "extracted", "normalized_gold"],
    )


def split_steps_batch(
    batch: Any,
    *,
    text: str = "text",
    offsets: str = "offsets",
    mode: str = "newline",
    threads: int | None = None,
) -> "pa.ListArray":
    """Arrow form of :func:`split_steps`: ``text`` is a string column, ``offsets`` a
    ``list<fixed_size_list<int, 2>>`` (or ``list<list<int>>``) column of (start, end) pairs.
    Returns a ``list<int32>`` array of step ids, one list per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    _check_mode(mode)
    rb = _as_record_batch(batch)
    texts = _text_column(rb, text, "texts")
    if offsets not in rb.schema.names:
        raise InvalidColumnError(f"no column {offsets!r} for the offsets (columns: {', '.join(rb.schema.names)})")
    col = rb.column(offsets)
    if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
        raise InvalidColumnError(f"column {offsets!r} has type {col.type}; expected list<fixed_size_list<int, 2>>")
    inner = col.flatten()
    it = inner.type
    if pa.types.is_fixed_size_list(it):
        if it.list_size != 2:
            raise InvalidColumnError(f"column {offsets!r}: token offsets have {it.list_size} values, expected 2")
    elif pa.types.is_list(it) or pa.types.is_large_list(it):
        lens = pc.list_value_length(inner).to_numpy(zero_copy_only=False)
        bad = np.nonzero(lens != 2)[0]
        if len(bad):
            raise InvalidColumnError(f"column {offsets!r}: token {int(bad[0])} (flattened) has {lens[bad[0]]} values, expected 2")
    else:
        raise InvalidColumnError(f"column {offsets!r} has type {col.type}; expected list<fixed_size_list<int, 2>>")
    values = inner.flatten()
    if not pa.types.is_integer(values.type):
        raise InvalidColumnError(f"column {offsets!r} holds {values.type}, expected integers")
    flat = np.ascontiguousarray(values.to_numpy(zero_copy_only=False).astype("<i8"))
    counts = pc.fill_null(pc.list_value_length(col), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    ids = _split_steps_flat(texts, flat.tobytes(), [int(c) for c in counts], mode, threads=threads)
    id_arr = pa.array(np.frombuffer(ids, dtype="<i4"), type=pa.int32())
    offs = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offs[1:])
    return pa.ListArray.from_arrays(pa.array(offs, type=pa.int32()), id_arr)
