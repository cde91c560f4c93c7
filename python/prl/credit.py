"""Credit diagnostics: where does a process signal put the credit, and does it pick the wrong step?

A *process signal* gives each response token (or each step) a value; the credit of a step is the sum
of its tokens' values. On responses whose steps a task's checker can judge (prl.tasks.checkers), the
diagnostics compare that credit with the checker's 0/1 step labels:

* ``first_error_acc``: among responses with a wrong step, the share whose first step with credit
  below the signal's threshold is the first wrong step (ProcessBench's accuracy on erroneous ones);
* ``no_error_acc``: among responses with no wrong step, the share with no step below the threshold;
* ``processbench_f1``: the harmonic mean of the two (ProcessBench's F1);
* ``argmin_acc``: the share of erroneous responses whose lowest-credit step is the first wrong step
  (threshold-free; ties go to the earliest step);
* ``step_auc``: the probability that a right step (before the first error) gets more credit than a
  first wrong step (Mann-Whitney, ties one half): threshold-free localisation;
* ``rank_auc``: the response's credit (sum or minimum over its steps, per signal) ranking a correct
  response above a wrong one *of the same prompt* (ties one half): the ranking a group baseline uses.

The signals, and why their thresholds and aggregates are what they are:

=================  =================================================  =========  =========
signal             token value                                        threshold  response
=================  =================================================  =========  =========
``prl``            PRL's per-step reward: -d_t / eta, d_t = log pi_old   0          sum
                   - log pi_ref (the future-KL term is the suffix sum
                   of these, so a step's own term is its credit)
``implicit_prm``   PRIME's implicit reward beta * log(pi_prm / pi_ref)   0          sum
``explicit_prm``   the PRM's step score in [0, 1] at the step's end     0.5        min
``rule``           the checker's own 1 / 0 at the step's end            midpoint   min
=================  =================================================  =========  =========

Steps are newline steps (the checker judges lines), whatever split the estimator uses.

In training (``log.credit_every``) the step logs ``credit/<signal>/<metric>`` for the signals the
batch carries; the samples log gets each step's text, label and credit. For a saved run:
``python -m prl.credit --run DIR`` (prl.credit_cli).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["CreditSignal", "step_sums", "rank_auc", "credit_metrics", "CreditReport", "measure_batch",
           "detect_checker", "signal_for_source", "prl_signal"]

CREDIT_STEPS = "newline"  # the checker judges lines


@dataclass(frozen=True)
class CreditSignal:
    """How to read a signal's credit: the threshold below which a step counts as flagged wrong, and how
    a response's credit comes from its steps' ("sum" for decompositions of a response reward, "min" for
    step scores)."""

    name: str
    threshold: float
    aggregate: str = "sum"


def prl_signal() -> CreditSignal:
    return CreditSignal("prl", 0.0, "sum")


def signal_for_source(name: str, settings: Any) -> CreditSignal:
    """The credit reading of a process-reward source's token rewards (see the module table)."""
    if name == "rule":
        return CreditSignal("rule", (float(settings.correct) + float(settings.wrong)) / 2, "min")
    if name == "explicit_prm":
        return CreditSignal("explicit_prm", 0.5, "min")
    return CreditSignal(name, 0.0, "sum")


def step_sums(values: Tensor, lasts: Sequence[Sequence[int]]) -> list[list[float]]:
    """values [B, T] per-token signal, lasts[i] the last token of each step of row i (increasing) ->
    per row, each step's sum of values (tokens after the previous step's last, up to its own)."""
    csum = values.detach().double().cpu().cumsum(1)  # [B, T]
    out: list[list[float]] = []
    for i, ends in enumerate(lasts):
        prev, row = 0.0, []
        for j in ends:
            total = float(csum[i, j])
            row.append(total - prev)
            prev = total
        out.append(row)
    return out


def rank_auc(response_credit: Sequence[float], correct: Sequence[float], group_ids: Sequence[int]) -> float:
    """P(a correct response's credit > a wrong one's of the same prompt), ties one half; NaN without such a pair."""
    from prl.algos import binary_auc

    return binary_auc(torch.tensor(list(response_credit), dtype=torch.float64),
                      torch.tensor(list(correct), dtype=torch.float64), torch.tensor(list(group_ids)))


def response_credit(steps: Sequence[float], aggregate: str) -> float:
    if not len(steps):
        return 0.0
    return float(min(steps)) if aggregate == "min" else float(sum(steps))


def credit_metrics(labels: Sequence[Sequence[int]], credits: Sequence[Sequence[float]], signal: CreditSignal,
                   correct: Sequence[float] | None = None, group_ids: Sequence[int] | None = None) -> dict[str, float]:
    """The module's metrics for one signal over responses with at least one step (responses without
    steps carry no step credit and are left out)."""
    from prl.prm import score_metrics

    keep = [i for i, lab in enumerate(labels) if len(lab)]
    out = score_metrics([labels[i] for i in keep], [credits[i] for i in keep], threshold=signal.threshold)
    if correct is not None and group_ids is not None:
        out["rank_auc"] = rank_auc([response_credit(credits[i], signal.aggregate) for i in keep],
                                   [correct[i] for i in keep], [group_ids[i] for i in keep])
    return out


@dataclass
class CreditReport:
    """One batch's credit diagnostics: metrics ``credit/<signal>/<name>`` and, per row, its steps."""

    metrics: dict[str, float] = field(default_factory=dict)
    rows: list[list[dict[str, Any]]] = field(default_factory=list)  # [B] -> steps: text, label, credit per signal


def measure_batch(checker: Callable[[str, list[str]], list[int]], prompts: Sequence[str], rollouts: Sequence[Any],
                  token_signals: dict[str, tuple[CreditSignal, Tensor]], correct: Sequence[float] | None = None,
                  group_ids: Sequence[int] | None = None) -> CreditReport:
    """Label each response's newline steps with ``checker`` and score every signal in ``token_signals``
    (name -> (reading, per-token values [B, T])) against the labels."""
    from prl.prm import split_rollouts

    split = split_rollouts(rollouts, CREDIT_STEPS)
    labels = [checker(p, steps) if steps else [] for p, (steps, _) in zip(prompts, split)]
    lasts = [last for _, last in split]
    per_signal = {name: step_sums(values, lasts) for name, (_, values) in token_signals.items()}
    rep = CreditReport()
    for name, (signal, _) in token_signals.items():
        for k, v in credit_metrics(labels, per_signal[name], signal, correct, group_ids).items():
            if k in ("responses", "with_error"):
                rep.metrics[f"credit/{k}"] = float(v)
            elif not (isinstance(v, float) and math.isnan(v)):
                rep.metrics[f"credit/{name}/{k}"] = float(v)
    for i, (steps, _) in enumerate(split):
        rep.rows.append([{"text": text, "label": int(labels[i][j]),
                          "credit": {name: round(per_signal[name][i][j], 6) for name in token_signals}}
                         for j, text in enumerate(steps)])
    return rep


def detect_checker(name: str, prompts: Sequence[str]) -> str | None:
    """The step checker for ``log.credit_task``: a registered name, "none", or "auto" = the first checker
    whose ``detect`` accepts every one of ``prompts`` (None: no checker, no credit diagnostics)."""
    from prl.tasks.checkers import STEP_CHECKERS, STEP_DETECTORS, get_step_checker

    if name == "none":
        return None
    if name != "auto":
        get_step_checker(name)  # unknown names fail here, with the registered ones listed
        return name
    sample = [p for p in prompts if p][:64]
    for task in STEP_CHECKERS:
        detect = STEP_DETECTORS.get(task)
        if detect is not None and sample and all(detect(p) for p in sample):
            return task
    return None


def format_table(results: dict[str, dict[str, float]]) -> str:
    """A markdown table of credit metrics per signal."""
    cols = ["first_error_acc", "no_error_acc", "processbench_f1", "argmin_acc", "step_auc", "rank_auc"]
    lines = ["| signal | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, m in results.items():
        cells = [("-" if m.get(c) is None or (isinstance(m.get(c), float) and np.isnan(m[c])) else f"{m[c]:.3f}")
                 for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
