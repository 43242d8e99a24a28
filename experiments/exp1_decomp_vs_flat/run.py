"""E1 — does decomposition help? planner -> coder -> tester (hier) vs a flat coder (flat), plus the
flat coder with retries (flat_retry) to separate hierarchy from mere iteration.

Arm options (--option KEY=VALUE): planner_tests (advisory or required; every arm), replan_after (hier;
default 2, 0 = never re-plan).

Example:
    python experiments/exp1_decomp_vs_flat/run.py --suite eval/suites/coding_suite.yaml \\
        --model_backend ollama --model_name llama3.1:8b-instruct-q4_K_M --max_iters 3
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hrm_agents.cli_common import run_cli  # noqa: E402
from hrm_agents.graphs.coding import CODING_ARMS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run E1 and return the exit code."""
    return run_cli("exp1_decomp_vs_flat", CODING_ARMS, argv, description=__doc__,
                   default_suite="eval/suites/coding_suite.yaml", default_arms="flat,hier")


if __name__ == "__main__":
    sys.exit(main())
