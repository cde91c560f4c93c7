"""Small tokenizers and randomly initialised causal LMs built locally (no hub).

Two building blocks used by the embedded demo, the SFT stage and the tests of the trainer:

* :func:`build_tokenizer` makes a ``transformers.PreTrainedTokenizerFast`` with the ``tokenizers``
  library, from a text corpus:

  - ``kind="char"`` (default): one token per character (a WordLevel model over single characters,
    a pre-tokenizer that isolates every character, a ``Fuse`` decoder). Decoding is exactly the
    concatenation of the token strings, so ``decode(encode(s)) == s`` for every ``s`` made of known
    characters, newlines included, and every token's offset mapping spans exactly one character.
  - ``kind="bpe"``: byte-level BPE trained on the corpus (any text is representable; offsets are
    byte-level offsets mapped back to characters by ``tokenizers``; ``trim_offsets=False`` so that
    a token's span covers its leading space or newline).

  Special tokens: ``<pad>`` (id 0), ``<bos>``, ``<eos>``, ``<unk>``. No special token is added
  automatically when encoding (like Qwen2): callers that want ``<eos>`` after a completion append
  ``tokenizer.eos_token`` themselves. No chat template (``chat_template`` is ``None``).

* :func:`new_causal_lm` makes a random-init Llama (default) or Qwen2 ``*ForCausalLM`` sized for
  the tokenizer, with ``bos/eos/pad`` ids copied from it and a deterministic init (``seed``).

  Why Llama by default: transformers 5 forces ``Qwen2Tokenizer`` in ``AutoTokenizer.from_pretrained``
  for any directory whose ``config.json`` says ``model_type: qwen2`` (qwen2 is in its
  ``MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS``), which rebuilds the pre-tokenizer and silently
  drops the newlines of a char tokenizer. With ``arch="qwen2"`` load the tokenizer with
  :func:`load_tokenizer` (or ``PreTrainedTokenizerFast.from_pretrained``) instead.

Example::

    >>> tok = build_tokenizer(["12+3=15\\n\\\\boxed{15}"], include_printable=False)
    >>> tok.decode(tok("1+2\\n")["input_ids"])
    '1+2\\n'
    >>> model = new_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2)
    >>> model.config.vocab_size == len(tok)
    True
"""

from __future__ import annotations

import string
from collections.abc import Iterable

import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]

_KINDS = ("char", "bpe")
_ARCHS = ("qwen2", "llama")


def build_tokenizer(
    corpus: Iterable[str],
    *,
    kind: str = "char",
    include_printable: bool = True,
    vocab_size: int = 512,
    padding_side: str = "right",
    model_max_length: int = 2048,
) -> transformers.PreTrainedTokenizerFast:
    """Build a tokenizer from ``corpus`` (an iterable of strings) with the ``tokenizers`` library.

    Args:
      corpus: texts whose characters (``char``) or byte pairs (``bpe``) form the vocabulary.
      kind: ``"char"`` (one token per character) or ``"bpe"`` (byte-level BPE trained on corpus).
      include_printable: ``char`` only: also add every printable ASCII character (and ``\\n``,
        ``\\t``) so text outside the corpus still round-trips. Unknown characters become ``<unk>``.
      vocab_size: ``bpe`` only: target vocabulary size (at least the 256 bytes + specials).
      padding_side: ``"right"`` (default, for training) or ``"left"`` (for batched generation).
      model_max_length: stored on the tokenizer.

    Returns a ``PreTrainedTokenizerFast`` with ``pad/bos/eos/unk`` set; it round-trips through
    ``save_pretrained`` / ``from_pretrained`` and supports ``return_offsets_mapping=True``.
    """
    if kind not in _KINDS:
        raise ValueError(f"build_tokenizer: kind={kind!r} is not one of {_KINDS}")
    if padding_side not in ("left", "right"):
        raise ValueError(f"build_tokenizer: padding_side={padding_side!r} must be 'left' or 'right'")
    if isinstance(corpus, str):
        corpus = [corpus]  # a bare string is one text, not an iterable of characters
    if kind == "char":
        chars: set[str] = set()
        for i, text in enumerate(corpus):
            if not isinstance(text, str):
                raise TypeError(f"build_tokenizer: corpus item {i} is {type(text).__name__}, not str")
            chars.update(text)
        if include_printable:
            chars.update(string.printable)
        chars -= {"\x0b", "\x0c", "\r"}  # keep the vocabulary free of odd whitespace
        if not chars:
            raise ValueError("build_tokenizer: the corpus is empty and include_printable=False")
        vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
        for ch in sorted(chars):
            vocab[ch] = len(vocab)
        tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
        # every character (newline included: [\s\S]) is its own pre-token, with exact offsets
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tok.decoder = decoders.Fuse()  # concatenate, no spaces inserted
    else:
        tok = Tokenizer(models.BPE(unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=max(vocab_size, 256 + len(SPECIAL_TOKENS)),
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )

        def _texts():
            for i, text in enumerate(corpus):
                if not isinstance(text, str):
                    raise TypeError(f"build_tokenizer: corpus item {i} is {type(text).__name__}, not str")
                yield text

        tok.train_from_iterator(_texts(), trainer=trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)  # marks them special (skipped by skip_special_tokens)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        padding_side=padding_side,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def load_tokenizer(path) -> transformers.PreTrainedTokenizerFast:
    """Load a tokenizer saved by :func:`build_tokenizer` (``save_pretrained``) whatever the model type
    in the same directory (see the module docstring on qwen2)."""
    return transformers.PreTrainedTokenizerFast.from_pretrained(str(path))


def new_causal_lm(
    tokenizer: transformers.PreTrainedTokenizerBase,
    *,
    arch: str = "llama",
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int | None = None,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 512,
    tie_word_embeddings: bool = True,
    rope_theta: float = 10000.0,
    initializer_range: float | None = None,
    seed: int = 0,
) -> transformers.PreTrainedModel:
    """A randomly initialised causal LM (Qwen2 or Llama config) for ``tokenizer``, in float32.

    ``intermediate_size`` defaults to ``4 * hidden_size``; ``num_kv_heads`` to ``num_heads`` (no
    grouped-query attention). ``initializer_range`` (std of the normal init) defaults to
    ``min(0.1, hidden_size ** -0.5)`` rather than transformers' 0.02: at widths of 32-256 the 0.02
    init leaves a long loss plateau before attention learns to copy (measured: a 2-layer d=64 model
    needs ~200 steps at 0.02 and < 50 at 0.1 to copy a digit 8 tokens back). The init is deterministic for a given ``seed`` (the global torch RNG
    is saved and restored, so calling this does not disturb the caller's random stream).
    """
    if arch not in _ARCHS:
        raise ValueError(f"new_causal_lm: arch={arch!r} is not one of {_ARCHS}")
    for name, val in (("hidden_size", hidden_size), ("num_layers", num_layers), ("num_heads", num_heads),
                      ("max_position_embeddings", max_position_embeddings)):
        if not isinstance(val, int) or val <= 0:
            raise ValueError(f"new_causal_lm: {name}={val!r} must be a positive int")
    if hidden_size % num_heads != 0:
        raise ValueError(f"new_causal_lm: hidden_size={hidden_size} is not divisible by num_heads={num_heads}")
    kv = num_heads if num_kv_heads is None else num_kv_heads
    if num_heads % kv != 0:
        raise ValueError(f"new_causal_lm: num_heads={num_heads} is not divisible by num_kv_heads={kv}")
    if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
        raise ValueError("new_causal_lm: the tokenizer needs eos_token and pad_token set")
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=kv,
        intermediate_size=intermediate_size or 4 * hidden_size,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=tie_word_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": float(rope_theta)},
        initializer_range=float(initializer_range if initializer_range is not None else min(0.1, hidden_size ** -0.5)),
        hidden_act="silu",
    )
    config: transformers.PretrainedConfig
    if arch == "qwen2":
        config = transformers.Qwen2Config(use_sliding_window=False, **common)
    else:
        config = transformers.LlamaConfig(attention_bias=False, mlp_bias=False, **common)
    devices: list[int] = []  # fork_rng on CPU only
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    gc = model.generation_config
    gc.bos_token_id, gc.eos_token_id, gc.pad_token_id = (
        tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    return model
