python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 || exit 1
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
python3 -c "import torch,sys,hrm_agents.hrm.train;print(torch.__version__,sys.version.split()[0],torch.cuda.get_device_name())" || exit 1
V="a_step_mixed b_answer_only_mixed c_step_curriculum d_step_mixed_1layer"; mkdir -p /tmp/runs
for v in $V; do python3 -m hrm_agents.hrm.train --config hrm_agents/hrm/configs/sweep/$v.json --out /tmp/runs/$v --no-progress --time-budget-s 500 > /tmp/runs/$v.log 2>&1 & done
sleep 150; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv; wait
for v in $V; do cp /tmp/runs/$v.log /tmp/runs/$v/train.log; tar czf $OUT/$v.tgz -C /tmp/runs $v/metrics.jsonl $v/eval.json $v/export $v/train.log; tail -2 /tmp/runs/$v.log; done
python3 -m hrm_agents.hrm.report /tmp/runs/a_step_mixed /tmp/runs/b_answer_only_mixed /tmp/runs/c_step_curriculum /tmp/runs/d_step_mixed_1layer | grep -v '"max_steps": 16'
