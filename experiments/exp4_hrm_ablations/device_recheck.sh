#!/usr/bin/env bash
# Issue 18 (and 17's 1-GPU fallback) on the GPU machine: one H200, torch preinstalled, no network.
# Device tool: command `bash experiments/exp4_hrm_ablations/device_recheck.sh`, carry [".cache/rc"], where
# .cache/rc/whl holds pydantic's wheels and .cache/rc/data the generated data (data-<hash>.npz, compressed):
#   python experiments/exp4_hrm_ablations/recheck.py data --plan full     # .cache/rc/data (~3 min on 2 cores)
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 -d .cache/rc/whl pydantic==2.13.4 pydantic_core==2.46.4 \
#     annotated_types==0.7.0 typing_inspection==0.4.2
#   python experiments/exp4_hrm_ablations/recheck.py plan --plan full     # what runs, in priority order
# Budget: the scheduler stops every run at DEADLINE s (default 295) after its start; a hard timeout at
# DEADLINE + 25 s still leaves time to pack. $OUT gets 3 files: recheck.log, gpu_util.txt and recheck.tgz (scheduler
# log, status.json, every run's metrics.jsonl/result.json/error.json and job log; no weights, no data).
set -u
OUT=${OUT:?OUT must name the folder whose files come back}
DEADLINE=${DEADLINE:-295}
PLAN=${PLAN:-full}      # PLAN=smoke DEVICE=cpu WHEELS=0: the same script as a CPU dry run
# JOB_GROUPS=e4_halting,e4_cycles: only these job groups, all at once (recheck.py plan lists them)
# JOBS=recipe/recipe-s3,e4_1800/base-s3,...: only these runs, in priority order; SLOTS=3: at most 3 at once
# PRIOR: a recheck.tgz of earlier calls (default: the committed one), unpacked first, so its finished
#   runs are kept, not re-run, and come back in recheck.tgz with the new ones (PRIOR= : start empty)
DEVICE=${DEVICE:-cuda}
PRIOR=${PRIOR-experiments/exp4_hrm_ablations/results_seeds/device_runs.tgz}
RUNS=${RUNS:-runs}      # the runs go to $RUNS/recheck
T0=$(date +%s)
{
  if [ "${WHEELS:-1}" = 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .cache/rc/whl/*.whl \
      || { echo "wheel install failed"; exit 1; }
  fi
  export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
  nvidia-smi --query-gpu=name,memory.used,memory.total,driver_version --format=csv
  (sleep 150; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv) >"$OUT/gpu_util.txt" 2>&1 &
  python3 -c "import torch, sys; print(torch.__version__, sys.version.split()[0], torch.cuda.is_available())"
  mkdir -p "$RUNS"
  if [ -n "$PRIOR" ]; then tar xzf "$PRIOR" -C "$RUNS" || { echo "cannot unpack $PRIOR"; exit 1; }; fi
  timeout -k 5 $((DEADLINE + 25)) python3 experiments/exp4_hrm_ablations/recheck.py run --plan "$PLAN" --out "$RUNS/recheck" \
    --device "$DEVICE" --deadline-s "$DEADLINE" --data .cache/rc/data ${JOB_GROUPS:+--groups "$JOB_GROUPS"} \
    ${JOBS:+--jobs "$JOBS"} ${SLOTS:+--slots "$SLOTS"}
  echo "recheck finished with status $? after $(( $(date +%s) - T0 )) s"
  tar czf "$OUT/recheck.tgz" --exclude=export --exclude=best --exclude=best.tmp --exclude=checkpoint --exclude=checkpoint.tmp --exclude=checkpoint.old \
    --exclude=data -C "$RUNS" recheck
  ls -la "$OUT"
  echo "total $(( $(date +%s) - T0 )) s"
} 2>&1 | tee "$OUT/recheck.log"
