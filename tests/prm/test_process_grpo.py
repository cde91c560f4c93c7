"""process_grpo against its loop oracle (hypothesis: ragged steps, one-step responses, masked rows)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prl.algos import get_estimator
from prl.algos.reference import process_grpo_advantages_loop

EST = get_estimator("process_grpo")


@st.composite
def batches(draw):
    G = draw(st.integers(1, 3))
    n = draw(st.integers(2, 4))
    T = draw(st.integers(1, 9))
    B = G * n
    mask = torch.zeros(B, T)
    sids = torch.full((B, T), -1, dtype=torch.int64)
    for i in range(B):
        L = draw(st.integers(0, T))  # 0: a masked row (no response token)
        mask[i, :L] = 1
        one_step = draw(st.booleans())
        s, cur = [], 0
        for t in range(L):
            if t and not one_step and draw(st.booleans()):
                cur += 1
            s.append(cur)
        sids[i, :L] = torch.tensor(s, dtype=torch.int64)
    vals = st.sampled_from([0.0, 1.0]) if draw(st.booleans()) else st.floats(0, 1, allow_nan=False, width=32)
    q = torch.tensor([[draw(vals) for _ in range(T)] for _ in range(B)], dtype=torch.float32)
    r = torch.tensor([draw(st.sampled_from([0.0, 1.0])) for _ in range(B)])
    g = torch.arange(G).repeat_interleave(n)
    return r, g, mask, sids, q


@settings(max_examples=150)
@given(batches(), st.sampled_from(["sum", "min"]), st.sampled_from([0.0, 0.5]))
def test_matches_loop_oracle(b, credit, w):
    r, g, m, s, q = b
    fast = EST(rewards=r, group_ids=g, response_mask=m, step_ids=s, token_rewards=q, credit=credit, w_outcome=w)
    slow = process_grpo_advantages_loop(r, g, m, s, q, credit=credit, w_outcome=w)
    torch.testing.assert_close(fast.double(), slow, atol=2e-5, rtol=1e-5)
    assert (fast[m == 0] == 0).all()


def test_hand_example():
    m = torch.ones(2, 3)
    s = torch.tensor([[0, 0, 1], [0, 1, 1]])
    q = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])  # step rewards (1, 0) and (1, 1) at b(l)
    args = dict(rewards=torch.zeros(2), group_ids=torch.tensor([0, 0]), response_mask=m, step_ids=s, token_rewards=q)
    torch.testing.assert_close(EST(**args), torch.tensor([[-1.0, -1.0, -1.5], [1.0, 0.5, 0.5]]), atol=1e-5, rtol=0)
    torch.testing.assert_close(EST(**args, credit="min"), torch.tensor([[-1.5, -1.5, -1.5], [0.5, 0.5, 0.5]]),
                               atol=1e-5, rtol=0)


def test_equal_step_rewards_give_zero_and_outcome_term_adds_grpo():
    m = torch.ones(2, 2)
    s = torch.tensor([[0, 1], [0, 0]])
    q = torch.ones(2, 2)
    r = torch.tensor([1.0, 0.0])
    a = EST(rewards=r, group_ids=torch.tensor([0, 0]), response_mask=m, step_ids=s, token_rewards=q)
    assert (a == 0).all()
    a = EST(rewards=r, group_ids=torch.tensor([0, 0]), response_mask=m, step_ids=s, token_rewards=q, w_outcome=2.0)
    g = 1 / (2 ** 0.5 + 1e-6)  # GRPO: +-0.5 / std(unbiased) = +-0.7071
    torch.testing.assert_close(a, torch.tensor([[2 * g, 2 * g], [-2 * g, -2 * g]]), atol=1e-5, rtol=0)


def test_config_and_registry():
    spec = get_estimator("process_grpo")
    assert set(spec.needs) >= {"step_ids", "token_rewards"}
    assert spec.min_group_size(None) == 2
    with pytest.raises(ValueError, match="single sample"):
        EST(rewards=torch.zeros(1), group_ids=torch.tensor([0]), response_mask=torch.ones(1, 2),
            step_ids=torch.zeros(1, 2, dtype=torch.long), token_rewards=torch.zeros(1, 2))
