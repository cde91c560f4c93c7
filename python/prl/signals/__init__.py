"""Process-reward sources: components that turn a batch into token rewards [B, T].

A source is chosen by config (``process_reward.source``; ``auto`` = what the estimator declares,
e.g. PRIME's ``implicit_prm``), not by the algorithm's name, and an estimator that reads
``token_rewards`` takes them from whichever source is configured. The interface is small::

    @register_source("my_source", config=MySourceConfig)     # settings: process_reward.my_source.*
    class MySource(ProcessRewardSource):
        def __init__(self, ctx: SourceContext, settings: MySourceConfig): ...
        def token_rewards(self, batch: Batch) -> tuple[Tensor, dict[str, float]]: ...   # [B, T], metrics

A source may own models and optimisers; :meth:`ProcessRewardSource.models` names the models saved in
each checkpoint (as plain HF directories beside the policy), :meth:`state_dict` / :meth:`load_state_dict`
carry the rest (optimiser state) through a resume. Sources that read the reference model's
log-probs set ``needs_reference = True``; the step then puts them (at temperature 1: the models' own
distributions) in ``batch.ref_logp_t1``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch import Tensor, nn

from prl.errors import lookup

__all__ = ["ProcessRewardSource", "SourceContext", "SourceSpec", "SOURCES", "register_source", "get_source"]


@dataclass
class SourceContext:
    """What a source may use to build itself."""

    cfg: Any  # the whole Config (read-only)
    env: Any  # prl.distributed.DistEnv
    device: Any  # torch.device
    init_dir: Path  # the initial policy's HF directory
    resume_dir: Path | None  # the checkpoint being resumed (its sub-directories hold the source's models)
    forward: Any  # prl.lockstep.LockstepForward: micro-batched, rank-lock-stepped log-prob forwards


class ProcessRewardSource:
    """Base class: override :meth:`token_rewards`; the rest has sensible defaults."""

    needs_reference: bool = False

    def token_rewards(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """batch (prl.batch.Batch) -> token rewards [B, T] (0 on padding) and metrics."""
        raise NotImplementedError

    def models(self) -> dict[str, nn.Module]:
        """Models to save in each checkpoint, by sub-directory name."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True)
class SourceSpec:
    name: str
    cls: Callable[..., ProcessRewardSource]
    config: type | None
    doc: str


SOURCES: dict[str, SourceSpec] = {}


def register_source(name: str, *, config: type | None = None) -> Callable[[type], type]:
    """Class decorator: register a process-reward source under ``name`` (see the module doc)."""
    if config is not None and not dataclasses.is_dataclass(config):
        raise TypeError(f"register_source({name!r}): config must be a dataclass, got {config!r}")

    def deco(cls: type) -> type:
        SOURCES[name] = SourceSpec(name, cls, config, (cls.__doc__ or "").strip().split("\n")[0])
        return cls

    return deco


def get_source(name: str) -> SourceSpec:
    return lookup(SOURCES, name, "process-reward source")


def _register_builtins() -> None:
    from prl.signals import explicit_prm, implicit_prm, rule  # noqa: F401  (register "explicit_prm", "implicit_prm", "rule")


_register_builtins()
