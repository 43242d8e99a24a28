"""Accuracy per step count k and the generalisation gap (held-out k minus training k).

For runs whose records carry ``meta["k"]`` (curriculum tasks): accuracy overall, per k, in
distribution (k among the training step counts) and out of it, each with a Wilson 95% CI over
attempts, and the gap with a bootstrap CI that resamples the tasks of each group independently.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from .records import AttemptRecord
from .stats import unpaired_bootstrap_ci, wilson_ci


def accuracy(passed: Sequence[bool]) -> dict[str, Any]:
    """``{n, passed, accuracy, ci95}`` (Wilson 95%) of pass/fail outcomes."""
    n, c = len(passed), int(sum(passed))
    return {"n": n, "passed": c, "accuracy": c / n if n else None, "ci95": list(wilson_ci(c, n))}


def task_rates(records: Iterable[AttemptRecord]) -> dict[str, tuple[int, float]]:
    """task id -> (k, mean pass rate over the task's attempts)."""
    by_task: dict[str, list[bool]] = defaultdict(list)
    ks = {}
    for r in records:
        by_task[r.task_id].append(r.passed)
        ks[r.task_id] = int(r.meta["k"])
    return {t: (ks[t], float(np.mean(v))) for t, v in by_task.items()}


def generalisation_gap(ood: Sequence[float], in_dist: Sequence[float], *, n_resamples: int = 10_000,
                       seed: int = 0) -> dict[str, Any]:
    """mean(ood) - mean(in_dist) of per-task pass rates with a percentile bootstrap 95% CI that
    resamples the tasks of each group independently (NaN CI with fewer than 2 tasks in a group)."""
    a, b = np.asarray(ood, float), np.asarray(in_dist, float)
    if not len(a) or not len(b):
        return {"delta": None, "ci95": [None, None], "n_ood_tasks": len(a), "n_id_tasks": len(b)}
    ci = unpaired_bootstrap_ci(a, b, n_resamples=n_resamples, seed=seed)
    return {"delta": float(a.mean() - b.mean()), "ci95": list(ci), "n_ood_tasks": len(a), "n_id_tasks": len(b)}


def arm_summary(records: Sequence[AttemptRecord], *, id_ks: Sequence[int],
                n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Accuracy overall, per k, in-distribution (k in ``id_ks``) and out of it, each with a Wilson
    95% CI over attempts, and the generalisation gap (out minus in) over tasks."""
    by_k: dict[int, list[bool]] = defaultdict(list)
    for r in records:
        by_k[int(r.meta["k"])].append(r.passed)
    rates = task_rates(records).values()
    return {
        **accuracy([r.passed for r in records]),
        "errors": sum(r.error is not None for r in records),
        "by_k": {str(k): accuracy(v) for k, v in sorted(by_k.items())},
        "id": accuracy([p for k, v in by_k.items() if k in id_ks for p in v]),
        "ood": accuracy([p for k, v in by_k.items() if k not in id_ks for p in v]),
        "gap": generalisation_gap([x for k, x in rates if k not in id_ks], [x for k, x in rates if k in id_ks],
                                  n_resamples=n_resamples, seed=seed),
    }


def paired_outcomes(records: Iterable[AttemptRecord]) -> dict[str, dict[Any, bool]]:
    """task id -> (seed, sample) -> passed, the pairing of :func:`~hrm_agents.evaluation.stats.compare`."""
    out: dict[str, dict[Any, bool]] = defaultdict(dict)
    for r in records:
        out[r.task_id][(r.seed, r.sample)] = r.passed
    return out
