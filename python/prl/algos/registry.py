"""The advantage-estimator registry: one decorator, read by the config, ``--help``, validation and
the training step.

An estimator is a pure function that takes the batch fields it uses as keyword arguments and returns
advantages ``[B, T]``::

    @register_estimator("my_adv", config=MyAdvConfig, min_group=2)
    def my_adv(rewards, group_ids, response_mask, *, scale):   # scale from algo.my_adv.scale
        ...

* What it *needs* is read from its signature: the parameters named in :data:`BATCH_FIELDS`.
* Every other parameter is a *setting*, filled from the estimator's config dataclass (the config
  section ``algo.<name>``) or, when that has no such field, from the common ``algo.*`` keys (e.g.
  ``eps``); a setting found in neither must have a default.
* ``min_group`` (an int, or a function of the settings) is the smallest ``rollout.n`` it accepts;
  ``loss_agg`` its default loss aggregation (``algo.loss_agg=auto``); ``prompt_filter`` the default
  of ``algo.filter.enabled=auto``; ``process_reward`` the process-reward source it reads token
  rewards from when ``process_reward.source=auto``.

A new estimator is one file that defines and decorates it; a user plugin does the same (the config
key ``plugins``).
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from prl.algos.losses import AGGREGATIONS
from prl.errors import lookup

__all__ = ["BATCH_FIELDS", "EstimatorSpec", "ESTIMATORS", "register_estimator", "get_estimator"]

#: Batch fields an estimator may ask for, by parameter name:
#:   rewards [B] (outcome reward, after any KL-in-reward term), correct [B] (the grader's 0/1),
#:   group_ids [B], response_mask [B, T], log_ratio [B, T] (log pi_old - log pi_ref, masked),
#:   step_ids [B, T] (int, -1 on padding), token_rewards [B, T] (from the process-reward source)
BATCH_FIELDS = ("rewards", "correct", "group_ids", "response_mask", "log_ratio", "step_ids", "token_rewards")


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered advantage estimator and what it declares."""

    name: str
    fn: Callable[..., Any]
    config: type | None  # dataclass of its settings (config section algo.<name>), or None
    needs: tuple[str, ...]  # batch fields, from the signature
    settings: tuple[str, ...]  # the other keyword parameters
    min_group: int | Callable[[Any], int]
    loss_agg: str
    prompt_filter: bool
    process_reward: str | None
    doc: str

    def min_group_size(self, settings: Any) -> int:
        return self.min_group(settings) if callable(self.min_group) else int(self.min_group)

    def call(self, batch: dict[str, Any], settings: Any = None, common: Any = None) -> Any:
        """Run on ``batch`` (a mapping holding at least :attr:`needs`), settings from the config."""
        missing = [k for k in self.needs if batch.get(k) is None]
        if missing:
            raise TypeError(f"advantage estimator {self.name!r} needs batch fields {list(self.needs)}; missing {missing}")
        kw = {k: batch[k] for k in self.needs}
        for k in self.settings:
            if settings is not None and hasattr(settings, k):
                kw[k] = getattr(settings, k)
            elif common is not None and hasattr(common, k):
                kw[k] = getattr(common, k)
        return self.fn(**kw)

    def __call__(self, **kwargs: Any) -> Any:
        """Plain keyword call (batch fields and settings together), as a library function."""
        missing = [k for k in self.needs if k not in kwargs]
        if missing:
            raise TypeError(f"advantage estimator {self.name!r} needs inputs {list(self.needs)}; missing {missing}")
        return self.fn(**kwargs)


ESTIMATORS: dict[str, EstimatorSpec] = {}


def register_estimator(name: str, *, config: type | None = None, min_group: int | Callable[[Any], int] = 1,
                       loss_agg: str = "token-mean", prompt_filter: bool = False,
                       process_reward: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``fn`` as the advantage estimator ``name`` (see the module doc)."""
    if config is not None and not dataclasses.is_dataclass(config):
        raise TypeError(f"register_estimator({name!r}): config must be a dataclass, got {config!r}")
    if loss_agg not in AGGREGATIONS:
        raise ValueError(f"register_estimator({name!r}): loss_agg must be one of {AGGREGATIONS}, got {loss_agg!r}")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        params = inspect.signature(fn).parameters
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params.values()):
            raise TypeError(f"register_estimator({name!r}): {fn.__name__} must name its inputs (no *args / **kwargs)")
        needs = tuple(p for p in params if p in BATCH_FIELDS)
        settings = tuple(p for p in params if p not in BATCH_FIELDS)
        from prl.config import algo_common_fields  # late: config reads this registry

        fields = {f.name for f in dataclasses.fields(config)} if config is not None else set()
        for s in settings:
            if s not in fields and s not in algo_common_fields() and params[s].default is inspect.Parameter.empty:
                raise TypeError(f"register_estimator({name!r}): parameter {s!r} is neither a batch field "
                                f"({', '.join(BATCH_FIELDS)}) nor a field of its config nor a common algo.* key, "
                                "and has no default")
        if "step_ids" in needs and "steps" not in fields:
            raise TypeError(f"register_estimator({name!r}): an estimator reading step_ids needs a 'steps' field "
                            "(the step-split spec) in its config dataclass")
        ESTIMATORS[name] = EstimatorSpec(name, fn, config, needs, settings, min_group, loss_agg, prompt_filter,
                                         process_reward, (inspect.getdoc(fn) or "").split("\n")[0])
        return fn

    return deco


def get_estimator(name: str) -> EstimatorSpec:
    """The estimator registered under ``name``; an error naming the closest registered name."""
    return lookup(ESTIMATORS, name, "advantage estimator")
