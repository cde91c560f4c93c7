"""Credit diagnostics (prl.credit) against hand-computed cases, the long-chain task's checker, and the
credit/* metrics in training: present exactly when a step checker applies."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from prl.credit import CreditSignal, credit_metrics, detect_checker, rank_auc, signal_for_source, step_sums

sys.path.insert(0, str(Path(__file__).resolve().parent / "trainer"))

SUM = CreditSignal("s", 0.0, "sum")
MIN = CreditSignal("m", 0.5, "min")


def test_step_sums_by_hand():
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0]])
    assert step_sums(values, [[1, 3], [1]]) == [[3.0, 7.0], [1.0]]
    assert step_sums(values, [[], [0, 1]]) == [[], [0.5, 0.5]]


def test_first_error_accuracy_f1_and_argmin_by_hand():
    labels = [[1, 0, 1], [1, 1, 0], [1, 1], [0]]  # first errors: 1, 2, none, 0 (a one-step response)
    credits = [[0.9, 0.2, 0.1],   # first below 0.5 is step 1 = first error; argmin is step 2 (wrong)
               [0.8, 0.3, 0.4],   # first below 0.5 is step 1 (early); argmin step 1 (wrong)
               [0.7, 0.6],        # no step below: correct "no error"
               [0.1]]             # one step, flagged: right
    m = credit_metrics(labels, credits, MIN)
    assert m["first_error_acc"] == pytest.approx(2 / 3)
    assert m["no_error_acc"] == 1.0
    assert m["processbench_f1"] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert m["argmin_acc"] == pytest.approx(1 / 3)
    # right steps before the first error: .9 | .8 .3 | .7 .6 ; first wrong steps: .2, .4, .1
    wins = sum((p > n) + 0.5 * (p == n) for p in [.9, .8, .3, .7, .6] for n in [.2, .4, .1])
    assert m["step_auc"] == pytest.approx(wins / 15)
    assert m["responses"] == 4 and m["with_error"] == 3


def test_ties_count_one_half_and_argmin_takes_the_earliest():
    m = credit_metrics([[1, 0], [1, 0]], [[0.3, 0.3], [0.0, 0.0]], SUM)
    assert m["step_auc"] == 0.5  # every right step ties its wrong step
    assert m["argmin_acc"] == 0.0  # a tie goes to the earliest step, which is right
    assert m["first_error_acc"] == 0.0  # credit 0.0 is not below the threshold 0.0
    m = credit_metrics([[0, 0]], [[0.0, 0.0]], SUM)
    assert m["argmin_acc"] == 1.0


def test_no_wrong_step_gives_nan_localisation_and_no_error_accuracy():
    m = credit_metrics([[1, 1], [1]], [[0.2, -0.1], [0.4]], SUM)
    assert math.isnan(m["first_error_acc"]) and math.isnan(m["step_auc"]) and math.isnan(m["processbench_f1"])
    assert m["no_error_acc"] == 0.5


def test_responses_without_steps_are_left_out():
    m = credit_metrics([[], [1, 0]], [[], [0.6, 0.1]], MIN, correct=[0, 0], group_ids=[0, 0])
    assert m["responses"] == 1 and m["first_error_acc"] == 1.0


def test_rank_auc_within_prompts_only():
    # prompt 0: correct 0.9 vs wrong 0.1 (win); prompt 1: correct 0.2 vs wrong 0.2 (tie)
    assert rank_auc([0.9, 0.1, 0.2, 0.2], [1, 0, 1, 0], [0, 0, 1, 1]) == pytest.approx(0.75)
    # across prompts 0.05 < 0.1 would lose, but pairs across prompts do not count
    assert rank_auc([0.05, 0.01, 0.9, 0.1], [1, 0, 1, 0], [0, 0, 1, 1]) == 1.0
    assert math.isnan(rank_auc([0.1, 0.2], [1, 1], [0, 0]))
    m = credit_metrics([[1, 1], [1, 0]], [[0.3, 0.3], [0.4, 0.4]], SUM, correct=[1, 0], group_ids=[7, 7])
    assert m["rank_auc"] == 0.0  # the sums: 0.6 (correct) < 0.8 (wrong)
    m = credit_metrics([[1, 1], [1, 0]], [[0.3, 0.3], [0.4, 0.1]], MIN, correct=[1, 0], group_ids=[7, 7])
    assert m["rank_auc"] == 1.0  # the minima: 0.3 > 0.1


def test_source_readings():
    from prl.signals.rule import RuleConfig

    assert signal_for_source("rule", RuleConfig(correct=1.0, wrong=-1.0)).threshold == 0.0
    assert signal_for_source("explicit_prm", None) == CreditSignal("explicit_prm", 0.5, "min")
    assert signal_for_source("implicit_prm", None).aggregate == "sum"


def test_detect_checker():
    assert detect_checker("auto", ["Compute: 4+5\n", "Compute: 12-3+4\n"]) == "arithmetic"
    assert detect_checker("auto", ["What is 3+4?"]) is None
    assert detect_checker("none", ["Compute: 4+5\n"]) is None
    assert detect_checker("arithmetic", ["anything"]) == "arithmetic"
    with pytest.raises(ValueError, match="no step checker"):
        detect_checker("arithmetc", [])


# ---------------------------------------------------------------------------------------- long chain
def test_long_chain_checker_agrees_with_reference_chains():
    from prl.models.default import long_chain_spec
    from prl.tasks.arithmetic import check_steps, make_splits

    task = long_chain_spec().task
    rows = make_splits(task, {"sft": 300}, seed=3)["sft"]
    slipped = 0
    for r in rows:
        assert 6 <= r["steps"] <= 10 and r["reference"].startswith("Step 1: ")
        assert check_steps(r["prompt"], r["reference"].split("\n")) == [1] * (r["steps"] + 1)
        labels = check_steps(r["prompt"], r["solution"].split("\n"))
        if r["slip"]:
            slipped += 1
            first = labels.index(0)
            assert labels.count(0) == 1 and first < r["steps"]  # only the slip; later lines follow it
            wrong_line = r["solution"].split("\n")[first]
            assert "+" in wrong_line  # a missed carry
        else:
            assert labels == [1] * (r["steps"] + 1)
    assert 0.3 < slipped / len(rows) < 0.6
    slip_steps = {check_steps(r["prompt"], r["solution"].split("\n")).index(0) for r in rows if r["slip"]}
    assert len(slip_steps) >= 6  # slips land at many different steps, not only the first carry
    lengths = [len(r["solution"]) for r in rows]
    assert 100 <= min(lengths) and max(lengths) <= 250


def test_plain_task_keeps_its_cache_key():
    from prl.models.default import DemoSpec
    from prl.tasks.arithmetic import ArithmeticConfig

    assert ArithmeticConfig().key() == "11d7c8e03f99"  # the data seed of the demo's splits
    assert DemoSpec().key() == "6d5cb48b76c4"  # the demo model's cache entry


# ---------------------------------------------------------------------------------------- in training
def _run(tmp_path: Path, data: str, **kw) -> tuple[list[dict], list[dict]]:
    from trainer_helpers import tiny_overrides

    from prl.config import load_config
    from prl.trainer import Trainer

    base = {"data.path": data, "rollout.max_new_tokens": 8, "train.steps": 2, "log.credit_every": 2,
            "log.samples_every": 2, "eval.at_start": False, "eval.at_end": False, "log.tensorboard": False,
            "ckpt.save_final": False}
    base.update(kw)
    out = tmp_path / "run"
    Trainer(load_config(None, tiny_overrides(out, **base))).run()
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    sfile = out / "samples.jsonl"
    samples = [json.loads(x) for x in sfile.read_text().splitlines()] if sfile.exists() else []
    return [m for m in metrics if "reward/mean" in m], samples


@pytest.fixture(scope="module")
def arith_train(tmp_path_factory) -> str:
    from prl.tasks.arithmetic import ArithmeticConfig, write_splits

    d = tmp_path_factory.mktemp("arith")
    return str(write_splits(d, ArithmeticConfig(), {"train": 24})["train"])


def test_credit_metrics_logged_exactly_on_credit_steps_when_checkable(tmp_path, arith_train):
    steps, samples = _run(tmp_path, arith_train, **{"algo.name": "process_grpo", "process_reward.source": "rule",
                                                    "log.kl_ref_every": 1})
    for m in steps:
        has = {k for k in m if k.startswith("credit/")}
        if m["step"] % 2 == 0:
            assert {"credit/rule/argmin_acc", "credit/responses"} <= has, m["step"]
        else:
            assert not has, m["step"]
    assert samples and all("credit_steps" in s for s in samples)
    first = samples[0]["credit_steps"]
    assert first and {"text", "label", "credit"} <= set(first[0]) and "rule" in first[0]["credit"]
    assert "".join(st["text"] for st in first) == samples[0]["completion"]


def test_prl_signal_logged_for_prl(tmp_path, arith_train):
    steps, _ = _run(tmp_path, arith_train, **{"algo.name": "prl", "algo.prl.steps": "newline", "log.samples_every": 0})
    assert all(("credit/prl/argmin_acc" in m) == (m["step"] % 2 == 0) for m in steps)


def test_no_credit_metrics_without_a_checker(tmp_path):
    from trainer_helpers import SUM7

    steps, samples = _run(tmp_path, str(SUM7), **{"algo.name": "prl"})
    assert not any(k.startswith("credit/") for m in steps for k in m)
    assert not any("credit_steps" in s for s in samples)


def test_credit_off_and_bad_task_refused(tmp_path, arith_train):
    from trainer_helpers import tiny_overrides

    from prl.config import load_config
    from prl.errors import ConfigError

    steps, _ = _run(tmp_path, arith_train, **{"log.credit_every": 0, "log.samples_every": 0})
    assert not any(k.startswith("credit/") for m in steps for k in m)
    with pytest.raises(ConfigError, match="log.credit_task"):
        load_config(None, tiny_overrides(tmp_path / "x", **{"log.credit_task": "algebra"}))


def test_cli_on_a_saved_prime_run(tmp_path, arith_train, capsys):
    """python -m prl.credit --run DIR: PRL's term, PRIME's implicit PRM (from the checkpoint) and the rule."""
    from prl.credit import main

    _run(tmp_path, arith_train, **{"algo.name": "prime", "train.steps": 2, "log.samples_every": 0,
                                   "algo.filter.enabled": "off", "ckpt.save_final": True})
    run = tmp_path / "run"
    assert main(["--run", str(run), "--limit", "4", "--n", "2"]) == 0
    res = json.loads((run / "credit.json").read_text())
    assert set(res["signals"]) == {"prl", "implicit_prm", "rule"}
    assert res["signals"]["rule"]["argmin_acc"] == 1.0 and res["prompts"] == 4 and res["responses"] == 8
    out = capsys.readouterr().out
    assert "| implicit_prm |" in out and "written:" in out
    assert main(["--run", str(tmp_path / "nowhere")]) == 2
