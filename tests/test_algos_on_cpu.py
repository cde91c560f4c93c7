"""prl.algos against hand-computed numbers and against its loop twins (prl.algos.reference)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prl.algos import (
    fixed_step_ids,
    get_advantage_fn,
    grpo_advantages,
    kl_penalty,
    loss_normalizer,
    parse_steps_spec,
    ppo_clip_loss,
    prime_advantages,
    prime_prm_loss,
    prime_token_rewards,
    prl_advantages,
    rloo_advantages,
)
from prl.algos import reference as ref

F64 = dict(dtype=torch.float64)


def close(a, b, atol=1e-5, rtol=1e-5):
    torch.testing.assert_close(torch.as_tensor(a, **F64), torch.as_tensor(b, **F64), atol=atol, rtol=rtol)


# ----------------------------------------------------------------------------------------------
# worked examples, numbers by hand
# ----------------------------------------------------------------------------------------------


def test_grpo_worked_example_with_zero_variance_group():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    groups = torch.tensor([7, 7, 7, 7, 3, 3])
    mask = torch.ones(6, 2)
    mask[1, 1] = 0
    adv = grpo_advantages(rewards, groups, mask)
    # group 7: mean 0.5, unbiased std sqrt(1/3) = 0.57735 -> +-0.5 / 0.57735 = +-0.866025
    a = 0.5 / (math.sqrt(1 / 3) + 1e-6)
    close(adv, [[a, a], [-a, 0.0], [-a, -a], [a, a], [0.0, 0.0], [0.0, 0.0]])
    assert torch.isfinite(adv).all()  # zero-variance group: 0, not NaN
    # Dr.GRPO: no division by std
    close(get_advantage_fn("drgrpo")(rewards=rewards, group_ids=groups, response_mask=mask)[:, 0], [0.5, -0.5, -0.5, 0.5, 0, 0])


def test_rloo_worked_example_n2():
    adv = rloo_advantages(torch.tensor([1.0, 0.0, 0.5, 0.25]), torch.tensor([0, 0, 1, 1]), torch.ones(4, 3))
    close(adv[:, 0], [1.0, -1.0, 0.25, -0.25])
    close(adv, adv[:, :1].expand(4, 3))


D = torch.tensor([[0.1, 0.2, 0.3, 0.4, 5.0]])  # last token is padding: its 5.0 must be ignored
STEPS = torch.tensor([[0, 0, 1, 1, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 0]])


@pytest.mark.parametrize(
    "future_from,expected",
    [("step_end", [0.91, 0.91, 0.96, 0.96, 0.0]), ("next_step", [0.93, 0.93, 1.0, 1.0, 0.0])],
)
def test_prl_prm_worked_example(future_from, expected):
    # step_end: F = [.2+.3+.4, same, .4, .4]; next_step: F = [.3+.4, same, 0, 0]; A = R - F / eta, eta = 10
    adv = prl_advantages(torch.tensor([1.0]), torch.tensor([0]), D, MASK, STEPS, eta=10.0, mode="prm", future_from=future_from)
    close(adv, [expected])


@pytest.mark.parametrize(
    "future_from,f", [("step_end", [0.9, 0.9, 0.4, 0.4]), ("next_step", [0.7, 0.7, 0.0, 0.0])]
)
def test_prl_orm_worked_example(future_from, f):
    d = torch.cat([D, torch.zeros(1, 5)])
    steps = torch.cat([STEPS, torch.tensor([[0, 1, 2, 3, 4]])])
    mask = torch.cat([MASK, torch.ones(1, 5, dtype=torch.long)])
    adv = prl_advantages(torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), d, mask, steps, eta=10.0, future_from=future_from)
    g = 0.5 / (math.sqrt(0.5) + 1e-6)  # GRPO of [1, 0]
    close(adv[0], [g - x / 10 for x in f] + [0.0])
    close(adv[1], [-g] * 5)


def test_prime_worked_example_gamma_half():
    rewards = torch.tensor([1.0, 0.0])
    q = torch.tensor([[0.2, 0.4, 9.0], [0.1, 0.1, 0.1]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    # seq means 0.3, 0.1 -> leave-one-out baselines 0.1, 0.3 -> r~ = [.1, .3], [-.2, -.2, -.2]
    # gamma .5: G = [.1 + .5*.3, .3], [-.35, -.3, -.2]; RLOO outcome = [1, -1]
    adv = prime_advantages(rewards, torch.tensor([5, 5]), q, mask, gamma=0.5, reward_norm="none", whiten=False)
    close(adv, [[1.25, 1.3, 0.0], [-1.35, -1.3, -1.2]])
    # batch_norm: largest |undiscounted return of q| = 0.6 -> q / 0.600001
    s = 1 / (0.6 + 1e-6)
    adv = prime_advantages(rewards, torch.tensor([5, 5]), q, mask, gamma=0.5, whiten=False)
    close(adv, [[1 + 0.25 * s, 1 + 0.3 * s, 0.0], [-1 - 0.35 * s, -1 - 0.3 * s, -1 - 0.2 * s]])
    # whitening: zero mean, unit (unbiased) variance over the 5 valid tokens
    w = prime_advantages(rewards, torch.tensor([5, 5]), q, mask, gamma=0.5)
    valid = w[mask.bool()]
    close(valid.mean(), 0.0, atol=1e-6)
    close(valid.std(), 1.0, atol=1e-4)
    assert w[0, 2] == 0


def test_prime_token_rewards_and_prm_loss():
    prm = torch.tensor([[-1.0, -2.0], [-1.0, -1.0]], requires_grad=True)
    refl = torch.tensor([[-2.0, -2.0], [-1.0, -3.0]])
    mask = torch.tensor([[1, 1], [1, 0]])
    q = prime_token_rewards(prm, refl, mask, beta=0.5)
    close(q, [[0.5, 0.0], [0.0, 0.0]])
    loss, m = prime_prm_loss(prm, refl, torch.tensor([1.0, 0.0]), mask, beta=0.5)
    # logits 0.5 and 0: BCE = (-log sigmoid(.5) - log(1 - sigmoid(0))) / 2
    expect = (-math.log(1 / (1 + math.exp(-0.5))) + math.log(2)) / 2
    close(loss, expect)
    assert m["prm/acc"] == 1.0  # logit 0.5 predicts 1 (R=1), logit 0 predicts 0 (R=0)
    loss.backward()
    assert prm.grad is not None and prm.grad[1, 1] == 0


def test_fixed_step_ids_left_and_right_padding():
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0], [0] * 7])
    assert fixed_step_ids(mask, 2).tolist() == [[-1, -1, 0, 0, 1, 1, 2], [0, 0, 1, -1, -1, -1, -1], [-1] * 7]
    assert fixed_step_ids(mask, 2).dtype == torch.int32


def test_ppo_clip_worked_example():
    # ratio e^{0.5}=1.6487 with A=+1 is clipped at 1.2; ratio e^{-0.5}=0.6065 with A=-1 clipped at 0.8
    logp = torch.tensor([[0.5, -0.5, 0.0]])
    old = torch.zeros(1, 3)
    adv = torch.tensor([[1.0, -1.0, 2.0]])
    loss, m = ppo_clip_loss(logp, old, adv, torch.ones(1, 3))
    close(loss, (-1.2 + 0.8 - 2.0) / 3)
    close(m["pg_clipfrac"], 2 / 3)
    # dual clip c=3 bounds the loss of negative advantages with huge ratios at -c*A
    loss, m = ppo_clip_loss(torch.tensor([[3.0]]), torch.zeros(1, 1), torch.tensor([[-1.0]]), torch.ones(1, 1), dual_clip=3.0)
    close(loss, 3.0)
    assert m["pg_clipfrac_lower"] == 1.0


def test_kl_penalties():
    lp, rl = torch.tensor([[0.0, -1.0]]), torch.tensor([[-1.0, -1.0]])
    close(kl_penalty(lp, rl, "k1"), [[1.0, 0.0]])
    close(kl_penalty(lp, rl, "k2"), [[0.5, 0.0]])
    close(kl_penalty(lp, rl, "k3"), [[math.exp(-1) + 1 - 1, 0.0]])


# ----------------------------------------------------------------------------------------------
# fast == loop on hypothesis-generated batches
# ----------------------------------------------------------------------------------------------


@st.composite
def batches(draw, min_t=1, max_t=12):
    n_groups = draw(st.integers(1, 3))
    n = draw(st.integers(2, 4))
    B = n_groups * n
    T = draw(st.integers(min_t, max_t))
    masks, steps = [], []
    for _ in range(B):
        kind = draw(st.sampled_from(["right", "left", "full", "empty"]))
        length = T if kind == "full" else 0 if kind == "empty" else draw(st.integers(0, T))
        start = T - length if kind == "left" else 0
        m = [1 if start <= t < start + length else 0 for t in range(T)]
        ids, sid = [], draw(st.integers(0, 3))
        for t in range(T):
            if m[t] and ids and ids[-1] >= 0 and draw(st.booleans()):
                sid += draw(st.integers(1, 2))  # a new step (ids need not be consecutive)
            ids.append(sid if m[t] else -1)
        masks.append(m)
        steps.append(ids)
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    rewards = (torch.rand(B, generator=g) < 0.5).float() if draw(st.booleans()) else torch.rand(B, generator=g)
    group_ids = torch.arange(n_groups).repeat_interleave(n)[torch.randperm(B, generator=g)] * 3 + 1
    return dict(
        rewards=rewards,
        group_ids=group_ids,
        response_mask=torch.tensor(masks),
        step_ids=torch.tensor(steps, dtype=torch.int32),
        values=torch.randn(B, T, generator=g),
    )


@settings(max_examples=60, deadline=None)
@given(b=batches(), scale=st.booleans())
def test_grpo_rloo_match_loops(b, scale):
    args = (b["rewards"], b["group_ids"], b["response_mask"])
    close(grpo_advantages(*args, scale_by_std=scale), ref.grpo_advantages_loop(*args, scale_by_std=scale))
    close(rloo_advantages(*args), ref.rloo_advantages_loop(*args))


@settings(max_examples=60, deadline=None)
@given(b=batches(), mode=st.sampled_from(["orm", "prm"]), ff=st.sampled_from(["step_end", "next_step"]),
       eta=st.sampled_from([0.5, 10.0, 100.0]))
def test_prl_matches_loop(b, mode, ff, eta):
    args = (b["rewards"], b["group_ids"], b["values"], b["response_mask"], b["step_ids"])
    close(prl_advantages(*args, eta=eta, mode=mode, future_from=ff), ref.prl_advantages_loop(*args, eta=eta, mode=mode, future_from=ff), atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(b=batches(), gamma=st.sampled_from([1.0, 0.9, 0.5]), norm=st.sampled_from(["batch_norm", "none"]),
       whiten=st.booleans(), w=st.sampled_from([(1.0, 1.0), (0.5, 2.0)]))
def test_prime_matches_loop(b, gamma, norm, whiten, w):
    args = (b["rewards"], b["group_ids"], 0.05 * b["values"], b["response_mask"])
    kw = dict(gamma=gamma, reward_norm=norm, whiten=whiten, w_process=w[0], w_outcome=w[1])
    close(prime_advantages(*args, **kw), ref.prime_advantages_loop(*args, **kw), atol=1e-4, rtol=1e-4)


@settings(max_examples=60, deadline=None)
@given(b=batches(), step_len=st.integers(1, 5))
def test_fixed_step_ids_matches_loop(b, step_len):
    m = b["response_mask"]
    assert torch.equal(fixed_step_ids(m, step_len), ref.fixed_step_ids_loop(m, step_len))


@settings(max_examples=60, deadline=None)
@given(b=batches(), agg=st.sampled_from(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]),
       dual=st.sampled_from([None, 3.0]), clip_high=st.sampled_from([0.2, 0.28]))
def test_ppo_loss_matches_loop(b, agg, dual, clip_high):
    g = torch.Generator().manual_seed(int(b["values"].abs().sum() * 1000) % 2**31)
    old = -torch.rand(b["values"].shape, generator=g)
    logp = old + 0.3 * torch.randn(old.shape, generator=g)
    adv = b["values"]
    loss, _ = ppo_clip_loss(logp, old, adv, b["response_mask"], agg=agg, dual_clip=dual, clip_high=clip_high)
    close(loss, ref.ppo_clip_loss_loop(logp, old, adv, b["response_mask"], agg=agg, dual_clip=dual, clip_high=clip_high))


@settings(max_examples=40, deadline=None)
@given(b=batches())
def test_prl_prm_fixed1_equals_reinforce_with_k1_kl_in_reward(b):
    """The design's oracle identity: PRL, mode=prm, one step per token == REINFORCE, k1 KL in reward."""
    mask = b["response_mask"]
    eta = 4.0
    adv = prl_advantages(b["rewards"], b["group_ids"], b["values"], mask, fixed_step_ids(mask, 1), eta=eta, mode="prm")
    close(adv, ref.reinforce_k1_loop(b["rewards"], b["values"], mask, beta=1 / eta), atol=1e-4)


# ----------------------------------------------------------------------------------------------
# micro-batching does not change the loss or the gradients
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
@pytest.mark.parametrize("kl", [0.0, 0.1])
def test_loss_and_grads_do_not_depend_on_micro_batching(agg, kl):
    g = torch.Generator().manual_seed(0)
    B, T = 12, 9
    mask = (torch.rand(B, T, generator=g) < 0.8).long()
    mask[3] = 0  # an empty row
    theta = torch.randn(B, T, generator=g, dtype=torch.float64)
    old = theta.detach() + 0.2 * torch.randn(B, T, generator=g, dtype=torch.float64)
    reflp = theta.detach() + 0.2 * torch.randn(B, T, generator=g, dtype=torch.float64)
    adv = torch.randn(B, T, generator=g, dtype=torch.float64)
    kw = dict(agg=agg, kl_loss_coef=kl, ref_logp=reflp, clip_high=0.28, dual_clip=3.0)

    p_whole = theta.clone().requires_grad_(True)
    whole, _ = ppo_clip_loss(p_whole, old, adv, mask, **kw)
    whole.backward()

    p_micro = theta.clone().requires_grad_(True)
    norm = loss_normalizer(mask, agg)
    total = 0.0
    for idx in (slice(0, 5), slice(5, 6), slice(6, 12)):
        part, _ = ppo_clip_loss(p_micro[idx], old[idx], adv[idx], mask[idx], normalizer=norm, **{**kw, "ref_logp": reflp[idx]})
        part.backward()
        total += float(part.detach())
    # float64 throughout: the two orders of summation agree to ~1e-15; tolerance 1e-12
    assert abs(total - float(whole.detach())) < 1e-12
    torch.testing.assert_close(p_micro.grad, p_whole.grad, atol=1e-12, rtol=1e-12)


def test_prm_loss_does_not_depend_on_micro_batching():
    g = torch.Generator().manual_seed(1)
    prm = torch.randn(6, 4, generator=g, dtype=torch.float64)
    refl = torch.randn(6, 4, generator=g, dtype=torch.float64)
    r = torch.tensor([1.0, 0, 1, 1, 0, 0], dtype=torch.float64)
    mask = torch.ones(6, 4)
    a = prm.clone().requires_grad_(True)
    prime_prm_loss(a, refl, r, mask)[0].backward()
    b = prm.clone().requires_grad_(True)
    for idx in (slice(0, 2), slice(2, 6)):
        prime_prm_loss(b[idx], refl[idx], r[idx], mask[idx], normalizer=6)[0].backward()
    torch.testing.assert_close(a.grad, b.grad, atol=1e-12, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# bad input: clear errors naming the argument
# ----------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    r, g, m = torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), torch.ones(2, 3)
    d, s = torch.zeros(2, 3), fixed_step_ids(m, 1)
    with pytest.raises(ValueError, match=r"rewards must have shape \[B\]"):
        grpo_advantages(torch.ones(2, 1), g, m)
    with pytest.raises(ValueError, match=r"response_mask must have shape \[2, T\]"):
        grpo_advantages(r, g, torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"group_ids must have shape \[B\] = \[2\]"):
        rloo_advantages(r, torch.tensor([0, 0, 0]), m)
    with pytest.raises(TypeError, match="log_ratio must be a floating-point tensor"):
        prl_advantages(r, g, torch.zeros(2, 3, dtype=torch.long), m, s)
    with pytest.raises(ValueError, match=r"step_ids must have shape \[2, 3\]"):
        prl_advantages(r, g, d, m, s[:, :2])
    with pytest.raises(ValueError, match="decreas"):
        prl_advantages(r, g, d, m, torch.tensor([[0, 1, 2], [0, 2, 1]], dtype=torch.int32))
    with pytest.raises(ValueError, match="mode must be one of"):
        prl_advantages(r, g, d, m, s, mode="pmr")
    with pytest.raises(ValueError, match="future_from must be one of"):
        prl_advantages(r, g, d, m, s, future_from="end")
    with pytest.raises(ValueError, match="eta must be > 0"):
        prl_advantages(r, g, d, m, s, eta=0.0)
    with pytest.raises(ValueError, match="single sample"):
        grpo_advantages(r, torch.tensor([0, 1]), m)
    with pytest.raises(ValueError, match="agg must be one of"):
        ppo_clip_loss(d, d, d, m, agg="token_mean")
    with pytest.raises(ValueError, match=r"unknown advantage estimator 'grop' \(did you mean 'grpo'\?\)"):
        get_advantage_fn("grop")
    with pytest.raises(TypeError, match="missing \\['step_ids'\\]"):
        get_advantage_fn("prl")(rewards=r, group_ids=g, response_mask=m, log_ratio=d)
    with pytest.raises(ValueError, match="gamma must be in"):
        prime_advantages(r, g, d, m, gamma=1.5)
    with pytest.raises(ValueError, match="step_len must be a positive integer"):
        fixed_step_ids(m, 0)
    with pytest.raises(ValueError, match="invalid step spec 'fixed:x'"):
        parse_steps_spec("fixed:x")
    assert parse_steps_spec("balanced:8,64") == ("balanced", (8, 64))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.booleans(), st.integers(0, 3)), min_size=1, max_size=30),
       st.booleans())
def test_binary_auc_matches_pairwise_counting(rows, grouped):
    """binary_auc == the definition counted pair by pair in plain Python: over (positive, negative)
    pairs (of the same group when grouped), 1 if the positive scores higher, 1/2 on a tie."""
    from prl.algos import binary_auc

    s = torch.tensor([float(r[0]) for r in rows])
    y = torch.tensor([float(r[1]) for r in rows])
    g = torch.tensor([r[2] for r in rows])
    wins, pairs = 0.0, 0
    for a, ya, ga in rows:
        for b, yb, gb in rows:
            if ya and not yb and (ga == gb or not grouped):
                wins += 1.0 if a > b else 0.5 if a == b else 0.0
                pairs += 1
    got = binary_auc(s, y, g if grouped else None)
    if pairs == 0:
        assert math.isnan(got)
    else:
        assert got == pytest.approx(wins / pairs, abs=1e-12)


def test_binary_auc_examples_and_errors():
    from prl.algos import binary_auc

    assert binary_auc(torch.tensor([0.1, 0.9, 0.5]), torch.tensor([0.0, 1.0, 1.0])) == 1.0
    assert binary_auc(torch.tensor([-5.0, -4.0]), torch.tensor([0.0, 1.0])) == 1.0  # an offset does not matter
    assert binary_auc(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0])) == 0.5
    # telling an easy prompt (group 0) from a hard one (group 1) scores across groups, not within
    s, y = torch.tensor([10.0, 9.0, 8.0, 1.0, 0.0]), torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0])
    g = torch.tensor([0, 0, 0, 1, 1])
    assert binary_auc(s, y) == pytest.approx(4 / 6) and binary_auc(s, y, g) == 0.0
    with pytest.raises(ValueError, match="shape"):
        binary_auc(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="groups"):
        binary_auc(torch.zeros(3), torch.zeros(3), torch.zeros(2))
