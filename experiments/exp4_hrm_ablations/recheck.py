"""Issue 18 — the HRM claims over seeds, on one GPU under a fixed time budget.

Jobs, in priority order (each a training run scored by E4's ``run_one``: per-k exact accuracy on the
full ``test_id`` and ``heldout`` splits, written to ``result.json`` as soon as the run ends):

* ``recipe``  — the shipped default recipe (``hrm_agents/hrm/configs/default.json``, 4,841 steps) with new
  seeds (the seed sets model initialisation and data order);
* ``det``     — the recipe for 200 steps, seed 0, three times at once, the third under
  ``torchrun --nproc_per_node 1`` (determinism; issue 17's 1-GPU launch);
* ``e4_700`` / ``e4_1800`` — E4's arms with new seeds, configs made by E4's own ``make_plan`` (so they
  pool with the committed seeds 0-2);
* ``variant``, ``variant_long``, ``variant_4x1``, ``variant_replay`` — recipe variants aimed at k = 6
  (issue 18 item 2), seeds as the recipe's, each one change of the recipe: E4's random-segment
  halting (scored with every segment, ``eval_halt_mode`` fixed); the same trained for more steps at
  no more GPU time than the recipe (``long_steps``; a random-halting step costs 3/4 of an ACT step
  by :func:`~hrm_agents.hrm.ablations.step_cost`); 4×1 cycles; E4's staged curriculum with a
  quarter of every batch replayed from the earlier stages (k = 2, then 2-3). Every variant keeps
  the weights with the best accuracy on a k = 5 selection split (``select_k``; k = 6 is never
  looked at) and is scored both at its last step and with those weights.

``run`` starts the first group at once, measures the GPU's aggregate throughput (in steps of the base
model), and admits a further group only when everything admitted is projected to finish before
``--deadline-s``; when the projection overruns, it stops the lowest-priority droppable run. At the
deadline every run still going is stopped (its metrics.jsonl stays). ``--jobs`` names single runs
instead, in priority order, and ``--slots`` caps how many train at once (processes time-share the
GPU, so a long run started beside many short ones ends alone at one process's speed; a few slots
keep it at a steady share). A run whose ``result.json`` of the same config is already in ``--out``
is kept and not run again (resume: unpack earlier runs there first). ``summary`` pools what finished
with the committed E4 results into ``recheck.json`` and ``report.md``.

Examples:
    python experiments/exp4_hrm_ablations/recheck.py plan --plan full
    python experiments/exp4_hrm_ablations/recheck.py run --plan smoke --out runs/recheck_smoke --device cpu
    python experiments/exp4_hrm_ablations/recheck.py run --plan smoke --out runs/recheck_smoke --device cpu \
        --jobs recipe/recipe-s2,e4_20/base-s3 --slots 2
    bash experiments/exp4_hrm_ablations/device_recheck.sh          # on the GPU machine
    python experiments/exp4_hrm_ablations/recheck.py summary --runs runs/recheck \\
        --out experiments/exp4_hrm_ablations/results_seeds
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from experiments.exp4_hrm_ablations.plan import PLANS, RunSpec, make_plan, write_plan  # noqa: E402
from experiments.exp4_hrm_ablations.runs import run_one  # noqa: E402
from hrm_agents.hrm.ablations import arm_config, arm_overrides, step_cost  # noqa: E402
from hrm_agents.hrm.config import load_json, to_dict, train_config_from_dict  # noqa: E402
from hrm_agents.utils.jsonio import read_json, write_json  # noqa: E402
from hrm_agents.utils.flags import FlagParser

RECIPE = "default"  # hrm_agents/hrm/configs/default.json, the shipped checkpoint's recipe
RECIPE_STEPS = 4841  # the shipped checkpoint's step count (MODEL_CARD.md)
SELECT_K = 5  # the variants' model selection: on k = 5 only, never on k = 6
REPLAY = 0.25  # the replay variant: this fraction of each batch from the earlier curriculum stages
_BASE_UNIT = step_cost(PLANS["full"]["model"])
H200_BASE_STEPS_PER_S = 46  # measured: 2-9 runs sharing one H200 gave 44-54 (device.log of results_seeds)
TORCHRUN_1 = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1")

# per plan: recipe overrides, E4 step counts, seeds, timings (seconds)
SETTINGS: dict[str, dict[str, Any]] = {
    "full": {"recipe": {"steps": RECIPE_STEPS, "final_eval": [], "data_workers": 16}, "det_steps": 200,
             "e4_steps": (700, 1800), "recipe_seeds": (1, 2, 3, 4), "e4_seeds": (3, 4, 5), "variant_seeds": (1, 2, 3),
             "long_steps": 5600,
             "poll_s": 5.0, "warmup_s": 40.0, "rate_samples": 12, "min_samples": 6, "margin_s": 30.0,
             "cooldown_s": 20.0},
    "smoke": {"recipe": {"steps": 40, "final_eval": [], "data_workers": 1, "model": PLANS["smoke"]["model"],
                         "n_train_per_k": 2000, "n_test_per_k": 20, "n_eval_per_k": 10, "batch_size": 32,
                         "warmup_steps": 5, "log_every": 10, "eval_every": 20, "ckpt_every": 20},
              "det_steps": 20, "e4_steps": (12, 20), "recipe_seeds": (1, 2), "e4_seeds": (3,), "variant_seeds": (1,),
              "long_steps": 50,
              "poll_s": 1.0, "warmup_s": 8.0, "rate_samples": 6, "min_samples": 3, "margin_s": 5.0,
              "cooldown_s": 3.0},
}


@dataclass
class Job:
    """One training run: ``folder`` is an E4-style output folder (runs/<arm>-s<seed>/, data/)."""

    group: str
    folder: str
    arm: str
    seed: int
    config: dict[str, Any]
    droppable: bool = True
    launcher: tuple[str, ...] = ()  # e.g. torchrun; default: this Python
    state: str = "queued"  # queued, running, done, error, dropped, killed
    proc: subprocess.Popen | None = field(default=None, repr=False)
    started: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.folder}/{self.arm}-s{self.seed}"

    @property
    def unit(self) -> float:
        """Cost of one step in steps of the base model."""
        return step_cost(self.config["model"]) / _BASE_UNIT

    @property
    def total(self) -> float:
        return self.config["steps"] * self.unit

    def run_dir(self, out: Path) -> Path:
        return out / self.folder / "runs" / f"{self.arm}-s{self.seed}"


def recipe_config(plan: str, **over: Any) -> dict[str, Any]:
    """The shipped recipe's trainer config (with the plan's overrides), validated."""
    cfg = {**load_json(RECIPE), **SETTINGS[plan]["recipe"], **over}
    return to_dict(train_config_from_dict(cfg))


def e4_configs(plan: str, steps: int, arms: tuple[str, ...], seeds: tuple[int, ...]) -> dict[tuple[str, int], dict]:
    """E4's own configs of ``arms`` at ``steps`` (so new seeds pool with the committed ones)."""
    _, runs = make_plan("full" if plan == "full" else "smoke", seeds, None, steps)
    return {(r.arm, r.seed): r.config for r in runs if r.arm in arms}


def build_jobs(plan: str, only: list[str] | None = None) -> list[list[Job]]:
    """Groups in priority order (``only``: these group names); the first starts at once, the others
    when they fit."""
    s = SETTINGS[plan]
    short, long_ = s["e4_steps"]
    # the second recipe seed may be dropped if the device is slower than planned
    recipe = [Job(f"recipe_s{seed}", "recipe", "recipe", seed, recipe_config(plan, seed=seed), droppable=i >= 1)
              for i, seed in enumerate(s["recipe_seeds"])]
    det_cfg = recipe_config(plan, seed=0, steps=s["det_steps"], eval_every=s["det_steps"], ckpt_every=10**9,
                            log_every=max(1, s["det_steps"] // 6))
    det = [Job("det", "det", name, 0, det_cfg, droppable=False) for name in ("det_a", "det_b")]
    det.append(Job("det", "det", "det_torchrun", 0, det_cfg, droppable=False, launcher=TORCHRUN_1))
    c700 = e4_configs(plan, short, ("base", "halt_random", "cycles_4x1"), s["e4_seeds"])
    c1800 = e4_configs(plan, long_, ("base", "transformer_deep", "transformer"), s["e4_seeds"])

    def e4(folder: str, cfgs: dict, arms: tuple[str, ...], group: str) -> list[Job]:
        return [Job(group, folder, a, seed, cfgs[(a, seed)]) for seed in s["e4_seeds"] for a in arms]

    def variant(group: str, name: str, arm: str, **over: Any) -> list[Job]:  # the recipe with one change
        base = recipe_config(plan, select_k=SELECT_K, **over)
        return [Job(group, "variant", name, seed, arm_config(arm, base, seed)) for seed in s["variant_seeds"]]
    random_eval = {"eval_halt_mode": "fixed"}  # a random-halting model scored with all its segments
    staged = arm_overrides("curriculum", recipe_config(plan))[1]  # E4's curriculum: schedule and stage cap
    groups = [recipe[:2] + det] + [[r] for r in recipe[2:]] + [
              e4(f"e4_{short}", c700, ("base", "halt_random"), "e4_halting"),
              e4(f"e4_{short}", c700, ("cycles_4x1",), "e4_cycles"),
              e4(f"e4_{long_}", c1800, ("base", "transformer_deep"), "e4_transformer"),
              e4(f"e4_{long_}", c1800, ("transformer",), "e4_transformer_matched"),
              variant("variant", "recipe_random", "halt_random", **random_eval),
              variant("variant_long", "recipe_random_long", "halt_random", steps=s["long_steps"], **random_eval),
              variant("variant_4x1", "recipe_4x1", "cycles_4x1"),
              variant("variant_replay", "recipe_replay", "base", **staged, replay=REPLAY)]
    groups = [g for g in groups if g]
    if only:
        names = [g[0].group for g in groups]
        if bad := sorted(set(only) - set(names)):
            raise SystemExit(f"error: unknown group(s) {', '.join(bad)}; choose from {', '.join(names)}")
        groups = [[j for g in groups if g[0].group in only for j in g]]  # chosen to fit: all at once
    return groups


def select_jobs(plan: str, names: list[str]) -> list[Job]:
    """The plan's runs named ``folder/arm-s<seed>`` (as ``plan`` lists them), in the given order."""
    by_name = {j.name: j for g in build_jobs(plan) for j in g}
    if bad := [n for n in names if n not in by_name]:
        raise SystemExit(f"error: unknown job(s) {', '.join(bad)}; `recheck.py plan --plan {plan}` lists them")
    return [by_name[n] for n in dict.fromkeys(names)]


def finished_earlier(job: Job, out: Path) -> bool:
    """True when ``out`` already holds this job's ``result.json`` made with the same config (compared
    after validation, so a setting added since, at its default, does not count as a change)."""
    path = job.run_dir(out) / "result.json"
    if not path.exists():
        return False
    try:
        same = to_dict(train_config_from_dict(read_json(path).get("config") or {})) == job.config
    except (ValueError, TypeError):  # no longer a valid config
        same = False
    if not same:
        raise SystemExit(f"error: {path} was made with another config; use another --out")
    return True


# -- one job (a child process) -----------------------------------------------------------------

def job_main(spec_path: str) -> int:
    """Train and score one job from its spec file (under torchrun too); exit 1 when the run failed."""
    spec = read_json(spec_path)
    res = run_one(RunSpec(spec["arm"], spec["seed"], spec["config"]), spec["out_dir"], spec["device"], 1)
    print(json.dumps(res, default=float), flush=True)
    return 0 if res["status"] == "done" else 1


# -- the scheduler -----------------------------------------------------------------------------

def _train_points(job: Job, out: Path) -> list[tuple[int, float]]:
    """(step, seconds since launch) of the job's last ``train`` lines in metrics.jsonl."""
    path = job.run_dir(out) / "metrics.jsonl"
    points = []
    if path.exists():
        for line in path.read_text().splitlines()[-40:]:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            if ev.get("event") == "train":
                points.append((ev["step"], ev["elapsed_s"]))
    return points


def _progress(job: Job, out: Path) -> tuple[float, float | None]:
    """(base-model steps done, current base-model steps/s or None before two log lines)."""
    if job.state == "done":
        return job.total, None
    pts = _train_points(job, out)
    done = pts[-1][0] * job.unit if pts else 0.0
    if len(pts) < 2 or pts[-1][1] <= pts[-2][1]:
        return done, None
    return done, (pts[-1][0] - pts[-2][0]) / (pts[-1][1] - pts[-2][1]) * job.unit


class Scheduler:
    """Starts jobs as child processes (own sessions), tracks throughput, admits and drops groups."""

    def __init__(self, out: Path, plan: str, device: str | None, deadline_s: float, log):
        self.out, self.plan, self.device, self.log = out, plan, device, log
        self.s = SETTINGS[plan]
        self.t0 = time.perf_counter()
        self.deadline = deadline_s
        self.jobs: list[Job] = []
        self.history: list[tuple[float, float, float]] = []  # (s, base steps done, current sum of rates)
        self.busy_rates: list[float] = []  # throughput sums seen while >= 2 runs reported
        self.last_drop = -1.0  # time of the last drop (-1: none yet)
        self.phase_t0 = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def start(self, job: Job) -> None:
        spec = self.out / "specs" / f"{job.folder}-{job.arm}-s{job.seed}.json"
        spec.parent.mkdir(parents=True, exist_ok=True)
        write_json(spec, {"arm": job.arm, "seed": job.seed, "config": job.config,
                          "out_dir": str(self.out / job.folder), "device": self.device})
        logf = open(self.out / "specs" / f"{spec.stem}.log", "w")
        cmd = list(job.launcher or (sys.executable,)) + [str(Path(__file__).resolve()), "job", str(spec)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        job.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        job.state, job.started = "running", self.now()
        self.jobs.append(job)
        self.log(f"start {job.name} ({job.total:.0f} base steps) pid {job.proc.pid}")

    def stop(self, job: Job, state: str) -> None:
        if job.proc and job.proc.poll() is None:
            os.killpg(job.proc.pid, signal.SIGKILL)
            job.proc.wait()
        job.state = state
        self.log(f"{state} {job.name} at {_progress(job, self.out)[0] / job.unit:.0f}/{job.config['steps']} steps")

    def reap(self) -> None:
        for j in self.jobs:
            if j.state == "running" and j.proc.poll() is not None:
                j.state = "done" if (j.run_dir(self.out) / "result.json").exists() else "error"
                self.log(f"{j.state} {j.name} in {self.now() - j.started:.0f} s")

    def running(self) -> list[Job]:
        return [j for j in self.jobs if j.state == "running"]

    def rate(self) -> float | None:
        """The device's throughput in base-model steps/s: the median over the last minute of the sum of
        the running jobs' current rates (each from its last two log lines), counted while at least two
        jobs report. None until ``min_samples`` such sums exist (the first run of this script on one
        H200 saw the early sums swing from 22 to 68 while the shared device gave 46)."""
        rates = [r for j in self.running() if (r := _progress(j, self.out)[1]) is not None]
        done = sum(_progress(j, self.out)[0] for j in self.jobs if j.state in ("running", "done"))
        self.history.append((round(self.now(), 1), round(done, 1), round(sum(rates), 2)))
        if self.now() - self.phase_t0 >= self.s["warmup_s"] and len(rates) >= 2:
            self.busy_rates.append(sum(rates))
        recent = sorted(self.busy_rates[-self.s["rate_samples"]:])
        return recent[len(recent) // 2] if len(recent) >= self.s["min_samples"] else None

    def remaining(self) -> float:
        return sum(max(0.0, j.total - _progress(j, self.out)[0]) for j in self.running())

    def run_groups(self, groups: list[list[Job]], slots: int | None = None) -> None:
        """Start the first group (with ``slots``: the leading groups that fit in them), then admit the
        others as they fit in time (and in a free slot), in order; drop and stop as the class says."""
        self.phase_t0 = self.now()
        pending = list(groups)

        def free(g: list[Job]) -> bool:
            return slots is None or not self.running() or len(self.running()) + len(g) <= slots

        while pending and (not self.jobs if slots is None else free(pending[0])):
            for job in pending.pop(0):
                self.start(job)
        overruns = 0  # polls in a row whose projection ran past the deadline
        while self.now() < self.deadline:
            time.sleep(self.s["poll_s"])
            self.reap()
            rate = self.rate()
            if rate is not None:
                eta = self.now() + self.remaining() / rate + self.s["margin_s"]
                overruns = overruns + 1 if eta > self.deadline else 0
                if overruns >= 3 and self.now() - self.last_drop > self.s["cooldown_s"]:
                    victims = [j for j in self.running()  # never one that is nearly through
                               if j.droppable and _progress(j, self.out)[0] < 0.8 * j.total]
                    if victims:
                        self.log(f"projected end {eta:.0f} s > deadline {self.deadline:.0f} s at {rate:.1f} base steps/s")
                        self.stop(victims[-1], "dropped")
                        self.last_drop, overruns = self.now(), 0
                        continue
            for g in list(pending) if self.last_drop < 0 else []:  # once capacity-bound, admit no more
                cost = sum(j.total for j in g)
                if not free(g):
                    continue
                if rate is None and slots is None:
                    break  # no estimate yet: wait
                if rate is None or eta + cost / rate <= self.deadline:  # with slots, a free one early: take it
                    how = f"{rate:.1f} base steps/s" if rate else "no rate yet"
                    self.log(f"admit {g[0].name if len(g) == 1 else 'group ' + g[0].group} ({cost:.0f} base steps; {how})")
                    for j in g:
                        self.start(j)
                    pending.remove(g)
                    break
            if not self.running():
                break  # nothing left, or nothing that fits
        for j in self.running():
            self.stop(j, "killed")
        for g in pending:
            self.log(f"not started: group {g[0].group} ({len(g)} runs)")


def prepare_data(out: Path, folders: dict[str, dict[str, Any]], carried: Path | None, log) -> None:
    """Every folder's data/ holds its generated data: ``carried`` data-<hash>.npz files (made
    beforehand by :func:`~hrm_agents.hrm.data.load_data` and compressed to travel) are stored
    uncompressed, so the runs read them fast; a data spec without one is generated (every core)."""
    import numpy as np

    from hrm_agents.hrm.data import DataSpec, load_data

    shared = out / "data"
    shared.mkdir(parents=True, exist_ok=True)
    if carried and carried.is_dir():
        for f in carried.glob("data-*.npz"):
            if not (shared / f.name).exists():
                with np.load(f) as z:
                    np.savez(shared / f"{f.stem}.tmp.npz", **{k: z[k] for k in z.files})
                os.replace(shared / f"{f.stem}.tmp.npz", shared / f.name)
                log(f"carried data {f.name} unpacked")
    done: set[tuple] = set()
    for folder, cfg in folders.items():
        spec = DataSpec.of(cfg)
        if astuple(spec) not in done:
            t = time.perf_counter()
            load_data(spec, workers=os.cpu_count() or 1, cache_dir=shared)
            done.add(astuple(spec))
            log(f"data for {folder} ready in {time.perf_counter() - t:.1f} s")
        link = out / folder / "data"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink(shared.resolve(), link)


def run_main(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    logfile = open(out / "scheduler.log", "a")
    sched: Scheduler | None = None

    def log(msg: str) -> None:
        line = f"[{sched.now() if sched else 0:6.1f} s] {msg}"
        print(line, flush=True)
        logfile.write(line + "\n")
        logfile.flush()

    if args.jobs and args.groups:
        raise SystemExit("error: give --jobs or --groups, not both")
    groups = [[j] for j in select_jobs(args.plan, args.jobs)] if args.jobs else build_jobs(args.plan, args.groups)
    sched = Scheduler(out, args.plan, args.device, args.deadline_s, log)
    earlier = [j for g in groups for j in g if finished_earlier(j, out)]
    for j in earlier:
        log(f"kept {j.name}: finished earlier (result.json in {out})")
    groups = [kept for g in groups if (kept := [j for j in g if j not in earlier])]

    def on_term(signum, frame):  # the outer timeout: stop the children, keep what finished
        for j in sched.running():
            sched.stop(j, "killed")
        sys.exit(124)

    signal.signal(signal.SIGTERM, on_term)
    all_jobs = [j for g in groups for j in g]
    folders: dict[str, dict[str, Any]] = {}
    for j in all_jobs:  # a folder's plan records its reference arm's config (E4's `base`)
        if j.folder not in folders or j.arm == "base":
            folders[j.folder] = j.config
    for folder, cfg in folders.items():
        (out / folder).mkdir(parents=True, exist_ok=True)
        seeds = {j.seed for j in all_jobs + earlier if j.folder == folder}
        if (out / folder / "plan.json").exists():  # earlier seeds of this folder stay listed
            seeds |= set(read_json(out / folder / "plan.json").get("seeds", []))
        write_plan(out / folder, args.plan, cfg, sorted(seeds))
    prepare_data(out, folders, args.data, log)

    sched.run_groups(groups, args.slots)
    status = {**{j.name: "done earlier" for j in earlier}, **{j.name: j.state for j in sched.jobs}}
    status.update({j.name: "not started" for j in all_jobs if j.name not in status})
    write_json(out / "status.json", {"plan": args.plan, "deadline_s": args.deadline_s, "wall_s": sched.now(),
                                     "jobs": status, "throughput_history": sched.history})
    log("status: " + ", ".join(f"{sum(v == s for v in status.values())} {s}" for s in sorted(set(status.values()))))
    return 0


def data_main(args: argparse.Namespace) -> int:
    """Generate the data every job of the plan needs and write it compressed (data-<hash>.npz) into
    ``--out``, to travel with the device command (``--data``) instead of being generated there."""
    import tempfile

    import numpy as np

    from hrm_agents.hrm.data import DataSpec, load_data

    args.out.mkdir(parents=True, exist_ok=True)
    specs = {astuple(DataSpec.of(j.config)): DataSpec.of(j.config) for g in build_jobs(args.plan) for j in g}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs.values():
            load_data(spec, workers=os.cpu_count() or 1, cache_dir=tmp)
        for f in Path(tmp).glob("data-*.npz"):
            with np.load(f) as z:
                np.savez_compressed(args.out / f.name, **{k: z[k] for k in z.files})
            print(f"wrote {args.out / f.name}")
    return 0


def plan_main(args: argparse.Namespace) -> int:
    groups = [[j] for j in select_jobs(args.plan, args.jobs)] if args.jobs else build_jobs(args.plan, args.groups)
    total = 0.0
    for i, g in enumerate(groups):
        cost = sum(j.total for j in g)
        total += cost
        tag = "starts at once" if i == 0 else "admitted if it fits"
        print(f"group {g[0].group:24s} {len(g):2d} runs {cost:8.0f} base steps  ({tag})")
        for j in g:
            print(f"    {j.name:36s} {j.config['steps']:5d} steps x {j.unit:.2f}{'' if j.droppable else '  (kept)'}"
                  f"{'  via ' + ' '.join(j.launcher[1:]) if j.launcher else ''}")
    print(f"all groups: {total:.0f} base steps, about {total / H200_BASE_STEPS_PER_S:.0f} s of one H200 "
          f"at the {H200_BASE_STEPS_PER_S} base steps/s it gave when shared (plus ~35 s of start-up and scoring)")
    return 0


# -- summary -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = FlagParser(prog="recheck.py", description=__doc__.splitlines()[0], epilog=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("plan", help="list the jobs and their cost")
    pp.add_argument("--plan", choices=list(SETTINGS), default="full")
    pp.add_argument("--groups", type=lambda v: v.split(","), help="comma-separated group names (default: all)")
    pp.add_argument("--jobs", type=lambda v: v.split(","), help="comma-separated run names, as --jobs of `run`")
    pr = sub.add_parser("run", help="run the jobs under a deadline (GPU machine; smoke on CPU)")
    pr.add_argument("--plan", choices=list(SETTINGS), default="full")
    pr.add_argument("--out", type=Path, required=True)
    pr.add_argument("--device", choices=["cpu", "cuda"])
    pr.add_argument("--deadline_s", type=float, default=360.0,
                    help="stop every run still going this many seconds after the start")
    pr.add_argument("--data", type=Path, help="folder of carried data-<hash>.npz files")
    pr.add_argument("--groups", type=lambda v: v.split(","),
                    help="comma-separated group names, all started at once (default: every group, "
                         "the first at once and the others when they fit)")
    pr.add_argument("--jobs", type=lambda v: v.split(","),
                    help="comma-separated runs (folder/arm-s<seed>, as `plan` lists them) in priority order, "
                         "each started when it fits")
    pr.add_argument("--slots", type=int, help="at most this many runs at once (default: no cap)")
    pj = sub.add_parser("job", help="(internal) train and score one job")
    pj.add_argument("spec")
    pd = sub.add_parser("data", help="generate the plan's data, compressed, to carry to the device")
    pd.add_argument("--plan", choices=list(SETTINGS), default="full")
    pd.add_argument("--out", type=Path, default=REPO / ".cache" / "rc" / "data")
    pt = sub.add_parser("throughput", help="median samples/s of training runs (their metrics.jsonl)")
    pt.add_argument("run_dirs", type=Path, nargs="+")
    ps = sub.add_parser("summary", help="pool the finished runs with the committed E4 results")
    ps.add_argument("--runs", type=Path, required=True, help="the run folder of `run` (unpacked)")
    ps.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "plan":
        return plan_main(args)
    if args.cmd == "run":
        return run_main(args)
    if args.cmd == "job":
        return job_main(args.spec)
    if args.cmd == "data":
        return data_main(args)
    from experiments.exp4_hrm_ablations.recheck_report import summary_main, throughput
    if args.cmd == "throughput":
        for d in args.run_dirs:
            print(json.dumps(throughput(d)))
        return 0
    return summary_main(args.runs, args.out)


if __name__ == "__main__":
    sys.exit(main())
