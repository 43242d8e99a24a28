"""Aggregation of a seeded ablation folder (e.g. E4, HRM ablations) into ``results.json``.

The folder holds ``plan.json`` (``questions``: question -> arms, ``reference`` arm, ``labels``,
``base_config``, ``seeds``, ``budget_keys``) and ``runs/<arm>-s<seed>/result.json`` per finished
run (per-k results of :func:`hrm_agents.hrm.ablations.measure_by_k`, Q-halt reliability bins, the
run's config) or ``error.json``. :func:`aggregate` gives per question and arm the mean over seeds
with 95% Student-t intervals and Welch intervals of the difference to the reference arm;
:func:`report` renders it with :mod:`hrm_agents.evaluation.ablation_report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..utils.jsonio import read_json, to_json, write_json
from .ablation_report import write_ablation_report
from .calibration import expected_calibration_error, pool_bins
from .io import RunDirError
from .stats import t_interval, welch_interval


def _run_summary(res: dict[str, Any], budget_keys: Sequence[str]) -> dict[str, Any]:
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
            "budget": {k: cfg[k] for k in budget_keys}}


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
    """Read every ``runs/*/result.json`` of an ablation folder and write ``results.json``: the runs, and per
    question and arm the mean over seeds with 95% t intervals, the reference comparisons (Welch) and
    whether the arms of the question shared one budget (steps, batch, data)."""
    out_dir = Path(out_dir)
    plan_path = out_dir / "plan.json"
    if not plan_path.exists():
        raise RunDirError(f"{out_dir} is not an ablation folder (no plan.json)")
    plan = json.loads(plan_path.read_text())
    results = [json.loads(p.read_text()) for p in sorted((out_dir / "runs").glob("*/result.json"))]
    errors = [json.loads(p.read_text()) for p in sorted((out_dir / "runs").glob("*/error.json"))
              if not (p.parent / "result.json").exists()]
    runs = [_run_summary(r, plan.get("budget_keys", [])) for r in results]
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
    out = to_json({"experiment": plan.get("experiment"), "plan": plan, "runs": runs, "errors": errors,
                   "questions": questions})
    write_json(out_dir / "results.json", out)
    return out


def is_ablation_dir(path: str | Path) -> bool:
    """True for a seeded ablation folder (its ``plan.json`` names questions and a reference arm)."""
    try:
        plan = read_json(Path(path) / "plan.json")
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(plan, dict) and {"questions", "reference"} <= set(plan)


def report(out_dir: str | Path, report_dir: str | Path | None = None, *, make_plots: bool = True) -> Path:
    """Aggregate, then write ``report.md`` and the figures (default: into ``out_dir``; another
    ``report_dir`` also gets a copy of ``results.json``, e.g. to commit it); returns report.md."""
    results = aggregate(out_dir)
    target = Path(report_dir or out_dir)
    if target.resolve() != Path(out_dir).resolve():
        target.mkdir(parents=True, exist_ok=True)
        write_json(target / "results.json", results)
    return write_ablation_report(results, target, make_plots=make_plots)
