"""E5's transfer check: every trained ARC-AGI-1 run scored on puzzles it never saw, e.g. ARC-AGI-2's new
puzzles (its 1,000 training + 120 evaluation puzzles minus those that are ARC-AGI-1 puzzles), at the
run's canvas, without a puzzle ID (ID 0, the untrained zero embedding), voting over ``n_aug`` augmented
copies. Writes ``<out>/transfer_<version>.json``; the report adds its table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hrm_agents.arc.data import ArcSpec, unseen_puzzles, unseen_test_arrays
from hrm_agents.arc.scoring import copy_input_baseline, predict, score
from hrm_agents.utils.jsonio import read_json, write_json

from .plans import PlanError

TRANSFER_N_AUG = 8  # copies voted over (the long runs' training count; the same for every arm)


def score_transfer(out_dir: str | Path, version: str = "arc2", seen: str = "arc1", n_aug: int = TRANSFER_N_AUG,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score every finished ARC run of ``out_dir`` that kept its weights on the ``version`` puzzles that
    are not ``seen`` puzzles; returns and writes ``transfer_<version>.json``."""
    from hrm_agents.hrm.model import load_model

    out_dir = Path(out_dir)
    runs = [read_json(p) for p in sorted((out_dir / "runs").glob("*/result.json"))]
    runs = [r for r in runs if r["config"]["kind"] == "arc" and (out_dir / "runs" / r["run_id"] / "export").is_dir()]
    if not runs:
        raise PlanError(f"{out_dir} holds no ARC runs with weights (runs/*/export)")
    out: dict[str, Any] = {"version": version, "seen": seen, "n_aug": n_aug, "runs": []}
    cache: dict[int, Any] = {}
    for r in runs:
        max_side = r["config"]["data"]["max_side"]
        if max_side not in cache:
            puzzles = unseen_puzzles(version, max_side, seen)
            spec = ArcSpec(version=version, n_aug=n_aug, max_side=max_side)
            test, augs = unseen_test_arrays(puzzles, spec)
            cache[max_side] = (puzzles, spec, test, augs)
            out.setdefault("puzzles", {})[str(max_side)] = [{"id": p.id, "subset": p.subset} for p in puzzles]
            out.setdefault("copy_input_baseline", {})[str(max_side)] = copy_input_baseline(test)
        puzzles, spec, test, augs = cache[max_side]
        t = time.perf_counter()
        model, _ = load_model(out_dir / "runs" / r["run_id"] / "export", "cpu")
        s = score(predict(model, test, device="cpu"), test, puzzles, augs, spec.size)
        evaluation = [p for p in s["puzzles"] if p["puzzle"] in {q.id for q in puzzles if q.subset == "eval"}]
        row = {"run_id": r["run_id"], "arm": r["arm"], "seed": r["seed"], "summary": s["summary"],
               "eval_subset_pass@2": float(np.mean([p["pass@2"] for p in evaluation])) if evaluation else None,
               "n_eval_subset": len(evaluation), "solved_pass@2": [x["puzzle"] for x in s["examples"] if x["pass@2"]],
               "wall_s": time.perf_counter() - t}
        out["runs"].append(row)
        log(f"exp5: {version} transfer {r['run_id']}: pass@2 {s['summary']['puzzle_pass@2']:.3f}, "
            f"cell {s['summary']['puzzle_orig_cell']:.3f} on {s['summary']['n_puzzles']} puzzles ({row['wall_s']:.0f} s)")
    write_json(out_dir / f"transfer_{version}.json", out)
    return out
