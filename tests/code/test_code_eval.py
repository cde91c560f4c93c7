"""HumanEval through prl.eval: pass@k with the code grader (a scripted engine), and the CLI on a tiny model."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from prl.eval import evaluate, pass_at_k
from prl.tasks.code import humaneval_rows


class ScriptedEngine:
    """Answers prompt i's samples with the texts given for it (cycled); greedy gets the first."""

    def __init__(self, texts_per_prompt):
        self.texts = texts_per_prompt

    def generate(self, prompt_ids, params):
        out = []
        for ids in prompt_ids:
            texts = self.texts[ids[0]]
            out.append([SimpleNamespace(text=texts[k % len(texts)], response_ids=[0] * 5) for k in range(params.n)])
        return out


def test_humaneval_pass_at_k_through_prl_eval():
    rows = humaneval_rows("instruct")[:6]
    good = lambda r: "```python\n" + r["solution"] + "\n```"  # noqa: E731
    bad = "```python\ndef nothing():\n    pass\n```"
    # prompt i: i of its 4 samples correct (0..3), the last prompt all 4
    texts = [[good(r)] * i + [bad] * (4 - i) if i < 5 else [good(r)] * 4 for i, r in enumerate(rows)]
    # the greedy sample is the first: correct for prompts 1..5
    m, recs = evaluate(ScriptedEngine(texts), [[i] for i in range(6)], [r["answer"] for r in rows], n=4, ks=[1, 2],
                       grader="code", code={"workers": 2})
    correct = [min(i, 4) if i < 5 else 4 for i in range(6)]
    assert [r["n_correct"] for r in recs] == correct
    assert m["eval/avg@4"] == pytest.approx(sum(correct) / 24)
    for k in (1, 2, 4):
        assert m[f"eval/pass@{k}"] == pytest.approx(sum(pass_at_k(4, c, k) for c in correct) / 6)
    assert m["eval/greedy_acc"] == pytest.approx(5 / 6)


@pytest.mark.slow  # ~20 s (transformers, a model load, generation): the default tier keeps the scripted test above
def test_prl_eval_cli_on_humaneval(tmp_path, monkeypatch, capsys):
    """`python -m prl.eval --data human_eval:instruct --grader code` end to end with a tiny random model."""
    from prl import eval as ev
    from prl.models.tiny import build_tokenizer, new_causal_lm

    monkeypatch.setenv("PRL_CACHE_DIR", str(tmp_path / "cache"))
    tok = build_tokenizer(["abc"], kind="char", include_printable=True)
    model = new_causal_lm(tok, arch="llama", hidden_size=16, num_layers=1, num_heads=2, max_position_embeddings=2048,
                          seed=0)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = tmp_path / "res.json"
    rc = ev.main(["--model", str(tmp_path / "m"), "--data", "human_eval:instruct", "--grader", "code", "--limit", "3",
                  "--n", "2", "--k", "1", "2", "--max-new-tokens", "4", "--template", "plain", "--out", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res["metrics"]) >= {"eval/greedy_acc", "eval/avg@2", "eval/pass@1", "eval/pass@2"}
    assert len(res["records"]) == 3 and res["metrics"]["eval/pass@2"] == 0.0  # a random model writes no code
