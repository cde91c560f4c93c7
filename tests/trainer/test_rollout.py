"""The transformers rollout engine and the token-offset computation (fast vs prefix oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prl.logprobs import response_logprobs
from prl.models.tiny import build_tokenizer, new_causal_lm
from prl.rollout import HFEngine, SamplingParams, make_engine, token_offsets, token_offsets_prefix
from prl.trainer import build_batch

CORPUS = ["12+3=15\n\\boxed{15}", "a b\nc", "é ü ß 7"]


@pytest.fixture(scope="module")
def char_tok():
    return build_tokenizer(CORPUS, include_printable=False)


@pytest.fixture(scope="module")
def bpe_tok():
    return build_tokenizer(CORPUS * 20 + ["the answer is 42\n", "step one\nstep two\n"], kind="bpe", vocab_size=300)


@pytest.fixture(scope="module")
def model(char_tok):
    return new_causal_lm(char_tok, hidden_size=32, num_layers=2, num_heads=2, seed=0)


@settings(max_examples=40)
@given(st.text(alphabet="12+3=5\n\\boxed{}ab cé", max_size=30))
def test_offsets_fast_equals_prefix_oracle_char(text):
    tok = build_tokenizer(CORPUS, include_printable=False)
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    fast, slow = token_offsets(tok, ids), token_offsets_prefix(tok, ids)
    assert fast[0] == slow[0]
    np.testing.assert_array_equal(fast[1], slow[1])
    t, offs = fast
    assert offs.shape == (len(ids), 2) and offs[-1, 0] == offs[-1, 1] == len(t)  # EOS: empty span at the end
    assert "".join(t[a:b] for a, b in offs) == t


@settings(max_examples=40)
@given(st.lists(st.integers(4, 299), max_size=12))
def test_offsets_bpe_cover_text_and_match_oracle(ids):
    tok = build_tokenizer(CORPUS * 20 + ["the answer is 42\n", "step one\nstep two\n"], kind="bpe", vocab_size=300)
    ids = [i for i in ids if i < len(tok)]
    fast, slow = token_offsets(tok, ids), token_offsets_prefix(tok, ids)
    assert fast[0] == slow[0]
    np.testing.assert_array_equal(fast[1], slow[1])
    t, offs = fast
    assert (np.diff(offs, axis=1) >= 0).all() and (offs[1:, 0] == offs[:-1, 1]).all()
    if len(ids):
        assert offs[0, 0] == 0 and offs[-1, 1] == len(t)


def test_offsets_bpe_multibyte_split(bpe_tok):
    # "é" is the bytes C3 A9, written "Ã" and "©" in byte-level BPE; as two tokens, the first decodes to
    # nothing printable alone, so it gets an empty span and the second carries the character
    ids = [bpe_tok.convert_tokens_to_ids("Ã"), bpe_tok.convert_tokens_to_ids("©"), bpe_tok.convert_tokens_to_ids("7")]
    text, offs = token_offsets(bpe_tok, ids)
    assert text == "é7"
    assert offs.tolist() == [[0, 0], [0, 1], [1, 2]]
    assert token_offsets_prefix(bpe_tok, ids)[1].tolist() == offs.tolist()


def test_engine_outputs_and_logprob_agreement(char_tok, model):
    eng = make_engine("hf", model=model, tokenizer=char_tok, batch_size=3)
    prompts = [char_tok("12+3=", add_special_tokens=False)["input_ids"], char_tok("1=", add_special_tokens=False)["input_ids"]]
    groups = eng.generate(prompts, SamplingParams(n=3, temperature=0.8, max_new_tokens=9, seed=5))
    assert [len(g) for g in groups] == [3, 3]
    flat = [r for g in groups for r in g]
    for r in flat:
        assert 1 <= len(r.response_ids) <= 9 and len(r.logprobs) == len(r.response_ids) == len(r.offsets)
        assert r.finish_reason in ("stop", "length")
        assert (r.finish_reason == "stop") == (r.response_ids[-1] == char_tok.eos_token_id)
        assert char_tok.eos_token_id not in r.response_ids[:-1]
        assert r.text == char_tok.decode(r.response_ids, skip_special_tokens=True)
    # the trainer's recomputed log-probs (one full forward, left padding) equal the engine's
    b = build_batch(flat, char_tok.pad_token_id, torch.device("cpu"))
    lp, _ = response_logprobs(model, b.input_ids, b.attention_mask, b.T, temperature=0.8)
    gap = ((lp - b.engine_logp).abs() * b.response_mask).max()
    assert gap < 1e-4
    # seeded: same call, same samples; other seed, other samples
    again = eng.generate(prompts, SamplingParams(n=3, temperature=0.8, max_new_tokens=9, seed=5))
    assert [r.response_ids for g in again for r in g] == [r.response_ids for r in flat]
    other = eng.generate(prompts, SamplingParams(n=3, temperature=0.8, max_new_tokens=9, seed=6))
    assert [r.response_ids for g in other for r in g] != [r.response_ids for r in flat]


def test_greedy_is_padding_invariant(char_tok, model):
    eng = HFEngine(model, char_tok, batch_size=8)
    short = char_tok("1=", add_special_tokens=False)["input_ids"]
    long = char_tok("12+3=15\n12+3=", add_special_tokens=False)["input_ids"]
    alone = eng.generate([short], SamplingParams(temperature=0, max_new_tokens=8))[0][0]
    batched = eng.generate([long, short], SamplingParams(temperature=0, max_new_tokens=8))[1][0]
    assert alone.response_ids == batched.response_ids


def test_engine_rejects_bad_input(char_tok, model):
    eng = HFEngine(model, char_tok)
    with pytest.raises(ValueError, match="prompt 1 has no tokens"):
        eng.generate([[5], []], SamplingParams())
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(ValueError, match="rollout.engine='vllm2'"):
        make_engine("vllm2", model=model, tokenizer=char_tok)
