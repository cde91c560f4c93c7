"""Step checkers by task: ``checker(prompt, steps) -> [0/1 per step]``, exact rules, no model.

A task registers its checker with :func:`register_step_checker` (optionally with ``detect``: whether a
prompt belongs to the task, which lets ``log.credit_task=auto`` find the checker from the data); ``python -m prl.prm label --rule
TASK``, the ``rule`` process-reward source (``process_reward.rule.task``) and the scoring of PRMs
against rule labels read it from here::

    @register_step_checker("my_task", detect=lambda prompt: prompt.startswith("Solve:"))
    def check(prompt: str, steps: list[str]) -> list[int]: ...

Built in: ``arithmetic`` (:func:`prl.tasks.arithmetic.check_steps`: each line's computation checked
exactly against the problem and the previous line).
"""

from __future__ import annotations

import difflib
from typing import Callable

__all__ = ["STEP_CHECKERS", "STEP_DETECTORS", "register_step_checker", "get_step_checker"]

StepChecker = Callable[[str, list[str]], list[int]]
STEP_CHECKERS: dict[str, StepChecker] = {}
STEP_DETECTORS: dict[str, Callable[[str], bool]] = {}


def register_step_checker(task: str, detect: Callable[[str], bool] | None = None
                          ) -> Callable[[StepChecker], StepChecker]:
    def deco(fn: StepChecker) -> StepChecker:
        STEP_CHECKERS[task] = fn
        if detect is not None:
            STEP_DETECTORS[task] = detect
        return fn

    return deco


def get_step_checker(task: str) -> StepChecker:
    try:
        return STEP_CHECKERS[task]
    except KeyError:
        close = difflib.get_close_matches(str(task), STEP_CHECKERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"no step checker for task {task!r}{hint}; registered: {', '.join(STEP_CHECKERS)}") from None


def _register_builtins() -> None:
    from prl.tasks.arithmetic import check_steps, parse_problem

    register_step_checker("arithmetic", detect=lambda prompt: parse_problem(prompt) is not None)(check_steps)


_register_builtins()
