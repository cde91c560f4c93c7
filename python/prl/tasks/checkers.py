"""Step checkers by task: ``checker(prompt, steps) -> [0/1 per step]``, exact rules, no model.

A task registers its checker with :func:`register_step_checker`; ``python -m prl.prm label --rule
TASK``, the ``rule`` process-reward source (``process_reward.rule.task``) and the scoring of PRMs
against rule labels read it from here::

    @register_step_checker("my_task")
    def check(prompt: str, steps: list[str]) -> list[int]: ...

Built in: ``arithmetic`` (:func:`prl.tasks.arithmetic.check_steps`: each line's computation checked
exactly against the problem and the previous line).
"""

from __future__ import annotations

import difflib
from typing import Callable

__all__ = ["STEP_CHECKERS", "register_step_checker", "get_step_checker"]

StepChecker = Callable[[str, list[str]], list[int]]
STEP_CHECKERS: dict[str, StepChecker] = {}


def register_step_checker(task: str) -> Callable[[StepChecker], StepChecker]:
    def deco(fn: StepChecker) -> StepChecker:
        STEP_CHECKERS[task] = fn
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
    from prl.tasks.arithmetic import check_steps

    register_step_checker("arithmetic")(check_steps)


_register_builtins()
