"""Training curves of a run directory to PNG.

    python -m prl.plot RUN_DIR [--out DIR]

Reads RUN_DIR/metrics.jsonl and writes RUN_DIR/plots/*.png (or --out): reward, accuracy, KL,
entropy, response length, evaluation (greedy accuracy, avg@n, pass@k) and an overview grid.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["plot_run", "main", "PANELS"]

# panel name -> metric keys (a key ending in '*' matches every key with that prefix)
PANELS: dict[str, list[str]] = {
    "reward": ["reward/mean"],
    "accuracy": ["acc/mean", "acc/pass@*"],
    "kl": ["actor/kl_ref", "actor/kl_ref_k3", "prl/future_kl_mean"],
    "entropy": ["actor/entropy"],
    "length": ["response/length_mean"],
    "eval": ["eval/greedy_acc", "eval/avg@*", "eval/pass@*"],
    "prm": ["prm/acc", "prm/auc", "prm/auc_all", "prm/loss"],
    "loss": ["actor/pg_clipfrac", "actor/grad_norm"],
}


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            xs.append(int(r["step"]))
            ys.append(float(v))
    return xs, ys


def _keys(records: list[dict[str, Any]], patterns: list[str]) -> list[str]:
    present: list[str] = []
    for r in records:
        for k in r:
            if k not in present:
                present.append(k)
    out = []
    for p in patterns:
        if p.endswith("*"):
            out += sorted(k for k in present if k.startswith(p[:-1]) and k not in out)
        elif p in present:
            out.append(p)
    return out


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw every panel that has data; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from prl.runlog import read_metrics

    run = Path(run_dir)
    mpath = run / "metrics.jsonl"
    if not mpath.is_file():
        raise FileNotFoundError(f"{run}: no metrics.jsonl (is it a prl run directory?)")
    records = read_metrics(mpath)
    if not records:
        raise ValueError(f"{mpath}: no metrics recorded yet")
    out = Path(out_dir) if out_dir else run / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    panels = {name: _keys(records, pats) for name, pats in PANELS.items()}
    panels = {k: v for k, v in panels.items() if v}
    for name, keys in panels.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        _draw(ax, records, keys, name)
        fig.tight_layout()
        p = out / f"{name}.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        written.append(p)
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, keys) in zip(axes.flat, panels.items()):
        _draw(ax, records, keys, name)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(str(run))
    fig.tight_layout()
    p = out / "overview.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    written.append(p)
    return written


def _draw(ax: Any, records: list[dict[str, Any]], keys: list[str], title: str) -> None:
    for k in keys:
        xs, ys = _series(records, k)
        ax.plot(xs, ys, marker="o" if len(xs) < 20 else None, markersize=3, label=k)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prl.plot", description="Draw a run's training curves to PNG.")
    ap.add_argument("run_dir", help="a run directory (train.output_dir) holding metrics.jsonl")
    ap.add_argument("--out", default=None, help="output directory (default: RUN_DIR/plots)")
    a = ap.parse_args(argv)
    try:
        paths = plot_run(a.run_dir, a.out)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
