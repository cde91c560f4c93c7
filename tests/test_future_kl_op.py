"""The segmented future-KL op (prl.ops / cpp/) against its PyTorch twins (prl.algos.future_kl).

Three implementations, each the oracle of the next: the Python loop, the vectorized reference, the
compiled op (CPU here; CUDA variants are marked `gpu`). Plus the CUDA kernel's blocked algorithm run
on the CPU (prl::_segmented_future_kl_blocked), opcheck, torch.compile, bad input, the fallback.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import prl.ops as ops
from prl.algos.future_kl import (
    segmented_future_kl_loop,
    segmented_future_kl_ref,
)

FUTURE_FROM = ("step_end", "next_step")
needs_op = pytest.mark.skipif(not ops.is_compiled(), reason="compiled op missing (test_compiled_op_is_present fails)")


def test_compiled_op_is_present():
    """Fails when prl._C did not build or load: a broken build must not hide behind the fallback."""
    assert ops.is_compiled(), f"prl._C / torch.ops.prl.segmented_future_kl not available: {ops.load_error()}"


# ---------------------------------------------------------------------------------------------------
# input generation


@st.composite
def rows_and_steps(draw, max_b: int = 5, max_t: int = 48):
    """(values float64 [B, T] with NaN/inf at excluded positions, step_ids int64 [B, T]).

    Per row: a layout (left padding, right padding, both, holes inside steps, fully masked, none)
    and a step partition (one token per step, one step, random lengths), ids starting anywhere
    with gaps."""
    B = draw(st.integers(0, max_b))
    T = draw(st.integers(0, max_t))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(B, T, generator=g, dtype=torch.float64)
    ids = torch.full((B, T), -1, dtype=torch.int64)
    for r in range(B):
        layout = draw(st.sampled_from(["none", "left", "right", "both", "holes", "masked"]))
        if layout == "masked" or T == 0:
            continue
        lo, hi = 0, T
        if layout in ("left", "both"):
            lo = draw(st.integers(0, T))
        if layout in ("right", "both"):
            hi = draw(st.integers(lo, T))
        n = hi - lo
        if n == 0:
            continue
        kind = draw(st.sampled_from(["single", "one", "random"]))
        if kind == "single":
            lens = [1] * n
        elif kind == "one":
            lens = [n]
        else:
            lens = []
            while sum(lens) < n:
                lens.append(min(draw(st.integers(1, 6)), n - sum(lens)))
        sid = draw(st.integers(0, 1000))
        pos = lo
        for ln in lens:
            ids[r, pos : pos + ln] = sid
            pos += ln
            sid += draw(st.integers(1, 3))
        if layout == "holes":
            holes = torch.rand(T, generator=g) < 0.3
            ids[r, holes] = -1
    excluded = ids < 0
    poison = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e30], dtype=torch.float64)
    values[excluded] = poison[torch.randint(0, 4, (int(excluded.sum()),), generator=g)]
    return values, ids


gammas = st.one_of(st.just(1.0), st.floats(0.05, 1.0), st.just(0.5))


def _f32_tol(values: torch.Tensor, ids: torch.Tensor) -> float:
    """Absolute tolerance for fp32 accumulation: a few ulps of the row's sum of |v|."""
    if values.numel() == 0:
        return 1e-6
    absum = torch.where(ids >= 0, values.abs(), torch.zeros((), dtype=values.dtype)).sum(1).max()
    return float(absum) * 2e-6 + 1e-6


# ---------------------------------------------------------------------------------------------------
# worked examples (hand-computed)


@pytest.mark.parametrize("impl", ["loop", "ref", "op"])
def test_worked_examples(impl):
    if impl == "op" and not ops.is_compiled():
        pytest.skip("compiled op missing")
    f = {"loop": segmented_future_kl_loop, "ref": segmented_future_kl_ref, "op": ops.segmented_future_kl}[impl]
    v = torch.tensor([[1.0, 2.0, 4.0, 8.0, 16.0], [0.0, 1.0, 2.0, 3.0, 4.0]])
    s = torch.tensor([[0, 0, 1, 1, -1], [-1, -1, -1, -1, -1]])
    # S = [15, 14, 12, 8]; step 0 ends at t=1 (S=14), step 1 at t=3 (S=8)
    torch.testing.assert_close(f(v, s), torch.tensor([[14.0, 14, 8, 8, 0], [0, 0, 0, 0, 0]]))
    torch.testing.assert_close(f(v, s, future_from="next_step"), torch.tensor([[12.0, 12, 0, 0, 0], [0, 0, 0, 0, 0]]))
    # discounted, one step per token, an excluded token in the middle (skipped for the exponent too):
    # S_3 = 4, S_1 = 2 + 0.5*4 = 4, S_0 = 1 + 0.5*4 = 3
    v = torch.tensor([[1.0, 2.0, 99.0, 4.0]], dtype=torch.float64)
    s = torch.tensor([[5, 7, -1, 9]], dtype=torch.int32)
    out = f(v, s, gamma=0.5)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, torch.tensor([[3.0, 4.0, 0.0, 4.0]], dtype=torch.float64))
    torch.testing.assert_close(f(v, s, future_from="next_step", gamma=0.5), torch.tensor([[4.0, 4.0, 0.0, 0.0]], dtype=torch.float64))
    # steps {0,1} {3}: step_end S_1 = 2 + .5*4 = 4 for tokens 0 and 1
    s2 = torch.tensor([[0, 0, -1, 3]])
    torch.testing.assert_close(f(v, s2, gamma=0.5), torch.tensor([[4.0, 4.0, 0.0, 4.0]], dtype=torch.float64))


@pytest.mark.parametrize("impl", ["loop", "ref", "op"])
def test_empty_and_fully_masked(impl):
    if impl == "op" and not ops.is_compiled():
        pytest.skip("compiled op missing")
    f = {"loop": segmented_future_kl_loop, "ref": segmented_future_kl_ref, "op": ops.segmented_future_kl}[impl]
    for B, T in [(0, 0), (0, 7), (3, 0)]:
        out = f(torch.zeros(B, T), torch.zeros(B, T, dtype=torch.long))
        assert out.shape == (B, T) and out.dtype == torch.float32
    v = torch.full((2, 6), float("nan"))
    out = f(v, torch.full((2, 6), -1))
    assert torch.equal(out, torch.zeros(2, 6))


# ---------------------------------------------------------------------------------------------------
# property tests: loop == ref == op == blocked emulation


@settings(max_examples=60)
@given(rows_and_steps(), gammas, st.sampled_from(FUTURE_FROM))
def test_ref_matches_loop(data, gamma, future_from):
    values, ids = data
    want = segmented_future_kl_loop(values, ids, future_from=future_from, gamma=gamma)
    got = segmented_future_kl_ref(values, ids, future_from=future_from, gamma=gamma)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    assert torch.isfinite(got).all()
    got32 = segmented_future_kl_ref(values.float(), ids, future_from=future_from, gamma=gamma)
    assert got32.dtype == torch.float32
    want32 = segmented_future_kl_loop(values.float(), ids, future_from=future_from, gamma=gamma)
    torch.testing.assert_close(got32, want32, rtol=0, atol=_f32_tol(values, ids))


@needs_op
@settings(max_examples=80)
@given(rows_and_steps(), gammas, st.sampled_from(FUTURE_FROM), st.sampled_from([torch.int32, torch.int64]))
def test_op_matches_loop(data, gamma, future_from, id_dtype):
    values, ids = data
    ids = ids.to(id_dtype)
    want = segmented_future_kl_loop(values, ids, future_from=future_from, gamma=gamma)
    got = ops.segmented_future_kl(values, ids, future_from=future_from, gamma=gamma)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    v32 = values.float()
    got32 = ops.segmented_future_kl(v32, ids, future_from=future_from, gamma=gamma)
    assert got32.dtype == torch.float32 and got32.shape == values.shape
    want32 = segmented_future_kl_loop(v32, ids, future_from=future_from, gamma=gamma)
    # the CPU kernel accumulates in double: its fp32 output is the rounded exact result
    torch.testing.assert_close(got32, want32, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got32, segmented_future_kl_ref(v32, ids, future_from=future_from, gamma=gamma),
                               rtol=0, atol=_f32_tol(values, ids))


@needs_op
@settings(max_examples=60)
@given(rows_and_steps(max_t=70), gammas, st.sampled_from(FUTURE_FROM), st.integers(1, 6), st.integers(1, 5),
       st.sampled_from([torch.float64, torch.float32]))
def test_cuda_algorithm_on_cpu_matches_loop(data, gamma, future_from, threads, items, dtype):
    """The CUDA kernel's tiles / per-thread summaries / block scan (future_kl_scan.h), run on the CPU
    with small tiles so rows span many tiles and steps span chunk and tile boundaries."""
    values, ids = data
    values = values.to(dtype)
    want = segmented_future_kl_loop(values, ids, future_from=future_from, gamma=gamma)
    got = torch.ops.prl._segmented_future_kl_blocked(values, ids, future_from == "next_step", gamma, threads, items)
    atol = 1e-12 if dtype == torch.float64 else _f32_tol(values.double(), ids) * 4
    torch.testing.assert_close(got, want, rtol=0, atol=atol)


@needs_op
@settings(max_examples=40)
@given(rows_and_steps(), gammas, st.sampled_from(FUTURE_FROM), st.sampled_from([torch.bfloat16, torch.float16]))
def test_op_low_precision(data, gamma, future_from, dtype):
    """bf16/fp16 values: fp32 output; error against the fp64 truth within 2x torch's own error
    (the reference's answer rounded to the low-precision dtype, floored at one low-precision ulp of
    the row sum), and tight against the loop on the same quantized inputs."""
    values, ids = data
    values = torch.where(ids >= 0, values, torch.zeros((), dtype=values.dtype))  # finite for .to(lp)
    v_lp = values.to(dtype)
    got = ops.segmented_future_kl(v_lp, ids, future_from=future_from, gamma=gamma)
    assert got.dtype == torch.float32
    same_inputs = segmented_future_kl_loop(v_lp.double(), ids, future_from=future_from, gamma=gamma)
    torch.testing.assert_close(got.double(), same_inputs, rtol=1e-6, atol=1e-6)
    truth = segmented_future_kl_loop(values, ids, future_from=future_from, gamma=gamma)
    torch_lp = segmented_future_kl_ref(v_lp, ids, future_from=future_from, gamma=gamma).to(dtype).double()
    if truth.numel():
        op_err = (got.double() - truth).abs().max().item()
        torch_err = (torch_lp - truth).abs().max().item()
        # floor: one low-precision ulp of the largest row sum (torch's error can be lucky on tiny inputs)
        absum = torch.where(ids >= 0, v_lp.double().abs(), torch.zeros((), dtype=torch.float64)).sum(1).max().item()
        assert op_err <= 2 * max(torch_err, torch.finfo(dtype).eps * absum) + 1e-6, (op_err, torch_err)


@needs_op
@settings(max_examples=30)
@given(rows_and_steps(), gammas, st.sampled_from(FUTURE_FROM), st.sampled_from(["transpose", "slice", "expand"]))
def test_op_non_contiguous(data, gamma, future_from, how):
    values, ids = data
    B, T = values.shape
    if how == "transpose":  # [B, T] views of [T, B] storage
        v = values.t().contiguous().t()
        s = ids.t().contiguous().t()
    elif how == "slice":  # every other column and row of a bigger tensor
        big_v = torch.full((2 * B, 2 * T), float("nan"), dtype=values.dtype)
        big_s = torch.full((2 * B, 2 * T), 7, dtype=ids.dtype)  # 7s between would break the order
        big_v[::2, 1::2] = values
        big_s[::2, 1::2] = ids
        v, s = big_v[::2, 1::2], big_s[::2, 1::2]
    else:  # a single row broadcast to B rows (stride 0)
        v, s = values[:1].expand(B, T) if B else values, ids[:1].expand(B, T) if B else ids
    assert v.shape == (B, T) and s.shape == (B, T)
    want = segmented_future_kl_loop(v.contiguous(), s.contiguous(), future_from=future_from, gamma=gamma)
    got = ops.segmented_future_kl(v, s, future_from=future_from, gamma=gamma)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(segmented_future_kl_ref(v, s, future_from=future_from, gamma=gamma), want,
                               rtol=1e-9, atol=1e-9)


@needs_op
def test_op_long_rows_parallel():
    """Many long rows (several at::parallel_for chunks) with realistic steps: op == ref."""
    g = torch.Generator().manual_seed(0)
    B, T = 64, 1500
    v = torch.randn(B, T, generator=g, dtype=torch.float64)
    lengths = torch.randint(T // 3, T + 1, (B,), generator=g)
    pos = torch.arange(T)
    ids = torch.where(pos[None] < lengths[:, None], pos[None] // 37, -1)
    for ff in FUTURE_FROM:
        for gamma in (1.0, 0.99):
            torch.testing.assert_close(ops.segmented_future_kl(v, ids, future_from=ff, gamma=gamma),
                                       segmented_future_kl_ref(v, ids, future_from=ff, gamma=gamma), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------------------
# the op as a torch op: opcheck, torch.compile


def sample_inputs(device: str):
    g = torch.Generator().manual_seed(1)
    out = []
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        for id_dtype in (torch.int32, torch.int64):
            v = torch.randn(3, 33, generator=g).to(dtype)
            ids = (torch.arange(33) // 5).repeat(3, 1).to(id_dtype)
            ids[1, :4] = -1
            ids[2] = -1
            out.append((v.to(device), ids.to(device), False, 1.0))
            out.append((v.to(device), ids.to(device), True, 0.9))
    v = torch.randn(40, 6, generator=g)
    out.append((v.t().to(device), torch.arange(6 * 40).reshape(6, 40).to(device), False, 1.0))  # non-contiguous
    return out


@needs_op
def test_opcheck_cpu():
    for args in sample_inputs("cpu"):
        torch.library.opcheck(torch.ops.prl.segmented_future_kl.default, args)


@needs_op
def test_torch_compile_fullgraph():
    def f(v, ids):
        return ops.segmented_future_kl(v * 2.0, ids, future_from="step_end", gamma=0.9) + 1.0

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    v = torch.randn(4, 20)
    ids = (torch.arange(20) // 3).repeat(4, 1)
    ids[0, 15:] = -1
    torch.testing.assert_close(compiled(v, ids), f(v, ids))


# ---------------------------------------------------------------------------------------------------
# bad input: clear errors naming the argument, from the wrapper and from the op itself

_V = torch.zeros(2, 4)
_S = torch.tensor([[0, 0, 1, -1], [0, 1, 1, 2]])


@pytest.mark.parametrize("impl", ["loop", "ref", "op"])
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(values=torch.zeros(8)), ValueError, r"values must have shape \[B, T\] \(2-D\), got shape \[8\]"),
        (dict(step_ids=torch.zeros(2, 4, 1, dtype=torch.long)), ValueError, r"step_ids must have shape \[B, T\]"),
        (dict(values=torch.zeros(2, 5)), ValueError, r"values and step_ids must have the same shape.*\[2, 5\].*\[2, 4\]"),
        (dict(values=torch.zeros(2, 4, dtype=torch.long)), TypeError, r"values must be a floating-point tensor.*torch.int64"),
        (dict(step_ids=_S.float()), TypeError, r"step_ids must be an int32 or int64 tensor, got dtype torch.float32"),
        (dict(step_ids=torch.tensor([[0, 0, 1, -1], [0, 2, 1, 2]])), ValueError, r"row 1 decreases at column 2: 1 after 2"),
        (dict(step_ids=torch.tensor([[0, 0, 1, -1], [0, 1, 1, -3]])), ValueError, r"row 1, column 3 has -3"),
        (dict(future_from="next"), ValueError, r"future_from must be one of 'step_end', 'next_step'; got 'next'"),
        (dict(gamma=1.5), ValueError, r"gamma must be a float in \[0, 1\], got 1.5"),
        (dict(gamma=float("nan")), ValueError, r"gamma must be a float in \[0, 1\]"),
        (dict(values=torch.zeros(2, 4, device="meta")), ValueError, r"same device.*meta.*cpu"),
    ],
)
def test_bad_input_python(impl, kwargs, exc, match):
    if impl == "op" and not ops.is_compiled():
        pytest.skip("compiled op missing")
    f = {"loop": segmented_future_kl_loop, "ref": segmented_future_kl_ref, "op": ops.segmented_future_kl}[impl]
    args = dict(values=_V, step_ids=_S, future_from="step_end", gamma=1.0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        f(args.pop("values"), args.pop("step_ids"), **args)


@needs_op
@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((torch.zeros(8), _S, False, 1.0), ValueError, r"values must have shape \[B, T\] \(2-D\)"),
        ((torch.zeros(2, 5), _S, False, 1.0), ValueError, r"same shape \[B, T\]; got values \[2, 5\] and step_ids \[2, 4\]"),
        ((torch.zeros(2, 4, dtype=torch.int32), _S, False, 1.0), TypeError, r"values must be float32, float64, bfloat16 or float16, got Int"),
        ((_V, _S.to(torch.int16), False, 1.0), TypeError, r"step_ids must be int32 or int64, got Short"),
        ((_V, torch.tensor([[0, 0, 1, -1], [0, 2, 1, 2]]), False, 1.0), ValueError, r"row 1 decreases at column 2: 1 after 2"),
        ((_V, torch.tensor([[0, -2, 1, -1], [0, 1, 1, 2]]), True, 1.0), ValueError, r"row 0, column 1 has -2"),
        ((_V, _S, False, -0.5), ValueError, r"gamma must be in \[0, 1\], got -0.5"),
    ],
)
def test_bad_input_raw_op(args, exc, match):
    """TORCH_CHECK_VALUE / TORCH_CHECK_TYPE in the C++ op (called without the Python wrapper)."""
    with pytest.raises(exc, match=match):
        torch.ops.prl.segmented_future_kl(*args)


def test_fallback_warns_once_and_uses_reference(monkeypatch):
    """Without the compiled op the wrapper warns loudly, once, and returns the reference's answer."""
    monkeypatch.setattr(ops, "_COMPILED", False)
    monkeypatch.setattr(ops, "_WARNED", False)
    v = torch.randn(3, 10)
    ids = (torch.arange(10) // 4).repeat(3, 1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a = ops.segmented_future_kl(v, ids, future_from="next_step", gamma=0.8)
        b = ops.segmented_future_kl(v, ids)
    msgs = [str(x.message) for x in w if issubclass(x.category, RuntimeWarning)]
    assert len(msgs) == 1 and "NOT available" in msgs[0] and "segmented_future_kl_ref" in msgs[0]
    torch.testing.assert_close(a, segmented_future_kl_ref(v, ids, future_from="next_step", gamma=0.8))
    torch.testing.assert_close(b, segmented_future_kl_loop(v, ids))
    assert not ops.is_compiled()


# ---------------------------------------------------------------------------------------------------
# CUDA (skipped without a device)

cuda_op = pytest.mark.skipif(not ops.cuda_compiled(), reason="the CUDA kernel was not built")


@pytest.mark.gpu
@cuda_op
@settings(max_examples=60)
@given(rows_and_steps(max_t=300), gammas, st.sampled_from(FUTURE_FROM),
       st.sampled_from([torch.float64, torch.float32, torch.bfloat16, torch.float16]),
       st.sampled_from([torch.int32, torch.int64]))
def test_cuda_matches_loop(data, gamma, future_from, dtype, id_dtype):
    values, ids = data
    values = torch.where(ids >= 0, values, torch.zeros((), dtype=values.dtype)).to(dtype)
    ids = ids.to(id_dtype)
    want = segmented_future_kl_loop(values, ids, future_from=future_from, gamma=gamma)
    got = ops.segmented_future_kl(values.cuda(), ids.cuda(), future_from=future_from, gamma=gamma)
    assert got.is_cuda and got.dtype == want.dtype
    atol = 1e-12 if dtype == torch.float64 else _f32_tol(values.double(), ids) * 4
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=atol)


@pytest.mark.gpu
@cuda_op
def test_cuda_long_rows_non_contiguous_side_stream():
    """Rows spanning many tiles (T = 5000 > 1024-token tiles), a transposed input, a side stream."""
    g = torch.Generator().manual_seed(3)
    B, T = 37, 5000
    v = torch.randn(T, B, generator=g, dtype=torch.float64).t()  # non-contiguous [B, T]
    pos = torch.arange(T)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    ids = torch.where(pos[None] < lengths[:, None], pos[None] // 300, -1)
    ids[3] = -1
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        vc, ic = v.cuda(), ids.cuda()
        outs = {(ff, gm): ops.segmented_future_kl(vc, ic, future_from=ff, gamma=gm) for ff in FUTURE_FROM for gm in (1.0, 0.999)}
    s.synchronize()
    for (ff, gm), out in outs.items():
        torch.testing.assert_close(out.cpu(), segmented_future_kl_ref(v, ids, future_from=ff, gamma=gm), rtol=1e-10, atol=1e-10)


@pytest.mark.gpu
@cuda_op
def test_cuda_opcheck_and_compile():
    for args in sample_inputs("cuda"):
        torch.library.opcheck(torch.ops.prl.segmented_future_kl.default, args)
    f = torch.compile(lambda v, i: ops.segmented_future_kl(v, i, gamma=0.9) * 3, fullgraph=True)
    v = torch.randn(4, 2000, device="cuda")
    ids = (torch.arange(2000, device="cuda") // 7).repeat(4, 1)
    torch.testing.assert_close(f(v, ids), segmented_future_kl_ref(v, ids, gamma=0.9) * 3, rtol=1e-5, atol=1e-4)


@pytest.mark.gpu
@cuda_op
def test_cuda_bad_step_ids_named():
    with pytest.raises(ValueError, match=r"row 1 decreases at column 2"):
        ops.segmented_future_kl(_V.cuda(), torch.tensor([[0, 0, 1, -1], [0, 2, 1, 2]]).cuda())
