"""E3 — does a curriculum help? Few-shot exemplars ordered easy-to-hard (curriculum) vs shuffled
(mixed) at several exemplar budgets for the E2 math arms, and the native HRM trained under each
schedule; scored on generated curriculum tasks at k = 2..6 (k = 5..6 never seen in training or
exemplars). Writes the runner's output plus e3_summary.json/.md and figures in the run directory.

Examples:
    python experiments/exp3_curriculum/run.py --n_per_k 10 --families arith_chain --budgets 0,4 --max_tokens 128
    python experiments/exp3_curriculum/run.py --arms flat,hier --model_backend ollama \\
        --model_name llama3.1:8b-instruct-q4_K_M --hrm_checkpoints curriculum=runs/hrm-cur,mixed=runs/hrm-mix
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hrm_agents.curriculum.e3 import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(description=__doc__))
