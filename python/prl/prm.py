"""Explicit process reward models: step labels, PRM training, step scoring, metrics, best-of-N.

    python -m prl.prm label --data FILE --out FILE [--policy DIR --samples N] [--method mc|rule] [--rollouts K]
    python -m prl.prm train --data FILE --init MODEL --out DIR
    python -m prl.prm score --prm DIR --data FILE [--labels-field labels]

**Step-labelled JSONL** (PRM800K / Math-Shepherd style), one response per line::

    {"prompt": "Compute: 47+8-5\\n", "steps": ["47+8=45\\n", "45-5=40\\n", "\\\\boxed{40}"],
     "labels": [0, 1, 1], "answer": "50"}

``steps`` are the response's text cut into steps (concatenated they give the response back);
``labels`` one per step, 1 (right) / 0 (wrong) or a float in [0, 1] (a soft label); ``answer``
(optional) the gold final answer. Extra fields are kept (``label`` writes ``mc``, the Monte-Carlo
fractions, and ``rule_labels`` when the task has a step checker).

**Labels, three ways.** Rule (``--method rule``): a task's exact step checker
(:mod:`prl.tasks.checkers`). Monte-Carlo (``--method mc``, Math-Shepherd): from each step prefix
``--rollouts K`` completions are sampled from the policy with prl's rollout engine and graded by the
verifier against the gold; the hard label is 1 when any reaches the gold, the soft label
(``--soft``) the fraction; the last step's label is the response's own grade. Or an existing file in
this format (:func:`read_labelled`).

**PRM (tag layout, Math-Shepherd's formulation).** The scored text is the prompt, then each step
with a step tag after its text (before its trailing whitespace): ``47+8=45<tag>\\n45-5=40<tag>\\n...``;
pieces are tokenized separately, so the tag is always one token at a known position. The model is
any causal LM; the loss is the cross-entropy of the next token at the tag positions only, with target
``good`` ("+") for a right step and ``bad`` ("-") for a wrong one (soft labels mix both targets).
A step's score is p(+) / (p(+) + p(-)) there. Training adds the tag (and +/-) to the tokenizer when
it lacks them and saves a plain HF directory with ``prm.json`` (layout, tag, good, bad).

**Head layout (Qwen2.5-Math-PRM style).** Steps stripped and each followed by a separator token
(``<extra_0>``); a two-class token head; the score is softmax(logits)[1] at each separator.

Metrics (:func:`score_metrics`), on responses with step labels (label < 0.5 = wrong; e_i the first
wrong step): step AUC (steps up to and including e_i; right ones before e_i against the wrong one at
e_i, ranked by score, Mann-Whitney with ties counted one half), first-error accuracy (on responses with
an error: the first step scored below the threshold is e_i), ProcessBench F1 (harmonic mean of that
accuracy and of the accuracy on error-free responses, where no step may score below the threshold),
and the arg-min accuracy (the lowest-scored step is e_i).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from prl.errors import DataError, PrlError

__all__ = ["read_labelled", "write_labelled", "validate_row", "rule_labels", "response_steps", "batch_steps",
           "mc_label", "encode_tagged", "PRMTrainConfig", "train_prm", "StepScorer", "load_scorer", "step_auc",
           "score_metrics", "aggregate", "best_of_n", "best_of_n_hook", "main"]

log = logging.getLogger("prl")

DEFAULT_TAG, DEFAULT_GOOD, DEFAULT_BAD, DEFAULT_SEP = "ки", "+", "-", "<extra_0>"
META_FILE = "prm.json"


# ------------------------------------------------------------------------------------------ format
def validate_row(row: Any, where: str = "row", *, need_labels: bool = True) -> dict[str, Any]:
    """Check one step-labelled row; returns it. Errors name the row and the field."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if not isinstance(row.get("prompt"), str):
        raise DataError(f"{where}: 'prompt' must be a string")
    steps = row.get("steps")
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise DataError(f"{where}: 'steps' must be a list of strings")
    if not steps:
        raise DataError(f"{where}: 'steps' is empty (a labelled response needs at least one step)")
    if need_labels or "labels" in row:
        labels = row.get("labels")
        if not isinstance(labels, list):
            raise DataError(f"{where}: 'labels' must be a list (one label per step)")
        if len(labels) != len(steps):
            raise DataError(f"{where}: {len(labels)} labels for {len(steps)} steps (one label per step)")
        for j, v in enumerate(labels):
            if isinstance(v, bool):
                continue
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise DataError(f"{where}: labels[{j}] = {v!r} is not 0/1, true/false or a number in [0, 1]")
    if "answer" in row and row["answer"] is not None and not isinstance(row["answer"], str):
        row["answer"] = str(row["answer"])
    return row


def read_labelled(path: str | Path, *, need_labels: bool = True) -> list[dict[str, Any]]:
    """Rows of a step-labelled JSONL file, validated (labels as floats)."""
    from prl.io import read_jsonl

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    rows = read_jsonl(p)
    if not rows:
        raise DataError(f"{p}: no rows")
    for i, r in enumerate(rows):
        validate_row(r, f"{p}: row {i}", need_labels=need_labels)
        if "labels" in r:
            r["labels"] = [float(v) for v in r["labels"]]
    return rows


def write_labelled(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(rows):
        validate_row(r, f"row {i}", need_labels=False)
    with open(p, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return p


def rule_labels(rows: Sequence[dict[str, Any]], task: str, field_name: str = "labels") -> list[dict[str, Any]]:
    """Rows with ``field_name`` set by the task's step checker (prl.tasks.checkers)."""
    from prl.tasks.checkers import get_step_checker

    check = get_step_checker(task)
    out = []
    for r in rows:
        labels = [int(v) for v in check(r["prompt"], list(r["steps"]))]
        if len(labels) != len(r["steps"]):
            raise PrlError(f"step checker {task!r} returned {len(labels)} labels for {len(r['steps'])} steps")
        out.append({**r, field_name: labels})
    return out


# ------------------------------------------------------------------------------------------ steps
def response_steps(text: str, offsets: Any, sids: Any) -> tuple[list[str], list[int]]:
    """A response cut into steps: (step texts, index of each step's last token). ``offsets`` [T, 2]
    (character spans of the tokens in ``text``), ``sids`` [T] step ids (non-decreasing). The texts
    concatenate back to ``text``."""
    sids = np.asarray(sids)
    n = len(sids)
    last = [j for j in range(n) if j == n - 1 or sids[j + 1] != sids[j]]
    ends = [int(offsets[j][1]) for j in last]
    if ends:
        ends[-1] = len(text)
    starts = [0] + ends[:-1]
    return [text[a:b] for a, b in zip(starts, ends)], last


def split_rollouts(rollouts: Sequence[Any], spec: str) -> list[tuple[list[str], list[int]]]:
    """Step texts and last-token indices of rollouts, cut by the step spec (the Rust splitter)."""
    import torch

    from prl.batch import build_batch, step_ids_for

    if not rollouts:
        return []
    mask = build_batch(list(rollouts), 0, torch.device("cpu")).response_mask
    sids = step_ids_for(spec, list(rollouts), mask)
    return [response_steps(r.text, r.offsets, sids[i, :len(r.response_ids)].numpy()) for i, r in enumerate(rollouts)]


def batch_steps(batch: Any, spec: str) -> list[tuple[list[str], list[int]]]:
    """Per row of a training batch (prl.batch.Batch): the step texts and each step's last token, from
    ``batch.step_ids`` when the step has set them (the estimator's split), else cut by ``spec``."""
    if batch.rollouts is None or batch.prompts is None:
        raise PrlError("this process-reward source reads the rollouts' texts: batch.rollouts / batch.prompts "
                       "are not set (prl.step.train_step fills them)")
    if batch.step_ids is None:
        return split_rollouts(batch.rollouts, spec)
    sids = batch.step_ids.cpu()
    return [response_steps(r.text, r.offsets, sids[i, :len(r.response_ids)].numpy())
            for i, r in enumerate(batch.rollouts)]


def place_step_rewards(per_row: Sequence[Sequence[float]], lasts: Sequence[Sequence[int]], B: int, T: int,
                       device: Any) -> Any:
    """Step rewards at each step's last token: float32 [B, T], 0 elsewhere."""
    import torch

    out = torch.zeros(B, T, dtype=torch.float32)
    for i, (vals, last) in enumerate(zip(per_row, lasts)):
        for v, j in zip(vals, last):
            out[i, j] = float(v)
    return out.to(device)


# ------------------------------------------------------------------------------------------ MC labels
def sample_responses(engine: Any, tok: Any, rows: Sequence[dict[str, Any]], *, samples: int, temperature: float,
                     max_new_tokens: int, spec: str, template: str = "auto", seed: int = 0) -> list[dict[str, Any]]:
    """``samples`` responses per (prompt, answer) row, cut into steps: step-labelled rows without labels."""
    from prl.data import encode_prompt
    from prl.rollout import SamplingParams

    ids = [encode_prompt(tok, r["prompt"], template=template) for r in rows]
    groups = engine.generate(ids, SamplingParams(n=samples, temperature=temperature, max_new_tokens=max_new_tokens,
                                                 seed=seed))
    flat = [(i, ro) for i, g in enumerate(groups) for ro in g if len(ro.response_ids)]
    split = split_rollouts([ro for _, ro in flat], spec)
    out = []
    for (i, ro), (steps, _) in zip(flat, split):
        out.append({"prompt": rows[i]["prompt"], "steps": steps, "answer": str(rows[i]["answer"]),
                    **({"id": rows[i]["id"]} if "id" in rows[i] else {})})
    return out


def mc_label(engine: Any, tok: Any, rows: Sequence[dict[str, Any]], *, rollouts: int, soft: bool = False,
             temperature: float = 1.0, max_new_tokens: int = 64, template: str = "auto", seed: int = 0,
             grader: str = "verifier", last_number: bool = False, progress: bool = True) -> list[dict[str, Any]]:
    """Monte-Carlo step labels (Math-Shepherd). For step l < K of each row, ``rollouts`` completions of
    the prefix (prompt + steps 1..l) are sampled and graded against ``answer``; ``mc`` is the fraction
    that reach it, the label 1 when any does (hard) or the fraction (``soft``). The last step's label
    is the grade of the whole response."""
    from prl.data import encode_prompt
    from prl.rewards import grade
    from prl.rollout import SamplingParams
    from prl.runlog import ProgressBar

    for i, r in enumerate(rows):
        validate_row(r, f"row {i}", need_labels=False)
        if r.get("answer") is None:
            raise DataError(f"row {i}: Monte-Carlo labels need the gold 'answer'")
    jobs = []  # (row, step, prompt ids)
    for i, r in enumerate(rows):
        p_ids = encode_prompt(tok, r["prompt"], template=template)
        for step in range(len(r["steps"]) - 1):
            prefix = "".join(r["steps"][: step + 1])
            jobs.append((i, step, p_ids + list(tok(prefix, add_special_tokens=False)["input_ids"]), prefix))
    frac = [[0.0] * len(r["steps"]) for r in rows]
    whole = grade(["".join(r["steps"]) for r in rows], [r["answer"] for r in rows], grader=grader,
                  last_number=last_number)
    for i, v in enumerate(whole):
        frac[i][-1] = float(bool(v.correct))
    chunk = 256
    bar = ProgressBar("mc-label", len(jobs), enabled=progress, every=max(chunk, 1))
    for c0 in range(0, len(jobs), chunk):
        part = jobs[c0:c0 + chunk]
        groups = engine.generate([j[2] for j in part], SamplingParams(n=rollouts, temperature=temperature,
                                                                     max_new_tokens=max_new_tokens, seed=seed + c0))
        texts = [j[3] + ro.text for j, g in zip(part, groups) for ro in g]
        golds = [rows[j[0]]["answer"] for j in part for _ in range(rollouts)]
        verdicts = grade(texts, golds, grader=grader, last_number=last_number)
        for k, (i, step, _, _) in enumerate(part):
            frac[i][step] = sum(bool(v.correct) for v in verdicts[k * rollouts:(k + 1) * rollouts]) / rollouts
        bar.update(min(c0 + chunk, len(jobs)))
    bar.close()
    out = []
    for r, f in zip(rows, frac):
        labels = [round(x, 6) for x in f] if soft else [int(x > 0) for x in f]
        out.append({**r, "labels": labels, "mc": [round(x, 6) for x in f]})
    return out


# ------------------------------------------------------------------------------------------ encoding
def _one_token(tok: Any, s: str) -> int | None:
    """The id of ``s`` when the tokenizer encodes it as a single known token, else None."""
    ids = tok(s, add_special_tokens=False)["input_ids"]
    if len(ids) != 1 or (tok.unk_token_id is not None and ids[0] == tok.unk_token_id and s != tok.unk_token):
        return None
    return int(ids[0])


def encode_tagged(tok: Any, prompt: str, steps: Sequence[str], tag_id: int) -> tuple[list[int], list[int]]:
    """(token ids, tag positions): the prompt, then each step's text, the tag, the step's trailing
    whitespace. Pieces are tokenized separately, so each tag is one token at a known position."""
    ids = list(tok(prompt, add_special_tokens=True)["input_ids"]) if prompt else []
    pos = []
    for s in steps:
        core = s.rstrip()
        if core:
            ids += tok(core, add_special_tokens=False)["input_ids"]
        pos.append(len(ids))
        ids.append(tag_id)
        if len(s) > len(core):
            ids += tok(s[len(core):], add_special_tokens=False)["input_ids"]
    return ids, pos


def _pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    att = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        att[i, :len(s)] = 1
    return ids, att


# ------------------------------------------------------------------------------------------ training
@dataclass
class PRMTrainConfig:
    lr: float = field(default=1e-3, metadata={"help": "peak AdamW learning rate"})
    batch_size: int = field(default=32, metadata={"help": "labelled responses per optimizer step"})
    max_steps: int = field(default=2000, metadata={"help": "optimizer steps at most"})
    max_seconds: float = field(default=0.0, metadata={"help": "stop after this many seconds (0: no limit)"})
    warmup_steps: int = field(default=20, metadata={"help": "linear warm-up steps"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm"})
    heldout: float = field(default=0.1, metadata={"help": "fraction of prompts held out (early stopping, metrics)"})
    eval_every: int = field(default=50, metadata={"help": "held-out loss every N steps"})
    patience: int = field(default=4, metadata={"help": "stop after N evaluations without a lower held-out loss"})
    seed: int = field(default=0, metadata={"help": "split and shuffling seed"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: leave as is)"})
    tag: str = field(default=DEFAULT_TAG, metadata={"help": "step tag placed after each step"})
    good: str = field(default=DEFAULT_GOOD, metadata={"help": "target token for a right step"})
    bad: str = field(default=DEFAULT_BAD, metadata={"help": "target token for a wrong step"})
    progress: bool = field(default=True, metadata={"help": "progress bar"})


def split_heldout(rows: Sequence[dict[str, Any]], frac: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, held-out): whole prompts go to one side (several responses of a prompt never straddle)."""
    prompts = sorted({r["prompt"] for r in rows})
    random.Random(seed).shuffle(prompts)
    k = int(round(frac * len(prompts)))
    if frac > 0 and len(prompts) > 1:
        k = min(max(k, 1), len(prompts) - 1)
    held = set(prompts[:k])
    return [r for r in rows if r["prompt"] not in held], [r for r in rows if r["prompt"] in held]


def prepare_tokenizer(model: Any, tok: Any, cfg: PRMTrainConfig) -> tuple[int, int, int]:
    """Ids of tag, good, bad; adds those the tokenizer lacks as tokens (and resizes the embeddings)."""
    missing = [s for s in (cfg.tag, cfg.good, cfg.bad) if _one_token(tok, s) is None]
    if missing:
        tok.add_tokens(missing)
        model.resize_token_embeddings(len(tok))
        log.info(f"[prl] prm: added {missing} to the tokenizer")
    tag, good, bad = (_one_token(tok, s) for s in (cfg.tag, cfg.good, cfg.bad))
    if tag is None or good is None or bad is None or len({tag, good, bad}) != 3:
        raise PrlError(f"prm: tag {cfg.tag!r}, good {cfg.good!r} and bad {cfg.bad!r} must be three distinct single tokens")
    return tag, good, bad


def tag_loss(model: Any, ids: Any, att: Any, positions: Sequence[Sequence[int]], targets: Sequence[Sequence[float]],
             good_id: int, bad_id: int) -> tuple[Any, Any]:
    """Cross-entropy of the next token at the tag positions only: target ``good`` with weight y and
    ``bad`` with weight 1 - y. -> (mean loss over tags, scores p(+)/(p(+)+p(-)) at the tags [N])."""
    import torch

    logits = model(input_ids=ids, attention_mask=att).logits  # [b, T, V]
    rows = torch.tensor([i for i, ps in enumerate(positions) for _ in ps], dtype=torch.long, device=ids.device)
    cols = torch.tensor([p for ps in positions for p in ps], dtype=torch.long, device=ids.device)
    y = torch.tensor([float(v) for ts in targets for v in ts], dtype=torch.float32, device=ids.device)
    lp = torch.log_softmax(logits[rows, cols].float(), dim=-1)  # [N, V]: only the tag positions
    loss = -(y * lp[:, good_id] + (1 - y) * lp[:, bad_id]).mean()
    score = torch.sigmoid(lp[:, good_id] - lp[:, bad_id]).detach()
    return loss, score


def train_prm(model: Any, tok: Any, train_rows: Sequence[dict], held_rows: Sequence[dict], cfg: PRMTrainConfig,
              device: Any = "cpu") -> dict[str, Any]:
    """Train ``model`` in place as a tag-layout PRM; keeps the weights of the lowest held-out loss.
    Returns a log (evals, best step, stop reason, held-out metrics)."""
    import torch

    from prl.runlog import ProgressBar
    from prl.schedule import lr_multiplier

    if not train_rows:
        raise DataError("prm train: no training rows (after the held-out split)")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    tag_id, good_id, bad_id = prepare_tokenizer(model, tok, cfg)
    model.to(device)

    def enc(rows):
        return [(*encode_tagged(tok, r["prompt"], r["steps"], tag_id), [float(v) for v in r["labels"]]) for r in rows]

    tr, he = enc(train_rows), enc(held_rows)
    limit = getattr(model.config, "max_position_embeddings", None)
    longest = max(len(e[0]) for e in tr + he)
    if limit is not None and longest > limit:
        raise DataError(f"prm train: a labelled response has {longest} tokens > max_position_embeddings={limit}")
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    def batch_loss(exs, grad):
        ids, att = _pad([e[0] for e in exs], pad)
        with torch.set_grad_enabled(grad):
            return tag_loss(model, ids.to(device), att.to(device), [e[1] for e in exs], [e[2] for e in exs],
                            good_id, bad_id)

    @torch.no_grad()
    def held_eval():
        if not he:
            return None, None
        model.eval()
        tot, n, scores = 0.0, 0, []
        for k in range(0, len(he), 64):
            exs = he[k:k + 64]
            loss, sc = batch_loss(exs, False)
            m = sum(len(e[1]) for e in exs)
            tot, n = tot + float(loss) * m, n + m
            scores.append(sc.cpu())
        model.train()
        flat = torch.cat(scores).tolist()
        per, o = [], 0
        for e in he:
            per.append(flat[o:o + len(e[1])])
            o += len(e[1])
        return tot / max(n, 1), per

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.max_steps
    g = random.Random(cfg.seed)
    order: list[int] = []
    bar = ProgressBar("prm", total, enabled=cfg.progress, every=25)
    out: dict[str, Any] = {"evals": [], "best_step": 0, "best_loss": None, "stopped": "max_steps",
                           "train_rows": len(tr), "heldout_rows": len(he)}
    best, bad, run_loss, t0 = None, 0, None, time.time()
    model.train()
    step = 0
    while step < total:
        if len(order) < cfg.batch_size:
            more = list(range(len(tr)))
            g.shuffle(more)
            order += more
        idx, order = order[:cfg.batch_size], order[cfg.batch_size:]
        for grp in opt.param_groups:
            grp["lr"] = cfg.lr * lr_multiplier(step, total_steps=total, warmup_steps=cfg.warmup_steps, kind="constant",
                                               min_ratio=1.0)
        loss, _ = batch_loss([tr[i] for i in idx], True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        lv = float(loss.detach())
        run_loss = lv if run_loss is None else 0.9 * run_loss + 0.1 * lv
        bar.update(step, f"loss {run_loss:.4f}")
        out_of_time = cfg.max_seconds > 0 and time.time() - t0 >= cfg.max_seconds
        if step % cfg.eval_every == 0 or step == total or out_of_time:
            hl, _ = held_eval()
            key = hl if hl is not None else run_loss
            out["evals"].append({"step": step, "train_loss": run_loss, "heldout_loss": hl,
                                 "time_s": round(time.time() - t0, 1)})
            if out["best_loss"] is None or key < out["best_loss"] - 1e-4:
                out["best_loss"], out["best_step"], bad = key, step, 0
                best = copy.deepcopy(model.state_dict())
            else:
                bad += 1
                if bad >= cfg.patience:
                    out["stopped"] = "plateau"
                    break
            if out_of_time:
                out["stopped"] = "time"
                break
    bar.close()
    if best is not None:
        model.load_state_dict(best)
    model.eval()
    out["steps"], out["time_s"] = step, round(time.time() - t0, 1)
    _, per = held_eval()
    if per is not None:
        out["heldout"] = score_metrics([r["labels"] for r in held_rows], per)
    return out


def save_prm(model: Any, tok: Any, out: str | Path, cfg: PRMTrainConfig, extra: dict[str, Any] | None = None) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    meta = {"layout": "tag", "tag": cfg.tag, "good": cfg.good, "bad": cfg.bad, **(extra or {})}
    (out / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return out


# ------------------------------------------------------------------------------------------ scoring
class StepScorer:
    """A frozen PRM that scores each step of (prompt, steps) pairs in [0, 1].

    ``layout="tag"``: a causal LM; p(good) / (p(good) + p(bad)) at the tag after each step (prl's own
    PRMs, Math-Shepherd). ``layout="head"``: a two-class token head (AutoModelForTokenClassification, or
    a remote-code ``*ForProcessRewardModel``); softmax(logits)[1] at the separator after each step
    (Qwen2.5-Math-PRM). ``layout="auto"``: what the directory's prm.json says, else ``tag``.
    ``rule:TASK`` as the path scores with the task's step checker (1 / 0).
    """

    def __init__(self, path: str | Path, *, layout: str = "auto", tag: str = "", good: str = "", bad: str = "",
                 sep: str = "", device: Any = "cpu", dtype: str = "float32", batch_size: int = 64,
                 trust_remote_code: bool = False, chat: bool = False):
        import torch

        self.path, self.batch_size, self.device = str(path), int(batch_size), torch.device(device)
        self.rule = None
        if self.path.startswith("rule:"):
            from prl.tasks.checkers import get_step_checker

            self.rule, self.layout = get_step_checker(self.path[5:]), "rule"
            return
        from prl.modeling import _local_dir, load_tokenizer

        p = _local_dir(path, "PRM path")
        meta = json.loads((p / META_FILE).read_text()) if (p / META_FILE).is_file() else {}
        self.layout = layout if layout != "auto" else meta.get("layout", "tag")
        if self.layout not in ("tag", "head"):
            raise PrlError(f"PRM layout {self.layout!r} is not 'tag' or 'head'")
        self.tok = load_tokenizer(p)
        self.chat = chat
        dt = getattr(torch, dtype)
        if self.layout == "tag":
            self.tag, self.good, self.bad = (tag or meta.get("tag") or DEFAULT_TAG, good or meta.get("good") or DEFAULT_GOOD,
                                             bad or meta.get("bad") or DEFAULT_BAD)
            ids = {s: _one_token(self.tok, s) for s in (self.tag, self.good, self.bad)}
            lacking = [s for s, i in ids.items() if i is None]
            if lacking:
                raise PrlError(f"{p}: the PRM's tokenizer has no single token for {lacking} (the step tag and the "
                               f"'+'/'-' targets of the tag layout); pass the PRM's own tag (tag=...) or train one "
                               f"with python -m prl.prm train, which adds them")
            self.tag_id, self.good_id, self.bad_id = ids[self.tag], ids[self.good], ids[self.bad]
            from prl.modeling import load_causal_lm

            self.model = load_causal_lm(p, dtype=dt, device=self.device)
        else:
            self.sep = sep or meta.get("sep") or DEFAULT_SEP
            sid = _one_token(self.tok, self.sep)
            if sid is None:
                raise PrlError(f"{p}: the PRM's tokenizer has no single token for the separator {self.sep!r}")
            self.sep_id = sid
            import transformers

            cfgj = json.loads((p / "config.json").read_text())
            if any("ProcessRewardModel" in a for a in cfgj.get("architectures") or []):
                self.model = transformers.AutoModel.from_pretrained(str(p), dtype=dt, trust_remote_code=trust_remote_code)
            else:
                self.model = transformers.AutoModelForTokenClassification.from_pretrained(str(p), dtype=dt)
            self.model.to(self.device)
        self.model.eval()
        self.pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0

    def _encode(self, prompt: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        if self.layout == "tag":
            assert self.tag_id is not None  # the tag layout found its tag token when it was loaded
            return encode_tagged(self.tok, prompt, steps, self.tag_id)
        # head layout: steps stripped, each followed by the separator; the prompt as a chat turn when asked
        head = prompt
        if self.chat and getattr(self.tok, "chat_template", None):
            head = self.tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                add_generation_prompt=True)
        ids = list(self.tok(head, add_special_tokens=not self.chat)["input_ids"]) if head else []
        pos = []
        for s in steps:
            core = s.strip()
            if core:
                ids += self.tok(core, add_special_tokens=False)["input_ids"]
            pos.append(len(ids))
            ids.append(self.sep_id)
        return ids, pos

    def score(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per pair, one score per step in [0, 1]."""
        import torch

        if self.rule is not None:
            return [[float(v) for v in self.rule(p, list(s))] for p, s in zip(prompts, steps)]
        out: list[list[float]] = [[] for _ in prompts]
        enc = [self._encode(p, s) if len(s) else ([], []) for p, s in zip(prompts, steps)]
        order = [i for i in sorted(range(len(enc)), key=lambda i: len(enc[i][0])) if enc[i][1]]
        with torch.no_grad():
            for k in range(0, len(order), self.batch_size):
                idx = order[k:k + self.batch_size]
                ids, att = _pad([enc[i][0] for i in idx], self.pad)
                logits = self.model(input_ids=ids.to(self.device), attention_mask=att.to(self.device))
                logits = logits.logits if hasattr(logits, "logits") else logits[0]  # [b, T, V or 2]
                for row, i in enumerate(idx):
                    at = logits[row, enc[i][1]].float()  # [K_i, V]
                    if self.layout == "tag":
                        s = torch.sigmoid(at[:, self.good_id] - at[:, self.bad_id])  # p(+)/(p(+)+p(-))
                    else:
                        s = torch.softmax(at, dim=-1)[:, 1]
                    out[i] = s.cpu().tolist()
        return out


def load_scorer(path: str, **kw: Any) -> StepScorer:
    return StepScorer(path, **kw)


# ------------------------------------------------------------------------------------------ metrics
def _first_error(labels: Sequence[float]) -> int | None:
    for j, v in enumerate(labels):
        if float(v) < 0.5:
            return j
    return None


def step_auc(labels: Sequence[Sequence[float]], scores: Sequence[Sequence[float]]) -> float:
    """Mann-Whitney AUC of right steps (before each response's first error) against first-error steps;
    ties count one half; NaN without both kinds."""
    pos, neg = [], []
    for lab, sc in zip(labels, scores):
        e = _first_error(lab)
        upto = len(lab) if e is None else e
        pos += [float(s) for s in sc[:upto]]
        if e is not None:
            neg.append(float(sc[e]))
    if not pos or not neg:
        return float("nan")
    p = np.sort(np.asarray(pos))
    wins = 0.0
    for n in neg:  # right steps scored above the wrong one, ties one half
        lo, hi = np.searchsorted(p, n, side="left"), np.searchsorted(p, n, side="right")
        wins += (len(p) - hi) + 0.5 * (hi - lo)
    return float(wins / (len(pos) * len(neg)))


def score_metrics(labels: Sequence[Sequence[float]], scores: Sequence[Sequence[float]], *,
                  threshold: float = 0.5) -> dict[str, float]:
    """Step AUC, first-error accuracy, ProcessBench F1 and more, from per-step labels and scores."""
    if len(labels) != len(scores):
        raise ValueError(f"score_metrics: {len(labels)} label lists but {len(scores)} score lists")
    err_hit = err_n = ok_hit = ok_n = argmin_hit = 0
    for lab, sc in zip(labels, scores):
        if len(lab) != len(sc):
            raise ValueError(f"score_metrics: {len(lab)} labels but {len(sc)} scores for a response")
        e = _first_error(lab)
        pred = next((j for j, s in enumerate(sc) if s < threshold), None)
        if e is None:
            ok_n += 1
            ok_hit += pred is None
        else:
            err_n += 1
            err_hit += pred == e
            argmin_hit += int(np.argmin(sc)) == e
    acc_err = err_hit / err_n if err_n else float("nan")
    acc_ok = ok_hit / ok_n if ok_n else float("nan")
    f1 = (2 * acc_err * acc_ok / (acc_err + acc_ok) if err_n and ok_n and acc_err + acc_ok > 0
          else (0.0 if err_n and ok_n else float("nan")))
    return {"step_auc": step_auc(labels, scores), "first_error_acc": acc_err, "no_error_acc": acc_ok,
            "processbench_f1": f1, "argmin_acc": argmin_hit / err_n if err_n else float("nan"),
            "responses": len(labels), "with_error": err_n}


def aggregate(scores: Sequence[float], how: str = "min") -> float:
    """A response's score from its step scores: the minimum or the product (-inf for no steps)."""
    if not len(scores):
        return float("-inf")
    if how == "min":
        return float(min(scores))
    if how == "prod":
        return float(math.prod(scores))
    raise ValueError(f"aggregate: how={how!r} is not 'min' or 'prod'")


# ------------------------------------------------------------------------------------------ best-of-N
def best_of_n(step_scores: Sequence[Sequence[Sequence[float]]], how: str = "min") -> list[int]:
    """Per prompt, the index of the response whose aggregated step score is highest (first on ties)."""
    return [max(range(len(g)), key=lambda j: (aggregate(g[j], how), -j)) for g in step_scores]


def majority_vote(extracted: Sequence[Any], correct: Sequence[bool]) -> bool:
    """Whether the most frequent extracted answer (first seen on ties; no answer never wins) is correct."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for j, a in enumerate(extracted):
        if a is None or a == "":
            continue
        counts[a] = counts.get(a, 0) + 1
        first.setdefault(a, j)
    if not counts:
        return False
    best = max(counts, key=lambda a: (counts[a], -first[a]))
    return bool(correct[first[best]])


def best_of_n_hook(scorer: StepScorer, prompts: Sequence[str], *, how: str = "min", spec: str = "newline"
                   ) -> Callable[[list[list[Any]], list[Any]], dict[str, float]]:
    """A hook for prl.eval.evaluate(on_samples=...): PRM best-of-N accuracy beside majority vote."""

    def hook(groups: list[list[Any]], verdicts: list[Any]) -> dict[str, float]:
        n = len(groups[0]) if groups else 0
        flat = [r for g in groups for r in g]
        split = split_rollouts(flat, spec)
        scores = scorer.score([prompts[i] for i, g in enumerate(groups) for _ in g], [s for s, _ in split])
        per = [scores[i * n:(i + 1) * n] for i in range(len(groups))]
        picks = best_of_n(per, how)
        corr = [bool(v.correct) for v in verdicts]
        bon = sum(corr[i * n + j] for i, j in enumerate(picks)) / len(groups)
        maj = sum(majority_vote([getattr(v, "extracted", None) for v in verdicts[i * n:(i + 1) * n]],
                                corr[i * n:(i + 1) * n]) for i in range(len(groups))) / len(groups)
        return {f"eval/prm_best_of_{n}": bon, f"eval/maj@{n}": maj}

    return hook


# ------------------------------------------------------------------------------------------ CLI
def _resolve_model_dir(s: str) -> str:
    """``demo`` / ``long_chain`` -> the embedded task's SFT model (built once, cached)."""
    from prl.models.default import PRESETS, ensure_demo

    if s in PRESETS:
        return str(ensure_demo(name=s).model_dir)
    return s


def _resolve_data(s: str) -> str:
    """``demo:train`` / ``long_chain:test`` / ... -> the embedded task's split files (built once, cached)."""
    from prl.models.default import PRESETS, ensure_demo

    name, _, split = s.partition(":")
    if name in PRESETS and split:
        if split not in ("train", "test", "dev", "sft"):
            raise DataError(f"{s}: expected {name}:train, {name}:test, {name}:dev or {name}:sft")
        return str(getattr(ensure_demo(name=name), f"{split}_file"))
    return s


def _read_prompts(path: str, limit: int | None) -> list[dict[str, Any]]:
    """Rows with 'prompt' (and 'answer', 'steps' when present), JSONL or Parquet."""
    from prl.tasks.arithmetic import read_rows

    rows = read_rows(_resolve_data(path))
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows[:limit] if limit else rows


def _cmd_label(a: argparse.Namespace) -> int:
    rows = _read_prompts(a.data, a.limit)
    has_steps = isinstance(rows[0].get("steps"), list)  # (the arithmetic splits have an int "steps" column)
    engine = tok = None
    if a.method == "mc" or not has_steps:
        if not a.policy:
            raise PrlError("prm label: --policy is required (to sample responses, or for --method mc)")
        engine, tok = _engine(a)
    if not has_steps:
        rows = sample_responses(engine, tok, rows, samples=a.samples, temperature=a.temperature,
                                max_new_tokens=a.max_new_tokens, spec=a.steps, template=a.template, seed=a.seed)
        log.info(f"[prl] prm label: sampled {len(rows)} responses")
    if a.method == "mc":
        rows = mc_label(engine, tok, rows, rollouts=a.rollouts, soft=a.soft, temperature=a.temperature,
                        max_new_tokens=a.max_new_tokens, template=a.template, seed=a.seed,
                        last_number=a.last_number, progress=not a.no_progress)
        if a.task:
            rows = rule_labels(rows, a.task, "rule_labels")
    else:
        rows = rule_labels(rows, a.task or "arithmetic")
    write_labelled(rows, a.out)
    wrong = sum(any(float(v) < 0.5 for v in r["labels"]) for r in rows)
    summary = {"out": a.out, "responses": len(rows), "steps": sum(len(r["steps"]) for r in rows),
               "responses_with_a_wrong_step": wrong}
    if a.method == "mc" and a.task:
        agree = [int(float(x) >= 0.5) == int(y) for r in rows for x, y in zip(r["labels"], r["rule_labels"])]
        summary["mc_vs_rule_step_agreement"] = round(sum(agree) / len(agree), 4)
        summary["mc_vs_rule_first_error"] = score_metrics([r["rule_labels"] for r in rows], [r["labels"] for r in rows])
    print(json.dumps(summary))
    return 0


def _engine(a: argparse.Namespace) -> tuple[Any, Any]:
    import torch

    from prl.modeling import load_causal_lm, load_tokenizer, resolve_device
    from prl.rollout import HFEngine

    if a.threads:
        torch.set_num_threads(a.threads)
    pol = _resolve_model_dir(a.policy)
    tok = load_tokenizer(pol)
    model = load_causal_lm(pol, device=resolve_device(a.device))
    model.eval()
    return HFEngine(model, tok, batch_size=a.batch_size), tok


def _cmd_train(a: argparse.Namespace) -> int:
    import torch

    from prl.modeling import load_causal_lm, load_tokenizer, resolve_device

    cfg = PRMTrainConfig(**{k: getattr(a, k) for k in PRMTrainConfig.__dataclass_fields__ if k != "progress"},
                         progress=not a.no_progress)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    rows = read_labelled(a.data)
    train_rows, held = split_heldout(rows, cfg.heldout, cfg.seed)
    init = _resolve_model_dir(a.init)
    tok = load_tokenizer(init)
    model = load_causal_lm(init)
    out_log = train_prm(model, tok, train_rows, held, cfg, device=resolve_device(a.device))
    out = save_prm(model, tok, a.out, cfg, {"init": init, "data": a.data})
    (out / "train_log.json").write_text(json.dumps(out_log, indent=1) + "\n")
    if held:
        write_labelled(held, out / "heldout.jsonl")
    print(json.dumps({"out": str(out), "stopped": out_log["stopped"], "steps": out_log["steps"],
                      "time_s": out_log["time_s"], "best_step": out_log["best_step"],
                      "heldout": out_log.get("heldout")}))
    return 0


def _cmd_score(a: argparse.Namespace) -> int:
    import torch

    from prl.modeling import resolve_device

    if a.threads:
        torch.set_num_threads(a.threads)

    rows = read_labelled(a.data, need_labels=False)
    missing = [i for i, r in enumerate(rows) if a.labels_field not in r]
    if missing:
        raise DataError(f"{a.data}: row {missing[0]} has no {a.labels_field!r} field")
    for i, r in enumerate(rows):
        if len(r[a.labels_field]) != len(r["steps"]):
            raise DataError(f"{a.data}: row {i}: {len(r[a.labels_field])} {a.labels_field} for {len(r['steps'])} steps")
    scorer = StepScorer(a.prm, layout=a.layout, tag=a.tag,
                        sep=a.sep, device=resolve_device(a.device), trust_remote_code=a.trust_remote_code)
    scores = scorer.score([r["prompt"] for r in rows], [r["steps"] for r in rows])
    m = score_metrics([[float(v) for v in r[a.labels_field]] for r in rows], scores, threshold=a.threshold)
    print(json.dumps({"prm": a.prm, "data": a.data, "labels": a.labels_field, **m}))
    if a.out:
        write_labelled([{**r, "scores": [round(s, 6) for s in sc]} for r, sc in zip(rows, scores)], a.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    from prl.runlog import setup_logging

    ap = argparse.ArgumentParser(prog="python -m prl.prm", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    la = sub.add_parser("label", help="write step labels (Monte-Carlo or rule) as step-labelled JSONL")
    la.add_argument("--data", required=True, help="prompts with gold 'answer' (responses are sampled), or "
                    "step-labelled rows whose 'steps' get labels")
    la.add_argument("--out", required=True)
    la.add_argument("--policy", help="HF directory of the policy (or 'demo'): samples responses and MC completions")
    la.add_argument("--method", choices=["mc", "rule"], default="mc")
    la.add_argument("--rollouts", type=int, default=8, help="MC completions per step prefix")
    la.add_argument("--soft", action="store_true", help="MC: soft labels (the fraction) instead of hard (any)")
    la.add_argument("--samples", type=int, default=4, help="responses sampled per prompt")
    la.add_argument("--task", default=None, help="step checker: rule labels (--method rule), or an extra "
                    "'rule_labels' field beside MC labels (e.g. arithmetic)")
    la.add_argument("--steps", default="newline", help="step split of sampled responses")
    la.add_argument("--temperature", type=float, default=1.0)
    la.add_argument("--max-new-tokens", type=int, default=64)
    la.add_argument("--template", default="auto", choices=["auto", "chat", "plain"])
    la.add_argument("--last-number", action="store_true", help="grade a bare last number when nothing is boxed")
    la.add_argument("--limit", type=int, default=None, help="first N prompts")
    la.add_argument("--batch-size", type=int, default=512, help="sequences generated together")
    tr = sub.add_parser("train", help="train a tag-layout PRM from step-labelled JSONL")
    tr.add_argument("--data", required=True)
    tr.add_argument("--init", required=True, help="HF causal LM directory to start from (or 'demo')")
    tr.add_argument("--out", required=True)
    for f in PRMTrainConfig.__dataclass_fields__.values():
        if f.name != "progress":
            tr.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default,
                            help=f.metadata.get("help"))
    sc = sub.add_parser("score", help="step AUC, first-error accuracy, ProcessBench F1 of a PRM on labelled data")
    sc.add_argument("--prm", required=True, help="PRM directory, or rule:TASK (the exact checker)")
    sc.add_argument("--data", required=True)
    sc.add_argument("--labels-field", default="labels", help="field holding the true labels (e.g. rule_labels)")
    sc.add_argument("--layout", default="auto", choices=["auto", "tag", "head"])
    sc.add_argument("--tag", default="")
    sc.add_argument("--sep", default="")
    sc.add_argument("--threshold", type=float, default=0.5)
    sc.add_argument("--trust-remote-code", action="store_true")
    sc.add_argument("--out", default=None, help="write the rows with their 'scores' here")
    for p in (la, tr, sc):
        p.add_argument("--device", default="cpu")
        p.add_argument("--no-progress", action="store_true")
    for p in (la, sc):  # (train has its own --threads and --seed among PRMTrainConfig's fields)
        p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
        p.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    setup_logging()
    import transformers

    transformers.utils.logging.disable_progress_bar()
    try:
        return {"label": _cmd_label, "train": _cmd_train, "score": _cmd_score}[a.cmd](a)
    except (PrlError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
