"""response_logprobs with shared prompts (one prompt pass per distinct prompt) against the one-pass twin."""

from __future__ import annotations

import pytest
import torch

from prl.logprobs import response_logprobs, response_logprobs_plain
from prl.models.tiny import build_tokenizer, new_causal_lm
from trainer_helpers import grouped_batch


def _batch(seed: int, vocab: int, groups: int, n: int):
    """Left-padded prompts (distinct lengths), each repeated n times, then right-padded responses."""
    return grouped_batch(seed, vocab, groups, n, max_response=7, first_id=4)


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(["0123456789+-=\n\\boxed{}abc"], include_printable=False)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("groups, n, temperature, ckpt", [(3, 4, 1.0, False), (2, 1, 0.7, False), (1, 5, 1.3, False),
                                                          (3, 4, 1.0, True)])
def test_shared_prompts_equal_one_pass(tok, arch, groups, n, temperature, ckpt):
    """Also under gradient checkpointing (train mode, no dropout): the backward replays each decoder layer
    with the shared pass's cache, which must give the same gradients as the plain pass."""
    model = new_causal_lm(tok, arch=arch, hidden_size=32, num_layers=2, num_heads=2, seed=1)
    if ckpt:
        model.gradient_checkpointing_enable()
        model.train()
    ids, att, T, mask = _batch(groups * 10 + n, len(tok), groups, n)
    # shuffled rows: equal prompts need not be adjacent
    perm = torch.randperm(len(ids), generator=torch.Generator().manual_seed(3))
    ids, att, mask = ids[perm], att[perm], mask[perm]

    def run(fn):
        model.zero_grad(set_to_none=True)
        lp, ent = fn(model, ids, att, T, temperature=temperature, with_entropy=True)
        (lp * mask * torch.linspace(-1, 1, lp.numel()).view_as(lp)).sum().backward()
        return lp.detach(), ent, [p.grad.clone() for p in model.parameters()]

    lp_s, ent_s, g_s = run(response_logprobs)
    lp_p, ent_p, g_p = run(response_logprobs_plain)
    torch.testing.assert_close(lp_s * mask, lp_p * mask, rtol=1e-5, atol=2e-5)
    torch.testing.assert_close(ent_s * mask, ent_p * mask, rtol=1e-5, atol=2e-5)
    for a, b in zip(g_s, g_p):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_one_prompt_pass_per_distinct_prompt_also_under_checkpointing_and_none_when_off(tok):
    model = new_causal_lm(tok, hidden_size=32, num_layers=2, num_heads=2, seed=2)
    ids, att, T, mask = _batch(5, len(tok), 2, 3)
    ref, _ = response_logprobs_plain(model, ids, att, T)
    calls = []
    hook = model.register_forward_pre_hook(lambda mod, args, kw: calls.append(kw["input_ids"].shape), with_kwargs=True)
    response_logprobs(model, ids, att, T)
    assert [s[0] for s in calls] == [2, 6]  # one prompt pass over the 2 distinct prompts, then 6 response rows
    calls.clear()
    out, _ = response_logprobs(model, ids, att, T, prompt_pass="plain")
    assert calls == [ids.shape]
    torch.testing.assert_close(out * mask, ref * mask)
    model.gradient_checkpointing_enable()
    model.train()
    calls.clear()
    response_logprobs(model, ids, att, T)
    assert [s[0] for s in calls] == [2, 6]
    assert all("_can_checkpoint_with_cache" not in vars(m) for m in model.modules())  # restored
    hook.remove()


def test_bad_response_len(tok):
    model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)
    ids = torch.ones(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="response_len=4"):
        response_logprobs(model, ids, torch.ones_like(ids), 4)
