"""A task's exact step checker as a process-reward source (``process_reward.source=rule``).

Each response is cut into steps (the estimator's step ids when it reads them, e.g. process_grpo,
else ``process_reward.rule.steps``); the task's checker (prl.tasks.checkers; ``arithmetic``: each
line's computation checked exactly) judges every step, and the step reward (``correct`` for a right
step, ``wrong`` for a wrong one) is placed at the step's last token: token rewards [B, T], 0
elsewhere. No model: the upper bound of what a PRM can give on that task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from prl.config import setting
from prl.signals import ProcessRewardSource, SourceContext, register_source

__all__ = ["RuleConfig", "RuleSource"]


def _known_task(v: str) -> bool:
    from prl.tasks.checkers import STEP_CHECKERS

    return v in STEP_CHECKERS


@dataclass
class RuleConfig:
    """A task's exact step checker as step rewards (prl.signals.rule)."""

    task: str = setting("arithmetic", "task whose step checker judges each step (prl.tasks.checkers)",
                        check=_known_task, must="must name a registered step checker (prl.tasks.checkers)")
    steps: str = setting("newline", "step split when the estimator sets none (e.g. prime)", check="steps_spec")
    correct: float = setting(1.0, "reward of a right step")
    wrong: float = setting(0.0, "reward of a wrong step")


@register_source("rule", config=RuleConfig)
class RuleSource(ProcessRewardSource):
    """A task's exact step checker: step rewards 1 / 0 at each step's last token."""

    def __init__(self, ctx: SourceContext, settings: RuleConfig):
        from prl.tasks.checkers import get_step_checker

        self.settings = settings
        self.check = get_step_checker(settings.task)

    def token_rewards(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        from prl.prm import batch_steps, place_step_rewards

        s = self.settings
        split = batch_steps(batch, s.steps)
        labels = [self.check(p, steps) if steps else [] for p, (steps, _) in zip(batch.prompts, split)]
        vals = [[s.correct if v else s.wrong for v in lab] for lab in labels]
        q = place_step_rewards(vals, [last for _, last in split], batch.B, batch.T, batch.response_mask.device)
        n = sum(len(lab) for lab in labels)
        metrics = {"prm/step_score_mean": sum(sum(lab) for lab in labels) / max(n, 1),
                   "prm/steps_per_response": n / max(batch.B, 1),
                   "prm/responses_all_steps_right": sum(all(lab) for lab in labels if lab) / max(batch.B, 1)}
        return q, metrics
