"""Training curves of a run directory to PNG.

    python -m prl.plot RUN_DIR [--out DIR]

Reads RUN_DIR/metrics.jsonl and writes RUN_DIR/plots/*.png (or --out): reward, accuracy, KL,
entropy, response length, evaluation (greedy accuracy, avg@n, pass@k), PRM, clip fraction, gradient
norm, credit diagnostics (prl.credit) and an overview grid. Every y axis names its quantity; a noisy series (many points that jump
about) is drawn as faint raw points under an exponential moving average; a series identical to
another in its panel (e.g. acc/pass@1 and acc/mean) is dashed with markers and labelled "(= other)".
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path
from typing import Any

__all__ = ["plot_run", "figures", "main", "PANELS", "YLABELS", "ema"]

# panel name -> metric keys ('*' matches any run of characters: 'eval/pass@*', 'credit/*/step_auc')
PANELS: dict[str, list[str]] = {
    "reward": ["reward/mean"],
    "accuracy": ["acc/mean", "acc/pass@*"],
    "kl": ["actor/kl_ref", "actor/kl_ref_k3", "prl/future_kl_mean"],
    "entropy": ["actor/entropy"],
    "length": ["response/length_mean"],
    "eval": ["eval/greedy_acc", "eval/avg@*", "eval/pass@*"],
    "prm": ["prm/acc", "prm/auc", "prm/auc_all", "prm/loss"],
    "clipfrac": ["actor/pg_clipfrac"],
    "grad_norm": ["actor/grad_norm"],
    "credit": ["credit/*/argmin_acc", "credit/*/step_auc", "credit/*/rank_auc"],
}
# panel name -> what its y axis measures
YLABELS: dict[str, str] = {
    "reward": "mean reward per sample",
    "accuracy": "training accuracy (fraction)",
    "kl": "KL (nats per token)",
    "entropy": "entropy (nats per token)",
    "length": "response length (tokens)",
    "eval": "held-out accuracy (fraction)",
    "prm": "PRM accuracy / AUC / loss",
    "clipfrac": "fraction of tokens clipped",
    "grad_norm": "gradient norm",
    "credit": "first-error argmin acc / step AUC / rank AUC",
}
NOISY_MIN_POINTS = 8  # fewer points are drawn as they are, with markers
NOISY_ROUGHNESS = 0.15  # mean |step-to-step change| / range above which a series gets an EMA line


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and "step" in r:
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
        if "*" in p:  # 'eval/pass@*', 'credit/*/step_auc'
            out += sorted(k for k in present if fnmatch.fnmatchcase(k, p) and k not in out)
        elif p in present:
            out.append(p)
    return out


def ema(ys: list[float], span: int) -> list[float]:
    """Exponential moving average with alpha = 2 / (span + 1), started at the first value."""
    a = 2.0 / (span + 1)
    out: list[float] = []
    for y in ys:
        out.append(y if not out else (1 - a) * out[-1] + a * y)
    return out


def _is_noisy(ys: list[float]) -> bool:
    """Many points that jump about: the mean step-to-step change is a sizeable part of the range."""
    if len(ys) < NOISY_MIN_POINTS:
        return False
    lo, hi = min(ys), max(ys)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return False
    rough = sum(abs(b - a) for a, b in zip(ys, ys[1:])) / (len(ys) - 1) / (hi - lo)
    return rough > NOISY_ROUGHNESS


def _span(n: int) -> int:
    return max(3, min(50, n // 5))


def _same(a: tuple[list[int], list[float]], b: tuple[list[int], list[float]]) -> bool:
    return a[0] == b[0] and len(a[1]) == len(b[1]) and all(abs(x - y) <= 1e-9 * max(1.0, abs(x)) for x, y in zip(a[1], b[1]))


def figures(run_dir: str | Path) -> dict[str, Any]:
    """The matplotlib figures of a run directory (Agg backend): one per panel that has data, and
    "overview" with them all. The caller closes them (:func:`plot_run` saves and closes)."""
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
    panels = {name: _keys(records, pats) for name, pats in PANELS.items()}
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        raise ValueError(f"{mpath}: none of the plotted metrics ({', '.join(PANELS)}) is recorded")
    out: dict[str, Any] = {}
    for name, keys in panels.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        _draw(ax, records, keys, name)
        fig.tight_layout()
        out[name] = fig
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, keys) in zip(axes.flat, panels.items()):
        _draw(ax, records, keys, name)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(str(run))
    fig.tight_layout()
    out["overview"] = fig
    return out


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw every panel that has data; returns the PNG paths."""
    import matplotlib.pyplot as plt

    figs = figures(run_dir)
    out = Path(out_dir) if out_dir else Path(run_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for name, fig in figs.items():
            p = out / f"{name}.png"
            fig.savefig(p, dpi=90 if name == "overview" else 100)
            written.append(p)
    finally:
        for fig in figs.values():
            plt.close(fig)
    return written


_DUP_STYLES = [dict(linestyle="--", marker="x"), dict(linestyle=":", marker="+"), dict(linestyle="-.", marker="d")]


def _draw(ax: Any, records: list[dict[str, Any]], keys: list[str], title: str) -> None:
    """One panel: raw points + EMA line for noisy series, plain lines otherwise; a series identical to one
    drawn before it is dashed with markers and says which it repeats (so it does not hide behind it)."""
    import matplotlib

    colors = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color") or ["C0"]
    drawn: list[tuple[str, tuple[list[int], list[float]]]] = []
    for k in keys:
        xs, ys = _series(records, k)
        if not xs:
            continue
        twin = next((other for other, ser in drawn if _same(ser, (xs, ys))), None)
        color = colors[len(drawn) % len(colors)]
        label = k if twin is None else f"{k} (= {twin})"
        style: dict[str, Any] = {}
        if twin is not None:  # drawn over its twin: dashed, markers, a little thicker
            n_dup = sum(1 for other, ser in drawn if _same(ser, (xs, ys)))
            style = dict(_DUP_STYLES[(n_dup - 1) % len(_DUP_STYLES)], markersize=5, linewidth=1.8, zorder=3)
            style["markevery"] = max(1, len(xs) // 15)
        if _is_noisy(ys):
            span = _span(len(ys))
            if twin is None:  # (a twin's raw points would sit exactly on its original's)
                ax.plot(xs, ys, linestyle="none", marker="o", markersize=2.5, alpha=0.25, color=color,
                        label="_nolegend_", gid=f"raw:{k}")
            ax.plot(xs, ema(ys, span), color=color, label=f"{label} (EMA {span})", gid=f"ema:{k}",
                    **{"linewidth": 1.5, **style})
        else:
            base: dict[str, Any] = {"marker": "o" if len(xs) < 20 else None, "markersize": 3}
            ax.plot(xs, ys, color=color, label=label, gid=f"line:{k}", **{**base, **style})
        drawn.append((k, (xs, ys)))
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(YLABELS.get(title) or " / ".join(keys))
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
