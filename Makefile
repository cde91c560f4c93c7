# prl: run `make help` for the targets.  The README's two commands are `make demo` and `make test`;
# both install whatever is missing first (scripts/install.sh: venv, pinned packages, Rust verifier,
# C++/CUDA op), so they work on a fresh clone.
PY := .venv/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: help install demo long-chain study-long-chain test lint test-rust test-python test-slow bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

install: ## set up everything: .venv, pinned packages, Rust verifier (maturin), C++/CUDA op (CMake)
	bash scripts/install.sh

demo: install ## the main job: the demo training on the embedded default (CPU, minutes)
	$(PY) -m prl.train --config configs/demo.yaml train.output_dir=runs/demo-$$(date +%Y%m%d-%H%M%S)

long-chain: install ## the long-chain recipe: 6-10 step chains where credit assignment matters (CPU, minutes)
	$(PY) -m prl.train --config configs/long_chain.yaml train.output_dir=runs/long_chain-$$(date +%Y%m%d-%H%M%S)

study-long-chain: install ## the long-chain study: every algorithm x 3 seeds + SFT control + credit table (CPU, ~1 h)
	bash benches/study_long_chain.sh

test: install test-rust test-python ## the whole test suite (cargo tests, then pytest; CPU)

lint: install ## ruff, mypy on python/prl, cargo clippy -D warnings, the verifier's stub test
	$(PY) -m ruff check python tests benches scripts rust_verifier/python
	$(PY) -m mypy python/prl
	cargo clippy --manifest-path rust_verifier/Cargo.toml --all-targets -q -- -D warnings
	$(PY) -m pytest -q tests/verifier/test_stub.py

test-rust: ## cargo tests of the verifier crate
	cargo test --manifest-path rust_verifier/Cargo.toml -q

test-python: ## pytest, default tiers (excludes slow, bench; gpu tests skip without a device)
	$(PY) -m pytest

test-slow: install ## the slow tier too (real-model smoke tests, vLLM API check)
	$(PY) -m pytest -m "slow"

bench: install ## benchmarks (not part of the test run); figures go to benches/RESULTS.md
	$(PY) benches/bench_future_kl.py
	$(PY) benches/bench_verifier.py
	$(PY) benches/bench_code.py
	$(PY) -c "import trl" 2>/dev/null || VIRTUAL_ENV=.venv uv pip install -c constraints.txt trl==1.16.0  # TRL: the prl-vs-TRL bench only
	$(PY) benches/bench_decode.py --model demo
	$(PY) benches/bench_decode.py --model smollm2
	$(PY) benches/bench_vs_trl.py --out-dir runs/bench_vs_trl_demo
	$(PY) benches/bench_vs_trl.py --model smollm2 --dtype float32 --out-dir runs/bench_vs_trl_smollm2_fp32
	$(PY) benches/bench_vs_trl.py --model smollm2 --dtype bfloat16 --out-dir runs/bench_vs_trl_smollm2_bf16

clean: ## remove build outputs (keeps .venv)
	rm -rf build rust_verifier/target python/prl/_C*.so

.PHONY: gpu-carry gpu-dry-run
gpu-carry: install ## build what the GPU check carries to a device: .whl/gpu1, .whl/gpu2 (scripts/gpu_check.sh)
	bash scripts/gpu_check.sh --prepare

gpu-dry-run: gpu-carry ## scripts/gpu_check.sh --dry-run: every step of the GPU check, on CPU
	bash scripts/gpu_check.sh --dry-run
