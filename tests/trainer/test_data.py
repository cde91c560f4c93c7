"""Data loading: four formats, configurable columns, clear errors, held-out split, checkpointable order."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prl.data import DataError, PromptIterator, load_examples, render_prompt, split_eval

ROWS = [{"question": f"q{i}?", "gold": str(i), "other": i} for i in range(10)]


def _table():
    return pa.Table.from_pylist(ROWS)


def test_four_formats_agree(tmp_path, write_jsonl):
    paths = {"jsonl": write_jsonl(ROWS)}
    pq.write_table(_table(), tmp_path / "d.parquet")
    paths["parquet"] = tmp_path / "d.parquet"
    with pa.OSFile(str(tmp_path / "d.arrow"), "wb") as sink, pa.ipc.new_file(sink, _table().schema) as w:
        w.write_table(_table())
    paths["arrow"] = tmp_path / "d.arrow"
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "ds"))
    paths["datasets"] = tmp_path / "ds"
    got = {k: [(e.prompt, e.answer) for e in load_examples(p, prompt_column="question", answer_column="gold")]
           for k, p in paths.items()}
    want = [(r["question"], r["gold"]) for r in ROWS]
    for k, v in got.items():
        assert v == want, k
    assert len(load_examples(paths["jsonl"], prompt_column="question", answer_column="gold", limit=3)) == 3


def test_missing_column_names_file_and_column(write_jsonl):
    p = write_jsonl(ROWS)
    with pytest.raises(DataError) as e:
        load_examples(p, prompt_column="prompt", answer_column="gold")
    msg = str(e.value)
    assert str(p) in msg and "'prompt'" in msg and "data.prompt_column" in msg and "question" in msg


def test_missing_column_in_a_later_row(write_jsonl):
    p = write_jsonl([{"prompt": "a", "answer": "1"}, {"prompt": "b"}])
    with pytest.raises(DataError, match=r"line 2 has no column 'answer'"):
        load_examples(p)


def test_empty_file_and_empty_prompt(tmp_path, write_jsonl):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match=f"{empty}: the file holds no rows"):
        load_examples(empty)
    p = write_jsonl([{"prompt": "a", "answer": "1"}, {"prompt": "  ", "answer": "2"}])
    with pytest.raises(DataError, match=r"line 2, column 'prompt': empty prompt"):
        load_examples(p)
    p = write_jsonl([{"prompt": "a", "answer": ""}], name="e2.jsonl")
    with pytest.raises(DataError, match=r"line 1, column 'answer': empty gold answer"):
        load_examples(p)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "answer": "1"}\n{"prompt": \n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_examples(bad)
    with pytest.raises(DataError, match="data file not found"):
        load_examples(tmp_path / "nope.jsonl")
    odd = tmp_path / "x.txt"
    odd.write_text("hi")
    with pytest.raises(DataError, match="data.format"):
        load_examples(odd)


def test_split_eval_is_seeded_and_disjoint(write_jsonl):
    ex = load_examples(write_jsonl(ROWS), prompt_column="question", answer_column="gold")
    tr, ev = split_eval(ex, 3, seed=1)
    assert len(ev) == 3 and len(tr) == 7 and not {e.index for e in tr} & {e.index for e in ev}
    assert split_eval(ex, 3, seed=1) == (tr, ev)
    assert len(split_eval(ex, 0.2, seed=1)[1]) == 2
    with pytest.raises(DataError, match="leaving none to train on"):
        split_eval(ex, 10, seed=1)


def test_prompt_iterator_resumes_exactly():
    a = PromptIterator(list(range(7)), seed=3)
    first = a.take(5)
    state = a.state_dict()
    rest = a.take(12)
    b = PromptIterator(list(range(7)), seed=3)
    b.load_state_dict(state)
    assert b.take(12) == rest
    assert sorted(first + rest[:2]) == list(range(7))  # one epoch is a permutation
    with pytest.raises(DataError, match="same data.path"):
        PromptIterator(list(range(6)), seed=3).load_state_dict(state)


def test_render_plain_and_chat():
    from prl.models.tiny import build_tokenizer

    tok = build_tokenizer(["abc"])
    assert render_prompt(tok, "2+2", template="auto", plain_template="Q: {prompt}\nA:") == "Q: 2+2\nA:"
    with pytest.raises(DataError, match="no chat template"):
        render_prompt(tok, "2+2", template="chat")
    with pytest.raises(DataError, match="plain_template"):
        render_prompt(tok, "x", template="plain", plain_template="{question}")
    tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    assert render_prompt(tok, "2+2", system_prompt="be brief") == "<system>be brief<user>2+2<assistant>"
