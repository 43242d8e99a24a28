"""Experiment-specific pre-registered criteria that the generic Δpass@1 verdict does not cover.

E2 (math: supervisor -> PoT -> verifier vs flat with the same tool): SUCCESS needs both

* the hierarchical arm cuts tool misuse and spec errors by at least ``min_reduction`` (relative,
  per attempt: the share of attempts tagged ``tool_misuse`` or ``spec_error``), and
* it improves accuracy under a time budget: at equal wall-clock per task (an attempt counts as
  solved only if it was solved within ``time_budget_s``), Δ > 0 with the paired bootstrap CI above 0.

PARTIAL: one of the two holds; FAILURE: neither. INCONCLUSIVE is added when the budgeted
comparison's p >= alpha. The budget defaults to the baseline arm's 95th-percentile wall time per
attempt (the time in which the baseline finishes nearly all its attempts); the unbounded
comparison is reported beside it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .records import AttemptKey, AttemptRecord, outcomes
from .stats import FAILURE, PARTIAL, SUCCESS, Verdict, compare
from .taxonomy import SPEC_ERROR, TOOL_MISUSE

E2_EXPERIMENT = "exp2_pot_supervisor"
E2_TREATMENT, E2_BASELINE = "hier", "flat_tool"
E2_TAGS = (TOOL_MISUSE, SPEC_ERROR)


def tagged_rate(records: Sequence[AttemptRecord], tags: Sequence[str]) -> float:
    """Share of ``records`` carrying any of ``tags``."""
    if not records:
        return float("nan")
    return sum(any(t.tag in tags for t in r.failure_tags) for r in records) / len(records)


def e2_criterion(by_arm: dict[str, list[AttemptRecord]], key: AttemptKey, *,
                 min_reduction: float = 0.2, time_budget_s: float | None = None, alpha: float = 0.05,
                 n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any] | None:
    """E2's verdict (module doc) for ``hier`` vs ``flat_tool``; None when either arm is missing."""
    treat, base = by_arm.get(E2_TREATMENT), by_arm.get(E2_BASELINE)
    if not treat or not base:
        return None
    rate_t, rate_b = tagged_rate(treat, E2_TAGS), tagged_rate(base, E2_TAGS)
    reduction = 1 - rate_t / rate_b if rate_b > 0 else float("nan")
    misuse_ok = bool(reduction >= min_reduction)  # False for NaN: nothing to cut
    budget = time_budget_s if time_budget_s is not None else float(
        np.percentile([r.wall_time_s for r in base], 95))
    cmps = {name: compare(E2_TREATMENT, outcomes(treat, key, b), E2_BASELINE, outcomes(base, key, b),
                          n_resamples=n_resamples, seed=seed)
            for name, b in (("budgeted", budget), ("unbounded", None))}
    timed = cmps["budgeted"]
    acc_ok = bool(timed.delta > 0 and timed.ci95[0] > 0)
    reasons = [f"{'/'.join(E2_TAGS)} per attempt {rate_t:.3f} vs {rate_b:.3f}: relative cut "
               f"{reduction:+.1%} {'>=' if misuse_ok else '<'} {min_reduction:.0%}",
               f"accuracy within {budget:.1f} s per task {timed.treatment_pass1:.3f} vs {timed.baseline_pass1:.3f}: "
               f"Δ {timed.delta:+.3f} CI [{timed.ci95[0]:+.3f}, {timed.ci95[1]:+.3f}], p {timed.p_value:.4f}: "
               f"{'improved' if acc_ok else 'not improved'}"]
    v = Verdict(SUCCESS if misuse_ok and acc_ok else PARTIAL if misuse_ok or acc_ok else FAILURE, reasons,
                inconclusive=not bool(timed.p_value < alpha))
    return {"treatment": E2_TREATMENT, "baseline": E2_BASELINE, "tags": list(E2_TAGS),
            "tagged_rate": {E2_TREATMENT: rate_t, E2_BASELINE: rate_b}, "relative_reduction": reduction,
            "min_reduction": min_reduction, "time_budget_s": budget,
            **{f"pass_at_1_{name}": c.pass_at_1() for name, c in cmps.items()},
            "verdict": v.verdict, "inconclusive": v.inconclusive, "label": v.label, "reasons": v.reasons}
