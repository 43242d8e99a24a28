# The four-run HRM sweep the shipped checkpoint (hrm_agents/hrm/checkpoints/default) came from: all four
# recipes (hrm_agents/hrm/configs/sweep/*.json, overrides of configs/default.json) train at once on one
# GPU, 500 s each. Run on the GPU machine from the repo root: `bash benchmarks/hrm_sweep.sh`.
# RUNS (default runs/sweep) gets the runs; $OUT (when set) gets one tarball per run (logs, eval, export).
RUNS=${RUNS:-runs/sweep}
if [ -d .whl ]; then  # a bare GPU machine: the wheels carried in .whl/ (see /work/.library/device), into SITE
  SITE=${SITE:-$(mktemp -d)}
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
  export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1
fi
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
python3 -c "import torch,sys,hrm_agents.hrm.train;print(torch.__version__,sys.version.split()[0],torch.cuda.get_device_name())" || exit 1
V="a_step_mixed b_answer_only_mixed c_step_curriculum d_step_mixed_1layer"; mkdir -p "$RUNS"
for v in $V; do python3 -m hrm_agents.hrm.train --config "sweep/$v" --out "$RUNS/$v" --no_progress --time_budget_s 500 > "$RUNS/$v.log" 2>&1 & done
sleep 150; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv; wait
for v in $V; do
  cp "$RUNS/$v.log" "$RUNS/$v/train.log"
  [ -n "${OUT:-}" ] && tar czf "$OUT/$v.tgz" -C "$RUNS" "$v/metrics.jsonl" "$v/eval.json" "$v/export" "$v/train.log"
  tail -2 "$RUNS/$v.log"
done
python3 -m hrm_agents.hrm.report $(for v in $V; do echo "$RUNS/$v"; done) | grep -v '"max_steps": 16'
