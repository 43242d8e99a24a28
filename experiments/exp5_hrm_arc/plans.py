"""E5's plans: the arms (each a change to the base recipe), the questions they answer and the sizes.

Base recipe (``base``): HRM 2x2 cycles with ACT (max 4 segments), hidden 128, puzzle-ID embedding 16,
300 augmentations, split ``original``, ARC-AGI-1 puzzles whose grids all fit ``max_side``. Arms:

* ``transformer`` — a plain transformer with the HRM's parameter count (4 blocks, one pass);
* ``trm`` — the TRM-style single recursive network (one 2-block stack, ``H_cycles`` = 2 recursions
  of ``L_cycles`` = 2 latent updates + one answer update: the HRM's 12 block applications per
  segment with half its block parameters; full backpropagation through the last recursion);
* ``aug0`` / ``aug300`` / ``aug1000`` — 0, 300 or 1000 augmentations per puzzle instead of the size's
  (300, or 8 at size ``long``); they skip the refinement scoring (an aug-1000 model has 88k test rows);
* ``emb0`` / ``emb8`` / ``emb32`` — puzzle-ID embedding of dimension 0 (none), 8 or 32 instead of 16;
* ``clean`` / ``lko`` — split ``clean`` (no evaluation puzzle seen) or ``leave-k-out`` (fold 0);
* ``emb_lr_shared`` — the puzzle-ID embeddings at the model's lr instead of their own ``puzzle_emb_lr``;
* ``arith_hrm`` / ``arith_trm`` — issue item 5: E4's ``arith_chain`` recipe (train k = 2-4,
  held-out k = 5-6), HRM 2x2 ACT vs TRM (same segment compute) at equal steps.

Every arm of a plan gets the same optimiser steps, batch size and seeds (:data:`BUDGET_KEYS`).

Sizes: ``smoke`` (CPU, CI), ``gpu`` (the first device call: 500 steps x 256 rows, aug 300) and ``long``
(the second: 4x the steps at twice the batch, 8 augmentations so that every puzzle ID is trained on
about 40 times, the puzzle-ID embeddings at their own learning rate as in the reference, and the
trained model scored again with 1-16 ACT segments, :func:`~experiments.exp5_hrm_arc.runs.refinement`).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from hrm_agents.hrm.ablations import PlanError, RunSpec

EXPERIMENT = "exp5_hrm_arc"
REFERENCE = "base"
LABELS = {
    "base": "HRM 2x2, ACT (base)", "transformer": "transformer, matched params",
    "trm": "TRM (one recursive 2-block net)", "aug0": "0 augmentations", "aug300": "300 augmentations",
    "aug1000": "1000 augmentations",
    "emb0": "no puzzle-ID embedding", "emb8": "puzzle-ID embedding 8", "emb32": "puzzle-ID embedding 32",
    "clean": "split clean", "lko": "split leave-k-out (fold 0)",
    "emb_lr_shared": "puzzle-ID embeddings at the shared lr",
    "arith_hrm": "arith_chain: HRM 2x2 ACT", "arith_trm": "arith_chain: TRM",
}
QUESTIONS: dict[str, tuple[str, ...]] = {
    "architecture": ("base", "transformer", "trm"),
    "augmentation": ("aug0", "base", "aug300", "aug1000"),
    "embeddings": ("emb0", "emb8", "base", "emb32"),
    "splits": ("base", "clean", "lko"),
    "embedding_lr": ("base", "emb_lr_shared"),
    "arith_trm": ("arith_hrm", "arith_trm"),
}
PLAN_ARMS: dict[str, tuple[str, ...]] = {
    "smoke": ("base", "transformer", "trm", "aug0", "emb0", "clean", "lko", "arith_hrm", "arith_trm"),
    "replicate": ("base", "transformer"),
    "augmentation": ("aug0", "base", "aug1000"),  # size gpu: base has 300
    "embeddings": ("emb0", "emb8", "base", "emb32"),
    "splits": ("base", "clean", "lko"),
    "trm": ("base", "trm", "arith_hrm", "arith_trm"),
    # the one device call of issue 13 (see device.sh): what fits one H200 for ~5 minutes
    "device": ("base", "transformer", "trm", "aug0", "aug1000", "emb0", "clean", "arith_hrm", "arith_trm"),
    # the second device call (device.sh, SIZE=long): the architecture question at a longer budget
    "long": ("base", "transformer", "trm"),
    # the third call (device.sh CALL=third, size long, steps 1580 = the HRM's in the second call): TRM, and the
    # splits / embeddings / augmentation questions at the longer budget, beside the second call's runs
    "long_arms": ("trm", "clean", "emb0", "aug300", "aug1000"),
    # the CPU check before it (size cpu): does the puzzle-ID embeddings' own lr speed up fitting?
    "cpu_check": ("base", "emb_lr_shared"),
}
BUDGET_KEYS = ("steps", "batch_size")

_MODEL = {"hidden_size": 128, "num_heads": 4, "expansion": 4.0, "H_layers": 2, "L_layers": 2, "H_cycles": 2,
          "L_cycles": 2, "halt_mode": "act", "halt_max_steps": 4, "halt_exploration_prob": 0.1, "puzzle_emb_dim": 16}
_TRAIN = {"batch_size": 256, "steps": 500, "lr": 1e-3, "warmup_steps": 50, "weight_decay": 0.1, "log_every": 50,
          "eval_every": 250, "ckpt_every": 10**9, "n_eval_per_k": 256, "export_dtype": "float32"}
_DATA = {"version": "arc1", "split": "original", "n_aug": 300, "max_side": 10, "k": 40, "fold": 0}
_SMOKE_MODEL = {**_MODEL, "hidden_size": 32, "num_heads": 2, "expansion": 2.0, "H_layers": 1, "L_layers": 1,
                "halt_max_steps": 2, "puzzle_emb_dim": 8}
_SMOKE_TRAIN = {**_TRAIN, "batch_size": 16, "steps": 4, "warmup_steps": 1, "log_every": 2, "eval_every": 4,
                "n_eval_per_k": 8, "puzzle_emb_lr": 1e-2}
_SMOKE_DATA = {**_DATA, "n_aug": 2, "max_side": 5, "max_train_puzzles": 6, "max_eval_puzzles": 3, "k": 2}
SIZES: dict[str, dict[str, Any]] = {
    "gpu": {"model": _MODEL, "train": _TRAIN, "data": _DATA, "arith_steps": 500},
    "smoke": {"model": _SMOKE_MODEL, "train": _SMOKE_TRAIN, "data": _SMOKE_DATA, "arith_steps": 4,
              "eval": {"segments": [1, 2]}},
    "cpu": {"model": {**_SMOKE_MODEL, "hidden_size": 64, "puzzle_emb_dim": 16},
            "train": {**_SMOKE_TRAIN, "batch_size": 64, "steps": 200, "warmup_steps": 20, "log_every": 50,
                      "eval_every": 200},
            "data": {**_SMOKE_DATA, "n_aug": 8, "max_side": 6, "max_train_puzzles": None, "max_eval_puzzles": None},
            "arith_steps": 4, "eval": {"segments": [1, 2]}},
    "long": {"model": _MODEL, "train": {**_TRAIN, "batch_size": 512, "steps": 2000, "warmup_steps": 100,
                                        "puzzle_emb_lr": 1e-2, "eval_every": 1000, "export_dtype": "bfloat16"},
             "data": {**_DATA, "n_aug": 8}, "arith_steps": 2000, "eval": {"segments": [1, 2, 4, 8, 16]}},
}
DEFAULT_SEEDS = (0, 1)


def _arith_config(size: dict[str, Any], arm: str, seed: int, smoke: bool) -> dict[str, Any]:
    from hrm_agents.hrm.config import load_json, to_dict, train_config_from_dict

    base = load_json("e4_smoke" if smoke else "e4_full")  # E4's recipe (hrm_agents/hrm/configs), not a copy
    base.update(steps=size["arith_steps"], seed=seed, final_eval=[])
    if arm == "arith_trm":
        base["model"]["arch"] = "trm"
    return {"kind": "arith", "train": to_dict(train_config_from_dict(base))}


def arm_config(arm: str, size_name: str, seed: int) -> dict[str, Any]:
    """The config of one run of ``arm`` at size ``gpu`` or ``smoke``."""
    size = json.loads(json.dumps(SIZES[size_name]))
    if arm.startswith("arith_"):
        if arm not in ("arith_hrm", "arith_trm"):
            raise PlanError(f"unknown arm {arm!r}")
        return _arith_config(size, arm, seed, size_name == "smoke")
    model, train, data = size["model"], {**size["train"], "seed": seed}, size["data"]
    if arm == "transformer":
        model.update(arch="transformer", halt_max_steps=1)
    elif arm == "trm":
        model.update(arch="trm")
    elif arm.startswith("aug") and arm[3:].isdigit():
        data["n_aug"] = int(arm[3:])
        size.pop("eval", None)
    elif arm.startswith("emb") and arm[3:].isdigit():
        model["puzzle_emb_dim"] = int(arm[3:])
    elif arm == "emb_lr_shared":
        train["puzzle_emb_lr"] = None
    elif arm == "clean":
        data["split"] = "clean"
    elif arm == "lko":
        data["split"] = "leave-k-out"
    elif arm != REFERENCE:
        raise PlanError(f"unknown arm {arm!r}; known: {', '.join(LABELS)}")
    return {"kind": "arc", "model": model, "train": train, "data": data,
            **({"eval": size["eval"]} if "eval" in size else {})}


def make_plan(plan: str, seeds: Sequence[int] = DEFAULT_SEEDS, steps: int | None = None,
              arms: Sequence[str] | None = None, size: str | None = None) -> list[RunSpec]:
    """The runs of ``plan`` at ``size`` (default: ``smoke`` / ``long`` for those plans, else ``gpu``; the smoke
    size of another plan is how its device script is tested on CPU); ``steps`` overrides the optimiser
    steps of every arm alike; ``arms`` picks a subset."""
    if plan not in PLAN_ARMS:
        raise PlanError(f"unknown plan {plan!r}; use one of {', '.join(PLAN_ARMS)}")
    size = size or {"smoke": "smoke", "long": "long", "long_arms": "long", "cpu_check": "cpu"}.get(plan, "gpu")
    if size not in SIZES:
        raise PlanError(f"unknown size {size!r}; use one of {', '.join(SIZES)}")
    chosen = list(arms) if arms else list(PLAN_ARMS[plan])
    if bad := [a for a in chosen if a not in LABELS]:
        raise PlanError(f"unknown arm(s) {', '.join(bad)}")
    runs = []
    for seed in seeds:
        for arm in chosen:
            cfg = arm_config(arm, size, seed)
            if steps is not None:
                cfg["train"]["steps"] = steps
            runs.append(RunSpec(arm, seed, cfg))
    return runs
