"""The rollout-engine interface: prompts (token ids) in; per sample token ids, text, token offsets,
per-token log-probs and finish reason out.

An engine only generates. The trainer owns the models; after every policy update it calls
``engine.sync_weights(policy)`` (a no-op for an engine that shares the policy module, a weight push for
vLLM). Engines live in a registry (:func:`make_engine`) so a vLLM engine slots in beside the
transformers one without the trainer knowing the difference.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["SamplingParams", "Rollout", "RolloutEngine"]


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1  # samples per prompt
    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int | None = None  # None: draw from the global torch RNG; else a fixed, isolated stream

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingParams.n={self.n} must be >= 1")
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature={self.temperature} must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p={self.top_p} must lie in (0, 1]")
        if self.max_new_tokens < 1:
            raise ValueError(f"SamplingParams.max_new_tokens={self.max_new_tokens} must be >= 1")


@dataclass
class Rollout:
    """One sampled response."""

    prompt_index: int  # index of its prompt in the generate() call
    prompt_ids: list[int]
    response_ids: list[int]  # [T_i] generated tokens, the EOS token included when it stopped
    text: str  # decoded response without special tokens
    offsets: np.ndarray  # [T_i, 2] int64: each response token's [start, end) character span in ``text``
    logprobs: np.ndarray  # [T_i] float32: the engine's log-prob of each token (logits / temperature)
    finish_reason: str  # "stop" (EOS) or "length" (max_new_tokens)
    extra: dict[str, Any] = field(default_factory=dict)


class RolloutEngine(abc.ABC):
    """Generates n samples per prompt."""

    name: str = "base"

    @abc.abstractmethod
    def generate(self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams) -> list[list[Rollout]]:
        """For each prompt, ``params.n`` rollouts (outer list: prompts, in order)."""

    @abc.abstractmethod
    def sync_weights(self, policy: Any) -> None:
        """Make the engine sample from ``policy``'s current weights."""

    def close(self) -> None:  # release engine resources (GPU memory, worker processes)
        pass
