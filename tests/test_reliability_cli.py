"""One-line errors instead of tracebacks: empty or broken model directories (prl.modeling) and
`python -m prl.eval` with a missing --model / --data."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prl.errors import ConfigError
from prl.modeling import ModelDirError, load_causal_lm, load_tokenizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from prl.models.tiny import build_tokenizer, new_causal_lm

    d = tmp_path_factory.mktemp("tiny")
    tok = build_tokenizer(["0123456789+=\n"])
    tok.save_pretrained(d)
    new_causal_lm(tok, hidden_size=16, num_layers=1, num_heads=2, seed=0).save_pretrained(d)
    return d


def _copy(src: Path, dst: Path, drop: tuple[str, ...] = ()) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*drop))
    return dst


def test_empty_and_missing_directories_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for load in (load_tokenizer, load_causal_lm):
        with pytest.raises(ConfigError) as e:  # used to be transformers' 31-line "Couldn't instantiate the backend tokenizer"
            load(empty)
        assert str(empty) in str(e.value) and "empty directory" in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(FileNotFoundError, match="does not exist"):  # still a FileNotFoundError for old callers
            load(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelDirError, match="is not a directory"):
        load_tokenizer(tmp_path / "file")


def test_broken_model_directories_name_what_is_missing(tmp_path, model_dir):
    assert load_tokenizer(model_dir).pad_token_id is not None and load_causal_lm(model_dir) is not None
    no_tok = _copy(model_dir, tmp_path / "no_tok", drop=("tokenizer*", "special_tokens_map.json", "chat_template*"))
    with pytest.raises(ModelDirError, match=r"no_tok: no tokenizer files \(expected tokenizer.json"):
        load_tokenizer(no_tok)
    no_cfg = _copy(model_dir, tmp_path / "no_cfg", drop=("config.json",))
    with pytest.raises(ModelDirError, match=r"no_cfg: no config.json"):
        load_causal_lm(no_cfg)
    no_w = _copy(model_dir, tmp_path / "no_w", drop=("*.safetensors", "*.bin"))
    with pytest.raises(ModelDirError, match=r"no_w: no weights"):
        load_causal_lm(no_w)
    bad_tok = _copy(model_dir, tmp_path / "bad_tok")
    (bad_tok / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelDirError) as e:
        load_tokenizer(bad_tok)
    assert "bad_tok: cannot load the tokenizer" in str(e.value) and "\n" not in str(e.value)
    bad_cfg = _copy(model_dir, tmp_path / "bad_cfg")
    (bad_cfg / "config.json").write_text("{")
    with pytest.raises(ModelDirError, match=r"config.json: not readable JSON"):
        load_causal_lm(bad_cfg)
    bad_w = _copy(model_dir, tmp_path / "bad_w")
    next(bad_w.glob("*.safetensors")).write_bytes(b"\x00" * 64)
    with pytest.raises(ModelDirError) as e:
        load_causal_lm(bad_w)
    assert "bad_w: cannot load the model" in str(e.value) and "\n" not in str(e.value)


def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prl.eval", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO)


def test_eval_missing_model_or_data_exits_2_with_one_line(tmp_path):
    data = str(REPO / "configs" / "data" / "tiny_sum7.jsonl")
    r = _eval("--model", str(tmp_path / "MISSING"), "--data", data)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "--model" in r.stderr and "MISSING" in r.stderr and "does not exist" in r.stderr
    r = _eval("--model", str(tmp_path), "--data", str(tmp_path / "MISSING.jsonl"))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "--data" in r.stderr and "MISSING.jsonl" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _eval("--model", str(empty), "--data", data)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: ") and "empty directory" in r.stderr
