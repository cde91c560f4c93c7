"""Character offsets of generated tokens in their decoded text.

The step splitter needs, for every response token, its ``[start, end)`` span in the decoded response
text (a token that decodes to nothing, e.g. EOS, gets an empty span at its position). Two versions:

* :func:`token_offsets_prefix` (the slow, obvious oracle): decode every prefix ``ids[:i+1]``; token
  i ends where the i-th prefix's text stops agreeing with the full text. O(T^2) but exact for any
  tokenizer, byte-level BPE with characters split across tokens included (such a token gets an empty
  span and the character goes to the token that completes it).
* :func:`token_offsets` (fast): decode each token alone; when the pieces concatenate to the full
  text (char tokenizers, most BPE text), spans are cumulative lengths; otherwise fall back to the
  prefix version.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["token_offsets", "token_offsets_prefix"]


def _decode(tok: Any, ids: Sequence[int]) -> str:
    return tok.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def token_offsets_prefix(tokenizer: Any, ids: Sequence[int]) -> tuple[str, np.ndarray]:
    """(text, offsets [T, 2]) by decoding every prefix (the oracle)."""
    text = _decode(tokenizer, ids)
    out = np.zeros((len(ids), 2), dtype=np.int64)
    prev = 0
    for i in range(len(ids)):
        pre = _decode(tokenizer, ids[: i + 1])
        # length of the agreement between this prefix's text and the final text
        n = min(len(pre), len(text))
        k = 0
        while k < n and pre[k] == text[k]:
            k += 1
        end = max(k, prev)
        out[i] = (prev, end)
        prev = end
    if len(ids):
        out[-1, 1] = max(out[-1, 1], len(text))  # the last token closes the text
    return text, out


def token_offsets(tokenizer: Any, ids: Sequence[int]) -> tuple[str, np.ndarray]:
    """(text, offsets [T, 2]): per-token decoding, falling back to the prefix oracle when needed."""
    ids = list(ids)
    text = _decode(tokenizer, ids)
    pieces = tokenizer.batch_decode([[i] for i in ids], skip_special_tokens=True,
                                    clean_up_tokenization_spaces=False) if ids else []
    if "".join(pieces) != text:
        return token_offsets_prefix(tokenizer, ids)
    lens = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    ends = np.cumsum(lens)
    out = np.stack([ends - lens, ends], axis=1) if len(ids) else np.zeros((0, 2), dtype=np.int64)
    return text, out
