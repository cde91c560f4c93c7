"""The vLLM rollout engine (``rollout.engine=vllm``): generation on GPUs with vLLM's ``LLM``.

    engine = VLLMEngine(model_path="runs/x/init_model", tokenizer=tok, tensor_parallel_size=1)
    groups = engine.generate(prompt_ids, SamplingParams(n=8, temperature=1.0, max_new_tokens=512, seed=0))
    engine.sync_weights(policy)     # after each update: the new weights go straight into vLLM

What it does, in vLLM's terms (pinned: vllm 0.31.0, the version that fits torch 2.13.0):
- ``LLM(model=dir, tensor_parallel_size=tp, dtype, seed, gpu_memory_utilization, max_model_len,
  enable_sleep_mode, logprobs_mode="processed_logprobs")``: the log-probs vLLM returns are those of
  the distribution it sampled from (after temperature), the definition the trainer uses.
- ``LLM.generate([TokensPrompt(prompt_token_ids=ids)], vllm.SamplingParams(n, temperature, top_p,
  max_tokens, seed, logprobs=0))``: ``logprobs=0`` returns the sampled token's log-prob only.
- Weight push without a reload from disk: ``LLM.apply_model(fn)`` runs ``fn(model)`` in each worker;
  ``fn`` calls the vLLM model's ``load_weights`` with (name, tensor) pairs from the policy's state
  dict (Hugging Face names; vLLM maps them, fusing q/k/v etc.).  In one process (tensor_parallel_size
  1, ``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set here) ``fn`` is called directly; with tensor parallel
  workers it is pickled to each of them (vLLM needs ``VLLM_ALLOW_INSECURE_SERIALIZATION=1``, set here).
- Sleep mode (``enable_sleep_mode``): ``LLM.sleep(level=1)`` after generation frees the KV cache and
  offloads weights so training gets the GPU memory; ``LLM.wake_up()`` before the next generation.

vLLM is an optional extra (``pip install .[vllm]``).  Without it, choosing this engine fails at
start with a message saying so.  The GPU machines this project was developed on cannot install
vLLM, so this engine has not generated here (README); ``tests/slow/test_vllm_api.py`` checks, with
vLLM installed, that every vLLM name, argument and attribute used below exists in the pinned version.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from .base import Rollout, RolloutEngine, SamplingParams
from .offsets import token_offsets

__all__ = ["VLLMEngine", "VLLM_API"]

# Every vLLM name this adapter touches (checked against the installed vLLM by the slow test).
VLLM_API = {
    "classes": ["vllm.LLM", "vllm.SamplingParams", "vllm.inputs.TokensPrompt"],
    "LLM.__init__": ["model", "tokenizer", "tensor_parallel_size", "dtype", "seed", "gpu_memory_utilization",
                     "max_model_len", "enable_sleep_mode", "logprobs_mode", "skip_tokenizer_init"],
    "LLM.methods": ["generate", "apply_model", "sleep", "wake_up"],
    "SamplingParams": ["n", "temperature", "top_p", "max_tokens", "seed", "logprobs", "skip_special_tokens"],
    "RequestOutput": ["outputs"],
    "CompletionOutput": ["token_ids", "logprobs", "finish_reason"],
    "Logprob": ["logprob"],
    "LogprobsMode": ["processed_logprobs"],
}

_MISSING = (
    "rollout.engine=vllm needs the optional vLLM extra, which is not installed: "
    "`pip install -c constraints.txt '.[vllm]'` (vllm 0.31.0, built for torch 2.13.0), on a machine with a "
    "CUDA GPU; or use rollout.engine=hf (Hugging Face transformers, CPU or GPU)"
)


def _import_vllm():
    try:
        import vllm  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"{_MISSING} ({e})") from e
    return vllm


class VLLMEngine(RolloutEngine):
    name = "vllm"

    def __init__(
        self,
        *,
        model_path: str,
        tokenizer: Any,
        tensor_parallel_size: int = 1,
        dtype: str = "bfloat16",
        seed: int = 0,
        gpu_memory_utilization: float = 0.5,
        max_model_len: int | None = None,
        enable_sleep_mode: bool = False,
        **_: Any,
    ):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("rollout.engine=vllm needs a CUDA GPU (none is visible); use rollout.engine=hf on CPU")
        if tensor_parallel_size < 1:
            raise ValueError(f"rollout.vllm.tensor_parallel_size must be >= 1; got {tensor_parallel_size}")
        vllm = _import_vllm()
        if tensor_parallel_size == 1:
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine in this process: direct weight push
        else:
            os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")  # apply_model pickles the push function
        self.tokenizer = tokenizer
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.sleep_mode = bool(enable_sleep_mode)
        self.asleep = False
        self.llm = vllm.LLM(
            model=str(model_path),
            tokenizer=str(model_path),
            tensor_parallel_size=int(tensor_parallel_size),
            dtype=dtype,
            seed=int(seed),
            gpu_memory_utilization=float(gpu_memory_utilization),
            max_model_len=max_model_len,
            enable_sleep_mode=self.sleep_mode,
            logprobs_mode="processed_logprobs",
        )

    # ------------------------------------------------------------------------------------------
    def _wake(self) -> None:
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False

    def sleep(self) -> None:
        """Free vLLM's GPU memory (KV cache; weights offloaded) while the trainer runs."""
        if self.sleep_mode and not self.asleep:
            self.llm.sleep(level=1)
            self.asleep = True

    def sync_weights(self, policy: Any) -> None:
        """Push the policy's current weights into vLLM's model (no reload from disk)."""
        self._wake()
        state = policy.state_dict()
        weights = [(k, v.detach()) for k, v in state.items()]

        def push(model: Any) -> int:
            model.load_weights(weights=iter(weights))
            return len(weights)

        self.llm.apply_model(push)

    def generate(self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams) -> list[list[Rollout]]:
        from vllm import SamplingParams as VSP
        from vllm.inputs import TokensPrompt

        for i, p in enumerate(prompt_ids):
            if len(p) == 0:
                raise ValueError(f"VLLMEngine.generate: prompt {i} has no tokens")
        self._wake()
        sp = VSP(
            n=params.n,
            temperature=float(params.temperature),
            top_p=float(params.top_p),
            max_tokens=int(params.max_new_tokens),
            seed=params.seed,
            logprobs=0,
            skip_special_tokens=True,
        )
        prompts = [TokensPrompt(prompt_token_ids=list(p)) for p in prompt_ids]
        results = self.llm.generate(prompts, sp, use_tqdm=False)
        out: list[list[Rollout]] = []
        for pi, (p, res) in enumerate(zip(prompt_ids, results)):
            group = []
            for comp in res.outputs:
                toks = list(comp.token_ids)
                # logprobs=0: each position's dict holds the sampled token's log-prob
                lps = (np.array([d[t].logprob for t, d in zip(toks, comp.logprobs)], dtype=np.float32)
                       if comp.logprobs else np.full(len(toks), np.nan, dtype=np.float32))
                text, offs = token_offsets(self.tokenizer, toks)
                group.append(Rollout(prompt_index=pi, prompt_ids=list(p), response_ids=toks, text=text,
                                     offsets=offs, logprobs=lps,
                                     finish_reason="stop" if comp.finish_reason == "stop" else "length"))
            out.append(group)
        self.sleep()
        return out

    def close(self) -> None:
        self.llm = None
