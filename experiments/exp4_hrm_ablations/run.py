"""E4 — HRM ablations: H/L cycles, plain transformers, halting rules, curriculum vs mixed and the
calibration of the Q-halt head, each arm trained with several seeds at equal steps and data, scored
per k = 2..6 with 95% t intervals across seeds. Writes runs/<arm>-s<seed>/ (metrics.jsonl,
result.json), results.json, report.md and figures into --out. Resumable: finished runs are skipped.

Examples:
    python experiments/exp4_hrm_ablations/run.py --plan smoke --seeds 0 1 --out runs/exp4_smoke --device cpu
    python experiments/exp4_hrm_ablations/run.py --plan full --dry-run
    python experiments/exp4_hrm_ablations/run.py --plan full --part 1 --out runs/exp4 --device cuda --parallel 8
    hrm-agents report runs/exp4        # re-aggregate and re-render the report
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hrm_agents.hrm.ablations import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(description=__doc__))
