"""The one JSONL reader (and an atomic text writer) of the Python side.

``read_jsonl`` reads one JSON object per line (blank lines skipped, a UTF-8 byte-order mark accepted)
or a file holding one JSON list of objects. Errors name the file and the 1-based line, as an editor
shows it; ``skip_bad_lines=True`` skips lines that do not parse instead (a metrics log whose last line
was cut by a kill). ``line_numbers=True`` stores each record's line as ``"__line__"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from prl.errors import DataError

__all__ = ["read_jsonl", "write_text_atomic"]


def read_jsonl(path: str | Path, *, skip_bad_lines: bool = False, line_numbers: bool = False) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    text = p.read_text(encoding="utf-8-sig")  # -sig: a leading byte-order mark is not part of the data
    if text.lstrip().startswith("["):  # a JSON list of records
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{p}: not valid JSON: {e}") from None
        for i, r in enumerate(rows):
            if not isinstance(r, dict):
                raise DataError(f"{p}: item {i} is not an object")
        return rows
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            if skip_bad_lines:
                continue
            raise DataError(f"{p}: line {lineno} is not valid JSON: {e.msg}") from None
        if not isinstance(r, dict):
            if skip_bad_lines:
                continue
            raise DataError(f"{p}: line {lineno} is not a JSON object")
        if line_numbers:
            r["__line__"] = lineno
        rows.append(r)
    return rows


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
