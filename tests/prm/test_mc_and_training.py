"""Monte-Carlo labels with a scripted policy, PRM training/scoring (tag and head layouts), the CLI,
best-of-N in prl.eval, and two training steps with each new source."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from prl.prm import StepScorer, main, mc_label, read_labelled, write_labelled
from prl.rollout import Rollout, RolloutEngine
from prl.tasks.arithmetic import apply_op, parse_problem

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer"))


class ScriptedPolicy(RolloutEngine):
    """Completes a prefix of the arithmetic chain from its last written value, correctly; with
    ``half_wrong`` every odd sample boxes a wrong answer instead (so its MC fractions are known)."""

    def __init__(self, tok, half_wrong=False):
        self.tok, self.half_wrong = tok, half_wrong

    def generate(self, prompt_ids, params):
        out = []
        for ids in prompt_ids:
            text = self.tok.decode(ids)
            p = parse_problem(text)
            body = text.split("\n", 1)[1] if "\n" in text else ""
            lines = [ln for ln in body.split("\n") if "=" in ln]
            v = int(lines[-1].split("=")[1]) if lines else p.start
            rest = []
            for op, x in p.ops[len(lines):]:
                rest.append(f"{v}{op}{x}={apply_op(v, op, x)}")
                v = apply_op(v, op, x)
            group = []
            for j in range(params.n):
                ans = v + 1 if self.half_wrong and j % 2 else v
                t = ("\n" if body and not body.endswith("\n") else "") + "\n".join(rest + [f"\\boxed{{{ans}}}"])
                group.append(Rollout(0, list(ids), [1] * len(t), t, np.zeros((len(t), 2), dtype=np.int64),
                                     np.zeros(len(t), dtype=np.float32), "stop"))
            out.append(group)
        return out

    def sync_weights(self, policy):
        pass


def _slipped(rows):
    return [r for r in rows if 0 in r["labels"]]


def test_mc_labels_with_a_policy_whose_answers_are_known(rows, tiny_lm_dir):
    from prl.modeling import load_tokenizer

    tok = load_tokenizer(tiny_lm_dir)
    some = rows[:12]
    hard = mc_label(ScriptedPolicy(tok), tok, [{k: r[k] for k in ("prompt", "steps", "answer")} for r in some],
                    rollouts=4, progress=False)
    for r, h in zip(some, hard):
        e = r["labels"].index(0) if 0 in r["labels"] else len(r["steps"])
        # a prefix up to the first slip completes correctly; from the slip on, never (the chain follows it)
        assert h["labels"] == [1] * e + [0] * (len(r["steps"]) - e), (r, h)
    assert _slipped(some), "the sample should hold slipped demonstrations"
    soft = mc_label(ScriptedPolicy(tok, half_wrong=True), tok, [{k: r[k] for k in ("prompt", "steps", "answer")}
                                                                for r in some], rollouts=4, soft=True, progress=False)
    for h, s in zip(hard, soft):
        assert s["labels"][:-1] == [0.5 * v for v in h["labels"][:-1]]  # half the completions box a wrong answer
        assert s["labels"][-1] == h["labels"][-1] and s["mc"] == s["labels"]


def test_mc_labels_need_the_gold(tiny_lm_dir):
    from prl.errors import DataError
    from prl.modeling import load_tokenizer

    tok = load_tokenizer(tiny_lm_dir)
    with pytest.raises(DataError, match="answer"):
        mc_label(ScriptedPolicy(tok), tok, [{"prompt": "Compute: 1+2\n", "steps": ["1+2=3\n"]}], rollouts=2)


def test_cli_train_and_score(tmp_path, rows, tiny_lm_dir, capsys):
    data = write_labelled(rows, tmp_path / "l.jsonl")
    assert main(["train", "--data", str(data), "--init", str(tiny_lm_dir), "--out", str(tmp_path / "prm"),
                 "--max-steps", "3", "--batch-size", "8", "--eval-every", "2", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["steps"] <= 3 and "heldout" in out
    d = tmp_path / "prm"
    assert json.loads((d / "prm.json").read_text())["layout"] == "tag" and (d / "heldout.jsonl").is_file()
    assert main(["score", "--prm", str(d), "--data", str(d / "heldout.jsonl"), "--out", str(tmp_path / "s.jsonl")]) == 0
    m = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for k in ("step_auc", "first_error_acc", "processbench_f1"):
        assert k in m
    sc = read_labelled(tmp_path / "s.jsonl")
    assert all(len(r["scores"]) == len(r["steps"]) and all(0 <= s <= 1 for s in r["scores"]) for r in sc)
    # rule labels from the CLI
    bare = write_labelled([{k: r[k] for k in ("prompt", "steps")} for r in rows[:5]], tmp_path / "bare.jsonl")
    assert main(["label", "--method", "rule", "--task", "arithmetic", "--data", str(bare),
                 "--out", str(tmp_path / "r.jsonl")]) == 0
    assert [r["labels"] for r in read_labelled(tmp_path / "r.jsonl")] == [r["labels"] for r in rows[:5]]
    # a label/step count mismatch is a one-line error
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "steps": ["a"], "labels": [1, 0]}) + "\n")
    assert main(["score", "--prm", str(d), "--data", str(bad)]) == 2
    assert "2 labels for 1 steps" in capsys.readouterr().err


def test_head_layout(tmp_path, tiny_lm_dir, rows):
    import transformers

    from prl.modeling import load_tokenizer

    tok = load_tokenizer(tiny_lm_dir)
    tok.add_tokens(["<extra_0>"])
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32, num_labels=2, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = transformers.LlamaForTokenClassification(cfg).eval()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    s = StepScorer(tmp_path, layout="head")
    r = rows[0]
    got = s.score([r["prompt"]], [r["steps"]])[0]
    ids, pos = s._encode(r["prompt"], r["steps"])
    assert [ids[p] for p in pos] == [tok.convert_tokens_to_ids("<extra_0>")] * len(r["steps"])
    with torch.no_grad():
        want = torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, pos], -1)[:, 1]
    assert got == pytest.approx(want.tolist(), rel=1e-5)


def test_best_of_n_in_eval(tiny_prm_dir, tiny_lm_dir, rows):
    from prl.eval import evaluate
    from prl.modeling import load_tokenizer
    from prl.prm import best_of_n_hook

    tok = load_tokenizer(tiny_lm_dir)
    prompts = [r["prompt"] for r in rows[:3]]
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    hook = best_of_n_hook(StepScorer("rule:arithmetic"), prompts)
    m, _ = evaluate(ScriptedPolicy(tok, half_wrong=True), ids, [r["answer"] for r in rows[:3]], greedy=False, n=4,
                    last_number=False, on_samples=hook)
    assert m["eval/avg@4"] == 0.5 and m["eval/prm_best_of_4"] == 1.0 and m["eval/maj@4"] == 1.0
    hook = best_of_n_hook(StepScorer(tiny_prm_dir), prompts, how="prod")
    m, _ = evaluate(ScriptedPolicy(tok, half_wrong=True), ids, [r["answer"] for r in rows[:3]], greedy=False, n=2,
                    last_number=False, on_samples=hook)
    assert 0 <= m["eval/prm_best_of_2"] <= 1


@pytest.mark.parametrize("algo, source", [("process_grpo", "rule"), ("prime", "explicit_prm")])
def test_two_training_steps_with_each_source(tmp_path, tiny_prm_dir, algo, source):
    from trainer_helpers import tiny_overrides

    from prl.config import load_config
    from prl.trainer import Trainer

    kw = {"algo.name": algo, "process_reward.source": source, "log.samples_every": 0, "eval.at_end": False,
          "log.tensorboard": False, "ckpt.save_final": False}
    if source == "explicit_prm":
        kw["process_reward.explicit_prm.path"] = str(tiny_prm_dir)
        kw["algo.filter.enabled"] = "off"
    t = Trainer(load_config(None, tiny_overrides(tmp_path / "run", **kw)))
    before = {k: v.clone() for k, v in t.policy.state_dict().items()}
    t.run()
    recs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all("prm/step_score_mean" in r and r["prm/steps_per_response"] >= 1 for r in steps)
    assert any(not torch.equal(before[k], v) for k, v in t.policy.state_dict().items())


def test_explicit_prm_needs_a_path(tmp_path):
    from trainer_helpers import tiny_overrides

    from prl.config import load_config
    from prl.errors import ConfigError
    from prl.trainer import Trainer

    with pytest.raises(ConfigError, match="explicit_prm.path"):
        Trainer(load_config(None, tiny_overrides(tmp_path / "run", **{"algo.name": "process_grpo",
                                                                       "process_reward.source": "explicit_prm"})))
