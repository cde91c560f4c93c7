"""Loading tokenizers and causal LMs from plain Hugging Face directories (never from a hub)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from prl.errors import ConfigError

__all__ = ["ModelDirError", "load_tokenizer", "load_causal_lm", "resolve_device", "has_dropout"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key 'train.device': {name!r} but no CUDA device is available (use 'cpu' or 'auto')")
    return dev


class ModelDirError(ConfigError, FileNotFoundError):
    """A model or tokenizer directory that is missing, empty or broken. One line naming the path and what
    is missing; a :class:`ConfigError` (so CLIs print it without a traceback) and, as before, a
    ``FileNotFoundError``."""


# what a tokenizer directory holds: tokenizers' serialization, or a config + a vocabulary
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt",
                    "spiece.model", "sentencepiece.bpe.model")
_WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "pytorch_model.bin.index.json")


def _local_dir(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise ModelDirError(f"{what} {str(path)!r} does not exist (a local directory is expected; prl never downloads "
                            "from a hub)")
    if not p.is_dir():
        raise ModelDirError(f"{what} {str(path)!r} is not a directory (prl never downloads from a hub)")
    if not any(p.iterdir()):
        raise ModelDirError(f"{what} {str(path)!r} is an empty directory: no config.json, weights or tokenizer files "
                            "(expected a directory written by save_pretrained)")
    return p


def _first_line(e: BaseException) -> str:
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _json_file(f: Path) -> dict[str, Any]:
    try:
        d = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelDirError(f"{f}: not readable JSON ({_first_line(e)})") from None
    if not isinstance(d, dict):
        raise ModelDirError(f"{f}: expected a JSON object, got {type(d).__name__}")
    return d


def load_tokenizer(path: str | Path) -> Any:
    """A tokenizer from a local directory. A tokenizer saved as a plain ``PreTrainedTokenizerFast`` is
    loaded as that class (AutoTokenizer would rebuild e.g. a Qwen2 tokenizer around it and lose
    characters); anything else goes through AutoTokenizer. A missing, empty or broken directory is a
    :class:`ModelDirError` naming the path and what is missing."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = _local_dir(path, "tokenizer path")
    present = [f for f in _TOKENIZER_FILES if (p / f).is_file()]
    if not present:
        raise ModelDirError(f"{p}: no tokenizer files (expected tokenizer.json, or tokenizer_config.json with its "
                            f"vocabulary; found: {', '.join(sorted(x.name for x in p.iterdir())[:8])})")
    cls = None
    cfg = p / "tokenizer_config.json"
    if cfg.is_file():
        cls = _json_file(cfg).get("tokenizer_class")
    try:
        if cls in ("PreTrainedTokenizerFast", "TokenizersBackend") and (p / "tokenizer.json").is_file():
            tok = PreTrainedTokenizerFast.from_pretrained(str(p))
        else:
            tok = AutoTokenizer.from_pretrained(str(p))
    except Exception as e:  # noqa: BLE001 - transformers' errors run to 30 lines and name no file
        raise ModelDirError(f"{p}: cannot load the tokenizer from {', '.join(present)} ({_first_line(e)})") from None
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise ConfigError(f"{p}: the tokenizer has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str | Path, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Any:
    """An HF causal LM from a local directory; a missing, empty or broken one is a :class:`ModelDirError`
    naming the path and what is missing."""
    from transformers import AutoModelForCausalLM

    p = _local_dir(path, "model path")
    if not (p / "config.json").is_file():
        raise ModelDirError(f"{p}: no config.json (expected a directory written by save_pretrained)")
    _json_file(p / "config.json")
    if not any(next(p.glob(pat), None) for pat in _WEIGHT_PATTERNS):
        raise ModelDirError(f"{p}: no weights (model.safetensors or pytorch_model.bin, or a sharded index); "
                            "config.json alone does not make a model")
    try:
        model = AutoModelForCausalLM.from_pretrained(str(p), dtype=dtype)
    except torch.OutOfMemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken config or weight file: one line naming the directory
        raise ModelDirError(f"{p}: cannot load the model ({_first_line(e)})") from None
    return model.to(device)  # type: ignore[arg-type]


def has_dropout(model: torch.nn.Module) -> bool:
    """Whether a train-mode forward of ``model`` can differ from an eval-mode one through dropout: an
    ``nn.Dropout`` with p > 0, or a nonzero ``*dropout*`` setting in its config (transformers applies
    e.g. ``attention_dropout`` inside the attention function, not through a module)."""
    if any(isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
        return True
    config = getattr(model, "config", None)
    settings = config.to_dict() if config is not None and hasattr(config, "to_dict") else {}
    return any("dropout" in k and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
               for k, v in settings.items())
