"""The arithmetic step checker against hand-made lines, and the checker registry."""

from __future__ import annotations

import pytest

from prl.tasks.arithmetic import check_steps, parse_problem
from prl.tasks.checkers import get_step_checker

P = "Compute: 47+8-5+19\n"


@pytest.mark.parametrize("steps, want", [
    (["47+8=55\n", "55-5=50\n", "50+19=69\n", "\\boxed{69}"], [1, 1, 1, 1]),
    (["47+8=45\n", "45-5=40\n", "40+19=59\n", "\\boxed{59}"], [0, 1, 1, 1]),   # a forgotten carry, followed
    (["47+8=55\n", "55-5=50\n", "\\boxed{50}"], [1, 1, 0]),                     # boxed before the last op
    (["47+9=56\n", "56-5=51\n"], [0, 1]),                                       # wrong operand
    (["47+8=55\n", "54-5=49\n"], [1, 0]),                                       # does not follow the chain
    (["47 + 8 = 55\n", "\n", "55-5=50\n"], [1, 1, 1]),                          # spaces, blank step
    (["47+8=55\n55-5=51\n"], [0]),                                              # a step of two lines
    (["so 47+8=55\n"], [0]),                                                    # not a line of the task
    (["47+8=55\n", "55-5=50\n", "50+19=69\n", "\\boxed{69}", "\nmore"], [1, 1, 1, 1, 0]),
])
def test_hand_made_lines(steps, want):
    assert check_steps(P, steps) == want


def test_without_a_problem_only_arithmetic_and_chain():
    assert check_steps("what?", ["3+4=7\n", "7*2=14\n", "14-1=12\n", "\\boxed{12}"]) == [1, 1, 0, 1]
    assert parse_problem("<|user|>Compute: 3*2+1\n") is not None


def test_registry():
    assert get_step_checker("arithmetic") is check_steps
    with pytest.raises(ValueError, match="arithmetic"):
        get_step_checker("arithmetics")
