"""prl: reinforcement learning from verifiable rewards with cheap process rewards.

Subpackages (imported on first use, so ``import prl`` stays light):
  prl.algos    pure tensor functions: advantage estimators (a registry), PPO-clip loss, step ids
  prl.rewards  reward functions (a registry) and graders
  prl.signals  process-reward sources (a registry): PRIME's implicit PRM, ...
  prl.ops      the compiled `prl::segmented_future_kl` torch op (C++/CUDA) and its PyTorch reference

A plugin registers its own with ``@prl.algos.register_estimator``, ``@prl.rewards.register_reward``
or ``@prl.signals.register_source`` (README, "Plugins").
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("algos", "rewards", "signals", "ops")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"prl.{name}")
    raise AttributeError(f"module 'prl' has no attribute {name!r}")
