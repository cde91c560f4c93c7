"""Run logging: metrics JSONL, TensorBoard events, sampled completions JSONL, a rich progress bar.

Files in the run directory:
    metrics.jsonl   one JSON object per training step ({"step": s, "reward/mean": ..., ...}) and per
                    evaluation ({"step": s, "eval/avg@4": ...}); appended, so a resumed run continues it
    samples.jsonl   sampled completions with prompt, gold, reward, verdict and step boundaries
    tb/             TensorBoard event files (``tensorboard --logdir OUTPUT_DIR/tb``)
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["RunLogger", "read_metrics"]


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf
    return v


class RunLogger:
    def __init__(self, run_dir: str | Path, *, tensorboard: bool = True, progress: bool = True,
                 total_steps: int = 0, start_step: int = 0, print_every: int = 1):
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
        self.print_every = max(int(print_every), 0)
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.dir / "tb"), purge_step=start_step + 1 if start_step else None)
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                print("[prl] tensorboard not installed: no event files", file=sys.stderr)
        self._progress = None
        self._task = None
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[live]}"),
                                      transient=False)
            self._progress.start()
            self._task = self._progress.add_task("train", total=total_steps, completed=start_step, live="")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        rec = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self.tb.add_scalar(k, v, step)
            self.tb.flush()

    def progress(self, step: int, metrics: dict[str, Any]) -> None:
        names = {"reward/mean": "reward", "acc/mean": "acc", "eval/greedy_acc": "eval_greedy_acc"}
        live = "  ".join(f"{v}={metrics[k]:.3f}" for k, v in names.items() if isinstance(metrics.get(k), float))
        if self._progress is not None:
            self._progress.update(self._task, completed=step, live=live)
        elif self.print_every and step % self.print_every == 0:
            print(f"step {step}: {live}", file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def samples(self, step: int, records: list[dict[str, Any]]) -> None:
        with open(self.samples_path, "a") as f:
            for r in records:
                f.write(json.dumps({"step": step, **r}) + "\n")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def _truncate_after(path: Path, step: int) -> None:
    """Keep the JSONL lines with step <= ``step`` (a resumed run rewrites what came after)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    path.write_text("".join(l + "\n" for l in keep))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
