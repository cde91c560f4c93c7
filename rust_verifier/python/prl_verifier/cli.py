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
    _add_code_parser(sub)
    return p


# ------------------------------------------------------------------------------------- prl-verify code
CODE_EPILOG = """\
examples:
  prl-verify code samples.jsonl -o graded.jsonl --code-field response --tests-field tests
  prl-verify code rollouts.parquet -o graded.parquet --code-field text --tests-field tests \\
      --group-field task_id --workers 8

Each row's program (the last ```python block of the code field, else the whole text when it parses)
runs against the row's tests in prl_verifier.code's sandbox. Tests: {"test": "def check(candidate):
...", "entry_point": "f"} (HumanEval), {"asserts": ["assert f(1) == 2", ...]} (MBPP), or
{"inputs": [...], "outputs": [...]} (stdin/stdout), as JSON text or a struct column. OUTPUT keeps the
input columns and adds: correct (all tests passed), status (passed, failed, error, timeout, no_code,
sandbox_error), passed, total, detail. The summary (accuracy, status counts, avg@k / pass@k per
group, programs per second) goes to stdout.
"""
CODE_COLUMNS = ("correct", "status", "passed", "total", "detail")


def cmd_code(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from prl_verifier.code import STATUSES as CODE_STATUSES
    from prl_verifier.code import SandboxConfig, SandboxUnavailable, grade_code, isolation

    table = read_table(args.input)
    _fmt(args.output)
    programs = text_column(table, args.code_field, "--code-field", args.input, allow_numbers=False)
    if args.tests_field not in table.column_names:
        raise InputError(f"{args.input}: no column {args.tests_field!r} for --tests-field "
                         f"(columns: {', '.join(table.column_names) or 'none'})")
    tests = table.column(args.tests_field).to_pylist()
    for i, t in enumerate(tests):
        if t is None or (isinstance(t, str) and not t.strip()):
            raise InputError(f"{args.input}: row {i + 1}: no tests in column {args.tests_field!r}")
    groups = None
    if args.group_field is not None:
        if args.group_field not in table.column_names:
            raise InputError(f"{args.input}: no column {args.group_field!r} for --group-field "
                             f"(columns: {', '.join(table.column_names)})")
        groups = [json.dumps(v, sort_keys=True, default=str) for v in table.column(args.group_field).to_pylist()]
    cfg = dict(workers=args.workers, cpu_seconds=args.cpu_seconds, wall_seconds=args.wall_seconds,
               memory_mb=args.memory_mb, batch_seconds=args.batch_seconds,
               allow_network_access=args.allow_network_access)
    try:
        iso = isolation(SandboxConfig.from_any(cfg))
        for note in iso["notes"]:
            print(f"prl-verify: warning: {note}", file=sys.stderr)
        iso["warned"] = True
        t0 = time.perf_counter()
        verdicts = grade_code(programs, tests, config=cfg)
    except SandboxUnavailable as e:
        raise InputError(str(e)) from None
    except ValueError as e:  # "row i: bad test spec: ..." (0-based) -> 1-based like the other messages
        msg = str(e)
        if msg.startswith("row "):
            head, _, rest = msg.partition(":")
            msg = f"row {int(head[4:]) + 1}:{rest}" if head[4:].isdigit() else msg
        raise InputError(f"{args.input}: {msg}") from None
    seconds = time.perf_counter() - t0
    for name in CODE_COLUMNS:
        if name in table.column_names:
            print(f"prl-verify: warning: input column {name!r} is replaced by the verdict column", file=sys.stderr)
            table = table.drop_columns([name])
    table = table.append_column("correct", pa.array([v.correct for v in verdicts], pa.bool_()))
    table = table.append_column("status", pa.array([v.status for v in verdicts], pa.string()))
    table = table.append_column("passed", pa.array([v.passed for v in verdicts], pa.int32()))
    table = table.append_column("total", pa.array([v.total for v in verdicts], pa.int32()))
    table = table.append_column("detail", pa.array([v.detail for v in verdicts], pa.string()))
    write_table(table, args.output)
    status = [v.status for v in verdicts]
    summary = summarize([v.correct for v in verdicts], status, groups, seconds)
    summary["status_counts"] = {s: status.count(s) for s in CODE_STATUSES}
    summary["tests_passed_fraction"] = (sum(v.fraction for v in verdicts) / len(verdicts)) if verdicts else 0.0
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
        print(f"tests passed (mean fraction): {summary['tests_passed_fraction']:.4f}")
    return 0


def _add_code_parser(sub: Any) -> None:
    c = sub.add_parser(
        "code",
        help="run each row's program against its tests (sandboxed) and write OUTPUT with verdict columns",
        description="Run each row's program against its unit tests in a sandbox.",
        epilog=CODE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("input", metavar="INPUT", help="input file (.jsonl, .parquet, .arrow/.feather/.ipc, .csv)")
    c.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="output file (format by extension)")
    c.add_argument("--code-field", required=True, metavar="F", help="column holding the responses / programs")
    c.add_argument("--tests-field", required=True, metavar="T", help="column holding the test specs")
    c.add_argument("--group-field", metavar="ID", help="column grouping the samples of one problem (avg@k, pass@k)")
    c.add_argument("--workers", type=int, metavar="N", help="programs run in parallel (default: the usable CPUs)")
    c.add_argument("--cpu-seconds", type=float, default=4.0, help="CPU limit per run (default %(default)s)")
    c.add_argument("--wall-seconds", type=float, default=8.0, help="wall-clock limit per run (default %(default)s)")
    c.add_argument("--memory-mb", type=int, default=1024, help="address-space limit per run (default %(default)s)")
    c.add_argument("--batch-seconds", type=float, default=None, help="stop starting runs after this long (default: none)")
    c.add_argument("--allow-network-access", action="store_true",
                   help="run even where the machine cannot give each run its own network namespace")
    c.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    c.set_defaults(func=cmd_code)


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
