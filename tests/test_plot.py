"""prl.plot: y labels on every axis, EMA over faint raw points for noisy series, identical series drawn
distinguishably; checked on the figure objects of a rendered run directory (Agg)."""

from __future__ import annotations

import json
import random

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from prl.plot import PANELS, ema, figures, main, plot_run  # noqa: E402


def _run_dir(tmp_path, steps: int = 60):
    rng = random.Random(0)
    lines = []
    for s in range(1, steps + 1):
        acc = min(1.0, 0.4 + 0.005 * s + rng.uniform(-0.2, 0.2))  # noisy, trending up
        lines.append({"step": s, "reward/mean": acc, "acc/mean": acc, "acc/pass@1": acc,  # pass@1 == mean
                      "acc/pass@8": min(1.0, acc + 0.3), "actor/entropy": 1.0 - 0.01 * s,  # smooth
                      "actor/grad_norm": rng.uniform(0.5, 2.0), "actor/pg_clipfrac": rng.uniform(0, 0.1),
                      "response/length_mean": 40 + rng.uniform(-5, 5)})
        if s % 20 == 0:
            lines.append({"step": s, "eval/greedy_acc": 0.5 + s / 200, "eval/avg@1": 0.5 + s / 200,
                          "eval/pass@4": 0.8})
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 61, "rew')  # cut last line
    return run


def _lines(ax):
    return {ln.get_gid(): ln for ln in ax.get_lines()}


def test_every_axis_has_a_y_label_and_noisy_series_get_an_ema(tmp_path):
    figs = figures(_run_dir(tmp_path))
    try:
        assert {"reward", "accuracy", "entropy", "length", "eval", "clipfrac", "grad_norm", "overview"} <= set(figs)
        for name, fig in figs.items():
            for ax in fig.axes:
                if ax.axison:
                    assert ax.get_ylabel().strip(), (name, ax.get_title())
                    assert ax.get_xlabel() == "step"
        assert figs["reward"].axes[0].get_ylabel() == "mean reward per sample"
        assert figs["length"].axes[0].get_ylabel() == "response length (tokens)"
        rew = _lines(figs["reward"].axes[0])
        raw, smooth = rew["raw:reward/mean"], rew["ema:reward/mean"]
        assert raw.get_linestyle() == "None" and raw.get_alpha() is not None and raw.get_alpha() <= 0.3
        assert smooth.get_alpha() in (None, 1.0) and smooth.get_color() == raw.get_color()
        assert "EMA" in smooth.get_label()
        ys = [float(y) for y in raw.get_ydata()]
        assert list(smooth.get_ydata()) == pytest.approx(ema(ys, 12))  # span: a fifth of 60 points
        assert "raw:acc/pass@1" not in _lines(figs["accuracy"].axes[0])  # a twin's raw points would hide
        # smooth or short series: drawn as they are
        assert set(_lines(figs["entropy"].axes[0])) == {"line:actor/entropy"}
        assert "line:eval/pass@4" in _lines(figs["eval"].axes[0])
    finally:
        for f in figs.values():
            plt.close(f)


def test_identical_series_are_drawn_distinguishably(tmp_path):
    figs = figures(_run_dir(tmp_path))
    try:
        acc = _lines(figs["accuracy"].axes[0])
        first, twin = acc["ema:acc/mean"], acc["ema:acc/pass@1"]
        assert list(first.get_ydata()) == list(twin.get_ydata())  # the same values ...
        assert first.get_linestyle() == "-" and twin.get_linestyle() == "--"  # ... but visibly two lines
        assert twin.get_marker() not in (None, "None", "") and twin.get_zorder() > first.get_zorder()
        assert twin.get_color() != first.get_color()
        legend = [t.get_text() for t in figs["accuracy"].axes[0].get_legend().get_texts()]
        assert any("acc/pass@1 (= acc/mean)" in t for t in legend) and len(legend) == 3  # raw points not listed
        ev = _lines(figs["eval"].axes[0])
        assert ev["line:eval/avg@1"].get_linestyle() == "--" and "(= eval/greedy_acc)" in ev["line:eval/avg@1"].get_label()
        assert ev["line:eval/pass@4"].get_linestyle() == "-"
    finally:
        for f in figs.values():
            plt.close(f)


def test_plot_run_writes_pngs_and_closes_figures(tmp_path):
    run = _run_dir(tmp_path)
    before = len(plt.get_fignums())
    paths = plot_run(run)
    assert len(plt.get_fignums()) == before
    assert {p.name for p in paths} >= {"reward.png", "accuracy.png", "overview.png"}
    assert all(p.stat().st_size > 1000 for p in paths)
    assert main([str(tmp_path / "nothing")]) == 2
    assert set(PANELS) >= {"reward", "accuracy", "eval"}


def test_credit_panel_draws_each_signal_and_skips_the_counts(tmp_path):
    from prl.plot import _keys

    recs = [{"step": 5, "credit/prl/argmin_acc": 0.3, "credit/rule/argmin_acc": 1.0, "credit/prl/step_auc": 0.6,
             "credit/responses": 128, "credit/prl/first_error_acc": 0.1}]
    assert _keys(recs, PANELS["credit"]) == ["credit/prl/argmin_acc", "credit/rule/argmin_acc", "credit/prl/step_auc"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps({**r, "step": s}) + "\n" for s in (5, 10) for r in recs))
    figs = figures(run)
    assert "credit" in figs
    plt.close("all")
