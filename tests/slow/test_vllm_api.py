"""With vLLM installed (`pip install -c constraints.txt '.[vllm]'`), every vLLM name, argument and
attribute the adapter (prl.rollout.vllm_engine) uses exists in the installed version.  slow tier."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing

import pytest

from prl.rollout.vllm_engine import VLLM_API

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def vllm():
    """vLLM itself (the optional extra); the module skips without it."""
    return pytest.importorskip("vllm")


def _fields(cls) -> set[str]:
    names = set(getattr(cls, "__struct_fields__", ()))  # msgspec structs
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls)}
    names |= set(inspect.signature(cls.__init__).parameters)
    names |= set(getattr(cls, "__annotations__", {}))
    return names


def _resolve(dotted: str):
    mod, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(mod), name)


def test_pinned_version(vllm):
    assert vllm.__version__.startswith("0.31."), vllm.__version__


def test_classes_exist():
    for dotted in VLLM_API["classes"]:
        assert _resolve(dotted) is not None, dotted


def test_llm_constructor_arguments(vllm):
    from vllm.engine.arg_utils import EngineArgs

    accepted = set(inspect.signature(vllm.LLM.__init__).parameters) | {f.name for f in dataclasses.fields(EngineArgs)}
    missing = [a for a in VLLM_API["LLM.__init__"] if a not in accepted]
    assert not missing, f"vllm.LLM does not accept {missing}"


def test_llm_methods(vllm):
    for m in VLLM_API["LLM.methods"]:
        assert callable(getattr(vllm.LLM, m, None)), m
    assert "use_tqdm" in inspect.signature(vllm.LLM.generate).parameters
    assert "level" in inspect.signature(vllm.LLM.sleep).parameters


def test_sampling_params_fields(vllm):
    missing = [f for f in VLLM_API["SamplingParams"] if f not in _fields(vllm.SamplingParams)]
    assert not missing, missing
    sp = vllm.SamplingParams(n=2, temperature=0.7, top_p=0.9, max_tokens=5, seed=1, logprobs=0, skip_special_tokens=True)
    assert (sp.n, sp.max_tokens, sp.logprobs) == (2, 5, 0)


def test_output_classes():
    from vllm.logprobs import Logprob
    from vllm.outputs import CompletionOutput, RequestOutput

    for cls, key in ((RequestOutput, "RequestOutput"), (CompletionOutput, "CompletionOutput"), (Logprob, "Logprob")):
        missing = [f for f in VLLM_API[key] if f not in _fields(cls)]
        assert not missing, f"{key} lacks {missing}"


def test_logprobs_mode_value():
    from vllm.config.model import LogprobsMode

    assert set(VLLM_API["LogprobsMode"]) <= set(typing.get_args(LogprobsMode))


def test_tokens_prompt_key():
    from vllm.inputs import TokensPrompt

    p = TokensPrompt(prompt_token_ids=[1, 2, 3])
    assert p["prompt_token_ids"] == [1, 2, 3]
