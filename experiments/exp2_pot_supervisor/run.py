"""E2 — does a supervisor with a Program-of-Thought tool help on math? supervisor -> PoT executors
(codelets run in the sandbox) -> verifier (hier) vs chain-of-thought (flat), with the tool on/off
ablation (flat_tool: one codelet, then the node answers).

Arm options (--option KEY=VALUE): max_subgoals (hier; default 3).

Example:
    python experiments/exp2_pot_supervisor/run.py --suite eval/suites/math_suite.yaml \\
        --model_backend ollama --model_name llama3.1:8b-instruct-q4_K_M --max_iters 3
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from hrm_agents.cli_common import run_cli  # noqa: E402
from hrm_agents.graphs.math import MATH_ARMS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run E2 and return the exit code."""
    return run_cli("exp2_pot_supervisor", MATH_ARMS, argv, description=__doc__,
                   default_suite="eval/suites/math_suite.yaml", default_arms="flat,flat_tool,hier")


if __name__ == "__main__":
    sys.exit(main())
