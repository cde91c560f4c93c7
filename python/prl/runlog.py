"""Run logging: metrics JSONL, TensorBoard events, sampled completions JSONL, progress, diagnostics.

Files in the run directory:
    metrics.jsonl   one JSON object per training step ({"step": s, "reward/mean": ..., ...}) and per
                    evaluation ({"step": s, "eval/avg@4": ...}); appended, so a resumed run continues it
    samples.jsonl   sampled completions with prompt, gold, reward, verdict and step boundaries
    tb/             TensorBoard event files (``tensorboard --logdir OUTPUT_DIR/tb``)

Progress: a rich bar on a terminal; when stderr is not one (a redirected log, CI) a plain line every
``print_every`` steps instead. Diagnostics from every part of prl go through the ``logging`` logger
"prl" (:func:`setup_logging`); while a progress bar is drawn they print above it.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

from prl.errors import DiskFullError
from prl.io import read_jsonl

__all__ = ["RunLogger", "QuietLogger", "ProgressBar", "read_metrics", "setup_logging"]


class _Handler(logging.Handler):
    """Writes to the progress bar's console while one is drawn, else to the current sys.stderr."""

    console: Any = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = self.format(record)
        if _Handler.console is not None:
            _Handler.console.print(msg, markup=False, highlight=False)
        else:
            print(msg, file=sys.stderr, flush=True)


def setup_logging(level: int = logging.INFO) -> None:
    """Route the "prl" logger's messages (INFO and up) to stderr / the progress bar (idempotent)."""
    logger = logging.getLogger("prl")
    if not any(isinstance(h, _Handler) for h in logger.handlers):
        logger.addHandler(_Handler())
        logger.propagate = False
    logger.setLevel(level)


class ProgressBar:
    """A progress bar over ``total`` steps: rich on a terminal, else a plain line every ``every`` steps
    (step, the live figures, time per step, ETA). Used by RL training and SFT alike."""

    def __init__(self, label: str, total: int, *, start: int = 0, enabled: bool = True, every: int = 1,
                 rich: bool = True):
        self.label, self.total, self.every = label, total, max(int(every), 0)
        self.enabled = enabled
        self.t0, self.start = time.perf_counter(), start
        self._rich: Any = None
        self._first: tuple[int, float] | None = None
        if enabled and rich and sys.stderr.isatty():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._rich = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                  TimeRemainingColumn(), TextColumn("{task.fields[live]}"), transient=False)
            self._rich.start()
            self._task = self._rich.add_task(label, total=total, completed=start, live="")
            _Handler.console = self._rich.console

    def update(self, step: int, live: str = "") -> None:
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=step, live=live)
        elif self.every and (step % self.every == 0 or step == self.total):
            now = time.perf_counter()
            if self._first is None:  # time per step from the first step on (not the set-up or a first evaluation)
                self._first = (step, now)
            first_step, t_first = self._first
            per = (now - t_first) / (step - first_step) if step > first_step else (now - self.t0) / max(step - self.start, 1)
            eta = per * max(self.total - step, 0)
            print(f"{self.label} {step}/{self.total}  {live}  {per:.2f} s/step  ETA {eta:.0f} s".replace("   ", "  "),
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
            _Handler.console = None


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf
    return v


class RunLogger:
    def __init__(self, run_dir: str | Path, *, tensorboard: bool = True, progress: bool = True,
                 total_steps: int = 0, start_step: int = 0, print_every: int = 1):
        setup_logging()
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.samples_path = self.dir / "samples.jsonl"
        if start_step == 0:  # a fresh run starts fresh files; a resumed one drops lines past its step
            for p in (self.metrics_path, self.samples_path):
                p.unlink(missing_ok=True)
        else:
            for p in (self.metrics_path, self.samples_path):
                _truncate_after(p, start_step)
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.dir / "tb"), purge_step=start_step + 1 if start_step else None)
        # log.progress=false, or no terminal: a plain line every print_every steps instead of the bar
        self.bar = ProgressBar("step", total_steps, start=start_step, every=print_every, rich=progress)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        rec = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        _append_lines(self.metrics_path, [json.dumps(rec)])
        if self.tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self.tb.add_scalar(k, v, step)
            self.tb.flush()

    def progress(self, step: int, metrics: dict[str, Any]) -> None:
        names = {"reward/mean": "reward", "acc/mean": "acc", "eval/greedy_acc": "eval_greedy_acc"}
        live = "  ".join(f"{v}={metrics[k]:.3f}" for k, v in names.items() if isinstance(metrics.get(k), float))
        self.bar.update(step, live)

    def message(self, text: str) -> None:
        logging.getLogger("prl").info(text)

    def samples(self, step: int, records: list[dict[str, Any]]) -> None:
        _append_lines(self.samples_path, [json.dumps({"step": step, **r}) for r in records])

    def close(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.close()
            self.tb = None


class QuietLogger:
    """The logger of torchrun ranks other than 0: rank 0 writes every log."""

    def log(self, step: int, metrics: dict[str, Any]) -> None: ...
    def progress(self, step: int, metrics: dict[str, Any]) -> None: ...
    def samples(self, step: int, records: list[dict[str, Any]]) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


def _append_lines(path: Path, lines: list[str]) -> None:
    """Append whole lines; a full disk is one line (DiskFullError), not a traceback."""
    try:
        with open(path, "a") as f:
            f.write("".join(line + "\n" for line in lines))
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DiskFullError(f"no space left on {path.parent} (writing {path.name})") from None


def _truncate_after(path: Path, step: int) -> None:
    """Keep the JSONL lines with step <= ``step`` (a resumed run rewrites what came after)."""
    if not path.exists():
        return
    keep = [json.dumps(r) for r in read_jsonl(path, skip_bad_lines=True) if r.get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in keep))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl (a line cut by a kill is skipped)."""
    return read_jsonl(path, skip_bad_lines=True)
