"""E4 — HRM ablations: H/L cycles, plain transformers, halting rules, curriculum vs mixed and the
calibration of the Q-halt head, each arm trained with several seeds at equal steps and data, scored
per k = 2..6 with 95% t intervals across seeds. Writes runs/<arm>-s<seed>/ (metrics.jsonl,
result.json), results.json, report.md and figures into --out. Resumable: finished runs are skipped.

Examples:
    python experiments/exp4_hrm_ablations/run.py --plan smoke --seeds 0 1 --out runs/exp4_smoke --device cpu
    python experiments/exp4_hrm_ablations/run.py --plan full --dry-run
    python experiments/exp4_hrm_ablations/run.py --plan full --part 1 --out runs/exp4 --device cuda --parallel 8
    python experiments/exp4_hrm_ablations/run.py --out runs/exp4 --report_only   # re-aggregate, re-render
    hrm-agents report runs/exp4        # the same
"""

import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from experiments.exp4_hrm_ablations.plan import (DEFAULT_SEEDS, EXPERIMENT, PARTS, PLANS, QUESTIONS,  # noqa: E402
                                                 estimate_seconds, make_plan, select_questions, write_plan)
from experiments.exp4_hrm_ablations.runs import run_plan  # noqa: E402
from hrm_agents.evaluation.ablation import report  # noqa: E402
from hrm_agents.evaluation.io import RunDirError  # noqa: E402
from hrm_agents.hrm.ablations import PlanError, exit_status, step_cost  # noqa: E402
from hrm_agents.hrm.config import ConfigError  # noqa: E402
from hrm_agents.utils.flags import FlagParser  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Run E4; exit 0 ok, 1 some run failed, 2 bad arguments."""
    p = FlagParser(prog="exp4_hrm_ablations/run.py", description=__doc__)
    p.add_argument("--plan", choices=list(PLANS), default="full", help="full (GPU) or smoke (tiny, CPU)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    p.add_argument("--only", help="comma-separated questions: " + ",".join(QUESTIONS))
    p.add_argument("--part", type=int, choices=sorted(PARTS),
                   help="; ".join(f"{k}: {','.join(v)}" for k, v in PARTS.items()))
    p.add_argument("--steps", type=int, help="override the plan's optimiser steps (every arm alike)")
    p.add_argument("--out", type=Path, help="output folder (default runs/exp4_hrm_ablations/<plan>)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument("--parallel", type=int, default=1, help="training processes at once (one GPU can hold several)")
    p.add_argument("--deadline-s", type=float, help="start no run after this many seconds (resume later)")
    p.add_argument("--dry-run", action="store_true", help="print the runs and the time estimate, train nothing")
    p.add_argument("--report-only", action="store_true", help="only aggregate and write the report")
    p.add_argument("--no-report", action="store_true", help="train only (aggregate later with --report-only)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--report_dir", type=Path, help="write report.md, figures and a copy of results.json here "
                                                    "(default: --out), e.g. to commit them")
    args = p.parse_args(argv)
    out = args.out or Path("runs") / EXPERIMENT / args.plan
    try:
        if args.steps is not None and args.steps < 1:
            raise PlanError("--steps must be >= 1")
        questions = select_questions(args.only.split(",") if args.only else None, args.part)
        base, runs = make_plan(args.plan, args.seeds, questions, args.steps)
        if args.dry_run:
            for r in runs:
                print(f"{r.run_id:24s} {r.cost / step_cost(PLANS['full']['model']):8.0f} base-arm steps")
            print(f"{len(runs)} runs; estimated training time on one H100 at 46.7 base-arm steps/s "
                  f"(4 processes sharing it, MODEL_CARD sweep): {estimate_seconds(runs, 46.7):.0f} s")
            return 0
        status: dict[str, str] = {}
        if not args.report_only:
            out.mkdir(parents=True, exist_ok=True)
            write_plan(out, args.plan, base, args.seeds)
            status = run_plan(base, runs, out, device=args.device, parallel=args.parallel,
                              deadline_s=args.deadline_s)
        if not args.no_report:
            path = report(out, args.report_dir, make_plots=not args.no_plots)
            print(f"exp4: wrote {out / 'results.json'} and {path}")
    except (PlanError, ConfigError, RunDirError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return exit_status("exp4", status)


if __name__ == "__main__":
    sys.exit(main())
