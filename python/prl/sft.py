"""Supervised fine-tuning (SFT) on demonstrations, with held-out greedy accuracy and early stop.

Usage (on its own)::

    # a fresh tiny model + char tokenizer built from the data, trained until held-out accuracy plateaus
    python -m prl.sft --data data/sft.jsonl --eval-data data/test.jsonl --out runs/sft --init tiny
    # continue from an HF directory
    python -m prl.sft --model runs/sft --data more.jsonl --eval-data data/test.jsonl --out runs/sft2 --lr 1e-4

The data file (JSONL or Parquet) has a prompt column and a response column (``--prompt-column``,
``--response-column``; defaults ``prompt`` / ``solution``). The loss is the mean cross-entropy over
response tokens plus the final ``<eos>`` (prompt tokens are not trained on). The eval file has a
prompt column and a gold answer column (``--answer-column``, default ``answer``); held-out accuracy
is greedy decoding (prl's rollout engine) graded by ``prl_verifier`` every ``--eval-every`` optimizer steps. Training stops
when the accuracy has not improved by more than ``--min-delta`` for ``--patience`` evaluations in a
row (a plateau), or at ``--max-steps`` / ``--epochs``; the best evaluated weights are saved to
``--out`` as a plain HF directory (config, safetensors, tokenizer) plus ``sft_log.json``.

Text layout: a training sequence is ``prompt + response + <eos>``, tokenized without special tokens
(the prompt ends with a newline in the arithmetic task); generation feeds the prompt the same way.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from prl.runlog import ProgressBar, setup_logging
from prl.schedule import lr_multiplier

logger = logging.getLogger("prl")

# ---------------------------------------------------------------------------------------------
# batching


def encode_examples(tokenizer, prompts: list[str], responses: list[str]) -> list[tuple[list[int], int]]:
    """Token ids of ``prompt + response + eos`` and the prompt length, per example."""
    p_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    r_ids = tokenizer(list(responses), add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return [(p + r + [eos], len(p)) for p, r in zip(p_ids, r_ids, strict=True)]


def collate(examples: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``/``attention_mask`` [B, T] and ``labels`` [B, T] (-100 off response)."""
    T = max(len(ids) for ids, _ in examples)
    B = len(examples)
    input_ids = torch.full((B, T), pad_id, dtype=torch.long)  # [B, T]
    attention_mask = torch.zeros((B, T), dtype=torch.long)  # [B, T]
    labels = torch.full((B, T), -100, dtype=torch.long)  # [B, T]
    for b, (ids, n_prompt) in enumerate(examples):
        t = torch.tensor(ids, dtype=torch.long)
        input_ids[b, : len(ids)] = t
        attention_mask[b, : len(ids)] = 1
        labels[b, n_prompt : len(ids)] = t[n_prompt:]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


# ---------------------------------------------------------------------------------------------
# evaluation: the same engine, grader and metrics as RL training (prl.eval)


@torch.no_grad()
def evaluate(model, tokenizer, prompts: list[str], golds: list[str], *, max_new_tokens: int,
             samples: int = 0, temperature: float = 1.0, seed: int = 0, batch_size: int = 256) -> dict:
    """Held-out greedy accuracy; with ``samples = k > 0`` also avg@k and pass@k at ``temperature``.

    Prompts are fed as the training sequences start (no special tokens); generation stops at ``eos``.
    Returns ``{"greedy_acc", "n"}`` (+ ``"avg@k"``, ``"pass@k"``).
    """
    from prl.eval import evaluate as evaluate_engine
    from prl.rollout import HFEngine

    was_training = model.training
    model.eval()
    try:
        ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        engine = HFEngine(model, tokenizer, batch_size=batch_size)
        metrics, _ = evaluate_engine(engine, ids, list(golds), greedy=True, n=samples, ks=(), temperature=temperature,
                                     max_new_tokens=max_new_tokens, seed=seed)
    finally:
        model.train(was_training)
    out = {"greedy_acc": metrics["eval/greedy_acc"], "n": len(prompts)}
    if samples > 0:
        out[f"avg@{samples}"] = metrics[f"eval/avg@{samples}"]
        out[f"pass@{samples}"] = metrics[f"eval/pass@{samples}"]
    return out


# ---------------------------------------------------------------------------------------------
# training


@dataclass
class SFTConfig:
    lr: float = field(default=3e-3, metadata={"help": "peak AdamW learning rate"})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "cosine decay floor, as a fraction of lr"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    batch_size: int = field(default=64, metadata={"help": "sequences per optimizer step"})
    max_steps: int = field(default=2000, metadata={"help": "optimizer steps at most"})
    max_seconds: float = field(default=0.0, metadata={"help": "stop after this many seconds of training (0: no limit)"})
    epochs: float = field(default=100.0, metadata={"help": "passes over the data at most"})
    warmup_steps: int = field(default=30, metadata={"help": "linear warm-up steps"})
    eval_every: int = field(default=100, metadata={"help": "evaluate held-out greedy accuracy every N steps"})
    eval_size: int = field(default=200, metadata={"help": "held-out prompts used by the periodic evaluation"})
    patience: int = field(default=3, metadata={"help": "stop after this many evaluations without improvement"})
    min_delta: float = field(default=0.01, metadata={"help": "an improvement must exceed this (absolute accuracy)"})
    max_new_tokens: int = field(default=64, metadata={"help": "generation length for evaluation"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm"})
    seed: int = field(default=0, metadata={"help": "shuffling seed"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads (0 = leave as is)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})


def _sft_update(model: Any, opt: torch.optim.Optimizer, batch: dict[str, torch.Tensor], lr: float, grad_clip: float) -> float:
    """One optimiser step on ``batch`` at learning rate ``lr``; returns the loss."""
    for group in opt.param_groups:
        group["lr"] = lr
    loss = model(**batch).loss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss.item()


def train_sft(model, tokenizer, prompts: list[str], responses: list[str], eval_prompts: list[str],
              eval_golds: list[str], cfg: SFTConfig) -> dict:
    """Train ``model`` in place on (prompt, response) pairs; keeps the best evaluated weights.

    Returns a log: ``{"evals": [{"step", "greedy_acc", "loss", "time_s"}...], "best_step",
    "best_acc", "stopped": "plateau" | "max_steps" | "epochs", "steps", "time_s"}``.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"train_sft: {len(prompts)} prompts but {len(responses)} responses")
    if not prompts:
        raise ValueError("train_sft: no training examples")
    if len(eval_prompts) != len(eval_golds):
        raise ValueError(f"train_sft: {len(eval_prompts)} eval prompts but {len(eval_golds)} golds")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    examples = encode_examples(tokenizer, prompts, responses)
    max_len = max(len(ids) for ids, _ in examples)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and max_len > limit:
        raise ValueError(f"train_sft: an example has {max_len} tokens > max_position_embeddings={limit}")
    ev_p, ev_g = list(eval_prompts[: cfg.eval_size]), list(eval_golds[: cfg.eval_size])
    g = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = int(min(cfg.max_steps, math.ceil(cfg.epochs * steps_per_epoch)))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))

    def lr_at(step):  # linear warm-up, cosine decay to min_lr_ratio * lr over `total` steps
        return cfg.lr * lr_multiplier(step, total_steps=total, warmup_steps=cfg.warmup_steps, kind="cosine",
                                      min_ratio=cfg.min_lr_ratio)

    log: dict[str, Any] = {"evals": [], "best_step": 0, "best_acc": -1.0, "stopped": "max_steps", "steps": 0}
    best_state = None
    bad_evals = 0
    t0 = time.time()
    bar = ProgressBar("sft", total, enabled=cfg.progress, every=50)
    model.train()
    step = 0
    order = torch.randperm(len(examples), generator=g)
    pos = 0
    run_loss = None
    while step < total:
        if pos >= len(order):
            order = torch.randperm(len(examples), generator=g)
            pos = 0
        idx = order[pos : pos + cfg.batch_size].tolist()
        pos += cfg.batch_size
        loss = _sft_update(model, opt, collate([examples[i] for i in idx], tokenizer.pad_token_id), lr_at(step),
                           cfg.grad_clip)
        step += 1
        run_loss = loss if run_loss is None else 0.9 * run_loss + 0.1 * loss
        bar.update(step, f"loss {run_loss:.4f}")
        out_of_time = cfg.max_seconds > 0 and time.time() - t0 >= cfg.max_seconds
        if step % cfg.eval_every == 0 or step == total or out_of_time:
            acc = evaluate(model, tokenizer, ev_p, ev_g, max_new_tokens=cfg.max_new_tokens)["greedy_acc"]
            model.train()
            log["evals"].append({"step": step, "greedy_acc": acc, "loss": run_loss,
                                 "time_s": round(time.time() - t0, 2)})
            if cfg.progress:
                logger.info(f"sft step {step}: eval greedy acc {acc:.3f} (loss {run_loss:.4f})")
            improved = acc > log["best_acc"] + cfg.min_delta or best_state is None
            if acc > log["best_acc"] or best_state is None:  # a small gain keeps the better weights, still a plateau
                log["best_acc"], log["best_step"] = acc, step
                best_state = copy.deepcopy(model.state_dict())
            bad_evals = 0 if improved else bad_evals + 1
            if bad_evals >= cfg.patience:
                log["stopped"] = "plateau"
                break
            if out_of_time:
                log["stopped"] = "time"
                break
    else:
        log["stopped"] = "max_steps" if total == cfg.max_steps else "epochs"
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    log["steps"] = step
    log["time_s"] = round(time.time() - t0, 2)
    return log


# ---------------------------------------------------------------------------------------------
# CLI


def _read_table(path: str, columns: list[str]) -> dict[str, list]:
    from prl.tasks.arithmetic import read_rows

    rows = read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no rows")
    for c in columns:
        if c not in rows[0]:
            raise ValueError(f"{path}: no column {c!r} (columns: {sorted(rows[0])})")
    out: dict[str, list[str]] = {c: [] for c in columns}
    for i, r in enumerate(rows):
        for c in columns:
            v = r.get(c)
            if not isinstance(v, str):
                raise ValueError(f"{path}: row {i} column {c!r} is {type(v).__name__}, expected a string")
            out[c].append(v)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prl.sft", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="training file (JSONL/Parquet) with prompt and response columns")
    ap.add_argument("--eval-data", required=True, help="held-out file with prompt and answer columns")
    ap.add_argument("--out", required=True, help="output HF directory")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="start from this HF model directory (with its tokenizer)")
    src.add_argument("--init", choices=["tiny"], help="start from a fresh tiny model (char tokenizer from the data)")
    ap.add_argument("--prompt-column", default="prompt")
    ap.add_argument("--response-column", default="solution")
    ap.add_argument("--answer-column", default="answer")
    ap.add_argument("--hidden-size", type=int, default=128, help="--init tiny: hidden size")
    ap.add_argument("--num-layers", type=int, default=3, help="--init tiny: layers")
    ap.add_argument("--num-heads", type=int, default=4, help="--init tiny: attention heads")
    ap.add_argument("--arch", default="llama", choices=["llama", "qwen2"], help="--init tiny: architecture")
    ap.add_argument("--final-samples", type=int, default=8,
                    help="after training, also measure avg@k/pass@k at temperature 1 with k samples (0: skip)")
    for f in SFTConfig.__dataclass_fields__.values():
        if f.name == "progress":
            continue
        ap.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default,
                        help=f.metadata.get("help"))
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    setup_logging()
    cfg = SFTConfig(**{k: getattr(a, k) for k in SFTConfig.__dataclass_fields__ if k != "progress"},
                    progress=not a.no_progress)
    train = _read_table(a.data, [a.prompt_column, a.response_column])
    ev = _read_table(a.eval_data, [a.prompt_column, a.answer_column])
    import transformers

    from prl.models.tiny import build_tokenizer, load_tokenizer, new_causal_lm

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if a.model:
        tokenizer = load_tokenizer(a.model)
        model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    else:
        corpus = train[a.prompt_column] + train[a.response_column] + ev[a.prompt_column]
        tokenizer = build_tokenizer(corpus, include_printable=False)
        model = new_causal_lm(tokenizer, arch=a.arch, hidden_size=a.hidden_size,  # type: ignore[assignment]
                              num_layers=a.num_layers, num_heads=a.num_heads, seed=cfg.seed)
    log = train_sft(model, tokenizer, train[a.prompt_column], train[a.response_column],
                    ev[a.prompt_column], ev[a.answer_column], cfg)
    final = evaluate(model, tokenizer, ev[a.prompt_column], ev[a.answer_column],
                     max_new_tokens=cfg.max_new_tokens, samples=a.final_samples, seed=cfg.seed)
    log["final"] = final
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "sft_log.json").write_text(json.dumps(log, indent=2) + "\n")
    print(json.dumps({"out": str(out), "stopped": log["stopped"], "steps": log["steps"],
                      "time_s": log["time_s"], **final}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
