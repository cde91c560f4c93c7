"""Loading tokenizers and causal LMs from plain Hugging Face directories (never from a hub)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

__all__ = ["load_tokenizer", "load_causal_lm", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from prl.errors import ConfigError

        raise ConfigError(f"config key 'train.device': {name!r} but no CUDA device is available (use 'cpu' or 'auto')")
    return dev


def _local_dir(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"{what} {str(path)!r} is not a local directory (prl never downloads from a hub)")
    return p


def load_tokenizer(path: str | Path) -> Any:
    """A tokenizer from a local directory. A tokenizer saved as a plain ``PreTrainedTokenizerFast`` is
    loaded as that class (AutoTokenizer would rebuild e.g. a Qwen2 tokenizer around it and lose
    characters); anything else goes through AutoTokenizer."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = _local_dir(path, "tokenizer path")
    cls = None
    cfg = p / "tokenizer_config.json"
    if cfg.is_file():
        cls = json.loads(cfg.read_text()).get("tokenizer_class")
    if cls in ("PreTrainedTokenizerFast", "TokenizersBackend") and (p / "tokenizer.json").is_file():
        tok = PreTrainedTokenizerFast.from_pretrained(str(p))
    else:
        tok = AutoTokenizer.from_pretrained(str(p))
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise ValueError(f"{p}: the tokenizer has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str | Path, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Any:
    from transformers import AutoModelForCausalLM

    p = _local_dir(path, "model path")
    if not (p / "config.json").is_file():
        raise FileNotFoundError(f"{p}: no config.json (expected a directory written by save_pretrained)")
    model = AutoModelForCausalLM.from_pretrained(str(p), dtype=dtype)
    return model.to(device)
