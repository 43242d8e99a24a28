"""The validation study's pre-registered verdict (``/work/shared/STUDY_CRITERIA.md``, issue 14),
computed from the measured numbers, never written by hand.

* SUCCESS: all of HRM pass@1 >= 30%, pass@10 >= 45%, delta pass@1 >= 4 points, bootstrap CI lower
  bound > 0, p < 0.05, HRM latency <= 54% and peak RAM <= 50% of the baseline's (RAM in training
  *and* in inference, both were pre-registered).
* FAILURE when training was unstable or p >= 0.1 (checked before PARTIAL).
* PARTIAL: the accuracy targets (pass@1, pass@10, delta) or the efficiency targets (latency, RAM)
  are all met, but p >= 0.05 or the CI includes 0.
* FAILURE otherwise (a primary target missed, with no PARTIAL case covering it).
* ``inconclusive`` is True wherever p >= 0.05 (shown beside the verdict).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from hrm_agents.evaluation.stats import FAILURE, PARTIAL, SUCCESS, Verdict, VerdictRule

__all__ = ["FAILURE", "PARTIAL", "SUCCESS", "StudyNumbers", "StudyVerdict", "Thresholds", "study_verdict"]


@dataclass(frozen=True)
class Thresholds(VerdictRule):
    """The pre-registered thresholds: the evaluator's :class:`~hrm_agents.evaluation.stats.VerdictRule`
    (Δpass@1 target, alpha, latency ratio) at the study's values, plus its accuracy floors, the p at
    which it is a FAILURE and the peak-RAM ratio (rates as fractions; ratios are HRM / baseline)."""

    target_delta: float = 0.04
    max_latency_ratio: float | None = 0.54
    min_pass1: float = 0.30
    min_pass10: float = 0.45
    failure_p: float = 0.10
    max_ram_ratio: float = 0.50


@dataclass(frozen=True)
class StudyNumbers:
    """What the verdict reads: HRM's accuracy, the paired delta vs the baseline, efficiency ratios."""

    hrm_pass1: float
    hrm_pass10: float
    delta_pass1: float
    ci95: tuple[float, float]
    p_value: float
    latency_ratio: float | None
    ram_ratio_train: float | None
    ram_ratio_infer: float | None
    stable: bool


@dataclass
class StudyVerdict(Verdict):
    """The evaluator's :class:`~hrm_agents.evaluation.stats.Verdict` (same labels, e.g.
    ``FAILURE (INCONCLUSIVE)`` when p >= alpha) with one flag per pre-registered criterion."""

    checks: dict[str, bool] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``stats.json`` -> ``verdict``)."""
        return {**asdict(self), "label": self.label}


def _le(x: float | None, limit: float) -> bool:
    return x is not None and not math.isnan(x) and x <= limit


def study_verdict(n: StudyNumbers, t: Thresholds = Thresholds()) -> StudyVerdict:
    """Apply the pre-registered rule (module doc) to ``n``; NaN or missing values fail their check."""
    p = n.p_value if n.p_value is not None and not math.isnan(n.p_value) else float("nan")
    lo, hi = n.ci95
    checks = {
        "pass1": n.hrm_pass1 >= t.min_pass1,
        "pass10": n.hrm_pass10 >= t.min_pass10,
        "delta": n.delta_pass1 >= t.target_delta,
        "ci_excludes_0": bool(lo > 0),
        "p_below_alpha": bool(p < t.alpha),
        "latency": _le(n.latency_ratio, t.max_latency_ratio),
        "ram": _le(n.ram_ratio_train, t.max_ram_ratio) and _le(n.ram_ratio_infer, t.max_ram_ratio),
        "stable": bool(n.stable),
    }
    accuracy = checks["pass1"] and checks["pass10"] and checks["delta"]
    efficiency = checks["latency"] and checks["ram"]
    significant = checks["ci_excludes_0"] and checks["p_below_alpha"]
    ci_has_0 = not (lo > 0 or hi < 0)  # NaN bounds count as including 0
    weak = not (p < t.alpha) or ci_has_0
    reasons = [
        f"HRM pass@1 {n.hrm_pass1:.3f} {'>=' if checks['pass1'] else '<'} {t.min_pass1}",
        f"HRM pass@10 {n.hrm_pass10:.3f} {'>=' if checks['pass10'] else '<'} {t.min_pass10}",
        f"delta pass@1 {n.delta_pass1:+.3f} {'>=' if checks['delta'] else '<'} {t.target_delta}",
        f"95% CI [{lo:+.3f}, {hi:+.3f}] {'excludes' if not ci_has_0 else 'includes'} 0; p {p:.4f}",
        f"latency ratio {n.latency_ratio if n.latency_ratio is None else round(n.latency_ratio, 3)} "
        f"{'<=' if checks['latency'] else 'not <='} {t.max_latency_ratio}",
        f"peak RAM ratio train {n.ram_ratio_train if n.ram_ratio_train is None else round(n.ram_ratio_train, 3)}, "
        f"inference {n.ram_ratio_infer if n.ram_ratio_infer is None else round(n.ram_ratio_infer, 3)} "
        f"{'<=' if checks['ram'] else 'not both <='} {t.max_ram_ratio}",
        f"training {'stable' if n.stable else 'UNSTABLE'}",
    ]
    if accuracy and efficiency and significant and checks["stable"]:
        verdict = SUCCESS
    elif not checks["stable"] or not (p < t.failure_p):
        verdict = FAILURE
        reasons.append("FAILURE: " + ("training unstable" if not checks["stable"] else f"p >= {t.failure_p}"))
    elif (accuracy or efficiency) and weak:
        verdict = PARTIAL
        reasons.append(f"PARTIAL: {'accuracy' if accuracy else 'efficiency'} targets met, but p >= {t.alpha} "
                       "or the CI includes 0")
    else:
        verdict = FAILURE
        reasons.append("FAILURE: a primary target missed")
    return StudyVerdict(verdict, reasons, inconclusive=not (p < t.alpha), checks=checks)
