"""Procedural reasoning tasks with verifiable answers.

  prl.tasks.arithmetic   multi-step +/- (and *) chains, one step per line, final \\boxed{}; planted slips

Write splits from the command line::

    python -m prl.tasks arithmetic --out data/arith --sft 6000 --train 2000 --test 300 --seed 0
"""

from prl.tasks.arithmetic import ArithmeticConfig, make_splits, read_rows, write_rows, write_splits

__all__ = ["ArithmeticConfig", "make_splits", "read_rows", "write_rows", "write_splits"]
