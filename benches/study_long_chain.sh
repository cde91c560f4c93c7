#!/usr/bin/env bash
# The long-chain study (benches/RESULTS.md, "Long chains: where process rewards put the credit"):
# every algorithm from configs/long_chain.yaml, 3 seeds each, same data, model and budget, plus the
# equal-time SFT control; then the credit diagnostics of each process signal.
#   bash benches/study_long_chain.sh [OUT] [extra key=value overrides for every run]
# Steps: (1) Monte-Carlo step labels from the SFT policy and an explicit PRM trained on them
# (prl.prm), in the background; (2) prl.compare over the variants (one after another, seed 0 of each
# first, one thread each: run it beside other work with taskset); the table, the credit table and the
# curves land in OUT/compare.* and are rewritten after every run. On two cores, a second worker shares
# the runs: `STUDY_REVERSE=1 taskset -c 1 bash benches/study_long_chain.sh` beside the first (it runs
# the jobs last-first; each run is claimed, so none runs twice; it leaves the PRM and the SFT control
# to the first worker and waits for the first worker's runs to finish).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-runs/long_chain_study}
shift || true
BUDGET=(eval.at_start=false log.samples_every=10 log.credit_every=5 train.threads=1 "$@")
VARIANTS=(
  --variant "prl newline=algo.name=prl,algo.prl.steps=newline"
  --variant "process_grpo rule=algo.name=process_grpo,algo.process_grpo.credit=min,algo.process_grpo.w_outcome=1.0,process_reward.source=rule"
  --variant "prime=algo.name=prime,process_reward.implicit_prm.lr=6e-4"
  --variant "prl balanced=algo.name=prl,algo.prl.steps=balanced:48,96"
  --variant "process_grpo explicit PRM=algo.name=process_grpo,algo.process_grpo.credit=min,algo.process_grpo.w_outcome=1.0,process_reward.source=explicit_prm,process_reward.explicit_prm.path=$OUT/prm/prm"
)
mkdir -p "$OUT/prm"
if [ -n "${STUDY_REVERSE:-}" ]; then  # the second worker leaves the PRM to the first
  exec $PY -m prl.compare --config configs/long_chain.yaml --algos grpo,rloo --seeds 3 --out "$OUT" --skip-done \
    --reverse --no-sft-control "${VARIANTS[@]}" "${BUDGET[@]}"
fi
# the explicit PRM (needed by the last variant only) is built beside the first runs
(
  if [ ! -f "$OUT/prm/prm/config.json" ]; then
    # 60 prompts x 2 responses from the SFT start, each step prefix completed 4 times (hard labels)
    [ -f "$OUT/prm/labels.jsonl" ] || $PY -m prl.prm label --policy long_chain --data long_chain:train --limit 60 \
        --samples 2 --rollouts 4 --task arithmetic --max-new-tokens 260 --threads 1 --no-progress \
        --out "$OUT/prm/labels.jsonl"
    $PY -m prl.prm train --data "$OUT/prm/labels.jsonl" --init long_chain --out "$OUT/prm/prm" --threads 1 \
        --max-seconds 240 --no-progress
  fi
) > "$OUT/prm/build.log" 2>&1 &
PRM_JOB=$!
$PY -m prl.compare --config configs/long_chain.yaml --algos grpo,rloo --seeds 3 --out "$OUT" --skip-done \
  "${VARIANTS[@]}" "${BUDGET[@]}"
wait $PRM_JOB
