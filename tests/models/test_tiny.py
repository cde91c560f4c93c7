"""prl.models.tiny: tokenizers built with the `tokenizers` library and random-init causal LMs."""

import string

import pytest
import torch
import transformers
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from prl.models.tiny import build_tokenizer, load_tokenizer, new_causal_lm

CORPUS = ["Compute 12+7-3.\n", "12+7=19\n19-3=16\n\\boxed{16}"]
_CHAR_TOK = build_tokenizer(CORPUS)


@pytest.fixture(scope="module")
def char_tok():
    return build_tokenizer(CORPUS)


@given(st.text(alphabet=string.printable.replace("\r", "").replace("\x0b", "").replace("\x0c", ""), max_size=60))
@settings(max_examples=60, deadline=None)
def test_char_roundtrip_and_offsets(text):
    assume(not any(sp in text for sp in ("<pad>", "<bos>", "<eos>", "<unk>")))  # parsed as specials
    tok = _CHAR_TOK
    enc = tok(text, return_offsets_mapping=True)
    assert tok.decode(enc["input_ids"]) == text
    # one token per character, offsets are exactly each character's span
    assert len(enc["input_ids"]) == len(text)
    assert [tuple(o) for o in enc["offset_mapping"]] == [(i, i + 1) for i in range(len(text))]
    # decoding token by token and concatenating gives the text (the step splitter relies on it)
    assert "".join(tok.decode([i]) for i in enc["input_ids"]) == text


def test_specials_and_newline(char_tok):
    tok = char_tok
    assert tok.pad_token == "<pad>" and tok.pad_token_id == 0
    assert tok.eos_token == "<eos>" and tok.bos_token == "<bos>" and tok.unk_token == "<unk>"
    assert len({tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id}) == 4
    nl = tok("\n")["input_ids"]
    assert len(nl) == 1 and nl[0] != tok.unk_token_id
    ids = tok("1+1\n")["input_ids"] + [tok.eos_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == "1+1\n"
    assert tok.decode(ids) == "1+1\n<eos>"
    # nothing added automatically
    assert tok("7")["input_ids"] == [tok.convert_tokens_to_ids("7")]


def test_char_corpus_only_and_unknown():
    tok = build_tokenizer(CORPUS, include_printable=False)
    assert len(tok) == 4 + len(set("".join(CORPUS)))
    ids = tok("1%2")["input_ids"]
    assert ids[1] == tok.unk_token_id and ids[0] != tok.unk_token_id


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        build_tokenizer(CORPUS, kind="wordpiece")
    with pytest.raises(ValueError, match="padding_side"):
        build_tokenizer(CORPUS, padding_side="middle")
    with pytest.raises(TypeError, match="corpus item 1"):
        build_tokenizer(["ab", 3])
    with pytest.raises(ValueError, match="empty"):
        build_tokenizer([], include_printable=False)
    tok = build_tokenizer(CORPUS)
    with pytest.raises(ValueError, match="arch"):
        new_causal_lm(tok, arch="gpt2")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        new_causal_lm(tok, hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="num_layers"):
        new_causal_lm(tok, num_layers=0)


def test_bpe_roundtrip_offsets():
    corpus = ["the cat sat on the mat\nthe dog\n", "12+7=19\n\\boxed{19}"] * 20
    tok = build_tokenizer(corpus, kind="bpe", vocab_size=300)
    assert len(tok) > 260
    text = "the cat\n  sat on 12+7=19 ünïcode\n"
    enc = tok(text, return_offsets_mapping=True)
    assert tok.decode(enc["input_ids"]) == text
    offs = [tuple(o) for o in enc["offset_mapping"]]
    # offsets tile the text: a token's span covers its leading whitespace; the byte tokens of one
    # multi-byte character share that character's span
    assert offs[0][0] == 0 and offs[-1][1] == len(text)
    assert all(a == b or a[1] == b[0] for a, b in zip(offs, offs[1:]))
    assert len(enc["input_ids"]) < len(text)  # merges happened


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_model_save_load_generate(tmp_path, char_tok, arch):
    tok = char_tok
    model = new_causal_lm(tok, arch=arch, hidden_size=32, num_layers=2, num_heads=4, seed=3)
    assert model.config.model_type == arch
    assert model.config.vocab_size == len(tok)
    assert model.config.eos_token_id == tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id
    assert model.dtype == torch.float32
    tok.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path)
    tok2 = load_tokenizer(tmp_path)
    text = "12+7\n=19"
    assert tok2(text)["input_ids"] == tok(text)["input_ids"]
    if arch == "llama":  # AutoTokenizer keeps our tokenizer for llama dirs (not for qwen2, see tiny.py)
        auto = transformers.AutoTokenizer.from_pretrained(tmp_path)
        assert auto(text)["input_ids"] == tok(text)["input_ids"]
        assert auto.eos_token_id == tok.eos_token_id
    ids = torch.tensor([tok(text)["input_ids"]])  # [1, T]
    with torch.no_grad():
        a = model(ids).logits
        b = loaded(ids).logits
    assert a.shape == (1, ids.shape[1], len(tok))
    torch.testing.assert_close(a, b)
    out = loaded.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False)
    assert out.shape[0] == 1 and ids.shape[1] < out.shape[1] <= ids.shape[1] + 4


def test_seeded_init(char_tok):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    m1 = new_causal_lm(char_tok, hidden_size=32, num_layers=1, num_heads=2, seed=5)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the caller's RNG stream is untouched
    m2 = new_causal_lm(char_tok, hidden_size=32, num_layers=1, num_heads=2, seed=5)
    m3 = new_causal_lm(char_tok, hidden_size=32, num_layers=1, num_heads=2, seed=6)
    p1, p2, p3 = (torch.cat([p.flatten() for p in m.parameters()]) for m in (m1, m2, m3))
    assert torch.equal(p1, p2) and not torch.equal(p1, p3)
    assert m1.config.intermediate_size == 128
