"""prl's decoder (shared prefill, finished rows leave the batch) against transformers' generate (the twin)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prl.models.tiny import build_tokenizer, new_causal_lm
from prl.rollout import HFEngine, SamplingParams
from prl.rollout.hf import _top_p

CORPUS = ["12+3=15\n\\boxed{15}", "a b\nc"]


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(CORPUS, include_printable=False)


def _prompts(tok):
    return [tok(t, add_special_tokens=False)["input_ids"] for t in ("12+3=", "1=", "a b\nc 15+", "3")]


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("batch_size", [3, 64])
def test_greedy_equals_generate(tok, arch, batch_size):
    model = new_causal_lm(tok, arch=arch, hidden_size=32, num_layers=2, num_heads=2, seed=4)
    sp = SamplingParams(n=2, temperature=0, max_new_tokens=12)
    # a random model rarely says EOS: also stop at a token it does produce, so rows end at different steps
    probe = HFEngine(model, tok, fast=False).generate(_prompts(tok), sp)
    stop = [tok.eos_token_id, probe[0][0].response_ids[3]]
    fast = HFEngine(model, tok, batch_size=batch_size, eos_token_ids=stop)
    slow = HFEngine(model, tok, batch_size=batch_size, eos_token_ids=stop, fast=False)
    assert fast.fast and not slow.fast
    a, b = fast.generate(_prompts(tok), sp), slow.generate(_prompts(tok), sp)
    fa, fb = [r for g in a for r in g], [r for g in b for r in g]
    assert [r.response_ids for r in fa] == [r.response_ids for r in fb]
    assert [r.finish_reason for r in fa] == [r.finish_reason for r in fb]
    assert len({len(r.response_ids) for r in fa}) > 1  # rows finished at different steps
    for x, y in zip(fa, fb):
        np.testing.assert_allclose(x.logprobs, y.logprobs, atol=1e-5)


def test_sampling_distribution_equals_generate(tok):
    """Tokens 1 and 2 at temperature 0.8 / top-p 0.9: the empirical distributions of both decoders agree."""
    model = new_causal_lm(tok, hidden_size=32, num_layers=2, num_heads=2, seed=7)
    prompt = [tok("12+", add_special_tokens=False)["input_ids"]]
    sp = SamplingParams(n=4000, temperature=0.8, top_p=0.9, max_new_tokens=2, seed=11)
    V = len(tok)
    freq = []
    for fast in (True, False):
        rs = HFEngine(model, tok, batch_size=4000, fast=fast).generate(prompt, sp)[0]
        f = np.zeros((2, V))
        for r in rs:
            for j, t in enumerate(r.response_ids[:2]):
                f[j, t] += 1 / len(rs)
        freq.append(f)
    for j in range(2):
        tv = 0.5 * np.abs(freq[0][j] - freq[1][j]).sum()
        assert (freq[0][j] > 0.01).sum() >= 3  # several likely tokens, so the test can tell
        assert tv < 0.08, (j, tv)  # two samples of 4000 from one distribution: TV ~ 0.03


def test_top_p_matches_transformers():
    from transformers.generation.logits_process import TopPLogitsWarper

    g = torch.Generator().manual_seed(0)
    for top_p in (0.1, 0.5, 0.9, 0.99):
        logits = torch.randn(16, 40, generator=g) * 3
        ref = TopPLogitsWarper(top_p)(None, logits.clone()) > -float("inf")  # [16, 40] kept tokens
        ours = _top_p(torch.softmax(logits, -1), top_p) > 0
        assert torch.equal(ours, ref)
