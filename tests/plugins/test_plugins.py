"""User plugins: a file that registers an estimator (with a setting) and a reward function, named in
``plugins`` and then used in ``algo.name`` / ``reward.funcs`` like the built-ins; two training steps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prl.config import ConfigError, load_config

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SUM7 = REPO / "configs" / "data" / "tiny_sum7.jsonl"


def _args(out: Path) -> list[str]:
    return [f"plugins=[{HERE / 'my_rl.py'}]", "algo.name=signed", "algo.signed.scale=0.5",
            "reward.funcs=[verifier,short]", "reward.weights=[1.0,0.1]", "model.init=tiny",
            "model.tiny.hidden_size=32", "model.tiny.num_layers=1", "model.tiny.num_heads=2", f"data.path={SUM7}",
            "rollout.n=4", "rollout.max_new_tokens=4", "train.steps=2", "train.prompts_per_step=4",
            "optim.lr=1e-2", f"train.output_dir={out}", "eval.at_end=false", "log.progress=false", "log.plot=false",
            "log.tensorboard=false"]


def test_plugin_estimator_and_reward_train_two_steps(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "prl.train", *_args(out)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "time/step" in r]
    assert len(steps) == 2
    assert all("reward/short" in r for r in steps)  # the plugin's reward was summed in
    assert any(r["actor/optimizer_steps"] >= 1 for r in steps if not r["train/skipped"])
    for r in steps:  # sign advantages of magnitude 0.5 (or 0 for a tie with the mean)
        assert r["adv/abs_mean"] <= 0.5 + 1e-6
    cfg = (out / "config.yaml").read_text()
    assert "signed:" in cfg and "scale: 0.5" in cfg


def test_plugin_settings_and_names_are_checked(tmp_path):
    cfg = load_config(None, _args(tmp_path))
    assert cfg.algo.signed.scale == 0.5 and cfg.estimator().needs == ("rewards", "group_ids", "response_mask")
    with pytest.raises(ConfigError, match=r"algo.signed.scal.*did you mean 'algo.signed.scale'"):
        load_config(None, _args(tmp_path) + ["algo.signed.scal=1"])
    with pytest.raises(ConfigError, match=r"reward.funcs\[1\].*'shrot' is not a registered reward function.*'short'"):
        load_config(None, _args(tmp_path)[:3] + ["reward.funcs=[verifier,shrot]"] + _args(tmp_path)[4:])
    with pytest.raises(ConfigError, match=r"rollout.n.*at least 2"):
        load_config(None, _args(tmp_path) + ["rollout.n=1"])


def test_bad_plugin_is_one_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"plugins.*not_here.py"):
        load_config(None, ["plugins=[not_here.py]", "model.init=tiny", f"data.path={SUM7}"])
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match=r"importing .*broken.py.* RuntimeError: boom"):
        load_config(None, [f"plugins=[{tmp_path / 'broken.py'}]", "model.init=tiny", f"data.path={SUM7}"])
