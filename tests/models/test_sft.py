"""prl.sft: batching, loss masking, learning, early stop on plateau, evaluation, CLI."""

import json

import pytest
import torch
import transformers

from prl import sft
from prl.models.tiny import build_tokenizer, load_tokenizer, new_causal_lm
from prl.tasks.arithmetic import ArithmeticConfig, make_splits, write_rows


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(["Compute: 0123456789+-=\n\\boxed{}"], include_printable=False)


def test_collate_masks_prompt_and_padding(tok):
    ex = sft.encode_examples(tok, ["ab\n", "a\n"], ["1", "123"])
    # prompt + response + eos; the prompt length is remembered
    assert ex[0] == (tok("ab\n1")["input_ids"] + [tok.eos_token_id], 3)
    b = sft.collate(ex, tok.pad_token_id)
    assert b["input_ids"].shape == (2, 6)
    assert b["labels"][0].tolist() == [-100, -100, -100, tok.convert_tokens_to_ids("1"), tok.eos_token_id, -100]
    assert b["attention_mask"][0].tolist() == [1, 1, 1, 1, 1, 0]
    assert b["input_ids"][0, 5].item() == tok.pad_token_id
    assert (b["labels"][1, :2] == -100).all() and (b["labels"][1, 2:] != -100).all()


def _copy_task(n):
    # the answer is the prompt's digit: learnable in a few dozen steps
    prompts = [f"Compute: {i % 10}\n" for i in range(n)]
    return prompts, [f"\\boxed{{{i % 10}}}" for i in range(n)], [str(i % 10) for i in range(n)]


def test_learns_and_keeps_best(tok):
    torch.manual_seed(0)
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)
    p, r, g = _copy_task(200)
    before = sft.evaluate(model, tok, p[:20], g[:20], max_new_tokens=12)["greedy_acc"]
    cfg = sft.SFTConfig(lr=1e-2, batch_size=32, max_steps=150, warmup_steps=5, eval_every=25, eval_size=20,
                        patience=10, max_new_tokens=12, threads=1, progress=False)
    log = sft.train_sft(model, tok, p, r, p[:20], g[:20], cfg)
    assert before < 0.5
    assert log["best_acc"] == 1.0
    res = sft.evaluate(model, tok, p[:20], g[:20], max_new_tokens=12, samples=4, seed=0)
    assert res["greedy_acc"] == 1.0 and res["pass@4"] >= res["avg@4"] > 0.5
    assert [e["step"] for e in log["evals"]][:2] == [25, 50]


def test_plateau_stops(tok):
    # lr = 0: nothing changes, so the second evaluation without improvement stops the run
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=1)
    p, r, g = _copy_task(64)
    w0 = model.model.embed_tokens.weight.clone()
    cfg = sft.SFTConfig(lr=0.0, batch_size=16, max_steps=1000, warmup_steps=1, eval_every=4, eval_size=10,
                        patience=2, max_new_tokens=6, threads=1, progress=False)
    log = sft.train_sft(model, tok, p, r, p[:10], g[:10], cfg)
    assert log["stopped"] == "plateau" and log["steps"] == 12
    assert len(log["evals"]) == 3 and log["best_step"] == 4
    assert torch.equal(model.model.embed_tokens.weight, w0)


def test_bad_inputs(tok):
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, max_position_embeddings=8)
    cfg = sft.SFTConfig(progress=False, threads=1)
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        sft.train_sft(model, tok, ["a", "b"], ["1"], [], [], cfg)
    with pytest.raises(ValueError, match="max_position_embeddings=8"):
        sft.train_sft(model, tok, ["Compute: 1\n"], ["\\boxed{1}"], [], [], cfg)


def test_cli_fresh_tiny_model(tmp_path, capsys):
    rows = make_splits(ArithmeticConfig(max_steps=2), {"sft": 64, "test": 8}, seed=0)
    write_rows(rows["sft"], tmp_path / "sft.jsonl")
    write_rows(rows["test"], tmp_path / "test.parquet")
    out = tmp_path / "model"
    rc = sft.main(["--data", str(tmp_path / "sft.jsonl"), "--eval-data", str(tmp_path / "test.parquet"),
                   "--out", str(out), "--init", "tiny", "--hidden-size", "32", "--num-layers", "1",
                   "--num-heads", "2", "--max-steps", "4", "--eval-every", "2", "--batch-size", "16",
                   "--final-samples", "2", "--max-new-tokens", "24", "--threads", "1", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 4 and "pass@2" in summary and "greedy_acc" in summary
    log = json.loads((out / "sft_log.json").read_text())
    assert [e["step"] for e in log["evals"]] == [2, 4]
    m = transformers.AutoModelForCausalLM.from_pretrained(out)
    t = load_tokenizer(out)
    assert m.config.vocab_size == len(t)
    with pytest.raises(ValueError, match="no column 'nope'"):
        sft.main(["--data", str(tmp_path / "sft.jsonl"), "--eval-data", str(tmp_path / "test.parquet"),
                  "--out", str(out), "--init", "tiny", "--response-column", "nope"])


def test_time_budget_stops(tok):
    # max_seconds: the run ends at the first step past the budget, evaluated, whatever the patience
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=1)
    p, r, g = _copy_task(64)
    cfg = sft.SFTConfig(lr=1e-3, batch_size=16, max_steps=100000, warmup_steps=1, eval_every=100000, eval_size=10,
                        patience=100, max_new_tokens=6, threads=1, progress=False, max_seconds=0.5)
    log = sft.train_sft(model, tok, p, r, p[:10], g[:10], cfg)
    assert log["stopped"] == "time"
    assert 0 < log["steps"] < 100000 and len(log["evals"]) == 1


def test_progress_messages_do_not_crash(tok, capsys):
    """With progress on, each evaluation is reported through the "prl" logger (a local variable named
    like the logger once shadowed it: AttributeError on the first evaluation)."""
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=2)
    p, r, g = _copy_task(40)
    cfg = sft.SFTConfig(lr=1e-2, batch_size=16, max_steps=4, warmup_steps=1, eval_every=2, eval_size=4,
                        patience=10, max_new_tokens=12, threads=1, progress=True)
    from prl.runlog import setup_logging

    setup_logging()
    log = sft.train_sft(model, tok, p, r, p[:4], g[:4], cfg)
    assert [e["step"] for e in log["evals"]] == [2, 4]
    assert "sft step 2: eval greedy acc" in capsys.readouterr().err
