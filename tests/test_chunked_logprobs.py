"""The chunked LM head of prl.logprobs against the model's full logits: same log-probs, entropies and
parameter gradients, and no [B, T, V] tensor kept for the backward."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from prl.logprobs import chunking_applies, response_logprobs, response_logprobs_plain

sys.path.insert(0, str(Path(__file__).resolve().parent / "trainer"))
from trainer_helpers import grouped_batch  # noqa: E402

V = 512  # vocabulary much larger than the hidden size, as in real models


def _model(tied: bool, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=tied,
                      attn_implementation="eager")
    model = LlamaForCausalLM(cfg).eval()
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied
    return model


def _batch(seed: int, groups: int, n: int) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]:
    """Repeated left-padded prompts and right-padded responses, rows shuffled (trainer_helpers.grouped_batch)."""
    return grouped_batch(seed, V, groups, n, max_response=9, first_id=3, shuffle=True)


def _run(model, fn, ids, att, T, mask, **kw):
    model.zero_grad(set_to_none=True)
    lp, ent = fn(model, ids, att, T, with_entropy=True, **kw)
    (lp * mask * torch.linspace(-1, 1, lp.numel()).view_as(lp)).sum().backward()
    return lp.detach(), ent, {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("prompt_pass", ["auto", "shared", "plain"])
@pytest.mark.parametrize("groups, n, temperature, chunk", [(3, 4, 0.7, 5), (2, 1, 1.0, 7), (1, 5, 1.3, 1024)])
def test_chunked_equals_full_logits(tied, prompt_pass, groups, n, temperature, chunk):
    model = _model(tied, seed=groups + n)
    ids, att, T, mask = _batch(groups * 10 + n, groups, n)
    lp_c, ent_c, g_c = _run(model, response_logprobs, ids, att, T, mask, temperature=temperature,
                            prompt_pass=prompt_pass, chunk_tokens=chunk)
    lp_f, ent_f, g_f = _run(model, response_logprobs_plain, ids, att, T, mask, temperature=temperature,
                            chunk_tokens=0)  # the oracle: the model's own [B, T, V] logits
    assert lp_c.dtype == ent_c.dtype == torch.float32
    torch.testing.assert_close(lp_c * mask, lp_f * mask, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ent_c * mask, ent_f * mask, rtol=1e-5, atol=1e-5)
    assert g_c.keys() == g_f.keys()
    for k in g_f:
        torch.testing.assert_close(g_c[k], g_f[k], rtol=1e-4, atol=1e-6, msg=k)


def test_chunked_equals_full_logits_no_grad():
    model = _model(tied=True, seed=3)
    ids, att, T, mask = _batch(4, 2, 3)
    with torch.no_grad():
        lp_c, ent_c = response_logprobs(model, ids, att, T, temperature=0.9, with_entropy=True, chunk_tokens=4)
        lp_f, ent_f = response_logprobs_plain(model, ids, att, T, temperature=0.9, with_entropy=True, chunk_tokens=0)
    torch.testing.assert_close(lp_c * mask, lp_f * mask, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ent_c * mask, ent_f * mask, rtol=1e-5, atol=1e-5)
    lp_n, ent_n = response_logprobs(model, ids, att, T, chunk_tokens=4)
    assert ent_n is None and lp_n.shape == mask.shape


@pytest.mark.parametrize("prompt_pass", ["auto", "plain"])
def test_no_batch_by_vocab_tensor_saved_for_backward(prompt_pass):
    """Nothing of B*T*V elements (or more) is kept for the backward: the logits are recomputed per chunk.
    (The full-logits path keeps the float32 logits for log-softmax's backward.)"""
    model = _model(tied=False, seed=5)
    ids, att, T, mask = _batch(7, 2, 4)
    B = ids.shape[0]
    saved: list[tuple[int, tuple[int, ...]]] = []

    def pack(t):
        saved.append((t.numel(), tuple(t.shape)))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        lp, _ = response_logprobs(model, ids, att, T, temperature=0.8, with_entropy=True, prompt_pass=prompt_pass)
    assert saved, "nothing recorded: the hook saw no saved tensors"
    big = [s for s in saved if s[0] >= B * T * V]
    assert not big, f"tensors of >= B*T*V = {B * T * V} elements saved for backward: {big}"
    assert not [s for s in saved if V in s[1] and s[0] > V * model.config.hidden_size], saved
    (lp * mask).sum().backward()  # and the backward works from what was kept
    assert model.lm_head.weight.grad is not None and model.model.layers[0].mlp.up_proj.weight.grad is not None


def test_chunking_applies_only_to_plain_linear_heads():
    model = _model(tied=True)
    assert chunking_applies(model)
    model.config.model_type = "gemma2"  # soft-capped logits: the head is not a bare linear layer
    assert not chunking_applies(model)
    ids, att, T, mask = _batch(1, 1, 2)
    calls = []
    hook = model.lm_head.register_forward_hook(lambda m, a, out: calls.append(tuple(out.shape)))
    response_logprobs(model, ids, att, T, prompt_pass="plain")
    hook.remove()
    assert calls == [(ids.shape[0], T + 1, V)]  # the model's own full logits
