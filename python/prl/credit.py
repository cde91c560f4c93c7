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
``python -m prl.credit --run DIR``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
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
                  group_ids: Sequence[int] | None = None, split: Sequence[tuple[list[str], list[int]]] | None = None,
                  labels: Sequence[Sequence[int]] | None = None) -> CreditReport:
    """Label each response's newline steps with ``checker`` and score every signal in ``token_signals``
    (name -> (reading, per-token values [B, T])) against the labels. ``split`` / ``labels``: the newline
    steps and their labels when the caller has them already (they are not computed twice)."""
    from prl.prm import split_rollouts

    split = split if split is not None else split_rollouts(rollouts, CREDIT_STEPS)
    if labels is None:
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


# ------------------------------------------------------------------------------------------ CLI
def _checkpoint_dir(run_dir: Path, which: str) -> Path:
    """final (OUTPUT_DIR/final, else the newest checkpoint), latest (the newest checkpoint) or a path."""
    from prl.checkpoint import find_latest
    from prl.errors import ConfigError

    if which not in ("final", "latest"):
        p = Path(which)
        if not (p / "config.json").is_file() and not (p / "policy" / "config.json").is_file():
            raise ConfigError(f"--checkpoint {which}: neither an HF model directory nor a checkpoint (no config.json)")
        return p
    if which == "final" and (run_dir / "final" / "config.json").is_file():
        return run_dir / "final"
    latest = find_latest(run_dir / "checkpoints")
    if latest is None:
        raise ConfigError(f"{run_dir}: no final model and no complete checkpoint in {run_dir / 'checkpoints'}")
    return Path(latest)


def _implicit_prm_dir(run_dir: Path, ck: Path) -> Path | None:
    """A PRIME run's implicit PRM: the checkpoint's ``prm``; for ``final`` (which holds the policy only)
    the newest checkpoint's."""
    from prl.checkpoint import find_latest

    latest = find_latest(run_dir / "checkpoints")
    for d in (ck / "prm", *([Path(latest) / "prm"] if latest is not None and ck.name == "final" else [])):
        if (d / "config.json").is_file():
            return d
    return None


def credit_of_run(run_dir: str | Path, *, checkpoint: str = "final", limit: int = 64, n: int = 4,
                  prm: str | None = None, seed: int = 0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The credit diagnostics of a saved run's policy on held-out prompts: ``n`` samples of the first
    ``limit`` held-out prompts at the run's sampling temperature, steps judged by the run's step checker,
    and every signal that can be computed: PRL's KL term (the checkpoint against the reference), the
    run's implicit PRM (a PRIME checkpoint's ``prm``), an explicit PRM (``prm`` or the run's own), and
    the rule checker itself (the upper bound: 1.0 by construction)."""
    from prl import distributed as D
    from prl.batch import build_batch
    from prl.bootstrap import resolve_demo, resolve_packaged
    from prl.config import load_config
    from prl.errors import ConfigError
    from prl.lockstep import LockstepForward
    from prl.modeling import load_tokenizer
    from prl.prm import place_step_rewards, split_rollouts
    from prl.rewards import score
    from prl.rollout import HFEngine, SamplingParams
    from prl.setup import encode_items, load_model, load_splits
    from prl.tasks.checkers import get_step_checker

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"--run {run_dir}: no config.yaml (not a prl run directory)")
    cfg = load_config(str(run_dir / "config.yaml"), [])
    cfg.train.device = "cpu" if cfg.train.device == "auto" and not torch.cuda.is_available() else cfg.train.device
    resolve_demo(cfg)
    resolve_packaged(cfg)
    ck = _checkpoint_dir(run_dir, checkpoint)
    policy_dir = ck / "policy" if (ck / "policy" / "config.json").is_file() else ck
    init_dir = Path(cfg.model.ref_path or (run_dir / "init_model" if cfg.model.init == "tiny" else str(cfg.model.path)))
    env, device = D.DistEnv(), torch.device(cfg.train.device if cfg.train.device != "auto" else "cpu")
    _, held = load_splits(cfg)
    task = detect_checker(cfg.log.credit_task if cfg.log.credit_task != "none" else "auto", [e.prompt for e in held])
    if task is None:
        raise ConfigError(f"{run_dir}: no step checker applies to the held-out prompts (log.credit_task="
                          f"{cfg.log.credit_task!r}); the credit diagnostics need checkable steps")
    tok = load_tokenizer(policy_dir)
    items = encode_items(tok, held[:limit], cfg, "evaluation")
    policy = load_model(policy_dir, cfg, device, env, trainable=False)
    ref = load_model(init_dir, cfg, device, env, trainable=False)
    log(f"[prl credit] {len(items)} prompts x {n} samples from {policy_dir} (reference {init_dir}, checker {task})")
    engine = HFEngine(policy, tok, batch_size=cfg.rollout.batch_size)
    groups = engine.generate([it["ids"] for it in items], SamplingParams(
        n=n, temperature=cfg.rollout.temperature, max_new_tokens=cfg.rollout.max_new_tokens, seed=seed))
    rollouts = [r for g in groups for r in g]
    group_ids = [i for i, g in enumerate(groups) for _ in g]
    prompts = [items[i]["prompt"] for i in group_ids]
    scored = score([r.text for r in rollouts], [items[i]["answer"] for i in group_ids], cfg.reward)
    b = build_batch(rollouts, engine.pad_token_id, device)
    forward = LockstepForward(env, device, micro_batch_size=cfg.train.micro_batch_size,
                              temperature=cfg.rollout.temperature)
    mask = b.response_mask > 0
    d = torch.where(mask, forward.logp_all(policy, b)[0] - forward.logp_all(ref, b)[0], 0.0)  # [B, T]
    signals: dict[str, tuple[CreditSignal, Tensor]] = {"prl": (prl_signal(), -d / getattr(cfg.algo, "prl").eta)}
    implicit_dir = _implicit_prm_dir(run_dir, ck)
    if implicit_dir is not None:  # PRIME's implicit PRM, at temperature 1 against the reference
        implicit = load_model(implicit_dir, cfg, device, env, trainable=False)
        beta = getattr(cfg.process_reward, "implicit_prm").beta  # sections built from the registries
        q = forward.logp_all(implicit, b, sampling_temperature=False)[0] - forward.logp_all(
            ref, b, sampling_temperature=False)[0]
        signals["implicit_prm"] = (signal_for_source("implicit_prm", None), torch.where(mask, beta * q, 0.0))
    prm_path = prm or (getattr(cfg.process_reward, "explicit_prm").path if cfg.source_name() == "explicit_prm" else None)
    split = split_rollouts(rollouts, CREDIT_STEPS)
    lasts = [last for _, last in split]
    if prm_path:
        from prl.prm import StepScorer

        scores = StepScorer(prm_path, device=device).score(prompts, [steps for steps, _ in split])
        signals["explicit_prm"] = (signal_for_source("explicit_prm", None),
                                   place_step_rewards(scores, lasts, b.B, b.T, device))
    check = get_step_checker(task)
    labels = [check(p, steps) if steps else [] for p, (steps, _) in zip(prompts, split)]
    signals["rule"] = (CreditSignal("rule", 0.5, "min"), place_step_rewards(labels, lasts, b.B, b.T, device))
    rep = measure_batch(check, prompts, rollouts, signals, scored.correct.tolist(), group_ids, split, labels)
    by_signal: dict[str, dict[str, float]] = {name: {} for name in signals}
    for k, v in rep.metrics.items():
        parts = k.split("/")
        if len(parts) == 3:
            by_signal[parts[1]][parts[2]] = v
    return {"run": str(run_dir), "checkpoint": str(ck), "checker": task, "prompts": len(items), "samples": n,
            "accuracy": float(scored.correct.mean()), "responses": rep.metrics.get("credit/responses", 0.0),
            "with_error": rep.metrics.get("credit/with_error", 0.0), "signals": by_signal}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import sys

    from prl.errors import PrlError
    from prl.io import write_text_atomic

    ap = argparse.ArgumentParser(
        prog="python -m prl.credit",
        description="Credit diagnostics of a saved run: does each process signal (PRL's KL term, PRIME's implicit "
                    "PRM, an explicit PRM, the rule checker) give the least credit to the first wrong step, and "
                    "rank correct responses above wrong ones of the same prompt? Samples held-out responses "
                    "from the run's checkpoint and judges their steps with the task's step checker.",
        epilog="Metrics: first_error_acc / no_error_acc / processbench_f1 (threshold per signal: 0 for PRL and "
               "the implicit PRM, 0.5 for PRM scores and rule labels), argmin_acc and step_auc (threshold-free), "
               "rank_auc (correct vs wrong responses of one prompt). Writes RUN/credit.json.")
    ap.add_argument("--run", required=True, help="the run's OUTPUT_DIR (holds config.yaml, final/, checkpoints/)")
    ap.add_argument("--checkpoint", default="final", help="'final' (default), 'latest' or a checkpoint directory")
    ap.add_argument("--limit", type=int, default=64, help="held-out prompts to sample (default 64)")
    ap.add_argument("--n", type=int, default=4, help="samples per prompt (default 4)")
    ap.add_argument("--prm", default=None, help="an explicit PRM directory to score too (python -m prl.prm train)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", default=None, help="JSON output (default RUN/credit.json)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    import transformers

    transformers.utils.logging.disable_progress_bar()  # no per-shard bars between the lines that matter
    try:
        res = credit_of_run(a.run, checkpoint=a.checkpoint, limit=a.limit, n=a.n, prm=a.prm, seed=a.seed,
                            log=lambda s: print(s, file=sys.stderr))
    except PrlError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out) if a.out else Path(a.run) / "credit.json"
    write_text_atomic(out, json.dumps(res, indent=2) + "\n")
    print(f"{res['responses']:.0f} responses ({res['with_error']:.0f} with a wrong step), accuracy {res['accuracy']:.3f}")
    print(format_table(res["signals"]))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
