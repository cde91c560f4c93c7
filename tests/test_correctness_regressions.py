"""Regression tests of the correctness review (NaN through padding, zero-variance groups, precision,
early refusal of rollout.n=1, the op's own step-id check).  Each failed on the code before its fix.
The torchrun forward-count rule has its tests in tests/distributed/test_forward_lockstep.py."""

from __future__ import annotations

import pytest
import torch

import prl.ops as ops
from prl import algos
from prl.algos import reference as ref
from prl.config import ConfigError, load_config

# ------------------------------------------------------------------------------------ NaN via padding


def _grad_of(fn):
    logp = torch.tensor([[-1.0, 0.0]], requires_grad=True)
    loss = fn(logp)
    loss.backward()
    return loss, logp.grad


def test_ppo_loss_finite_with_extreme_old_logp_on_padding():
    """The review's example: pi_old = -95 on a padding position (the update's lp there is 0)."""
    old = torch.tensor([[-1.0, -95.0]])
    adv = torch.tensor([[0.5, 0.0]])
    mask = torch.tensor([[1.0, 0.0]])
    loss, grad = _grad_of(lambda lp: algos.ppo_clip_loss(lp, old, adv, mask)[0])
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert loss.item() == pytest.approx(-0.5)  # ratio 1 on the one valid token
    assert grad[0, 1] == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["logp", "old", "adv", "ref"])
@pytest.mark.parametrize("agg", algos.AGGREGATIONS)
def test_non_finite_on_padding_never_reaches_loss_or_grad(bad, where, agg):
    old = torch.tensor([[-1.0, -2.0], [-0.5, -0.7]])
    adv = torch.tensor([[0.5, 0.5], [-1.0, -1.0]])
    refl = torch.tensor([[-1.2, -2.0], [-0.4, -0.9]])
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    if where == "old":
        old[0, 1] = bad
    if where == "adv":
        adv[0, 1] = bad
    if where == "ref":
        refl[0, 1] = bad

    def f(lp):
        x = lp.clone()
        if where == "logp":
            x = torch.where(torch.tensor([[False, True], [False, False]]), torch.tensor(bad), x)
        loss, m = algos.ppo_clip_loss(x, old, adv, mask, agg=agg, ref_logp=refl, kl_loss_coef=0.1,
                                      kl_loss_type="k3", dual_clip=3.0)
        assert all(v == v for v in m.values()), m  # metrics are NaN-free too
        return loss

    logp = torch.tensor([[-0.9, -2.1], [-0.6, -0.6]], requires_grad=True)
    loss = f(logp)
    loss.backward()
    assert torch.isfinite(loss), loss
    assert torch.isfinite(logp.grad).all(), logp.grad
    assert logp.grad[0, 1] == 0.0


def test_log_ratio_is_clamped():
    """A stale pi_old 1000 nats below the policy: exp would overflow to inf; the ratio is exp(20)."""
    logp = torch.tensor([[0.0]], requires_grad=True)
    loss, m = algos.ppo_clip_loss(logp, torch.tensor([[-1000.0]]), torch.tensor([[-1.0]]), torch.ones(1, 1))
    assert torch.isfinite(loss)
    assert m["ppo_kl"] == pytest.approx(-20.0)


def test_prime_prm_loss_ignores_non_finite_padding():
    prm = torch.tensor([[-1.0, float("nan")]], requires_grad=True)
    loss, _ = algos.prime_prm_loss(prm, torch.tensor([[-1.5, -float("inf")]]), torch.tensor([1.0]),
                                   torch.tensor([[1.0, 0.0]]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(prm.grad).all()


# ------------------------------------------------------------------------------ zero-variance groups


@pytest.mark.parametrize("value,n", [(1.3, 8), (0.7, 16), (0.1, 5), (2.0 / 3.0, 7), (1e-3, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_groups_get_exactly_zero_advantage(value, n, dtype):
    r = torch.full((n,), value, dtype=dtype)
    g = torch.zeros(n, dtype=torch.long)
    mask = torch.ones(n, 3)
    assert torch.equal(algos.grpo_scalar_advantages(r, g), torch.zeros(n, dtype=dtype))
    assert torch.equal(algos.grpo_scalar_advantages(r, g, scale_by_std=False), torch.zeros(n, dtype=dtype))
    assert torch.equal(algos.rloo_scalar_advantages(r, g), torch.zeros(n, dtype=dtype))
    steps = torch.zeros(n, 3, dtype=torch.int32)
    prl = algos.prl_advantages(r, g, torch.zeros(n, 3), mask, steps)  # zero log-ratio: the GRPO part alone
    assert torch.equal(prl, torch.zeros_like(prl))
    prime = algos.prime_advantages(r, g, torch.zeros(n, 3, dtype=dtype), mask, whiten=False)
    assert torch.equal(prime, torch.zeros_like(prime))


def test_mixed_groups_unchanged_and_float64_statistics():
    """A constant group next to a varied one: the varied one keeps its usual values (the loop oracle)."""
    r = torch.tensor([1.3, 1.3, 1.3, 1.3, 1.3, 0.3, 1.0, 0.0])
    g = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    got = algos.grpo_scalar_advantages(r, g)
    assert torch.equal(got[:4], torch.zeros(4))
    want = ref.grpo_scalar_loop(r, g)
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float32), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------ precision


def test_prime_keeps_float64_token_rewards():
    torch.manual_seed(0)
    q = torch.randn(4, 5, dtype=torch.float64) * 1e-3
    r = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    g = torch.tensor([0, 0, 1, 1])
    mask = torch.ones(4, 5)
    got = algos.prime_advantages(r, g, q, mask)
    assert got.dtype == torch.float64
    want = ref.prime_advantages_loop(r, g, q, mask)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------ rollout.n = 1 refused early


@pytest.mark.parametrize("algo,extra", [("grpo", []), ("drgrpo", []), ("rloo", []), ("prime", []),
                                        ("prl", ["algo.prl.mode=orm"])])
def test_single_sample_refused_when_config_is_read(algo, extra):
    with pytest.raises(ConfigError, match=r"rollout.n.*2 samples per prompt"):
        load_config("configs/prl_tiny.yaml", [f"algo.name={algo}", "rollout.n=1", *extra])


def test_single_sample_allowed_without_a_baseline():
    cfg = load_config("configs/prl_tiny.yaml", ["algo.name=prl", "algo.prl.mode=prm", "rollout.n=1"])
    assert cfg.rollout.n == 1


# ----------------------------------------------------------------------- the op's own step-id check

needs_op = pytest.mark.skipif(not ops.is_compiled(), reason="compiled op missing")
_BAD = torch.tensor([[0, 0, 1, -1], [0, 2, 1, 2]])


@needs_op
def test_cuda_algorithm_checks_step_id_order():
    """The CUDA entry point runs the same tensor-level check as this CPU emulation of its kernel."""
    with pytest.raises(ValueError, match=r"row 1 decreases at column 2: 1 after 2"):
        torch.ops.prl._segmented_future_kl_blocked(torch.zeros(2, 4), _BAD, False, 1.0, 2, 2)
    with pytest.raises(ValueError, match=r"row 0, column 1 has -3"):
        torch.ops.prl._segmented_future_kl_blocked(torch.zeros(1, 3), torch.tensor([[0, -3, 1]]), False, 1.0, 2, 2)


@pytest.mark.gpu
@needs_op
def test_raw_cuda_op_checks_step_id_order():
    with pytest.raises(ValueError, match=r"row 1 decreases at column 2"):
        torch.ops.prl.segmented_future_kl(torch.zeros(2, 4, device="cuda"), _BAD.cuda(), False, 1.0)
