"""``prl-verify``: grade a file of generations against gold answers.

A thin command line over :func:`prl_verifier.grade`; pyarrow reads and writes the files.
Exit status: 0 on success, 2 on bad input (missing file, missing or non-text column, unreadable
row), with a message naming the file, column or row. Per-row problems are statuses, not errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from typing import Any, NoReturn

import prl_verifier as pv

EPILOG = """\
examples:
  prl-verify grade samples.jsonl -o graded.parquet --pred-field response --gold-field answer
  prl-verify grade rollouts.parquet -o graded.parquet --pred-field text --gold-field gold \\
      --group-field prompt_id --threads 8
  prl-verify grade gsm8k_preds.csv -o out.jsonl --pred-field pred --gold-field solution

formats (by extension): .jsonl/.ndjson/.json (one JSON object per line), .parquet/.pq,
.arrow/.feather/.ipc (Arrow IPC file or stream), .csv
gold may be a bare answer ("3/4"), a GSM8K solution ("... #### 18") or a MATH solution
(its last \\boxed{}). OUTPUT keeps the input columns and adds: correct, status, extracted,
normalized_gold. The summary (accuracy, status counts, avg@k / pass@k per group, answers per
second) goes to stdout; a progress bar goes to stderr for long files.
"""

VERDICT_COLUMNS = ("correct", "status", "extracted", "normalized_gold")
CHUNK = 4096


class InputError(Exception):
    """Bad input: reported on stderr with exit status 2."""


def _fail(msg: str) -> NoReturn:
    print(f"prl-verify: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def _fmt(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".arrow", ".feather", ".ipc", ".arrows"):
        return "arrow"
    if ext == ".csv":
        return "csv"
    raise InputError(f"{path}: unknown file type {ext!r} (use .jsonl, .parquet, .arrow/.feather/.ipc or .csv)")


def read_table(path: str) -> Any:
    """Read INPUT into a pyarrow Table (errors name the file and, for JSONL, the line)."""
    import pyarrow as pa

    fmt = _fmt(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected a file")
    try:
        if fmt == "jsonl":
            rows = []
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise InputError(f"{path}: line {lineno}: not valid JSON ({e.msg})") from None
                    if not isinstance(obj, dict):
                        raise InputError(f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
                    rows.append(obj)
            if not rows:
                return pa.table({})
            try:
                return pa.Table.from_pylist(rows)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise InputError(f"{path}: rows do not share one schema: {e}") from None
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if fmt == "arrow":
            import pyarrow.ipc as ipc

            try:
                with ipc.open_file(path) as r:
                    return r.read_all()
            except pa.ArrowInvalid:
                with ipc.open_stream(path) as r:
                    return r.read_all()
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path)
    except InputError:
        raise
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read as {fmt}: {e}") from None


def write_table(table: Any, path: str) -> None:
    import pyarrow as pa

    fmt = _fmt(path)
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise InputError(f"{path}: directory {d} does not exist")
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif fmt == "arrow":
        import pyarrow.ipc as ipc

        with ipc.new_file(path, table.schema) as w:
            w.write_table(table)
    else:
        import pyarrow.csv as pcsv

        # CSV cannot hold nested columns: write them as JSON text
        cols = []
        for name, col in zip(table.column_names, table.columns):
            if pa.types.is_nested(col.type):
                col = pa.array([None if v is None else json.dumps(v, default=str) for v in col.to_pylist()], pa.string())
            cols.append(col)
        pcsv.write_csv(pa.table(cols, names=table.column_names), path)


def text_column(table: Any, name: str, role: str, path: str, *, allow_numbers: bool) -> list[str]:
    import pyarrow as pa

    if name not in table.column_names:
        raise InputError(f"{path}: no column {name!r} for {role} (columns: {', '.join(table.column_names) or 'none'})")
    col = table.column(name)
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        return ["" if v is None else v for v in col.to_pylist()]
    if allow_numbers and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        out = []
        for v in col.to_pylist():
            if v is None:
                out.append("")
            elif isinstance(v, float) and v.is_integer():
                out.append(str(int(v)))
            else:
                out.append(str(v))
        return out
    raise InputError(f"{path}: column {name!r} ({role}) has type {t}; expected text")


class Progress:
    """A one-line progress bar on stderr (only for long inputs)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and total > 0
        self.t0 = time.perf_counter()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        frac = done / self.total
        width = 30
        bar = "#" * int(frac * width) + "." * (width - int(frac * width))
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        print(f"\r[{bar}] {done}/{self.total} ({rate:,.0f} answers/s)", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr, flush=True)


def summarize(correct: list[bool], status: list[str], groups: list[Any] | None, seconds: float) -> dict[str, Any]:
    n = len(correct)
    counts = Counter(status)
    out: dict[str, Any] = {
        "rows": n,
        "accuracy": (sum(correct) / n) if n else 0.0,
        "status_counts": {s: counts.get(s, 0) for s in pv.STATUSES},
        "seconds": seconds,
        "answers_per_second": n / seconds if seconds > 0 else float("inf"),
    }
    if groups is not None:
        by: dict[Any, list[bool]] = {}
        for g, c in zip(groups, correct):
            by.setdefault(g, []).append(c)
        sizes = [len(v) for v in by.values()]
        out["groups"] = len(by)
        out["k_min"] = min(sizes) if sizes else 0
        out["k_max"] = max(sizes) if sizes else 0
        out["avg@k"] = sum(sum(v) / len(v) for v in by.values()) / len(by) if by else 0.0
        out["pass@k"] = sum(any(v) for v in by.values()) / len(by) if by else 0.0
    return out


def print_summary(s: dict[str, Any]) -> None:
    print(f"rows: {s['rows']}")
    print(f"accuracy: {s['accuracy']:.4f}")
    print("status: " + ", ".join(f"{k}={v}" for k, v in s["status_counts"].items()))
    if "groups" in s:
        k = s["k_min"] if s["k_min"] == s["k_max"] else f"{s['k_min']}..{s['k_max']}"
        print(f"groups: {s['groups']} (k = {k})")
        print(f"avg@k: {s['avg@k']:.4f}")
        print(f"pass@k: {s['pass@k']:.4f}")
    print(f"answers/s: {s['answers_per_second']:,.0f} ({s['seconds']:.3f} s)")


def cmd_grade(args: argparse.Namespace) -> int:
    import pyarrow as pa

    table = read_table(args.input)
    _fmt(args.output)  # fail early on an unknown output type
    preds = text_column(table, args.pred_field, "--pred-field", args.input, allow_numbers=False)
    golds = text_column(table, args.gold_field, "--gold-field", args.input, allow_numbers=True)
    groups = None
    if args.group_field is not None:
        if args.group_field not in table.column_names:
            raise InputError(
                f"{args.input}: no column {args.group_field!r} for --group-field (columns: {', '.join(table.column_names)})"
            )
        groups = [json.dumps(v, sort_keys=True, default=str) for v in table.column(args.group_field).to_pylist()]
    try:
        pv._resolve_threads(args.threads)
    except pv.VerifierError as e:
        raise InputError(str(e)) from None
    n = len(preds)
    correct: list[bool] = []
    status: list[str] = []
    extracted: list[str | None] = []
    normalized: list[str | None] = []
    progress = Progress(n, enabled=(n >= args.progress_min) and not args.quiet)
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK):
        c, st, ex, ng = pv._grade_columns(
            preds[start : start + CHUNK],
            golds[start : start + CHUNK],
            threads=args.threads,
            budget_ms=args.budget_ms,
            last_number=not args.no_last_number,
        )
        correct += c
        status += st
        extracted += ex
        normalized += ng
        progress.update(len(correct))
    seconds = time.perf_counter() - t0
    progress.close()
    for name in VERDICT_COLUMNS:
        if name in table.column_names:
            print(f"prl-verify: warning: input column {name!r} is replaced by the verdict column", file=sys.stderr)
            table = table.drop_columns([name])
    table = table.append_column("correct", pa.array(correct, pa.bool_()))
    table = table.append_column("status", pa.array(status, pa.string()))
    table = table.append_column("extracted", pa.array(extracted, pa.string()))
    table = table.append_column("normalized_gold", pa.array(normalized, pa.string()))
    write_table(table, args.output)
    summary = summarize(correct, status, groups, seconds)
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="prl-verify",
        description="Grade model generations against gold answers (math equivalence, in Rust).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"prl-verify {pv.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser(
        "grade",
        help="grade INPUT and write OUTPUT with verdict columns",
        description="Grade each row's prediction against its gold answer.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("input", metavar="INPUT", help="input file (.jsonl, .parquet, .arrow/.feather/.ipc, .csv)")
    g.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="output file (format by extension)")
    g.add_argument("--pred-field", required=True, metavar="F", help="column holding the generations")
    g.add_argument("--gold-field", required=True, metavar="G", help="column holding the gold answers / solutions")
    g.add_argument("--group-field", metavar="ID", help="column grouping the samples of one prompt (avg@k, pass@k)")
    g.add_argument("--threads", type=int, metavar="N", help="threads (default: PRL_VERIFY_THREADS or all cores)")
    g.add_argument("--budget-ms", type=float, default=pv.DEFAULT_BUDGET_MS, help="time budget per answer (default %(default)s)")
    g.add_argument("--no-last-number", action="store_true", help="do not fall back to the last number of a generation")
    g.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--progress-min", type=int, default=20_000, help=argparse.SUPPRESS)
    g.set_defaults(func=cmd_grade)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None) is not None and args.threads < 1:
        _fail("--threads must be >= 1")
    if getattr(args, "budget_ms", 1.0) <= 0:
        _fail("--budget-ms must be > 0")
    try:
        return int(args.func(args))
    except InputError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        print("prl-verify: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
