"""Rollout engines behind one interface (:class:`RolloutEngine`), chosen by name.

    engine = make_engine("hf", model=policy, tokenizer=tok, batch_size=64)
    groups = engine.generate(prompt_ids, SamplingParams(n=4, temperature=1.0, max_new_tokens=128))

A vLLM engine registers itself here under "vllm" (its own issue) with the same constructor keywords.
"""

from __future__ import annotations

from typing import Any, Callable

from .base import Rollout, RolloutEngine, SamplingParams
from .hf import HFEngine, oom_message
from .offsets import token_offsets, token_offsets_prefix

__all__ = ["Rollout", "RolloutEngine", "SamplingParams", "HFEngine", "make_engine", "ENGINES",
           "token_offsets", "token_offsets_prefix", "oom_message"]

ENGINES: dict[str, Callable[..., RolloutEngine]] = {"hf": HFEngine}


def make_engine(name: str, **kw: Any) -> RolloutEngine:
    if name not in ENGINES:
        raise ValueError(f"rollout.engine={name!r} is not one of {', '.join(ENGINES)}")
    return ENGINES[name](**kw)
