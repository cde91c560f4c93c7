"""prl.models.default: the cached demo build (a tiny spec so it runs in seconds)."""

import dataclasses
import json

import transformers

from prl.models.default import DemoSpec, ModelSpec, ensure_demo
from prl.models.tiny import load_tokenizer
from prl.sft import SFTConfig
from prl.tasks.arithmetic import ArithmeticConfig, read_rows


def tiny_spec(**kw):
    return DemoSpec(
        task=ArithmeticConfig(max_steps=2),
        sizes=(("sft", 64), ("train", 16), ("dev", 8), ("test", 8)),
        model=ModelSpec(hidden_size=32, num_layers=1, num_heads=2),
        sft=SFTConfig(max_steps=4, eval_every=2, batch_size=16, max_new_tokens=24, threads=1, progress=False),
        measure_samples=2,
        **kw,
    )


def test_build_then_cache_hit(tmp_path):
    spec = tiny_spec()
    logs = []
    a = ensure_demo(spec, cache=tmp_path, log=logs.append)
    assert logs, "the first call builds and says so"
    assert a.root.name == f"arith-demo-{spec.key()}"
    for f in (a.sft_file, a.train_file, a.dev_file, a.test_file):
        assert f.exists()
    assert len(read_rows(a.train_file)) == 16 and len(read_rows(a.test_file)) == 8
    test_prompts = {r["prompt"] for r in read_rows(a.test_file)}
    assert not test_prompts & {r["prompt"] for r in read_rows(a.sft_file)}
    assert not test_prompts & {r["prompt"] for r in read_rows(a.dev_file)}
    info = json.loads((a.root / "build.json").read_text())
    assert info["sft"]["steps"] == 4 and "pass@2" in info["heldout"] and info["key"] == spec.key()
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model_dir)
    tok = load_tokenizer(a.model_dir)
    assert model.config.vocab_size == len(tok) and model.config.model_type == "llama"
    stamp = (a.model_dir / "model.safetensors").stat().st_mtime_ns

    logs.clear()
    b = ensure_demo(spec, cache=tmp_path, log=logs.append)
    assert b.root == a.root and not logs  # cache hit: nothing rebuilt
    assert (b.model_dir / "model.safetensors").stat().st_mtime_ns == stamp

    # another knob is another entry; force rebuilds in place
    other = dataclasses.replace(spec, data_seed=1)
    assert other.key() != spec.key()
    c = ensure_demo(spec, cache=tmp_path, force=True, log=logs.append)
    assert c.root == a.root and logs
    assert not list(tmp_path.glob(".arith-demo-*.tmp-*"))


def test_key_ignores_display_only_fields():
    a = tiny_spec()
    b = dataclasses.replace(a, sft=dataclasses.replace(a.sft, progress=True, threads=2))
    assert a.key() == b.key()
    c = dataclasses.replace(a, sft=dataclasses.replace(a.sft, lr=1e-4))
    assert a.key() != c.key()
