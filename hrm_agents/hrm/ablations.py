"""HRM ablation arms as overrides of a base recipe, their training cost, and per-k measurements.

An arm is a name that :func:`arm_overrides` turns into (model overrides, trainer overrides) of a
base train config; :func:`arm_config` applies them and refuses any change of :data:`BUDGET_KEYS`, so
every arm of a comparison gets the same steps, batch and data. Arms: ``base`` (the recipe itself),
``cycles_<H>x<L>``, ``transformer`` (a plain transformer with the HRM's parameter count),
``transformer_deep`` (the depth of one HRM segment: depth x cycles), ``halt_<mode>`` (``fixed``,
``equilibrium``, ``random``; ACT is the base) and ``curriculum`` (k = 2 -> 3 -> 4 with a stage cap).

:func:`measure_by_k` scores a trained model per k: exact accuracy, ACT segments used, wall time per
task, analytic FLOPs per task and the Q-halt reliability bins. FLOPs per task (forward, matrix
multiplies only; attention scores, norms and the Q-head are left out): ``2 x positions x segments x
(blocks per segment x parameters per block + LM-head parameters)``, where ``positions`` is the
width the batch of that k is trimmed to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..evaluation.calibration import reliability_bins
from ..evaluation.stats import wilson_ci
from .config import model_config_from_dict, to_dict, train_config_from_dict
from .data import used_width

REFERENCE = "base"
# Keys an arm may not change: every arm of a question gets the same steps, batch and data.
BUDGET_KEYS = ("steps", "batch_size", "families", "data_seed", "train_ks", "heldout_ks", "n_train_per_k",
               "n_test_per_k")
_STEP_OVERHEAD = 16  # per-step cost outside the blocks (embedding, heads, loss, optimiser), in block units


class PlanError(ValueError):
    """An invalid plan or arm, or an output folder that holds runs of a different plan (one-line message)."""


@dataclass
class RunSpec:
    """One training run of an experiment's plan: an arm, a seed and the run's config."""

    arm: str
    seed: int
    config: dict[str, Any]

    @property
    def run_id(self) -> str:
        return f"{self.arm}-s{self.seed}"


def exit_status(experiment: str, status: Mapping[str, str]) -> int:
    """Print how many runs of a plan ended in each state (``exp5: 3 done, 1 error``) and return the
    experiment CLI's exit code: 1 when a run failed, else 0."""
    counts = {s: sum(v == s for v in status.values()) for s in sorted(set(status.values()))}
    if counts:
        print(f"{experiment}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if counts.get("error") else 0


def blocks_per_segment(model: Mapping[str, Any]) -> int:
    """Block applications in one forward segment of a model config dict."""
    return model_config_from_dict({"vocab_size": 1, "seq_len": 1, **model}).blocks_per_segment()


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
        return {"arch": "transformer", "halt_max_steps": 1, "transformer_layers": blocks_per_segment(base["model"])}, {}
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
    fwd = blocks_per_segment(model)
    transformer = model.get("arch", "hrm") == "transformer"
    grad = fwd if transformer else model["H_layers"] + model["L_layers"]
    act = fwd if model.get("halt_mode", "act") == "act" and model.get("halt_max_steps", 8) > 1 else 0
    return fwd + act + 2 * grad + _STEP_OVERHEAD


def measure_by_k(model: Any, data: Mapping[str, Mapping[str, Any]],
                 halt_mode: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(per_k, calibration)`` of ``model`` on evaluation splits (``{split: tensors}``, see
    :func:`hrm_agents.hrm.evaluate.to_tensors`), halting by ``halt_mode`` (None: the model's own):
    per k exact accuracy (Wilson 95%), token accuracy,
    ACT segments, positions, wall time and FLOPs per task, mean Q-halt P(correct); and the Q-halt
    reliability bins over every task."""
    import torch

    from .evaluate import score
    from .model import n_params

    mc = model.config
    dev = next(model.parameters()).device
    blocks = mc.blocks_per_segment()
    block_params = n_params(model.core) / mc.n_blocks()
    head_params = n_params(model.lm_head)
    per_k: dict[str, Any] = {}
    confidence, correct = [], []
    for arrays in data.values():
        for k in sorted(arrays["k"].unique().tolist()):
            sub = {key: v[arrays["k"] == k] for key, v in arrays.items()}
            score(model, {key: v[:8] for key, v in sub.items()}, halt_mode=halt_mode)  # warm-up (kernels, allocator)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            s = score(model, sub, halt_mode=halt_mode)
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
    return per_k, reliability_bins(np.concatenate(confidence), np.concatenate(correct))
