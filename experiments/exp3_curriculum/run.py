"""E3 — does a curriculum help? Few-shot exemplars ordered easy-to-hard (curriculum) vs shuffled
(mixed) at several exemplar budgets for the E2 math arms, and the native HRM trained under each
schedule; scored on generated curriculum tasks at k = 2..6 (k = 5..6 never seen in training or
exemplars). Writes the runner's output plus e3_summary.json/.md and figures in the run directory.

Examples:
    python experiments/exp3_curriculum/run.py --n_per_k 10 --families arith_chain --budgets 0,4 --max_tokens 128
    python experiments/exp3_curriculum/run.py --arms flat,hier --model_backend ollama \\
        --model_name llama3.1:8b-instruct-q4_K_M --hrm_checkpoints curriculum=runs/hrm-cur,mixed=runs/hrm-mix
"""

import argparse
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from experiments.exp3_curriculum.e3 import LLM_ARMS, E3Settings, run_e3  # noqa: E402
from hrm_agents import cli_common  # noqa: E402
from hrm_agents.backends.base import BackendError  # noqa: E402
from hrm_agents.curriculum.exemplars import TRAIN_KS  # noqa: E402


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise argparse.ArgumentTypeError(f"expected SCHEDULE=PATH[,SCHEDULE=PATH], got {text!r}")
        out[key] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run E3 and return the exit code."""
    choices = [*LLM_ARMS, "hrm"]
    default = E3Settings()
    parser = cli_common.build_parser(__doc__, arms=choices, default_arms="flat", suite=False)  # E3 generates its tasks
    parser.add_argument("--n_per_k", type=int, default=default.n_per_k,
                        help="test tasks per family and k (default: %(default)s)")
    parser.add_argument("--families", default=",".join(default.families), help="comma-separated (default: %(default)s)")
    parser.add_argument("--ks", type=_ints, default=default.ks,
                        help=f"step counts to test; {TRAIN_KS} from test_id, others held out (default: {default.ks})")
    parser.add_argument("--schedules", default=",".join(default.schedules),
                        help="exemplar orders (default: %(default)s)")
    parser.add_argument("--budgets", type=_ints, default=default.budgets,
                        help=f"exemplars per prompt, one arm each (default: {default.budgets})")
    parser.add_argument("--hrm_checkpoints", type=_pairs, default={}, metavar="SCHEDULE=PATH,...",
                        help="HRM training folders (or checkpoints) per schedule, e.g. "
                             "curriculum=runs/hrm-cur,mixed=runs/hrm-mix; adds arms hrm@<schedule>")
    args = cli_common.parse_args(parser, argv, dict.fromkeys(choices))
    if "hrm" in args.arms and not args.hrm_checkpoints:
        parser.error("--arms hrm needs --hrm_checkpoints")
    settings = E3Settings(seed=args.seed, n_per_k=args.n_per_k, families=[f for f in args.families.split(",") if f],
                          ks=args.ks, bases=[a for a in args.arms if a != "hrm"],
                          schedules=[s for s in args.schedules.split(",") if s], budgets=args.budgets,
                          hrm=args.hrm_checkpoints, task_ids=args.task_ids, limit=args.limit)
    try:
        settings.check()
    except ValueError as e:
        parser.error(str(e))

    def run() -> Path:
        backend = cli_common.backend_from_args(args) if settings.bases else None
        try:
            return run_e3(settings, backend, cli_common.run_settings(args))
        finally:
            if backend is not None:
                backend.close()

    return cli_common.run_and_report(run, errors=(BackendError, ValueError, OSError),
                          after=lambda run_dir: print((run_dir / "e3_summary.md").read_text()))


if __name__ == "__main__":
    sys.exit(main())
