"""Rollout engines behind one interface (:class:`RolloutEngine`), chosen by name.

    engine = make_engine("hf", model=policy, tokenizer=tok, batch_size=64)
    groups = engine.generate(prompt_ids, SamplingParams(n=4, temperature=1.0, max_new_tokens=128))

"vllm" (:mod:`prl.rollout.vllm_engine`) takes ``model_path`` and the ``rollout.vllm.*`` settings instead of a model.
"""

from __future__ import annotations

from typing import Any, Callable

from .base import Rollout, RolloutEngine, SamplingParams
from .hf import HFEngine, oom_message
from .offsets import token_offsets, token_offsets_prefix

__all__ = ["Rollout", "RolloutEngine", "SamplingParams", "HFEngine", "make_engine", "ENGINES",
           "token_offsets", "token_offsets_prefix", "oom_message"]

def _vllm_engine(**kw: Any) -> RolloutEngine:
    from .vllm_engine import VLLMEngine  # imports vllm lazily: a clear error when the extra is missing

    return VLLMEngine(**kw)


ENGINES: dict[str, Callable[..., RolloutEngine]] = {"hf": HFEngine, "vllm": _vllm_engine}


def make_engine(name: str, **kw: Any) -> RolloutEngine:
    if name not in ENGINES:
        raise ValueError(f"rollout.engine={name!r} is not one of {', '.join(ENGINES)}")
    return ENGINES[name](**kw)
