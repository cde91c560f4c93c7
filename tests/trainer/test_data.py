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


# ------------------------------------------------------------------ non-text columns, CSV, BOM, gold check
def test_binary_answer_column_is_refused_naming_file_column_row(tmp_path):
    p = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"prompt": ["a", "b"], "answer": pa.array([b"7", b"\x00\x01"], pa.binary())}), p)
    with pytest.raises(DataError) as e:  # it used to become the text "b'\\x00\\x01'" and score as an answer
        load_examples(p)
    msg = str(e.value)
    assert str(p) in msg and "row 1" in msg and "column 'answer'" in msg and "binary" in msg
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"prompt": ["a"], "answer": [[1, 2]]}), nested)
    with pytest.raises(DataError, match=r"row 1, column 'answer': the gold answer is a list, expected text"):
        load_examples(nested)
    pq.write_table(pa.table({"prompt": ["a"], "answer": [{"x": 1}]}), nested)
    with pytest.raises(DataError, match=r"struct"):
        load_examples(nested)


def test_numeric_answers_are_text_and_booleans_refused(tmp_path, write_jsonl):
    p = tmp_path / "num.parquet"
    pq.write_table(pa.table({"prompt": ["a", "b"], "answer": [18.0, 2.5]}), p)
    assert [e.answer for e in load_examples(p)] == ["18", "2.5"]
    j = write_jsonl([{"prompt": "a", "answer": 3}, {"prompt": "b", "answer": True}])
    with pytest.raises(DataError, match=r"line 2, column 'answer': the gold answer is a boolean"):
        load_examples(j)


def test_csv_by_suffix_and_by_format(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes(b"\xef\xbb\xbfquestion,gold,other\n\"1+1, then?\",2,x\nq2,007,y\nq3,1e3,z\n")
    ex = load_examples(p, prompt_column="question", answer_column="gold")
    assert [(e.prompt, e.answer) for e in ex] == [("1+1, then?", "2"), ("q2", "007"), ("q3", "1e3")]
    assert ex[1].where == "row 2"
    txt = tmp_path / "d.txt"
    txt.write_bytes(p.read_bytes())
    with pytest.raises(DataError, match="csv"):
        load_examples(txt, prompt_column="question", answer_column="gold")
    assert len(load_examples(txt, prompt_column="question", answer_column="gold", fmt="csv")) == 3
    from prl.config import Config, from_dict

    assert from_dict({"data": {"format": "csv"}}, Config).data.format == "csv"


def test_jsonl_with_byte_order_mark(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + b'{"prompt": "a", "answer": "1"}\n{"prompt": "b", "answer": "2"}\n')
    assert [(e.prompt, e.answer, e.where) for e in load_examples(p)] == [("a", "1", "line 1"), ("b", "2", "line 2")]


def test_check_golds_counts_unusable_golds(write_jsonl):
    from prl.data import check_golds

    rows = [{"prompt": f"q{i}", "answer": a} for i, a in enumerate(
        ["N/A 0", "#### 18", "b'\\x00\\x01'", "((", "\\frac{3}{4}", "x = 2", "Monday", "The sum is \\boxed{}", "none"])]
    report = check_golds(load_examples(write_jsonl(rows)))
    assert report.total == 9 and not report.ok and report.n_bad == 5
    assert report.counts == {"binary": 1, "placeholder": 2, "no_answer": 0, "unparsable": 2}
    assert [w for w, _, _ in report.examples["placeholder"]] == ["line 1", "line 9"]
    assert report.examples["binary"][0][:2] == ("line 3", "b'\\x00\\x01'")
    assert {w for w, _, _ in report.examples["unparsable"]} == {"line 4", "line 8"}
    s = report.summary()
    assert "\n" not in s and s.startswith("gold answers: 5 of 9 unusable") and "line 1 'N/A 0'" in s
    good = check_golds(["3", "#### 72", "The answer is $\\boxed{\\frac{1}{2}}$.", "(-\\infty, 3]", "Na", "-5"])
    assert good.ok and good.summary() == "gold answers: all 6 readable by the verifier"
    assert check_golds(["7", "N/A"], max_examples=1).examples["placeholder"] == [("row 2", "N/A", "")]


def test_data_check_cli(tmp_path, write_jsonl, capsys):
    from prl.data import main

    bad = write_jsonl([{"q": "a", "a": "7"}, {"q": "b", "a": "N/A 0"}], name="bad.jsonl")
    assert main(["check", str(bad), "--prompt-column", "q", "--answer-column", "a"]) == 1
    out = capsys.readouterr().out
    assert "gold answers: 1 of 2 unusable" in out and "line 2: 'N/A 0'" in out
    good = write_jsonl([{"prompt": "a", "answer": "7"}], name="good.jsonl")
    assert main(["check", str(good)]) == 0 and "all 1 readable" in capsys.readouterr().out
    assert main(["check", str(good), "--answer-column", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "prl.data", "check", str(bad), "--prompt-column", "q", "--answer-column", "a"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "placeholder" in r.stdout and r.stderr == ""
