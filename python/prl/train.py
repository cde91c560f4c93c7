"""``python -m prl.train``: RL from verifiable rewards (GRPO, Dr.GRPO, RLOO, PRL, PRIME).

Launch commands
---------------
    python -m prl.train --config configs/grpo_tiny.yaml                 # a recipe
    python -m prl.train --config configs/prl_tiny.yaml algo.prl.eta=200 optim.lr=1e-5
    python -m prl.train --config configs/prl_tiny.yaml ckpt.resume=auto # continue a killed run
    python -m prl.train --help                                          # every key, default and help
    python -m prl.train --config configs/prime_tiny.yaml --print-config # the resolved config
    python -m prl.eval --model runs/x/checkpoints/step_00000050/policy --data test.jsonl
    python -m prl.plot runs/x                                           # curves -> runs/x/plots/*.png
    tensorboard --logdir runs/x/tb

Run directory (train.output_dir): config.yaml (resolved), metrics.jsonl (one line per step and per
evaluation), samples.jsonl (completions, rewards, verdicts, step boundaries), tb/ (TensorBoard),
plots/*.png, init_model/ (model.init=tiny), checkpoints/step_NNNNNNNN/{policy,prm,trainer_state.pt}.

Overrides are ``key=value`` (or ``--key=value`` / ``--key value``) with dotted keys; values are read
as YAML (``1e-5``, ``true``, ``null``, ``[1, 4]``). Unknown keys are errors naming the closest key.

What a step does: see :mod:`prl.step`. Deviations from the papers and reference codebases
----------------------------------------------------------------------------------------------
* One process or ``torchrun --nproc-per-node N -m prl.train ...`` (FSDP2; see :mod:`prl.distributed`):
  policy, reference and PRM live on ``train.device`` (sharded over ranks under torchrun); the
  transformers rollout engine shares the policy module (no weight copy); ``rollout.engine=vllm``
  pushes the weights into vLLM after each update. Under torchrun each rank samples its share of the
  prompts, every rank sees the whole batch for rewards and advantages, and rank 0 logs and writes
  checkpoints (full, unsharded: loadable in any world size). Evaluation runs on every rank (same
  prompts; rank 0 reports).
* Log pi_old is recomputed by the trainer (as verl does), not taken from the engine; the engine's
  log-probs are only used for the logged gap ``rollout/logprob_gap``. Log-probs use logits divided
  by the sampling temperature (verl/TRL convention).
* PRL: kl_coef = 1/eta (eta = 100 default, the official scripts' scale); future KL from the step's
  last token (``algo.prl.future_from=step_end``, official code) unless set to ``next_step``.
* PRIME: process leave-one-out baseline as the paper describes (docs/algorithms.md), not its code's variant;
  the PRM is trained on the grader's 0/1 correctness; no over-sampling to refill filtered groups.
* Dr.GRPO: ``algo.loss_agg=auto`` gives seq-mean-token-sum-norm with the constant normaliser
  samples x rollout.max_new_tokens.
* No KL term by default (as in all official recipes); ``algo.kl_loss_coef`` / ``algo.kl_in_reward_coef``.
* The learning-rate scheduler steps once per training step (not per optimiser step).
"""

from __future__ import annotations

import sys

from prl.config import ConfigError, format_help, load_config, to_yaml

__all__ = ["main", "parse_args"]

USAGE = "usage: python -m prl.train [--config FILE.yaml] [--print-config] [--help] [key=value ...]"


def parse_args(argv: list[str]) -> tuple[str | None, list[str], bool, bool]:
    """-> (config path, overrides, print_config, help)."""
    path, overrides, show, hlp = None, [], False, False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            hlp = True
        elif a == "--print-config":
            show = True
        elif a in ("--config", "-c"):
            if i + 1 >= len(argv):
                raise ConfigError("--config needs a file name")
            path = argv[i + 1]
            i += 1
        elif a.startswith("--config="):
            path = a.split("=", 1)[1]
        elif a.startswith("--") and "=" not in a:  # --key value
            if i + 1 >= len(argv):
                raise ConfigError(f"{a} needs a value (or write {a[2:]}=VALUE)")
            overrides.append(f"{a[2:]}={argv[i + 1]}")
            i += 1
        else:
            overrides.append(a)
        i += 1
    return path, overrides, show, hlp


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        path, overrides, show, hlp = parse_args(argv)
        if hlp:
            print(USAGE + "\n\n" + (__doc__ or "").split("What a step does")[0] + "Keys:\n" + format_help())
            return 0
        cfg = load_config(path, overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if show:
        print(to_yaml(cfg), end="")
        return 0
    from prl import distributed
    from prl.errors import PrlError, TrainingAborted
    from prl.runlog import setup_logging
    from prl.trainer import Trainer

    setup_logging()
    try:
        trainer = Trainer(cfg)
        final = trainer.run()
    except TrainingAborted as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (PrlError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        distributed.shutdown()
    if not trainer.env.is_main:
        return 0
    keys = [k for k in ("reward/mean", "acc/mean", "eval/greedy_acc") if k in final]
    print("done: " + ", ".join(f"{k}={final[k]:.4f}" for k in keys) + f"  ({cfg.train.output_dir})")
    if len(trainer.evals) >= 2:
        print(before_after_table(trainer.evals))
    return 0


def before_after_table(evals: list[tuple[int, dict[str, float]]]) -> str:
    """The held-out figures before the first and after the last step, as a text table."""
    (s0, first), (s1, last) = evals[0], evals[-1]
    keys = [k for k in first if k in last and k.startswith("eval/") and k != "eval/response_length"]
    keys.sort(key=lambda k: (not k.endswith("greedy_acc"), not k.startswith("eval/avg"), k))
    rows = [f"{'held-out':<20}{'step ' + str(s0):>12}{'step ' + str(s1):>12}{'change':>10}"]
    for k in keys:
        a, b = first[k], last[k]
        rows.append(f"{k.removeprefix('eval/'):<20}{a:>12.3f}{b:>12.3f}{b - a:>+10.3f}")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
