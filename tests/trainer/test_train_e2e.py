"""End-to-end training on a tiny random model (CPU): every algorithm, learning, resume, failures."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from trainer_helpers import tiny_overrides
from prl import train
from prl.checkpoint import find_latest, list_checkpoints
from prl.config import load_config
from prl.trainer import Trainer, TrainingAborted

PER_STEP = ["reward/mean", "acc/mean", "acc/pass@4", "response/length_mean", "actor/entropy", "actor/kl_ref",
            "actor/pg_clipfrac", "actor/grad_norm", "filter/dropped_groups", "verifier/correct", "verifier/wrong",
            "verifier/no_answer", "time/generate", "time/logprob", "time/update", "time/step", "rollout/logprob_gap"]


def _cfg(tmp_path, name="run", **kw):
    return load_config(None, tiny_overrides(tmp_path / name, **kw))


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("algo, extra", [
    ("grpo", {}),
    ("grpo", {"reward.funcs": "[exact_match, format]", "reward.weights": "[1.0, 0.5]", "reward.grader": "exact_match"}),
    ("drgrpo", {"algo.kl_in_reward_coef": 0.01}),
    ("rloo", {"train.ppo_epochs": 2, "train.mini_batch_size": 8, "algo.clip_high": 0.28, "algo.dual_clip": 3.0,
              "algo.kl_loss_coef": 0.01, "optim.scheduler": "cosine", "optim.warmup_steps": 1}),
    ("prl", {"algo.prl.steps": "fixed:2"}),
    ("prime", {"algo.prime.update": "before", "algo.filter.low": 0.0}),  # filter on, all-wrong groups kept
    ("prime", {"algo.prime.update": "after", "algo.filter.enabled": "off"}),
])
def test_every_algorithm_runs(tmp_path, algo, extra):
    cfg = _cfg(tmp_path, **{"algo.name": algo, "ckpt.every": 1, "ckpt.keep_last": 1, **extra})
    t = Trainer(cfg)
    before = _params(t.policy)
    t.run()
    out = tmp_path / "run"
    recs = _metrics(out)
    steps = [r for r in recs if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for key in PER_STEP:
        assert key in steps[0], key
    if "format" in extra.get("reward.funcs", ""):
        assert "reward/format" in steps[0] and "reward/exact_match" in steps[0]
    if "train.ppo_epochs" in extra:
        assert all(r["actor/optimizer_steps"] == 4 for r in steps)  # 2 epochs x 2 mini-batches
        assert steps[0]["actor/lr"] < steps[-1]["actor/lr"] or steps[-1]["actor/lr"] < cfg.optim.lr
    if algo == "prl":
        assert "prl/future_kl_mean" in steps[-1] and steps[-1]["prl/steps_per_response"] >= 1
    if algo == "prime":
        assert "prm/acc" in steps[-1] and "prm/loss" in steps[-1]
        aucs = [r["prm/auc"] for r in steps if "prm/auc" in r]  # absent only on one-class batches
        assert all(0.0 <= a <= 1.0 for a in aucs)
        assert (list_checkpoints(out / "checkpoints")[-1][1] / "prm" / "config.json").is_file()
    assert steps[0]["rollout/logprob_gap"] < 1e-4  # same weights: engine and trainer agree
    final = [r for r in recs if r.get("eval/final")]
    assert final and {"eval/greedy_acc", "eval/avg@2", "eval/pass@1", "eval/pass@2"} <= set(final[0])
    # keep_last=1: only the final checkpoint remains, loadable with from_pretrained
    cks = list_checkpoints(out / "checkpoints")
    assert [s for s, _ in cks] == [2]
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(str(cks[0][1] / "policy"))
    for k, v in m.state_dict().items():
        assert torch.equal(v, t.policy.state_dict()[k])
    assert (out / "samples.jsonl").read_text().count("\n") == 2 * 4
    assert list((out / "tb").iterdir())
    if any(abs(r.get("adv/abs_mean", 0)) > 0 for r in steps):
        assert any(not torch.equal(before[k], v) for k, v in t.policy.state_dict().items())


def test_reward_rises(tmp_path):
    """A learning test: GRPO on 'sums to 7' lifts the batch reward within 20 steps (seeds 0-2: from
    <= 0.11 over the first 5 steps to >= 0.58 over the last 5)."""
    cfg = _cfg(tmp_path, **{"train.steps": 20, "train.prompts_per_step": 4, "rollout.n": 8, "rollout.max_new_tokens": 3,
                            "train.micro_batch_size": 64, "eval.n": 0, "log.samples_every": 0, "ckpt.save_final": False,
                            "log.tensorboard": False})
    Trainer(cfg).run()
    r = [m["reward/mean"] for m in _metrics(tmp_path / "run") if "reward/mean" in m]
    first, last = sum(r[:5]) / 5, sum(r[-5:]) / 5
    assert last > first + 0.3, r


@pytest.mark.parametrize("algo", ["prl", "prime"])
def test_resume_gives_same_parameters(tmp_path, algo):
    kw = {"algo.name": algo, "train.steps": 4, "eval.at_end": False, "log.tensorboard": False,
          "algo.filter.enabled": "off", "train.mini_batch_size": 8, "train.micro_batch_size": 4}
    straight = Trainer(_cfg(tmp_path, "a", **kw))
    straight.run()
    half = Trainer(_cfg(tmp_path, "b", **{**kw, "train.steps": 2}))
    half.run()
    assert find_latest(tmp_path / "b" / "checkpoints").name == "step_00000002"
    resumed = Trainer(_cfg(tmp_path, "b", **{**kw, "ckpt.resume": "auto"}))
    assert resumed.step == 2
    resumed.run()
    for (k, a), b in zip(straight.policy.state_dict().items(), resumed.policy.state_dict().values()):
        assert torch.equal(a, b), k
    if algo == "prime":
        for (k, a), b in zip(straight.prm.state_dict().items(), resumed.prm.state_dict().values()):
            assert torch.equal(a, b), k
    ra = [r for r in _metrics(tmp_path / "a") if "reward/mean" in r]
    rb = [r for r in _metrics(tmp_path / "b") if "reward/mean" in r]
    assert [r["step"] for r in rb] == [1, 2, 3, 4]
    assert [r["reward/mean"] for r in ra] == [r["reward/mean"] for r in rb]


def test_incomplete_checkpoints_are_ignored(tmp_path):
    cfg = _cfg(tmp_path, **{"train.steps": 2, "ckpt.every": 1, "eval.at_end": False})
    Trainer(cfg).run()
    root = tmp_path / "run" / "checkpoints"
    # a run killed while writing step 3 leaves a temporary directory; one killed in a copy, a dir without meta.json
    shutil.copytree(root / "step_00000002", root / ".tmp-step_00000003-999")
    shutil.copytree(root / "step_00000002", root / "step_00000004")
    (root / "step_00000004" / "meta.json").unlink()
    assert find_latest(root).name == "step_00000002"
    t = Trainer(_cfg(tmp_path, **{"train.steps": 3, "ckpt.resume": "auto", "eval.at_end": False}))
    assert t.step == 2
    t.run()
    assert find_latest(root).name == "step_00000003" and not list(root.glob(".tmp-*"))


def test_zero_variance_groups_give_no_gradient(tmp_path):
    """Gold answers the model cannot produce: every group has zero reward variance -> no update, no NaN."""
    data = tmp_path / "unreachable.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"{i}+{i}=", "answer": "12345678"}) + "\n" for i in range(8)))
    for algo in ("grpo", "prl", "rloo"):
        t = Trainer(_cfg(tmp_path, algo, **{"data.path": str(data), "data.eval_size": 0, "algo.name": algo}))
        before = _params(t.policy)
        t.run()
        steps = [r for r in _metrics(tmp_path / algo) if "reward/mean" in r]
        assert all(r["reward/mean"] == 0.0 and r["train/bad_step"] == 0 for r in steps)
        assert all(r["actor/grad_norm"] == 0.0 for r in steps) or algo == "prl"
        if algo != "prl":  # PRL's future-KL term is 0 at the start (pi_old == pi_ref) and stays so
            for k, v in t.policy.state_dict().items():
                assert torch.equal(before[k], v), (algo, k)


def test_nan_loss_skips_then_aborts(tmp_path, capsys):
    t = Trainer(_cfg(tmp_path, **{"train.steps": 5, "train.max_bad_steps": 2, "eval.at_end": False}))
    before = _params(t.policy)

    def poison(module, args, output):  # fault injection: the training forward (with grad) returns NaN
        return output * float("nan") if torch.is_grad_enabled() else output

    # on the decoder's final norm: the chunked LM head (train.logprob_chunk_tokens > 0) reads the head's
    # weight directly, so a hook on the head module would only fire on the full-logits path
    h = t.policy.get_decoder().norm.register_forward_hook(poison)
    with pytest.raises(TrainingAborted, match="2 consecutive steps.*train.max_bad_steps=2"):
        t.run()
    h.remove()
    assert "update skipped (1/2 in a row)" in capsys.readouterr().err
    for k, v in t.policy.state_dict().items():
        assert torch.equal(before[k], v), k
    assert [r["train/bad_step"] for r in _metrics(tmp_path / "run") if "reward/mean" in r] == [1]


def test_oom_names_the_knob(tmp_path):
    t = Trainer(_cfg(tmp_path, **{"train.micro_batch_size": 3}))

    def oom(module, args, output):
        if torch.is_grad_enabled():
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return output

    t.policy.get_decoder().norm.register_forward_hook(oom)  # fires on both LM-head paths (as above)
    with pytest.raises(RuntimeError, match=r"lower train.micro_batch_size \(now 3\)"):
        t.run()


def test_micro_batching_does_not_change_the_update(tmp_path):
    """The accumulated gradient at the optimiser step is the same for micro-batches of 3 (uneven: 16 = 5 x 3 + 1) and of 16."""
    results = []
    for name, micro, algo in (("m3", 3, "drgrpo"), ("m16", 16, "drgrpo"), ("p3", 3, "prl"), ("p16", 16, "prl")):
        t = Trainer(_cfg(tmp_path, name, **{"train.steps": 3, "train.micro_batch_size": micro, "eval.at_end": False,
                                            "ckpt.save_final": False, "algo.name": algo, "optim.max_grad_norm": 0,
                                            "algo.prl.steps": "fixed:2"}))
        grads = []
        t.actor.opt.register_step_pre_hook(lambda opt, a, k: grads.append([p.grad.clone() for p in t.policy.parameters()]))
        t.run()
        results.append((grads, _metrics(tmp_path / name)))
    for (ga, ma), (gb, mb) in (results[:2], results[2:]):
        assert len(ga) == len(gb) == 3
        assert [r["reward/mean"] for r in ma] == [r["reward/mean"] for r in mb]
        assert any(g.abs().sum() > 0 for step in ga for g in step)
        for step_a, step_b in zip(ga, gb):
            for a, b in zip(step_a, step_b):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_prompt_filter_counts_dropped_groups(tmp_path):
    t = Trainer(_cfg(tmp_path, **{"algo.name": "grpo", "algo.filter.enabled": "on", "algo.filter.low": 0.9, "algo.filter.high": 1.0,
                                  "train.steps": 2, "eval.at_end": False}))
    t.run()
    steps = [r for r in _metrics(tmp_path / "run") if "reward/mean" in r]
    for r in steps:
        assert r["filter/dropped_groups"] + r["filter/kept_groups"] == 4
    assert sum(r["filter/dropped_groups"] for r in steps) >= 1


def test_text_steps_with_the_rust_splitter(tmp_path):
    pytest.importorskip("prl_verifier")
    t = Trainer(_cfg(tmp_path, **{"algo.name": "prl", "algo.prl.steps": "newline", "rollout.max_new_tokens": 8,
                                  "eval.at_end": False}))
    t.run()
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    for s in samples:
        ends = s["step_ends"]
        assert ends == sorted(ends) and ends[-1] == len(s["completion"])
        for e in ends[:-1]:
            assert s["completion"][e - 1] == "\n"


def test_cli_runs_a_recipe_and_plots(tmp_path, capsys):
    from prl.plot import main as plot_main

    out = tmp_path / "cli"
    from trainer_helpers import REPO, SUM7

    rc = train.main(["--config", str(REPO / "configs" / "prl_tiny.yaml"), f"data.path={SUM7}", "train.steps=2", f"train.output_dir={out}", "eval.n=2",
                     "eval.k=[1]", "log.progress=false", "rollout.n=4", "train.prompts_per_step=2"])
    assert rc == 0, capsys.readouterr().err
    assert "done:" in capsys.readouterr().out
    assert (out / "plots" / "reward.png").is_file() and (out / "plots" / "overview.png").is_file()
    (out / "plots" / "reward.png").unlink()
    assert plot_main([str(out)]) == 0 and (out / "plots" / "reward.png").stat().st_size > 1000
    assert plot_main([str(tmp_path / "nothing")]) == 2


def test_cli_bad_data_is_a_clear_error(tmp_path, capsys, write_jsonl):
    p = write_jsonl([{"question": "1+1=", "answer": "2"}])
    rc = train.main(["model.init=tiny", f"data.path={p}", f"train.output_dir={tmp_path / 'o'}", "log.progress=false"])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(p) in err and "no column 'prompt'" in err


def test_killed_run_resumes_to_the_same_parameters(tmp_path):
    """SIGKILL a CLI run mid-training (maybe mid-checkpoint), resume with ckpt.resume=auto: the result
    equals an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from trainer_helpers import REPO

    kw = {"train.steps": 6, "eval.at_end": False, "log.tensorboard": False, "algo.name": "prl",
          "algo.prl.steps": "fixed:2", "ckpt.every": 1, "ckpt.keep_last": 2}
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "python"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "prl.train", *tiny_overrides(killed, **kw)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if (killed / "checkpoints" / "step_00000003" / "meta.json").exists():
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.stderr.close()
    last = find_latest(killed / "checkpoints")
    assert last is not None and 3 <= int(last.name.split("_")[1]) < 6
    resumed = Trainer(_cfg(tmp_path, "killed", **{**kw, "ckpt.resume": "auto"}))
    resumed.run()
    straight = Trainer(_cfg(tmp_path, "straight", **kw))
    straight.run()
    for (k, a), b in zip(straight.policy.state_dict().items(), resumed.policy.state_dict().values()):
        assert torch.equal(a, b), k
    steps = [r["step"] for r in _metrics(killed) if "reward/mean" in r]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_fresh_run_refuses_a_directory_with_checkpoints(tmp_path):
    Trainer(_cfg(tmp_path, **{"train.steps": 1, "eval.at_end": False})).run()
    from prl.config import ConfigError

    with pytest.raises(ConfigError, match="ckpt.resume=auto"):
        Trainer(_cfg(tmp_path, **{"train.steps": 1}))


@pytest.mark.gpu
@pytest.mark.parametrize("algo", ["prl", "prime"])
def test_runs_on_cuda(tmp_path, algo):
    t = Trainer(_cfg(tmp_path, **{"algo.name": algo, "train.device": "cuda", "algo.filter.enabled": "off"}))
    assert next(t.policy.parameters()).is_cuda and next(t.ref.parameters()).is_cuda
    t.run()
    steps = [r for r in _metrics(tmp_path / "run") if "reward/mean" in r]
    assert len(steps) == 2 and all(r["rollout/logprob_gap"] < 1e-3 for r in steps)


def test_lr_schedule():
    from prl.schedule import lr_multiplier

    def f(s, kind="cosine"):
        return lr_multiplier(s, total_steps=10, warmup_steps=2, kind=kind, min_ratio=0.1)

    assert [f(0), f(1)] == [0.5, 1.0] and f(2) == 1.0
    assert abs(f(10) - 0.1) < 1e-9 and 0.1 < f(6) < 1.0
    assert abs(f(6, "linear") - (1 - 0.9 * 0.5)) < 1e-9
    assert f(7, "constant") == 1.0


def test_model_directory_with_chat_template_and_eval_file(tmp_path, write_jsonl):
    """model.init=path: a saved HF directory whose tokenizer has a chat template; a separate eval file."""
    from prl.models.tiny import build_tokenizer, new_causal_lm

    tok = build_tokenizer(["0123456789+=<>|usersyemaitn"], include_printable=False)
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    train_file = write_jsonl([{"q": f"{a}+{7 - a}=", "a": "7"} for a in range(8)], "train.jsonl")
    eval_file = write_jsonl([{"q": "3+4=", "a": "7"}, {"q": "2+5=", "a": "7"}], "eval.jsonl")
    cfg = load_config(None, tiny_overrides(tmp_path / "run", **{
        "model.init": "path", "model.path": str(tmp_path / "m"), "data.path": str(train_file),
        "data.eval_path": str(eval_file), "data.prompt_column": "q", "data.answer_column": "a",
        "data.system_prompt": "sys"}))
    t = Trainer(cfg)
    assert len(t.eval_items) == 2 and len(t.train_items) == 8
    assert tok.decode(t.train_items[0]["ids"]) == "<|system|>sys<|user|>" + t.train_items[0]["prompt"] + "<|assistant|>"
    t.run()
    final = [r for r in _metrics(tmp_path / "run") if r.get("eval/final")]
    assert final and 0.0 <= final[0]["eval/greedy_acc"] <= 1.0
