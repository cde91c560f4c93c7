"""Slow, obvious twins of the advantage estimators and losses: Python loops over plain floats.

They are the test oracles of :mod:`prl.algos.advantages` and :mod:`prl.algos.losses` (and through
them of the compiled op), written straight from the formulas in docs/algorithms.md without sharing code with the
fast versions.  Inputs and outputs are tensors of the same shapes; the arithmetic is float64.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch import Tensor


def _groups(group_ids: Tensor) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(group_ids.tolist()):
        groups[g].append(i)
    return groups


def grpo_scalar_loop(rewards: Tensor, group_ids: Tensor, *, scale_by_std: bool = True, eps: float = 1e-6) -> list[float]:
    r = [float(x) for x in rewards.tolist()]
    out = [0.0] * len(r)
    for members in _groups(group_ids).values():
        vals = [r[i] for i in members]
        if max(vals) == min(vals):
            continue  # all rewards equal: advantage exactly 0 (no float residue of the mean)
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
        for i in members:
            out[i] = (r[i] - mean) / (std + eps) if scale_by_std else r[i] - mean
    return out


def rloo_scalar_loop(rewards: Tensor, group_ids: Tensor) -> list[float]:
    r = [float(x) for x in rewards.tolist()]
    out = [0.0] * len(r)
    for members in _groups(group_ids).values():
        if len({r[i] for i in members}) == 1:
            continue  # all rewards equal: advantage exactly 0
        for i in members:
            others = [r[j] for j in members if j != i]
            out[i] = r[i] - sum(others) / len(others)
    return out


def _broadcast_loop(per_sample: list[float], mask: Tensor) -> Tensor:
    m = mask.tolist()
    return torch.tensor([[per_sample[i] if m[i][t] else 0.0 for t in range(len(m[i]))] for i in range(len(m))], dtype=torch.float64)


def grpo_advantages_loop(rewards, group_ids, response_mask, *, scale_by_std=True, eps=1e-6) -> Tensor:
    """Loop twin of :func:`prl.algos.grpo_advantages`.  -> float64 [B, T]"""
    return _broadcast_loop(grpo_scalar_loop(rewards, group_ids, scale_by_std=scale_by_std, eps=eps), response_mask)


def rloo_advantages_loop(rewards, group_ids, response_mask) -> Tensor:
    """Loop twin of :func:`prl.algos.rloo_advantages`.  -> float64 [B, T]"""
    return _broadcast_loop(rloo_scalar_loop(rewards, group_ids), response_mask)


def fixed_step_ids_loop(response_mask: Tensor, step_len: int) -> Tensor:
    """Loop twin of :func:`prl.algos.fixed_step_ids`.  -> int32 [B, T]"""
    out = []
    for row in response_mask.tolist():
        k, ids = 0, []
        for m in row:
            if m:
                ids.append(k // step_len)
                k += 1
            else:
                ids.append(-1)
        out.append(ids)
    return torch.tensor(out, dtype=torch.int32).reshape(response_mask.shape)


def future_sum_loop(values: list[float], steps: list[int], *, next_step: bool, gamma: float = 1.0) -> list[float]:
    """One row: the discounted future sum of ``values`` from the end of each token's step.

    ``steps[t] == -1`` excludes token t.  Written as the definition reads: for each token, find the
    last token of its step, then sum the later (or from-that-token-on) included values.
    """
    idx = [t for t, s in enumerate(steps) if s >= 0]
    out = [0.0] * len(values)
    for k, t in enumerate(idx):
        last = k
        while last + 1 < len(idx) and steps[idx[last + 1]] == steps[t]:
            last += 1
        start = last + 1 if next_step else last
        out[t] = sum(gamma ** (j - start) * values[idx[j]] for j in range(start, len(idx)))
    return out


def prl_advantages_loop(
    rewards, group_ids, log_ratio, response_mask, step_ids, *, eta=100.0, mode="orm", future_from="step_end",
    scale_by_std=True, eps=1e-6,
) -> Tensor:
    """Loop twin of :func:`prl.algos.prl_advantages`.  -> float64 [B, T]"""
    if mode == "orm":
        base = grpo_scalar_loop(rewards, group_ids, scale_by_std=scale_by_std, eps=eps)
    else:
        base = [float(x) for x in rewards.tolist()]
    d, m, s = log_ratio.double().tolist(), response_mask.tolist(), step_ids.tolist()
    out = []
    for i in range(len(d)):
        steps = [s[i][t] if m[i][t] else -1 for t in range(len(d[i]))]
        f = future_sum_loop(d[i], steps, next_step=future_from == "next_step")
        out.append([base[i] - f[t] / eta if m[i][t] else 0.0 for t in range(len(d[i]))])
    return torch.tensor(out, dtype=torch.float64).reshape(log_ratio.shape)


def prime_advantages_loop(
    rewards, group_ids, token_rewards, response_mask, *, gamma=1.0, w_process=1.0, w_outcome=1.0,
    reward_norm="batch_norm", whiten=True,
) -> Tensor:
    """Loop twin of :func:`prl.algos.prime_advantages`.  -> float64 [B, T]"""
    q, m = token_rewards.double().tolist(), response_mask.tolist()
    B = len(q)
    T = len(q[0]) if B else 0
    q = [[q[i][t] if m[i][t] else 0.0 for t in range(T)] for i in range(B)]
    if reward_norm == "batch_norm":
        largest = 0.0
        for i in range(B):
            for t in range(T):
                if m[i][t]:
                    largest = max(largest, abs(sum(q[i][u] for u in range(t, T) if m[i][u])))
        q = [[v / (largest + 1e-6) for v in row] for row in q]
    seq_mean = []
    for i in range(B):
        n = sum(1 for t in range(T) if m[i][t])
        seq_mean.append(sum(q[i][t] for t in range(T) if m[i][t]) / n if n else 0.0)
    outcome = rloo_scalar_loop(rewards, group_ids)
    adv = [[0.0] * T for _ in range(B)]
    for members in _groups(group_ids).values():
        for i in members:
            baseline = sum(seq_mean[j] for j in members if j != i) / (len(members) - 1)
            r_tilde = [q[i][t] - baseline for t in range(T)]
            steps = [t if m[i][t] else -1 for t in range(T)]
            ret = future_sum_loop(r_tilde, steps, next_step=False, gamma=gamma)
            for t in range(T):
                if m[i][t]:
                    adv[i][t] = w_process * ret[t] + w_outcome * outcome[i]
    if whiten:
        vals = [adv[i][t] for i in range(B) for t in range(T) if m[i][t]]
        mean = sum(vals) / max(len(vals), 1)
        var = sum((v - mean) ** 2 for v in vals) / max(len(vals) - 1, 1)
        adv = [[(adv[i][t] - mean) / math.sqrt(var + 1e-8) if m[i][t] else 0.0 for t in range(T)] for i in range(B)]
    return torch.tensor(adv, dtype=torch.float64).reshape(token_rewards.shape)


def ppo_clip_loss_loop(
    logp, old_logp, advantages, response_mask, *, clip_low=0.2, clip_high=0.2, dual_clip=None, agg="token-mean",
) -> float:
    """Loop twin of the value of :func:`prl.algos.ppo_clip_loss` (no KL term).  -> float"""
    lp, olp, a, m = logp.double().tolist(), old_logp.double().tolist(), advantages.double().tolist(), response_mask.tolist()
    B = len(lp)
    T = len(lp[0]) if B else 0
    per_seq, tokens = [], 0
    for i in range(B):
        row = []
        for t in range(T):
            if not m[i][t]:
                continue
            ratio = math.exp(min(max(lp[i][t] - olp[i][t], -20.0), 20.0))  # the log-ratio clamp
            clipped_ratio = min(max(ratio, 1 - clip_low), 1 + clip_high)
            loss = max(-a[i][t] * ratio, -a[i][t] * clipped_ratio)
            if dual_clip is not None and a[i][t] < 0:
                loss = min(loss, -a[i][t] * dual_clip)
            row.append(loss)
        per_seq.append(row)
        tokens += len(row)
    if agg == "token-mean":
        return sum(sum(r) for r in per_seq) / max(tokens, 1)
    if agg == "seq-mean-token-mean":
        nonempty = [r for r in per_seq if r]
        return sum(sum(r) / len(r) for r in nonempty) / max(len(nonempty), 1)
    return sum(sum(r) for r in per_seq) / (max(B, 1) * T)  # seq-mean-token-sum-norm, max_response_len = T


def reinforce_k1_loop(rewards, log_ratio, response_mask, *, beta: float) -> Tensor:
    """REINFORCE with a k1 KL penalty in the reward (gamma = 1, no baseline, no whitening).

    Token reward r_t = -beta * d_t, plus R_i on the last response token; the advantage of token t is
    the return sum over s >= t of r_s.  -> float64 [B, T]
    """
    d, m, R = log_ratio.double().tolist(), response_mask.tolist(), [float(x) for x in rewards.tolist()]
    out = []
    for i in range(len(d)):
        T = len(d[i])
        valid = [t for t in range(T) if m[i][t]]
        r = [0.0] * T
        for t in valid:
            r[t] = -beta * d[i][t]
        if valid:
            r[valid[-1]] += R[i]
        row = [0.0] * T
        for t in valid:
            row[t] = sum(r[u] for u in valid if u >= t)
        out.append(row)
    return torch.tensor(out, dtype=torch.float64).reshape(log_ratio.shape)


def process_grpo_advantages_loop(rewards, group_ids, response_mask, step_ids, token_rewards, *, credit="sum",
                                 w_outcome=0.0, eps=1e-6) -> Tensor:
    """Loop twin of :func:`prl.algos.process_grpo.process_grpo_advantages`.  -> float64 [B, T]

    Straight from the definition: b(l) is the last response token of step l, r_{i,l} the token reward
    there; normalise over all steps of the group; A_t sums (or takes the minimum of) r~_{i,l} over
    the steps with b(l) >= t.
    """
    m, s, q = response_mask.tolist(), step_ids.tolist(), token_rewards.double().tolist()
    B = len(m)
    ends: list[dict[int, int]] = []  # per row: step id -> b(l)
    for i in range(B):
        e: dict[int, int] = {}
        for t in range(len(m[i])):
            if m[i][t]:
                e[s[i][t]] = t  # the last token seen with that id
        ends.append(e)
    norm: list[dict[int, float]] = [{} for _ in range(B)]
    for members in _groups(group_ids).values():
        vals = [q[i][b] for i in members for b in ends[i].values()]
        for i in members:
            for step, b in ends[i].items():
                if len(vals) < 2 or max(vals) == min(vals):
                    norm[i][step] = 0.0
                else:
                    mean = sum(vals) / len(vals)
                    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
                    norm[i][step] = (q[i][b] - mean) / (std + eps)
    outcome = grpo_scalar_loop(rewards, group_ids, eps=eps) if w_outcome else [0.0] * B
    out = []
    for i in range(B):
        row = []
        for t in range(len(m[i])):
            if not m[i][t]:
                row.append(0.0)
                continue
            later = [norm[i][step] for step, b in ends[i].items() if b >= t]
            a = sum(later) if credit == "sum" else min(later)
            row.append(a + w_outcome * outcome[i])
        out.append(row)
    return torch.tensor(out, dtype=torch.float64).reshape(response_mask.shape)
