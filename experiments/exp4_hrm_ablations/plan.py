"""E4's plan: the questions, their arms, the two plans (full, smoke) and the runs they make.

Questions (each a set of *arms*, every arm trained with several seeds at the same number of
optimiser steps, batch size and training/evaluation data; ``base`` is the shipped recipe: HRM
H_cycles x L_cycles = 2 x 2, ACT halting, mixed schedule, step-label loss):

* ``cycles``      — H x L cycles 1x1, 2x2 (base), 4x4, 1x4, 4x1;
* ``transformer`` — a plain transformer with the HRM's parameter count (H_layers + L_layers blocks)
  and a deeper one with the depth of one HRM segment (depth x cycles);
* ``halting``     — ACT (Q-learning, base) vs fixed steps vs stop-at-equilibrium (relative change
  of z_H below ``equilibrium_tol``) vs a random number of steps, each used in training and inference;
* ``schedule``    — mixed (base) vs curriculum (k = 2 -> 3 -> 4, threshold promotion, stage cap);
* ``calibration`` — the Q-halt head's P(correct) of the halting arms: reliability bins and ECE.

The arms are overrides of the base recipe (:mod:`hrm_agents.hrm.ablations`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from hrm_agents.hrm import ablations
from hrm_agents.hrm.ablations import BUDGET_KEYS, REFERENCE, PlanError, arm_config, step_cost
from hrm_agents.hrm.config import load_json
from hrm_agents.utils.jsonio import write_json

EXPERIMENT = "exp4_hrm_ablations"

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

# The base recipes (hrm_agents/hrm/configs/e4_full.json: the shipped checkpoint's recipe at a budget
# that fits the device limits; e4_smoke.json: a tiny CPU version); every arm is an override of one.
PLANS: dict[str, dict[str, Any]] = {"full": load_json("e4_full"), "smoke": load_json("e4_smoke")}
DEFAULT_SEEDS = (0, 1, 2)


class RunSpec(ablations.RunSpec):
    """One training run of the plan."""

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


def write_plan(out_dir: Path, plan_name: str, base: dict[str, Any], seeds: Sequence[int]) -> None:
    """``plan.json``: the questions, arms, labels, base config and seeds (read by the report)."""
    write_json(out_dir / "plan.json", {"experiment": EXPERIMENT, "plan": plan_name, "reference": REFERENCE,
                                        "questions": {q: list(a) for q, a in QUESTIONS.items()}, "labels": LABELS,
                                        "base_config": base, "seeds": list(seeds), "budget_keys": list(BUDGET_KEYS)})
