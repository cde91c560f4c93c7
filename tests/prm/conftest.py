"""Fixtures of the explicit-PRM tests: tiny char-tokenizer models and step-labelled arithmetic rows."""

from __future__ import annotations

import pytest

from prl.tasks.arithmetic import ArithmeticConfig, make_splits


def labelled_rows(n: int = 40, seed: int = 0) -> list[dict]:
    """Demonstrations of the arithmetic task (some with a planted slip) cut at newlines, rule-labelled."""
    from prl.prm import rule_labels

    rows = make_splits(ArithmeticConfig(slip_rate=0.6), {"sft": n}, seed=seed)["sft"]
    out = []
    for r in rows:
        lines = r["solution"].split("\n")
        steps = [ln + "\n" for ln in lines[:-1]] + [lines[-1]]
        out.append({"prompt": r["prompt"], "steps": steps, "answer": r["answer"]})
    return rule_labels(out, "arithmetic")


@pytest.fixture(scope="session")
def rows() -> list[dict]:
    return labelled_rows()


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory):
    """A tiny random Llama with a char tokenizer over the task's characters (no tag token)."""
    from prl.models.tiny import build_tokenizer, new_causal_lm

    rows = labelled_rows()
    tok = build_tokenizer([r["prompt"] + "".join(r["steps"]) for r in rows] + ["0123456789+-*=\\boxed{}"],
                          include_printable=False)
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, max_position_embeddings=128)
    d = tmp_path_factory.mktemp("tiny_lm")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def tiny_prm_dir(tiny_lm_dir, tmp_path_factory):
    """A tag-layout PRM trained for a few steps from the tiny LM (prl.prm.train_prm + save_prm)."""
    from prl.modeling import load_causal_lm, load_tokenizer
    from prl.prm import PRMTrainConfig, save_prm, train_prm

    rows = labelled_rows()
    tok, model = load_tokenizer(tiny_lm_dir), load_causal_lm(tiny_lm_dir)
    cfg = PRMTrainConfig(max_steps=4, batch_size=8, eval_every=2, progress=False, lr=3e-3)
    train_prm(model, tok, rows[:32], rows[32:], cfg)
    return save_prm(model, tok, tmp_path_factory.mktemp("tiny_prm"), cfg)
