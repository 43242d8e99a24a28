#!/usr/bin/env bash
# E4 (HRM ablations) on the GPU machine: one H100, torch preinstalled, no network. Paste ONE command
# per part into the device tool (repo root, carry [".whl"]; pydantic comes from the git-ignored .whl/):
#   part 1 (cycles, 15 runs):                                      bash experiments/exp4_hrm_ablations/device.sh 1
#   part 2 (transformer, halting, schedule, calibration, 21 runs):  bash experiments/exp4_hrm_ablations/device.sh 2
# For part 2, first unpack part 1's tarball into runs/ here and add "runs/exp4" to carry: the shared `base`
# runs are then skipped (resume). Without it part 2 retrains them (it still fits).
# Budget: everything (install, data generation, training, evaluation, report, tar) ends within ~500 s;
# runs start only in the first 300 s and a hard timeout stops training at 455 s (finished runs are kept).
# $OUT gets 2 files: exp4_part<P>.log and exp4_part<P>.tgz (plan.json, results.json, report.md, PNG figures,
# runs/*/{metrics.jsonl,eval.json,result.json,error.json}); no checkpoints, weights or data.
set -u
PART=${1:?usage: bash experiments/exp4_hrm_ablations/device.sh 1|2}
OUT=${OUT:?OUT must name the folder whose files come back}
T0=$(date +%s)
{
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  python3 -c "import torch,sys,hrm_agents.hrm.ablations;print(torch.__version__,sys.version.split()[0],torch.cuda.get_device_name())" \
    || exit 1
  (sleep 120; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv) &
  timeout -k 15 455 python3 experiments/exp4_hrm_ablations/run.py --plan full --part "$PART" --out runs/exp4 \
    --device cuda --parallel 8 --deadline-s 300 --no-report
  echo "training finished with status $? after $(( $(date +%s) - T0 )) s"
  python3 experiments/exp4_hrm_ablations/run.py --plan full --out runs/exp4 --report-only
  tar czf "$OUT/exp4_part$PART.tgz" --exclude=checkpoint --exclude=checkpoint.tmp --exclude=checkpoint.old \
    --exclude=export --exclude=data -C runs exp4
  ls -la "$OUT"
  echo "total $(( $(date +%s) - T0 )) s"
} 2>&1 | tee "$OUT/exp4_part$PART.log"
