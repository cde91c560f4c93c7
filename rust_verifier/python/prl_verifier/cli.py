"""``prl-verify``: grade a file of generations against gold answers.

A thin command line over :func:`prl_verifier.grade`; pyarrow reads and writes the files.
Exit status: 0 on success, 2 on bad input (missing file, missing or non-text column, unreadable
row, a row without its prediction or gold answer), 1 when OUTPUT cannot be written (a full disk:
"no space left on DIR"), each with a one-line message naming the file, column or row. Answers that
cannot be judged are statuses, not errors.

OUTPUT is written atomically (a temporary file in its directory, then a rename): a failed write
leaves no partial file, and an existing OUTPUT stays as it was. ``-`` reads stdin / writes stdout
(``--format`` names the format; the summary then goes to stderr).
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import os
import sys
import tempfile
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

  generate ... | prl-verify grade - -o - --format jsonl --pred-field pred --gold-field gold > graded.jsonl

formats (by extension): .jsonl/.ndjson/.json (one JSON object per line), .parquet/.pq,
.arrow/.feather/.ipc (Arrow IPC file or stream), .csv; '-' (stdin / stdout) or another
extension takes --format jsonl|parquet|csv|arrow; with -o - the summary goes to stderr
every row needs a prediction and a gold answer: a row without one (field missing or null, or an
empty gold) is an error naming its line (JSONL) or row; --skip-bad-rows leaves such rows out of
OUTPUT and the metrics and counts them in the summary instead
gold may be a bare answer ("3/4"), a GSM8K solution ("... #### 18") or a MATH solution
(its last \\boxed{}). OUTPUT keeps the input columns and adds: correct, status, extracted,
normalized_gold. The summary (accuracy, status counts, avg@k / pass@k per group, answers per
second) goes to stdout; a progress bar goes to stderr for long files.
"""

VERDICT_COLUMNS = ("correct", "status", "extracted", "normalized_gold")
CHUNK = 4096


class InputError(Exception):
    """Bad input: reported on stderr with exit status 2."""


class OutputError(Exception):
    """OUTPUT could not be written (full disk, no permission): reported on stderr with exit status 1."""


def _fail(msg: str, code: int = 2) -> NoReturn:
    print(f"prl-verify: error: {msg}", file=sys.stderr)
    raise SystemExit(code)


FORMATS = ("jsonl", "parquet", "csv", "arrow")
STDIO = "-"


def _fmt(path: str, fmt: str | None = None) -> str:
    """The format of PATH: its extension, else (``-``, or an extension not listed) ``--format``."""
    ext = os.path.splitext(path)[1].lower() if path != STDIO else ""
    if ext in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".arrow", ".feather", ".ipc", ".arrows"):
        return "arrow"
    if ext == ".csv":
        return "csv"
    if fmt is not None:
        return fmt
    if path == STDIO:
        raise InputError("'-' (stdin / stdout) needs --format jsonl|parquet|csv|arrow")
    raise InputError(f"{path}: unknown file type {ext!r} (use .jsonl, .parquet, .arrow/.feather/.ipc or .csv, "
                     "or give --format)")


def _name(path: str, output: bool = False) -> str:
    return ("stdout" if output else "stdin") if path == STDIO else path


def _jsonl_rows(lines: Any, name: str) -> tuple[list[dict[str, Any]], list[int]]:
    rows, where = [], []
    for lineno, line in enumerate(lines, 1):
        if lineno == 1 and line.startswith("\ufeff"):  # a byte-order mark is not part of the data
            line = line[1:]
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{name}: line {lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{name}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
        rows.append(obj)
        where.append(lineno)
    return rows, where


def read_input(path: str, fmt: str | None = None, text_columns: tuple[str, ...] = ()) -> tuple[Any, list[int] | None]:
    """Read INPUT (a file or ``-``) into a pyarrow Table, with each row's 1-based line for JSONL
    (None for the other formats, whose rows are counted from 1). Errors name the file and line.
    ``text_columns`` of a CSV file are read as text (no guessing: a prediction "42" stays text, a gold
    "007" stays "007")."""
    import pyarrow as pa

    kind = _fmt(path, fmt)
    name = _name(path)
    if path != STDIO:
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, expected a file")
    try:
        src: Any = pa.BufferReader(sys.stdin.buffer.read()) if path == STDIO else path
        if kind == "jsonl":
            if path == STDIO:
                rows, where = _jsonl_rows(io.TextIOWrapper(io.BytesIO(src.read()), encoding="utf-8"), name)
            else:
                with open(path, encoding="utf-8") as f:
                    rows, where = _jsonl_rows(f, name)
            if not rows:
                return pa.table({}), []
            keys: dict[str, None] = {}  # every row's keys, in order of appearance (not just the first row's)
            for r in rows:
                keys.update(dict.fromkeys(r))
            try:
                return pa.table({k: pa.array([r.get(k) for r in rows]) for k in keys}), where
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise InputError(f"{name}: rows do not share one schema: {e}") from None
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(src), None
        if kind == "arrow":
            import pyarrow.ipc as ipc

            try:
                with ipc.open_file(src) as r:
                    return r.read_all(), None
            except pa.ArrowInvalid:
                if path == STDIO:
                    src.seek(0)
                with ipc.open_stream(src) as r:
                    return r.read_all(), None
        import pyarrow.csv as pcsv

        opts = pcsv.ConvertOptions(column_types={c: pa.string() for c in text_columns})
        return pcsv.read_csv(src, convert_options=opts), None
    except InputError:
        raise
    except UnicodeDecodeError as e:
        raise InputError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InputError(f"{name}: cannot read as {kind}: {e}") from None


def read_table(path: str, fmt: str | None = None, text_columns: tuple[str, ...] = ()) -> Any:
    """Read INPUT into a pyarrow Table (errors name the file and, for JSONL, the line)."""
    return read_input(path, fmt, text_columns)[0]


def _serialize(table: Any, fmt: str, sink: Any) -> None:
    """Write TABLE to SINK (a path or a binary file object) in FMT."""
    import pyarrow as pa

    if fmt == "jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in table.to_pylist())
        if isinstance(sink, str):
            with open(sink, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            sink.write(text.encode("utf-8"))
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    elif fmt == "arrow":
        import pyarrow.ipc as ipc

        with ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
    else:
        import pyarrow.csv as pcsv

        # CSV cannot hold nested columns: write them as JSON text
        cols = []
        for name, col in zip(table.column_names, table.columns):
            if pa.types.is_nested(col.type):
                col = pa.array([None if v is None else json.dumps(v, default=str) for v in col.to_pylist()], pa.string())
            cols.append(col)
        pcsv.write_csv(pa.table(cols, names=table.column_names), sink)


def _is_enospc(e: BaseException) -> bool:
    return isinstance(e, OSError) and (e.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(e))


def write_table(table: Any, path: str, fmt: str | None = None) -> None:
    """Write OUTPUT atomically: a temporary file in OUTPUT's directory, renamed over OUTPUT once it is
    complete. On failure the temporary file is removed (an existing OUTPUT is left as it was) and an
    :class:`OutputError` says why in one line ("no space left on DIR")."""
    import pyarrow as pa

    kind = _fmt(path, fmt)
    if path == STDIO:
        buf = pa.BufferOutputStream()
        _serialize(table, kind, buf)
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(buf.getvalue().to_pybytes())
            sys.stdout.buffer.flush()
        except OSError as e:
            if _is_enospc(e):
                raise OutputError("no space left on stdout's device") from None
            raise OutputError(f"cannot write to stdout: {e.strerror or e}") from None
        return
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise InputError(f"{path}: directory {d} does not exist")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        os.close(fd)
        _serialize(table, kind, tmp)
        with open(tmp, "rb+") as f:  # on disk before the rename: a crash leaves the old file or the new
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the mode a plain open() would give, not mkstemp's 0600
        os.replace(tmp, path)
        tmp = None
    except (OSError, pa.ArrowException) as e:
        if _is_enospc(e):
            raise OutputError(f"no space left on {d} (writing {path}; nothing was written)") from None
        msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise OutputError(f"{path}: cannot write: {msg}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


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


def print_summary(s: dict[str, Any], file: Any = None) -> None:
    out = file if file is not None else sys.stdout
    print(f"rows: {s['rows']}", file=out)
    if s.get("skipped_rows"):
        print(f"skipped rows (no prediction or gold answer): {s['skipped_rows']} "
              f"({'; '.join(s.get('skipped_examples', [])[:3])})", file=out)
    print(f"accuracy: {s['accuracy']:.4f}", file=out)
    print("status: " + ", ".join(f"{k}={v}" for k, v in s["status_counts"].items()), file=out)
    if "groups" in s:
        k = s["k_min"] if s["k_min"] == s["k_max"] else f"{s['k_min']}..{s['k_max']}"
        print(f"groups: {s['groups']} (k = {k})", file=out)
        print(f"avg@k: {s['avg@k']:.4f}", file=out)
        print(f"pass@k: {s['pass@k']:.4f}", file=out)
    print(f"answers/s: {s['answers_per_second']:,.0f} ({s['seconds']:.3f} s)", file=out)


def _where(lines: list[int] | None, i: int) -> str:
    """Row I (0-based) as a user finds it: its line in a JSONL file, else its 1-based row number."""
    return f"line {lines[i]}" if lines is not None else f"row {i + 1}"


def bad_rows(table: Any, lines: list[int] | None, fields: list[tuple[str, str, bool]]) -> list[tuple[int, str]]:
    """Rows lacking a needed value (field missing or null; for a FIELDS entry with ``blank`` True also
    empty): (row index, "line 3: no value for 'gold' (--gold-field)"), in row order.
    FIELDS: (column, option, blank)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    bad: dict[int, list[str]] = {}
    for name, option, blank_is_missing in fields:
        col = table.column(name)
        missing = col.is_null()
        if blank_is_missing and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            blank = pc.equal(pc.utf8_trim_whitespace(col), "")
            missing = pc.or_(missing, pc.fill_null(blank, False))
        for i in pc.indices_nonzero(missing).to_pylist():
            bad.setdefault(i, []).append(f"'{name}' ({option})")
    return [(i, f"{_where(lines, i)}: no value for {' and '.join(what)}") for i, what in sorted(bad.items())]


def _bad_row_note(bad: list[tuple[int, str]], first: int = 3) -> str:
    more = f" (and {len(bad) - first} more)" if len(bad) > first else ""
    return "; ".join(msg for _, msg in bad[:first]) + more


def cmd_grade(args: argparse.Namespace) -> int:
    import pyarrow as pa

    table, lines = read_input(args.input, args.format, (args.pred_field, args.gold_field))
    _fmt(args.output, args.format)  # fail early on an unknown output type
    name = _name(args.input)
    text_column(table, args.pred_field, "--pred-field", name, allow_numbers=False)  # column and type checks
    text_column(table, args.gold_field, "--gold-field", name, allow_numbers=True)
    if args.group_field is not None and args.group_field not in table.column_names:
        raise InputError(
            f"{name}: no column {args.group_field!r} for --group-field (columns: {', '.join(table.column_names)})"
        )
    bad = bad_rows(table, lines, [(args.pred_field, "--pred-field", False), (args.gold_field, "--gold-field", True)])
    if bad and not args.skip_bad_rows:
        noun = "row lacks" if len(bad) == 1 else "rows lack"
        raise InputError(f"{name}: {len(bad)} {noun} a prediction or gold answer: {_bad_row_note(bad)}; "
                         "fix them, or leave them out with --skip-bad-rows")
    if bad:
        drop = {i for i, _ in bad}
        keep = [i for i in range(table.num_rows) if i not in drop]
        table = table.take(pa.array(keep, pa.int64()))  # the summary counts them and names the first few
    preds = text_column(table, args.pred_field, "--pred-field", name, allow_numbers=False)
    golds = text_column(table, args.gold_field, "--gold-field", name, allow_numbers=True)
    groups = None
    if args.group_field is not None:
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
    write_table(table, args.output, args.format)
    summary = summarize(correct, status, groups, seconds)
    summary["skipped_rows"] = len(bad)
    if bad:
        summary["skipped_examples"] = [msg for _, msg in bad[:5]]
    out = sys.stderr if args.output == STDIO else sys.stdout  # stdout carries the graded rows
    if args.json:
        print(json.dumps(summary), file=out)
    else:
        print_summary(summary, file=out)
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
    _add_io_arguments(g)
    g.add_argument("--skip-bad-rows", action="store_true",
                   help="leave out rows without a prediction or gold answer (counted in the summary) instead of failing")
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

    table = read_table(args.input, args.format, (args.code_field,))
    _fmt(args.output, args.format)
    programs = text_column(table, args.code_field, "--code-field", _name(args.input), allow_numbers=False)
    if args.tests_field not in table.column_names:
        raise InputError(f"{_name(args.input)}: no column {args.tests_field!r} for --tests-field "
                         f"(columns: {', '.join(table.column_names) or 'none'})")
    tests = table.column(args.tests_field).to_pylist()
    for i, t in enumerate(tests):
        if t is None or (isinstance(t, str) and not t.strip()):
            raise InputError(f"{_name(args.input)}: row {i + 1}: no tests in column {args.tests_field!r}")
    groups = None
    if args.group_field is not None:
        if args.group_field not in table.column_names:
            raise InputError(f"{_name(args.input)}: no column {args.group_field!r} for --group-field "
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
        raise InputError(f"{_name(args.input)}: {msg}") from None
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
    write_table(table, args.output, args.format)
    status = [v.status for v in verdicts]
    summary = summarize([v.correct for v in verdicts], status, groups, seconds)
    summary["status_counts"] = {s: status.count(s) for s in CODE_STATUSES}
    summary["tests_passed_fraction"] = (sum(v.fraction for v in verdicts) / len(verdicts)) if verdicts else 0.0
    out = sys.stderr if args.output == STDIO else sys.stdout  # stdout carries the graded rows
    if args.json:
        print(json.dumps(summary), file=out)
    else:
        print_summary(summary, file=out)
        print(f"tests passed (mean fraction): {summary['tests_passed_fraction']:.4f}", file=out)
    return 0


def _add_io_arguments(p: Any) -> None:
    """INPUT, -o OUTPUT and --format, as every subcommand takes them."""
    p.add_argument("input", metavar="INPUT", help="input file (.jsonl, .parquet, .arrow/.feather/.ipc, .csv), or - for stdin")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output file (format by extension, written atomically), or - for stdout")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="format of '-' (stdin / stdout) and of files without a known extension")


def _add_code_parser(sub: Any) -> None:
    c = sub.add_parser(
        "code",
        help="run each row's program against its tests (sandboxed) and write OUTPUT with verdict columns",
        description="Run each row's program against its unit tests in a sandbox.",
        epilog=CODE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_io_arguments(c)
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
    except OutputError as e:
        _fail(str(e), code=1)
    except KeyboardInterrupt:
        print("prl-verify: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
