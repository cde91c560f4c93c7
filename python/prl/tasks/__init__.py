"""Procedural reasoning tasks with verifiable answers.

  prl.tasks.arithmetic   multi-step +/- (and *) chains, one step per line, final \\boxed{}; planted slips
  prl.tasks.code         small list functions from a spec with generated assert tests; HumanEval rows

Write splits from the command line::

    python -m prl.tasks arithmetic --out data/arith --sft 6000 --train 2000 --test 300 --seed 0
    python -m prl.tasks code --out data/code --train 2000 --test 200 --max-stages 3
    python -m prl.tasks humaneval --out data/humaneval [--style instruct|complete]
"""

from prl.tasks.arithmetic import ArithmeticConfig, make_splits, read_rows, write_rows, write_splits
from prl.tasks.code import CodeTaskConfig, humaneval_file, humaneval_rows, make_code_splits, write_code_splits

__all__ = ["ArithmeticConfig", "make_splits", "read_rows", "write_rows", "write_splits", "CodeTaskConfig",
           "make_code_splits", "write_code_splits", "humaneval_rows", "humaneval_file"]
