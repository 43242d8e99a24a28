"""Experiment 4 — HRM ablations: which parts of the HRM matter on the curriculum tasks?

Questions (each a set of *arms*, every arm trained with several seeds at the same number of
optimiser steps, batch size and training/evaluation data; ``base`` is the shipped recipe: HRM
H_cycles x L_cycles = 2 x 2, ACT halting, mixed schedule, step-label loss):

* ``cycles``      — H x L cycles 1x1, 2x2 (base), 4x4, 1x4, 4x1;
* ``transformer`` — a plain transformer with the HRM's parameter count (H_layers + L_layers blocks)
  and a deeper one with the depth of one HRM segment (``deep_transformer_layers``: depth x cycles);
* ``halting``     — ACT (Q-learning, base) vs fixed steps vs stop-at-equilibrium (relative change
  of z_H below ``equilibrium_tol``) vs a random number of steps, each used in training and inference;
* ``schedule``    — mixed (base) vs curriculum (k = 2 -> 3 -> 4, threshold promotion, stage cap);
* ``calibration`` — the Q-halt head's P(correct) of the halting arms: reliability bins and ECE.

Each run trains with :func:`hrm_agents.hrm.train.train` into ``<out>/runs/<arm>-s<seed>/`` (the
generated data is cached once in ``<out>/data/``), then scores its exported model on the full
``test_id`` (k = 2-4) and ``heldout`` (k = 5-6) splits per k: exact accuracy, ACT segments used,
wall time per task, analytic FLOPs per task and the Q-halt reliability bins, into ``result.json``.
A run with a ``result.json`` is finished and skipped on the next call (resume). :func:`aggregate`
writes ``results.json`` (every run, and per arm the mean over seeds with a 95% Student-t interval)
and :func:`report` renders it with :mod:`hrm_agents.evaluation.ablation_report`.

FLOPs per task (forward, matrix multiplies only; attention scores, norms and the Q-head are left
out): ``2 x positions x segments x (blocks per segment x parameters per block + LM-head
parameters)``, where ``positions`` is the width the batch of that k is trimmed to.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..evaluation.calibration import expected_calibration_error, pool_bins, reliability_bins
from ..evaluation.stats import t_interval, welch_interval
from ..utils.jsonio import to_json, write_json
from .config import ConfigError, TrainConfig, to_dict, train_config_from_dict
from .data import DataSpec, load_data, used_width

EXPERIMENT = "exp4_hrm_ablations"
REFERENCE = "base"
QUESTIONS: dict[str, tuple[str, ...]] = {
    "cycles": ("base", "cycles_1x1", "cycles_4x4", "cycles_1x4", "cycles_4x1"),
    "transformer": ("base", "transformer", "transformer_deep"),
    "halting": ("base", "halt_fixed", "halt_equilibrium", "halt_random"),
    "schedule": ("base", "curriculum"),
    "calibration": ("base", "halt_fixed", "halt_equilibrium", "halt_random"),
}
PARTS: dict[int, tuple[str, ...]] = {1: ("cycles",), 2: ("transformer", "halting", "schedule", "calibration")}
LABELS = {
    "base": "HRM 2x2, ACT, mixed (base)", "cycles_1x1": "HRM 1x1", "cycles_4x4": "HRM 4x4",
    "cycles_1x4": "HRM 1x4 (H x L)", "cycles_4x1": "HRM 4x1 (H x L)",
    "transformer": "transformer, matched params", "transformer_deep": "transformer, depth x cycles",
    "halt_fixed": "fixed steps", "halt_equilibrium": "stop at equilibrium", "halt_random": "random steps",
    "curriculum": "curriculum schedule",
}
# Keys an arm may not change: every arm of a question gets the same steps, batch and data.
BUDGET_KEYS = ("steps", "batch_size", "families", "data_seed", "train_ks", "heldout_ks", "n_train_per_k",
               "n_test_per_k")
_STEP_OVERHEAD = 16  # per-step cost outside the blocks (embedding, heads, loss, optimiser), in block units

_MODEL_FULL = {"hidden_size": 256, "num_heads": 4, "expansion": 4.0, "H_layers": 2, "L_layers": 2, "H_cycles": 2,
               "L_cycles": 2, "halt_mode": "act", "halt_max_steps": 8, "halt_exploration_prob": 0.1}
_MODEL_SMOKE = {"hidden_size": 32, "num_heads": 2, "expansion": 2.0, "H_layers": 1, "L_layers": 1, "H_cycles": 2,
                "L_cycles": 2, "halt_mode": "act", "halt_max_steps": 3, "halt_exploration_prob": 0.1}
# full: the recipe of the shipped checkpoint (MODEL_CARD.md) at a budget that fits the device limits.
PLANS: dict[str, dict[str, Any]] = {
    "full": {"model": _MODEL_FULL, "families": ["arith_chain"], "data_seed": 0, "train_ks": [2, 3, 4],
             "heldout_ks": [5, 6], "n_train_per_k": 200_000, "n_test_per_k": 1000, "n_eval_per_k": 256,
             "data_workers": 16, "step_weight": 1.0, "schedule": "mixed", "promote_at": 0.95,
             "promote_min_count": 1000, "batch_size": 768, "steps": 700, "lr": 7e-4, "warmup_steps": 70,
             "log_every": 50, "eval_every": 350, "ckpt_every": 10**9, "export_dtype": "bfloat16",
             "final_eval": []},
    "smoke": {"model": _MODEL_SMOKE, "families": ["arith_chain"], "data_seed": 0, "train_ks": [2, 3, 4],
              "heldout_ks": [5, 6], "n_train_per_k": 2000, "n_test_per_k": 20, "n_eval_per_k": 10,
              "data_workers": 1, "step_weight": 1.0, "schedule": "mixed", "promote_at": 0.95,
              "promote_min_count": 16, "batch_size": 32, "steps": 8, "lr": 3e-3, "warmup_steps": 2,
              "log_every": 4, "eval_every": 8, "ckpt_every": 10**9, "export_dtype": "float32", "final_eval": []},
}
DEFAULT_SEEDS = (0, 1, 2)


class PlanError(ValueError):
    """An invalid plan, or an output folder that holds runs of a different plan (one-line message)."""


# -- the plan ------------------------------------------------------------------------------------

def _blocks_per_segment(model: dict[str, Any]) -> int:
    if model.get("arch", "hrm") == "transformer":
        return model.get("transformer_layers") or model["H_layers"] + model["L_layers"]
    return model["H_cycles"] * (model["L_cycles"] * model["L_layers"] + model["H_layers"])


def arm_overrides(arm: str, base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model overrides, trainer overrides) of ``arm`` relative to the ``base`` train config dict."""
    if arm == REFERENCE:
        return {}, {}
    if arm.startswith("cycles_"):
        h, l = arm.removeprefix("cycles_").split("x")
        return {"H_cycles": int(h), "L_cycles": int(l)}, {}
    if arm == "transformer":
        return {"arch": "transformer", "halt_max_steps": 1}, {}
    if arm == "transformer_deep":
        return {"arch": "transformer", "halt_max_steps": 1, "transformer_layers": _blocks_per_segment(base["model"])}, {}
    if arm.startswith("halt_"):
        return {"halt_mode": arm.removeprefix("halt_")}, {}
    if arm == "curriculum":  # stage cap: stages 2 and 3 get at most ~1/4 of what a run loads at <= 6 segments
        return {}, {"schedule": "curriculum", "max_per_stage": max(1, base["steps"] * base["batch_size"] // 24)}
    raise PlanError(f"unknown arm {arm!r}")


def arm_config(arm: str, base: dict[str, Any], seed: int) -> dict[str, Any]:
    """The full trainer config of one run; refuses overrides of the budget keys (:data:`BUDGET_KEYS`)."""
    model_over, train_over = arm_overrides(arm, base)
    if bad := sorted(set(train_over) & set(BUDGET_KEYS)):
        raise PlanError(f"arm {arm} may not change {', '.join(bad)}: every arm gets the same steps and data")
    cfg = {**base, **train_over, "seed": seed, "model": {**base["model"], **model_over}}
    return to_dict(train_config_from_dict(cfg))


def step_cost(model: dict[str, Any]) -> float:
    """Cost of one training step in block applications: the segment's forward, the ACT target's extra
    forward, the one-step-gradient backward (2x) and a fixed overhead. The GPU is launch-bound at these
    sizes, so step time follows the number of kernels, i.e. this count."""
    fwd = _blocks_per_segment(model)
    transformer = model.get("arch", "hrm") == "transformer"
    grad = fwd if transformer else model["H_layers"] + model["L_layers"]
    act = fwd if model.get("halt_mode", "act") == "act" and model.get("halt_max_steps", 8) > 1 else 0
    return fwd + act + 2 * grad + _STEP_OVERHEAD


@dataclass
class RunSpec:
    """One training run of the plan."""

    arm: str
    seed: int
    config: dict[str, Any]

    @property
    def run_id(self) -> str:
        return f"{self.arm}-s{self.seed}"

    @property
    def cost(self) -> float:
        """Training cost in block applications (steps x :func:`step_cost`)."""
        return self.config["steps"] * step_cost(self.config["model"])


def select_questions(only: Sequence[str] | None = None, part: int | None = None) -> list[str]:
    """Questions picked by ``--only`` and/or ``--part`` (default: all)."""
    qs = list(QUESTIONS)
    if only:
        if bad := [q for q in only if q not in QUESTIONS]:
            raise PlanError(f"unknown question(s) {', '.join(bad)}; choose from {', '.join(QUESTIONS)}")
        qs = [q for q in qs if q in only]
    if part is not None:
        if part not in PARTS:
            raise PlanError(f"unknown part {part}; use one of {sorted(PARTS)}")
        qs = [q for q in qs if q in PARTS[part]]
    return qs


def make_plan(plan: str = "full", seeds: Sequence[int] = DEFAULT_SEEDS, questions: Sequence[str] | None = None,
              steps: int | None = None) -> tuple[dict[str, Any], list[RunSpec]]:
    """(base config, runs) of the questions; arms shared by questions are trained once. Runs are in
    longest-first order (the scheduling that balances parallel workers)."""
    if plan not in PLANS:
        raise PlanError(f"unknown plan {plan!r}; use one of {', '.join(PLANS)}")
    base = json.loads(json.dumps(PLANS[plan]))
    if steps is not None:
        base["steps"] = steps
        base["eval_every"] = max(base["log_every"], steps // 2 // base["log_every"] * base["log_every"])
    questions = list(questions) if questions is not None else list(QUESTIONS)
    arms = list(dict.fromkeys(a for q in questions for a in QUESTIONS[q]))
    runs = [RunSpec(arm, seed, arm_config(arm, base, seed)) for seed in seeds for arm in arms]
    return base, sorted(runs, key=lambda r: (-r.cost, r.seed))


def estimate_seconds(runs: Sequence[RunSpec], base_steps_per_s: float) -> float:
    """Training time of ``runs`` at an aggregate throughput of ``base_steps_per_s`` steps of the base arm."""
    unit = step_cost(PLANS["full"]["model"])
    return sum(r.cost for r in runs) / unit / base_steps_per_s


# -- one run -------------------------------------------------------------------------------------

def _data_spec(cfg: dict[str, Any]) -> DataSpec:
    return DataSpec(tuple(cfg["families"]), cfg["data_seed"], tuple(cfg["train_ks"]), tuple(cfg["heldout_ks"]),
                    cfg["n_train_per_k"], cfg["n_test_per_k"])


def run_status(spec: RunSpec, out_dir: Path) -> str:
    """``done`` (a result.json of this very config), ``todo``; raises :class:`PlanError` when the
    folder holds a finished run of another config."""
    path = out_dir / "runs" / spec.run_id / "result.json"
    if not path.exists():
        return "todo"
    if json.loads(path.read_text()).get("config") != spec.config:
        raise PlanError(f"{path} was made with another config (steps or settings changed); use another --out")
    return "done"


def run_one(spec: RunSpec, out_dir: str | Path, device: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Train one run and score its exported model; writes ``result.json`` (or ``error.json``).

    Returns a short status dict. Never raises for a failed run (the error is recorded), so one bad
    arm does not stop the others.
    """
    import torch

    from ..evaluation.stats import wilson_ci
    from .evaluate import score, to_tensors
    from .model import load_model, n_params
    from .train import train

    out_dir = Path(out_dir)
    run_dir = out_dir / "runs" / spec.run_id
    shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished run starts over
    run_dir.mkdir(parents=True)
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        cfg: TrainConfig = train_config_from_dict(spec.config)
        final = train(cfg, run_dir, progress=False, device=device, data_cache=out_dir / "data")
        dev = torch.device("cuda" if device in (None, "cuda") and torch.cuda.is_available() else "cpu")
        model, _ = load_model(run_dir / "export", dev)
        _, evals = load_data(_data_spec(spec.config), cache_dir=out_dir / "data")
        data = {name: to_tensors(evals[name], dev) for name in ("test_id", "heldout")}
        mc = model.config
        blocks = _blocks_per_segment(to_dict(mc))
        block_params = n_params(model.core) / (mc.n_transformer_layers if mc.arch == "transformer"
                                               else mc.H_layers + mc.L_layers)
        head_params = n_params(model.lm_head)
        per_k: dict[str, Any] = {}
        confidence, correct = [], []
        for arrays in data.values():
            for k in sorted(arrays["k"].unique().tolist()):
                sub = {key: v[arrays["k"] == k] for key, v in arrays.items()}
                score(model, {key: v[:8] for key, v in sub.items()})  # warm-up (kernels, allocator)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                s = score(model, sub)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                wall = time.perf_counter() - t
                n, hits = len(s["exact"]), int(s["exact"].sum())
                positions = used_width(sub["inputs"].cpu().numpy()) - int(
                    (sub["inputs"] != mc.pad_id).any(0).nonzero().min())
                segments = float(s["steps"].mean())
                per_k[str(k)] = {"n": n, "exact": hits / n, "wilson95": list(wilson_ci(hits, n)),
                                 "token_acc": float(s["token_acc"].mean()), "avg_steps": segments,
                                 "positions": positions, "wall_s_per_task": wall / n,
                                 "flops_per_task": 2.0 * positions * segments * (blocks * block_params + head_params),
                                 "mean_q_halt_prob": float(s["q_halt_prob"].mean())}
                confidence.append(s["q_halt_prob"])
                correct.append(s["exact"])
        result = {"run_id": spec.run_id, "arm": spec.arm, "seed": spec.seed, "config": spec.config,
                  "n_params": n_params(model), "blocks_per_segment": blocks, "steps": final["steps"],
                  "examples_seen": final["examples_seen"], "train_s": final["train_s"],
                  "device": str(dev), "per_k": per_k,
                  "calibration": reliability_bins(np.concatenate(confidence), np.concatenate(correct)),
                  "wall_s": time.perf_counter() - t0}
        write_json(run_dir / "result.json", result)
        shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)  # optimiser state: not needed any more
        return {"run_id": spec.run_id, "status": "done", "wall_s": result["wall_s"],
                "id_exact": np.mean([per_k[str(k)]["exact"] for k in spec.config["train_ks"]])}
    except Exception as e:  # noqa: BLE001 - recorded, the plan goes on
        write_json(run_dir / "error.json", {"run_id": spec.run_id, "error": f"{type(e).__name__}: {e}"})
        return {"run_id": spec.run_id, "status": "error", "error": f"{type(e).__name__}: {e}",
                "wall_s": time.perf_counter() - t0}


def run_plan(base: dict[str, Any], runs: Sequence[RunSpec], out_dir: str | Path, *, device: str | None = None,
             parallel: int = 1, deadline_s: float | None = None, log: Callable[[str], None] = print) -> dict[str, str]:
    """Run what is not finished yet; returns ``{run_id: done|error|skipped|not started}``.

    Data is generated once (``<out>/data``) before any run starts. ``parallel`` > 1 runs that many
    training processes at once (spawned; one torch thread each). No run starts after ``deadline_s``
    seconds; those are reported ``not started`` and a later call resumes them.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    status = {r.run_id: "skipped" for r in runs if run_status(r, out_dir) == "done"}
    todo = [r for r in runs if r.run_id not in status]
    log(f"exp4: {len(runs)} runs, {len(status)} already finished, {len(todo)} to train "
        f"({sum(r.cost for r in todo) / step_cost(PLANS['full']['model']):.0f} base-arm steps of work)")
    if not todo:
        return status
    t = time.perf_counter()
    load_data(_data_spec(base), workers=base["data_workers"], cache_dir=out_dir / "data")
    log(f"exp4: data ready in {time.perf_counter() - t:.1f} s")

    def late() -> bool:
        return deadline_s is not None and time.perf_counter() - t0 > deadline_s

    def record(res: dict[str, Any]) -> None:
        status[res["run_id"]] = res["status"]
        extra = f"id exact {res['id_exact']:.3f}" if res["status"] == "done" else res.get("error", "")
        log(f"exp4: {res['run_id']} {res['status']} in {res['wall_s']:.0f} s ({extra}); "
            f"{time.perf_counter() - t0:.0f} s elapsed")

    if parallel <= 1:
        for r in todo:
            if late():
                break
            record(run_one(r, out_dir, device))
    else:
        pending = list(todo)
        with ProcessPoolExecutor(parallel, mp_context=get_context("spawn")) as pool:
            running: dict[Future, RunSpec] = {}
            while pending or running:
                while pending and len(running) < parallel and not late():
                    r = pending.pop(0)
                    running[pool.submit(run_one, r, out_dir, device, 1)] = r
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    r = running.pop(f)
                    try:
                        record(f.result())
                    except Exception as e:  # noqa: BLE001 - a worker died (e.g. killed): record and go on
                        record({"run_id": r.run_id, "status": "error", "error": f"worker died: {e}", "wall_s": 0.0})
    for r in todo:
        status.setdefault(r.run_id, "not started")
    return status


def write_plan(out_dir: Path, plan_name: str, base: dict[str, Any], seeds: Sequence[int]) -> None:
    """``plan.json``: the questions, arms, labels, base config and seeds (read by the report)."""
    write_json(out_dir / "plan.json", {"experiment": EXPERIMENT, "plan": plan_name, "reference": REFERENCE,
                                        "questions": {q: list(a) for q, a in QUESTIONS.items()}, "labels": LABELS,
                                        "base_config": base, "seeds": list(seeds), "budget_keys": list(BUDGET_KEYS)})


# -- aggregation ---------------------------------------------------------------------------------

def _run_summary(res: dict[str, Any]) -> dict[str, Any]:
    cfg = res["config"]
    per_k = res["per_k"]
    acc = {int(k): v["exact"] for k, v in per_k.items()}
    id_acc = float(np.mean([acc[k] for k in cfg["train_ks"] if k in acc]))
    ood = float(np.mean([acc[k] for k in cfg["heldout_ks"] if k in acc]))
    n_tasks = sum(v["n"] for v in per_k.values())
    return {"run_id": res["run_id"], "arm": res["arm"], "seed": res["seed"], "n_params": res["n_params"],
            "steps": res["steps"], "examples_seen": res["examples_seen"], "train_s": res["train_s"],
            "device": res["device"], "exact_by_k": {str(k): v for k, v in sorted(acc.items())},
            "id_exact": id_acc, "heldout_exact": ood, "gap": id_acc - ood,
            "avg_steps": sum(v["avg_steps"] * v["n"] for v in per_k.values()) / n_tasks,
            "flops_per_task": sum(v["flops_per_task"] * v["n"] for v in per_k.values()) / n_tasks,
            "wall_s_per_task": sum(v["wall_s_per_task"] * v["n"] for v in per_k.values()) / n_tasks,
            "ece": expected_calibration_error(res["calibration"]),
            "budget": {k: cfg[k] for k in BUDGET_KEYS}}


def _interval(values: Sequence[float]) -> dict[str, Any]:
    mean, lo, hi = t_interval(values)
    return {"mean": mean, "ci95": [lo, hi], "values": list(values)}


def _arm_stats(runs: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    ks = sorted({int(k) for r in runs for k in r["exact_by_k"]})
    stats = {"seeds": [r["seed"] for r in runs], "n_params": runs[0]["n_params"],
             "exact_by_k": {str(k): _interval([r["exact_by_k"][str(k)] for r in runs if str(k) in r["exact_by_k"]])
                            for k in ks}}
    for key in ("id_exact", "heldout_exact", "gap", "avg_steps", "flops_per_task", "wall_s_per_task", "ece",
                "train_s", "examples_seen"):
        stats[key] = _interval([r[key] for r in runs])
    pooled = pool_bins([res["calibration"] for res in results])
    stats["reliability"] = pooled
    stats["pooled_ece"] = expected_calibration_error(pooled)
    return stats


def _compare(arm: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in ("id_exact", "heldout_exact", "gap", "ece"):
        diff, lo, hi = welch_interval(arm[key]["values"], ref[key]["values"])
        out[key] = {"diff": diff, "ci95": [lo, hi]}
    return out


def aggregate(out_dir: str | Path) -> dict[str, Any]:
    """Read every ``runs/*/result.json`` of an exp4 folder and write ``results.json``: the runs, and per
    question and arm the mean over seeds with 95% t intervals, the reference comparisons (Welch) and
    whether the arms of the question shared one budget (steps, batch, data)."""
    out_dir = Path(out_dir)
    plan_path = out_dir / "plan.json"
    if not plan_path.exists():
        raise PlanError(f"{out_dir} is not an exp4 folder (no plan.json)")
    plan = json.loads(plan_path.read_text())
    results = [json.loads(p.read_text()) for p in sorted((out_dir / "runs").glob("*/result.json"))]
    errors = [json.loads(p.read_text()) for p in sorted((out_dir / "runs").glob("*/error.json"))
              if not (p.parent / "result.json").exists()]
    runs = [_run_summary(r) for r in results]
    questions: dict[str, Any] = {}
    for q, arm_names in plan["questions"].items():
        arms = {}
        for arm in arm_names:
            mine = [(s, r) for s, r in zip(runs, results) if s["arm"] == arm]
            if mine:
                arms[arm] = _arm_stats([s for s, _ in mine], [r for _, r in mine])
        if not arms or (q != "calibration" and set(arms) <= {plan["reference"]}):
            continue  # nothing to compare (e.g. a run of other questions only, which shares the reference)
        budgets = {json.dumps(s["budget"], sort_keys=True) for s in runs if s["arm"] in arms}
        ref = arms.get(plan["reference"])
        for arm, st in arms.items():
            if ref is not None and arm != plan["reference"]:
                st["vs_reference"] = _compare(st, ref)
        questions[q] = {"arms": arms, "budget_equal": len(budgets) == 1, "budget": json.loads(min(budgets)),
                        "missing": [a for a in arm_names if a not in arms]}
    out = to_json({"experiment": EXPERIMENT, "plan": plan, "runs": runs, "errors": errors, "questions": questions})
    write_json(out_dir / "results.json", out)
    return out


def is_exp4_dir(path: str | Path) -> bool:
    """True for a folder written by this experiment (its ``plan.json`` names it)."""
    p = Path(path) / "plan.json"
    try:
        return p.exists() and json.loads(p.read_text()).get("experiment") == EXPERIMENT
    except (OSError, json.JSONDecodeError):
        return False


def report(out_dir: str | Path, report_dir: str | Path | None = None, *, make_plots: bool = True) -> Path:
    """Aggregate, then write ``report.md`` and the figures (default: into ``out_dir``; another
    ``report_dir`` also gets a copy of ``results.json``, e.g. to commit it); returns report.md."""
    from ..evaluation.ablation_report import write_ablation_report

    results = aggregate(out_dir)
    target = Path(report_dir or out_dir)
    if target.resolve() != Path(out_dir).resolve():
        target.mkdir(parents=True, exist_ok=True)
        write_json(target / "results.json", results)
    return write_ablation_report(results, target, make_plots=make_plots)


# -- command line --------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None, description: str | None = None) -> int:
    """``experiments/exp4_hrm_ablations/run.py``: exit 0 ok, 1 some run failed, 2 bad arguments."""
    p = argparse.ArgumentParser(prog="exp4_hrm_ablations/run.py", description=description or __doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
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
            path = report(out, make_plots=not args.no_plots)
            print(f"exp4: wrote {out / 'results.json'} and {path}")
    except (PlanError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    counts = {s: sum(v == s for v in status.values()) for s in sorted(set(status.values()))}
    if counts:
        print("exp4: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if counts.get("error") else 0
