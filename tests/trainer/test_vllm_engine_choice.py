"""Choosing rollout.engine=vllm fails at start, with a clear message, where vLLM cannot run."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from prl.config import load_config
from prl.rollout import ENGINES, make_engine


def test_vllm_is_a_registered_engine_and_a_valid_config_value():
    assert "vllm" in ENGINES
    cfg = load_config(None, ["model.init=tiny", "data.path=x.jsonl", "rollout.engine=vllm",
                             "rollout.vllm.tensor_parallel_size=2"])
    assert cfg.rollout.engine == "vllm" and cfg.rollout.vllm.tensor_parallel_size == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU / no-vLLM failure path")
def test_vllm_engine_fails_clearly_without_gpu_or_vllm():
    with pytest.raises(RuntimeError) as e:
        make_engine("vllm", model_path="unused", tokenizer=None)
    msg = str(e.value)
    assert "rollout.engine=vllm" in msg and "rollout.engine=hf" in msg
    if importlib.util.find_spec("vllm") is None:
        assert "GPU" in msg or "not installed" in msg
