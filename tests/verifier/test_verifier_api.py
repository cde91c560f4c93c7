"""The Python API: types, named exceptions, threads, fork safety, Arrow batches, step splitting."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import prl_verifier as pv
from prl_verifier import _prl_verifier


def test_exceptions_are_named_and_valueerrors() -> None:
    for name in ("LengthMismatchError", "InvalidModeError", "InvalidOffsetsError", "InvalidArgumentError", "InvalidColumnError"):
        cls = getattr(pv, name)
        assert issubclass(cls, pv.VerifierError) and issubclass(cls, ValueError)
    with pytest.raises(pv.LengthMismatchError, match="preds and golds"):
        pv.grade(["a", "b"], ["a"])
    with pytest.raises(pv.InvalidArgumentError, match="threads"):
        pv.grade(["a"], ["a"], threads=0)
    with pytest.raises(pv.InvalidArgumentError, match="budget_ms"):
        pv.grade(["a"], ["a"], budget_ms=-1)
    with pytest.raises(TypeError):
        pv.grade([1], ["a"])  # type: ignore[list-item]


def test_bad_answers_are_statuses_not_exceptions() -> None:
    vs = pv.grade(["\\boxed{\\frac{", "", "\\boxed{}", "\x00"], ["\\frac{1", "", "3", "\x00"])
    assert all(v.status in pv.STATUSES for v in vs)


def test_verdict_pickles_and_compares() -> None:
    v = pv.grade(["\\boxed{2}"], ["2"])[0]
    w = pickle.loads(pickle.dumps(v))
    assert w == v and w.correct and repr(w).startswith("Verdict(correct=True")
    assert pv.Verdict(False, "wrong", None, "2") != v
    with pytest.raises(pv.InvalidArgumentError):
        pv.Verdict(True, "great")


def test_threads_env_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRL_VERIFY_THREADS", "3")
    assert _prl_verifier._resolve_threads(None) == 3
    assert _prl_verifier._resolve_threads(2) == 2
    monkeypatch.setenv("PRL_VERIFY_THREADS", "lots")
    with pytest.raises(pv.InvalidArgumentError, match="PRL_VERIFY_THREADS"):
        pv.grade(["1"] * 100, ["1"] * 100)


def test_safe_after_fork() -> None:
    # the parent uses a pool, then forks; the child must grade in parallel again without hanging
    code = """
import os, sys, prl_verifier as pv
n = 2000
assert all(v.correct for v in pv.grade(["\\\\boxed{2}"] * n, ["2"] * n, threads=2))
pid = os.fork()
if pid == 0:
    ok = all(v.correct for v in pv.grade(["\\\\boxed{2}"] * n, ["2"] * n, threads=2))
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    r = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert r.returncode == 0


def test_import_does_not_need_torch_or_sympy() -> None:
    code = "import sys, prl_verifier; prl_verifier.grade(['1'], ['1']); assert 'torch' not in sys.modules and 'sympy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------------------------------------
# Arrow


class CapsuleOnly:
    """An object that only speaks the Arrow PyCapsule interface (like polars / nanoarrow)."""

    def __init__(self, rb: pa.RecordBatch) -> None:
        self._rb = rb

    def __arrow_c_array__(self, requested_schema=None):  # noqa: ANN001
        return self._rb.__arrow_c_array__(requested_schema)


class StreamOnly:
    def __init__(self, t: pa.Table) -> None:
        self._t = t

    def __arrow_c_stream__(self, requested_schema=None):  # noqa: ANN001
        return self._t.__arrow_c_stream__(requested_schema)


def test_grade_batch_columns_and_capsule_input() -> None:
    rb = pa.record_batch(
        {
            "response": pa.array(["so \\boxed{3}", None, "\\boxed{4}"], pa.large_string()),
            "answer": ["3", "#### 5", "5"],
        }
    )
    for obj in (rb, CapsuleOnly(rb), StreamOnly(pa.Table.from_batches([rb])), pa.Table.from_batches([rb])):
        out = pv.grade_batch(obj, pred="response", gold="answer")
        assert out.schema.names == ["correct", "status", "extracted", "normalized_gold"]
        assert out.schema.field("correct").type == pa.bool_()
        assert out.column("correct").to_pylist() == [True, False, False]
        assert out.column("status").to_pylist() == ["correct", "no_answer", "wrong"]
        assert out.column("extracted").to_pylist() == ["3", None, "4"]
        assert out.column("normalized_gold").to_pylist() == ["3", "5", "5"]
    sv = pa.record_batch({"pred": pa.array(["\\boxed{1}"], pa.string_view()), "gold": ["1"]})
    assert pv.grade_batch(sv).column("correct").to_pylist() == [True]


def test_grade_batch_bad_columns() -> None:
    rb = pa.record_batch({"pred": ["1"], "gold": [1]})
    with pytest.raises(pv.InvalidColumnError, match="'gold'.*int64"):
        pv.grade_batch(rb)
    with pytest.raises(pv.InvalidColumnError, match="no column 'p'"):
        pv.grade_batch(rb, pred="p")
    with pytest.raises(pv.InvalidArgumentError):
        pv.grade_batch({"pred": ["1"]})


# ---------------------------------------------------------------------------------------------
# step splitting


def _offsets(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    text, offs = "", []
    for t in tokens:
        offs.append((len(text), len(text) + len(t)))
        text += t
    return text, offs


def split_steps_loop(text: str, offsets: list[tuple[int, int]], mode: str) -> list[int]:
    """The slow obvious twin of split_steps (newline / fixed modes)."""
    if mode.startswith("fixed:"):
        n = int(mode.split(":")[1])
        return [i // n for i in range(len(offsets))]
    ids, cur = [], 0
    for s, e in offsets:
        ids.append(cur)
        if "\n" in text[s:e]:
            cur += 1
    return ids


def test_split_steps_modes() -> None:
    text, offs = _offsets(["a", "b\n", "c", "\n\n", "d", "é\n", "f"])
    assert pv.split_steps([text], [offs], "newline")[0].tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert pv.split_steps([text], [offs], "double_newline")[0].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert pv.split_steps([text], [offs], "fixed:3")[0].tolist() == [0, 0, 0, 1, 1, 1, 2]
    assert pv.split_steps([text], [np.array(offs)], "balanced:3,3")[0].tolist() == [0, 0, 0, 1, 2, 2, 2]
    out = pv.split_steps([text, ""], [offs, []], "newline")
    assert out[0].dtype == np.int32 and out[1].shape == (0,)


def test_split_steps_errors() -> None:
    with pytest.raises(pv.InvalidModeError, match="fixed:N"):
        pv.split_steps(["a"], [[(0, 1)]], "lines")
    with pytest.raises(pv.InvalidModeError):
        pv.split_steps(["a"], [[(0, 1)]], "balanced:5,2")
    with pytest.raises(pv.LengthMismatchError):
        pv.split_steps(["a", "b"], [[(0, 1)]], "newline")
    with pytest.raises(pv.InvalidOffsetsError, match="row 1, token 0"):
        pv.split_steps(["a", "b"], [[(0, 1)], [(0, 5)]], "newline")
    with pytest.raises(pv.InvalidOffsetsError, match=r"offsets\[0\]"):
        pv.split_steps(["a"], [[(0, 1, 2)]], "newline")


def test_split_steps_with_a_real_byte_level_tokenizer() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders

    corpus = ["Step 1: add 2 and 3.\nStep 2: the sum is 5.\n\nSo the answer is $\\boxed{5}$.", "x = 3\ny = 4\n"] * 20
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    texts = ["First we compute 2+3.\nThat gives 5.\n\nHence \\boxed{5}.\n", "é ü ö\nπ ≤ 3\n"]
    encs = [tok.encode(t) for t in texts]
    offsets = [e.offsets for e in encs]
    for mode in ("newline", "fixed:4"):
        got = pv.split_steps(texts, offsets, mode)
        for t, o, g in zip(texts, offsets, got):
            assert g.tolist() == split_steps_loop(t, o, mode)
            assert (np.diff(g) >= 0).all() and (len(g) == 0 or g[0] == 0)
    nl = pv.split_steps(texts, offsets, "newline")[0]
    assert nl[-1] == texts[0].count("\n") - 1  # the last token holds the final newline


def test_split_steps_batch_matches_list_form() -> None:
    text, offs = _offsets(["a", "b\n", "c", "\n", "d"])
    rb = pa.record_batch(
        {
            "text": [text, "x\ny"],
            "offsets": pa.array([offs, [(0, 2), (2, 3)]], pa.list_(pa.list_(pa.int32(), 2))),
        }
    )
    got = pv.split_steps_batch(rb, mode="newline")
    assert got.type == pa.list_(pa.int32())
    assert got.to_pylist() == [a.tolist() for a in pv.split_steps(rb.column("text").to_pylist(), [offs, [(0, 2), (2, 3)]], "newline")]
    with pytest.raises(pv.InvalidColumnError):
        pv.split_steps_batch(pa.record_batch({"text": ["a"], "offsets": [[1, 2]]}), mode="newline")
