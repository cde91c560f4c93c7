"""The correctness review's acceptance sweep: 2-rank torchrun GRPO with seeds 0-9 and micro-batch
sizes 1-5 all finish (each with a timeout).  Slow tier: 50 torchrun runs."""

from __future__ import annotations

import pytest

from distributed.test_forward_lockstep import run_grpo_two_ranks

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("micro_batch", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(10))
def test_two_ranks_never_hang(tmp_path, seed, micro_batch):
    run_grpo_two_ranks(tmp_path / "run", seed, micro_batch)
