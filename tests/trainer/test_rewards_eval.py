"""Reward functions (one signature, one registry), pass@k, the standalone evaluator."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prl.eval import main as eval_main
from prl.eval import pass_at_k, pass_at_k_slow
from prl.rewards import REWARD_FUNCS, combine_rewards, extract_answer, format_reward, get_reward_fn, grade


def test_registry_and_signature():
    assert set(REWARD_FUNCS) >= {"verifier", "exact_match", "format"}
    with pytest.raises(ValueError, match="valid: verifier, exact_match, format"):
        get_reward_fn("verifer")
    for name in ("exact_match", "format"):
        out = get_reward_fn(name)(["\\boxed{7}", "so 7", "none"], ["7", "7", "7"])
        assert isinstance(out, list) and len(out) == 3
    with pytest.raises(ValueError, match="2 completions but 1 references"):
        format_reward(["a", "b"], ["a"])


def test_exact_match_and_format():
    assert extract_answer("x \\boxed{\\frac{1}{2}} y") == "\\frac{1}{2}"
    assert extract_answer("so #### 18") == "18" and extract_answer("a 3 then 45.") == "45"
    assert extract_answer("no number") is None and extract_answer("\\boxed{1") == "1"
    assert get_reward_fn("exact_match")(["\\boxed{ 7 }", "17", "x"], ["7", "#### 7", "7"]) == [1.0, 0.0, 0.0]
    assert format_reward(["\\boxed{7}", "\\boxed{7", "7"], ["7"] * 3) == [1.0, 0.0, 0.0]
    v = grade(["7", "8", "zz"], ["7", "7", "7"], grader="exact_match")
    assert [x.status for x in v] == ["correct", "wrong", "no_answer"]


def test_combine_weights_and_none():
    REWARD_FUNCS["_half_none"] = lambda c, r, **kw: [None if i % 2 else 0.5 for i in range(len(c))]
    try:
        total, raw, n_none = combine_rewards(["exact_match", "_half_none"], [1.0, 2.0], ["7", "7"], ["7", "7"],
                                             none_value=-1.0)
    finally:
        del REWARD_FUNCS["_half_none"]
    assert total == [1.0 + 1.0, 1.0 - 2.0] and n_none == 1 and raw["exact_match"] == [1.0, 1.0]


def test_verifier_reward_uses_prl_verifier():
    pv = pytest.importorskip("prl_verifier")
    c, r = ["so \\boxed{\\frac{1}{2}}", "\\boxed{0.5}", "\\boxed{3}"], ["1/2", "\\frac12", "4"]
    got = get_reward_fn("verifier")(c, r)
    assert got == [1.0 if v.correct else 0.0 for v in pv.grade(c, r)]
    assert got[0] == 1.0 and got[2] == 0.0


@given(st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_binomial_oracle(nck):
    n, c, k = nck
    assert math.isclose(pass_at_k(n, c, k), pass_at_k_slow(n, c, k), abs_tol=1e-12)


def test_pass_at_k_edges():
    assert pass_at_k(4, 0, 1) == 0.0 and pass_at_k(4, 4, 1) == 1.0 and pass_at_k(4, 1, 1) == 0.25
    assert pass_at_k(4, 1, 4) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_eval_cli_on_saved_model(tmp_path, capsys):
    from prl.models.tiny import build_tokenizer, new_causal_lm

    tok = build_tokenizer(["0123456789+="], include_printable=False)
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"q": f"{i}+1=", "a": str(i + 1)}) + "\n" for i in range(5)))
    out = tmp_path / "res.json"
    rc = eval_main(["--model", str(tmp_path / "m"), "--data", str(data), "--prompt-column", "q", "--answer-column", "a",
                    "--n", "4", "--k", "1", "2", "--max-new-tokens", "3", "--grader", "exact_match", "--out", str(out)])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    for key in ("eval/greedy_acc", "eval/avg@4", "eval/pass@1", "eval/pass@2", "eval/pass@4"):
        assert 0.0 <= printed[key] <= 1.0
    assert math.isclose(printed["eval/avg@4"], printed["eval/pass@1"])
    assert printed["eval/pass@1"] <= printed["eval/pass@2"] <= printed["eval/pass@4"]
    res = json.loads(out.read_text())
    assert len(res["records"]) == 5 and all(0 <= r["n_correct"] <= 4 for r in res["records"])
    # bad data: clear error, exit code 2
    rc = eval_main(["--model", str(tmp_path / "m"), "--data", str(data), "--grader", "exact_match"])
    assert rc == 2 and "no column 'prompt'" in capsys.readouterr().err
