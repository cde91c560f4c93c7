"""The step-labelled format, the PRM's encoding and loss, the scoring metrics, best-of-N."""

from __future__ import annotations

import json
import math

import pytest
import torch

from prl.errors import DataError, PrlError
from prl.prm import (aggregate, best_of_n, encode_tagged, majority_vote, read_labelled, response_steps,
                     score_metrics, step_auc, tag_loss, write_labelled)


def test_round_trip(tmp_path, rows):
    p = write_labelled(rows, tmp_path / "l.jsonl")
    back = read_labelled(p)
    assert [r["steps"] for r in back] == [r["steps"] for r in rows]
    assert [r["labels"] for r in back] == [[float(v) for v in r["labels"]] for r in rows]
    assert all(isinstance(v, float) for r in back for v in r["labels"])
    assert any(0.0 in r["labels"] for r in back) and any(all(r["labels"]) for r in back)


@pytest.mark.parametrize("row, msg", [
    ({"prompt": "p", "steps": ["a", "b"], "labels": [1]}, "1 labels for 2 steps"),
    ({"prompt": "p", "steps": [], "labels": []}, "'steps' is empty"),
    ({"prompt": "p", "steps": ["a"], "labels": [2]}, r"labels\[0\]"),
    ({"prompt": 3, "steps": ["a"], "labels": [1]}, "'prompt'"),
    ({"prompt": "p", "steps": "a", "labels": [1]}, "'steps'"),
])
def test_bad_rows_are_clear_errors(tmp_path, row, msg):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"prompt": "ok", "steps": ["x"], "labels": [1]}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=msg) as e:
        read_labelled(p)
    assert "row 1" in str(e.value)


def test_response_steps_concatenate_back():
    text = "47+8=55\n55-5=50\n\\boxed{50}"
    offs = [[i, i + 1] for i in range(len(text))] + [[len(text), len(text)]]  # + EOS
    sids = [0] * 8 + [1] * 8 + [2] * 11
    steps, last = response_steps(text, offs, sids)
    assert steps == ["47+8=55\n", "55-5=50\n", "\\boxed{50}"] and "".join(steps) == text
    assert last == [7, 15, 26]


def test_encode_tagged_places_the_tag_before_trailing_whitespace(tiny_lm_dir):
    from prl.modeling import load_tokenizer

    tok = load_tokenizer(tiny_lm_dir)
    tok.add_tokens(["ки"])
    tag = tok.convert_tokens_to_ids("ки")
    ids, pos = encode_tagged(tok, "Compute: 1+2\n", ["1+2=3\n", "\\boxed{3}"], tag)
    assert [ids[p] for p in pos] == [tag, tag]
    assert tok.decode(ids) == "Compute: 1+2\n1+2=3ки\n\\boxed{3}ки"


class _Logits(torch.nn.Module):
    """A 'model' whose logits are a free parameter: the gradient shows which positions the loss reads."""

    def __init__(self, B, T, V):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(B, T, V))

    def forward(self, input_ids, attention_mask):
        return type("O", (), {"logits": self.w})()


def test_prm_loss_only_at_tag_positions():
    torch.manual_seed(0)
    m = _Logits(2, 6, 5)
    pos, y = [[1, 4], [2]], [[1.0, 0.0], [0.25]]
    loss, score = tag_loss(m, torch.zeros(2, 6, dtype=torch.long), torch.ones(2, 6), pos, y, good_id=3, bad_id=4)
    loss.backward()
    touched = {(b, t) for b in range(2) for t in range(6) if m.w.grad[b, t].abs().sum() > 0}
    assert touched == {(0, 1), (0, 4), (1, 2)}
    lp = torch.log_softmax(m.w.detach(), -1)
    want = -(lp[0, 1, 3] + lp[0, 4, 4] + 0.25 * lp[1, 2, 3] + 0.75 * lp[1, 2, 4]) / 3
    assert float(loss.detach()) == pytest.approx(float(want), rel=1e-6)
    p = lp.exp()
    assert float(score[0]) == pytest.approx(float(p[0, 1, 3] / (p[0, 1, 3] + p[0, 1, 4])), rel=1e-5)


def test_metrics_hand_computed():
    labels = [[1, 1, 0, 0], [1, 1, 1], [0, 1], [1, 0]]
    scores = [[0.9, 0.6, 0.3, 0.8], [0.7, 0.4, 0.9], [0.2, 0.9], [0.6, 0.6]]
    # right steps before the first error: .9 .6 | .7 .4 .9 | - | .6 ; first errors: .3, .2, .6
    # pairs: each of 6 right steps against 3 wrong: wins .9:3 .6:2+.5 .7:3 .4:2 .9:3 .6:2+.5 = 16 of 18
    assert step_auc(labels, scores) == pytest.approx(16 / 18)
    m = score_metrics(labels, scores)
    # first step below 0.5: row0 -> 2 (= e) ok; row2 -> 0 ok; row3 -> none (e = 1) miss; row1 (no error) -> 1: miss
    assert m["first_error_acc"] == pytest.approx(2 / 3)
    assert m["no_error_acc"] == 0.0
    assert m["processbench_f1"] == 0.0
    assert m["argmin_acc"] == pytest.approx(2 / 3)  # row3 argmin is 0 (tie, first)
    m = score_metrics([[1, 1], [1, 0]], [[0.9, 0.8], [0.9, 0.1]])
    assert m["processbench_f1"] == 1.0 and m["step_auc"] == 1.0
    assert math.isnan(step_auc([[1, 1]], [[0.5, 0.5]]))


def test_best_of_n_and_majority():
    assert aggregate([0.5, 0.8], "min") == 0.5 and aggregate([0.5, 0.8], "prod") == pytest.approx(0.4)
    assert best_of_n([[[0.9, 0.1], [0.6, 0.7], []]], "min") == [1]
    assert best_of_n([[[0.9, 0.9], [0.95, 0.8]]], "prod") == [0]
    assert majority_vote(["3", "4", "4", None], [True, False, False, False]) is False
    assert majority_vote(["3", "4", "3", "4"], [True, False, True, False]) is True  # tie: first seen
    assert majority_vote([None, None], [False, False]) is False


def test_rule_scorer_is_the_upper_bound(rows):
    from prl.prm import StepScorer

    s = StepScorer("rule:arithmetic")
    m = score_metrics([r["labels"] for r in rows], s.score([r["prompt"] for r in rows], [r["steps"] for r in rows]))
    assert m["processbench_f1"] == 1.0 and m["step_auc"] == 1.0


def test_prm_dir_without_tag_is_a_clear_error(tiny_lm_dir):
    from prl.prm import StepScorer

    with pytest.raises(PrlError, match="no single token for .*ки"):
        StepScorer(tiny_lm_dir)
