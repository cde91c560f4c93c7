"""prl.compare's table arithmetic and its argument errors (the study itself is run by hand:
benches/RESULTS.md)."""

from __future__ import annotations

import math
import os

from pathlib import Path

from prl.compare import main, render_table, summarize

RECIPE = str(Path(__file__).resolve().parents[1] / "configs" / "prl_tiny.yaml")


def _run(curve, final, wall=10.0):
    rows = [{"step": s, "acc/mean": a, "eval/greedy_acc": a} for s, a in curve]
    rows.append({"step": curve[-1][0], "eval/greedy_acc": final, "eval/avg@8": final / 2, "eval/pass@8": 0.9,
                 "eval/final": 1})
    return {"metrics": rows, "wall_s": wall}


def test_summary_means_spreads_and_steps_to_baseline():
    results = {
        "grpo": [_run([(0, 0.5), (10, 0.6), (20, 0.7)], 0.7), _run([(0, 0.5), (10, 0.6), (20, 0.7)], 0.7)],
        "prl": [_run([(0, 0.5), (10, 0.7), (20, 0.8)], 0.8), _run([(0, 0.5), (10, 0.75), (20, 0.9)], 0.9)],
        "rloo": [_run([(0, 0.5), (10, 0.55), (20, 0.6)], 0.6, wall=20.0)],
    }
    t = summarize(results, 8)
    m, sd = t["prl"]["eval/greedy_acc"]
    assert math.isclose(m, 0.85) and math.isclose(sd, math.sqrt(0.005))
    assert t["prl"]["steps_to_baseline_final"] == 10  # seed-mean 0.725 >= grpo's final 0.7 at step 10
    assert t["grpo"]["steps_to_baseline_final"] == 20
    assert t["rloo"]["steps_to_baseline_final"] is None
    assert t["rloo"]["wall_s"] == (20.0, 0.0)
    md = render_table(t, 8)
    assert "| prl | 2 | 0.850 +- 0.071 | 0.425 +- 0.035 | 0.900 +- 0.000 | 10 |" in md
    assert "| rloo | 1 |" in md and "| - |" in md


def test_bad_ablation_and_bad_key_are_errors(capsys):
    assert main(["--config", RECIPE, "--ablate", "algo.prl.eta", "--no-sft-control"]) == 2
    assert "expected KEY=V1;V2" in capsys.readouterr().err
    assert main(["--config", RECIPE, "--ablate", "algo.prl.etaa=1;2", "--no-sft-control"]) == 2
    assert "algo.prl.eta" in capsys.readouterr().err  # the closest valid key is named


def test_sft_control_checked_before_any_run(tmp_path, capsys):
    """A recipe the control cannot use fails at once (it used to fail after every RL run)."""
    assert main(["--config", RECIPE, "--seeds", "1", "--algos", "grpo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "--sft-control" in err and "model.init=demo" in err, err
    assert not (tmp_path / "out").exists()  # no run was started


def test_split_overrides_keeps_commas_inside_values():
    from prl.compare import _split_overrides

    assert _split_overrides("algo.name=prl,algo.prl.steps=balanced:8,32,eval.k=[1, 8]") == [
        "algo.name=prl", "algo.prl.steps=balanced:8,32", "eval.k=[1, 8]"]


def test_credit_table_means_over_steps_then_seeds():
    from prl.compare import render_credit_table

    def run(vals):
        r = _run([(0, 0.5), (10, 0.6)], 0.6)
        r["metrics"] += [{"step": s, "credit/rule/argmin_acc": v, "credit/responses": 9} for s, v in vals]
        return r

    t = summarize({"pg": [run([(5, 0.2), (10, 0.4)]), run([(5, 0.5), (10, 0.5)])], "grpo": [run([])]}, 8)
    m, sd = t["pg"]["credit"]["rule"]["argmin_acc"]
    assert math.isclose(m, 0.4) and math.isclose(sd, math.sqrt(0.02))  # seeds: 0.3 and 0.5
    md = render_credit_table(t)
    assert "| pg | rule | n/a | 0.400 +- 0.141 |" in md and "| grpo |" not in md
    assert render_credit_table(summarize({"grpo": [run([])]}, 8)) == ""


def test_named_variants_in_parallel_with_partial_tables_and_skip_done(tmp_path):
    out = tmp_path / "out"
    args = ["--config", RECIPE, "--seeds", "1", "--algos", "", "--no-sft-control", "--jobs", "2", "--out", str(out),
            "--variant", "prl fixed=algo.name=prl,algo.prl.steps=fixed:1", "--variant", "grpo=algo.name=grpo",
            "train.steps=2", "eval.every=0", "log.plot=false"]
    assert main(args) == 0
    md = (out / "compare.md").read_text()
    assert "| prl fixed | 1 |" in md and "| grpo | 1 |" in md
    cfg = (out / "prl_fixed-seed0" / "config.yaml").read_text()
    assert "steps: 'fixed:1'" in cfg and f"threads: {max((os.cpu_count() or 1) // 2, 1)}" in cfg  # cores / jobs
    before = (out / "grpo-seed0" / "metrics.jsonl").stat().st_mtime_ns
    assert main(args + ["--skip-done"]) == 0
    assert (out / "grpo-seed0" / "metrics.jsonl").stat().st_mtime_ns == before  # reused, not rerun


def test_claims_keep_two_workers_off_each_others_runs(tmp_path):
    import subprocess

    from prl.compare import _claim

    run = tmp_path / "grpo-seed0"
    assert _claim(run) and _claim(run)  # ours, and still ours
    claim = tmp_path / "grpo-seed0.claim"
    other = subprocess.Popen(["sleep", "30"])
    try:
        claim.write_text(str(other.pid))
        assert not _claim(run)  # a live worker holds it
    finally:
        other.kill()
        other.wait()
    run.mkdir()
    (run / "metrics.jsonl").write_text("partial")
    assert _claim(run)  # the holder died: taken over, its partial run removed
    assert claim.read_text() == str(os.getpid()) and not run.exists()


def test_reused_runs_keep_their_wall_time(tmp_path):
    from prl.compare import _recorded_wall

    run = tmp_path / "grpo-seed0"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "time/step": 2.0}\n{"step": 2, "time/step": 3.0}\n')
    assert _recorded_wall(run) == 5.0  # nothing else recorded: the steps' times
    claim, log = tmp_path / "grpo-seed0.claim", tmp_path / "grpo-seed0.log"
    claim.write_text("1")
    log.write_text("done")
    os.utime(claim, (1000.0, 1000.0))
    os.utime(log, (1042.0, 1042.0))
    assert _recorded_wall(run) == 42.0  # claimed at the start, log written to the end
    (tmp_path / "grpo-seed0.wall").write_text("61.5\n")
    assert _recorded_wall(run) == 61.5


def test_sft_control_is_evaluated_like_the_rl_runs():
    """It was evaluated on every held-out prompt, grading bare last numbers, whatever the recipe said."""
    from prl.compare import _control_eval_cmd
    from prl.config import load_config

    cfg = load_config(str(Path(RECIPE).parent / "long_chain.yaml"), ["data.eval_path=test.jsonl"])
    cmd = _control_eval_cmd(cfg, Path("m"), Path("o.json"), 8)
    assert cmd[cmd.index("--limit") + 1] == "100" and "--no-last-number" in cmd
    assert cmd[cmd.index("--template") + 1] == "plain"
    cfg = load_config(RECIPE, [])  # no eval_limit, last_number: true
    cmd = _control_eval_cmd(cfg, Path("m"), Path("o.json"), 4)
    assert "--limit" not in cmd and "--no-last-number" not in cmd
