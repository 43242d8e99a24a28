"""Estimators and tests used by every report: unbiased pass@k, Wilson intervals, paired
comparisons of two arms (bootstrap CI + p-value, exact McNemar), an unpaired bootstrap CI (groups
of different tasks) and the verdict rule.

Pairing across samples and seeds: an arm's score on a task is the mean pass rate over all its
attempts on that task (every sample of every seed); the paired bootstrap resamples *tasks*, so
samples/seeds of one task stay together. McNemar's test needs binary pairs: attempt ``s`` of arm A
on task ``t`` is paired with attempt ``s`` of arm B on ``t`` (same seed and sample index); attempts
without a partner are left out of McNemar only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Hashable, Mapping, Sequence

import numpy as np
from scipy import stats

SUCCESS, PARTIAL, FAILURE = "SUCCESS", "PARTIAL", "FAILURE"
INCONCLUSIVE = "INCONCLUSIVE"  # added to any verdict whose p-value is not below alpha

# task id -> attempt key (e.g. (seed, sample)) -> passed
Outcomes = Mapping[str, Mapping[Hashable, bool]]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with ``n`` samples of which ``c`` passed (Chen et al. 2021).

    ``1 - C(n-c, k) / C(n, k)`` in the numerically stable product form
    ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) for a binomial proportion; (0, 1) if n=0."""
    if n == 0:
        return (0.0, 1.0)
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value for paired binary outcomes ``a`` and ``b``.

    A binomial test of the discordant pairs (a passed/b failed vs a failed/b passed) against 1/2;
    1.0 when there are no discordant pairs.
    """
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


@dataclass(frozen=True)
class BootstrapResult:
    """Mean paired difference with its percentile bootstrap CI and two-sided p-value."""

    delta: float
    ci95: tuple[float, float]
    p_value: float


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, n_resamples: int = 10_000, seed: int = 0,
                     confidence: float = 0.95) -> BootstrapResult:
    """Paired bootstrap of ``mean(a - b)`` over the paired units (tasks).

    The CI is the percentile interval of ``n_resamples`` resampled means (``scipy.stats.bootstrap``,
    seeded). The two-sided p-value tests "no difference" by centring the bootstrap distribution on 0:
    ``p = (1 + #{|d* - d| >= |d|}) / (B + 1)``. With fewer than two units the CI and p are NaN.
    """
    d = np.asarray(a, float) - np.asarray(b, float)
    if d.shape[0] == 0:
        return BootstrapResult(float("nan"), (float("nan"), float("nan")), float("nan"))
    delta = float(d.mean())
    if d.shape[0] < 2:
        return BootstrapResult(delta, (float("nan"), float("nan")), float("nan"))
    res = stats.bootstrap((d,), np.mean, n_resamples=n_resamples, method="percentile",
                          confidence_level=confidence, rng=np.random.default_rng(seed))
    boot = res.bootstrap_distribution
    extreme = np.sum(np.abs(boot - delta) >= abs(delta) - 1e-12)
    p = float((1 + extreme) / (n_resamples + 1))
    return BootstrapResult(delta, (float(res.confidence_interval.low), float(res.confidence_interval.high)), p)


def _percentile_ci(samples: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], n_resamples: int,
                   seed: int, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` resampling each of ``samples`` on its own (seeded);
    NaN when a sample has fewer than 2 values."""
    if min(x.shape[0] for x in samples) < 2:
        return (float("nan"), float("nan"))
    ci = stats.bootstrap(samples, statistic, n_resamples=n_resamples, method="percentile",
                         confidence_level=confidence, rng=np.random.default_rng(seed)).confidence_interval
    return (float(ci.low), float(ci.high))


def bootstrap_ci(values: np.ndarray, *, n_resamples: int = 10_000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (e.g. per-task pass@k); NaN for < 2 values."""
    return _percentile_ci((np.asarray(values, float),), np.mean, n_resamples, seed, confidence)


def unpaired_bootstrap_ci(a: np.ndarray, b: np.ndarray, *, n_resamples: int = 10_000, seed: int = 0,
                          confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of ``mean(a) - mean(b)`` for *independent* groups, each resampled
    on its own: arms evaluated on different task sets or schedules, or one arm's per-task pass rates
    on two task groups (e.g. held-out vs in-distribution step counts). For two arms on the same
    tasks use the paired :func:`compare`. NaN when a group has fewer than 2 values."""
    return _percentile_ci((np.asarray(a, float), np.asarray(b, float)),
                          lambda x, y, axis: x.mean(axis) - y.mean(axis), n_resamples, seed, confidence)


def per_task_rate(outcomes: Outcomes) -> dict[str, float]:
    """Mean pass rate per task over all its attempts (samples x seeds)."""
    return {t: float(np.mean(list(att.values()))) for t, att in outcomes.items() if att}


@dataclass(frozen=True)
class Comparison:
    """Arm ``treatment`` vs arm ``baseline`` on the tasks both attempted."""

    treatment: str
    baseline: str
    n_tasks: int
    n_pairs: int
    treatment_pass1: float
    baseline_pass1: float
    delta: float
    ci95: tuple[float, float]
    p_value: float
    mcnemar_p: float
    only_treatment: int = 0
    only_baseline: int = 0

    def pass_at_1(self) -> dict[str, object]:
        """The ``stats.json`` block ``{"<treatment>": .., "<baseline>": .., "delta": .., ...}``."""
        return {self.treatment: self.treatment_pass1, self.baseline: self.baseline_pass1,
                "delta": self.delta, "ci95": list(self.ci95), "p_value": self.p_value,
                "mcnemar_p": self.mcnemar_p}


def compare(treatment: str, a: Outcomes, baseline: str, b: Outcomes, *, n_resamples: int = 10_000,
            seed: int = 0) -> Comparison:
    """Paired comparison of two arms' outcomes (see the module doc for how samples/seeds pair)."""
    ra, rb = per_task_rate(a), per_task_rate(b)
    tasks = sorted(set(ra) & set(rb))
    xa, xb = np.array([ra[t] for t in tasks]), np.array([rb[t] for t in tasks])
    boot = paired_bootstrap(xa, xb, n_resamples=n_resamples, seed=seed)
    pairs = [(a[t][k], b[t][k]) for t in tasks for k in a[t] if k in b[t]]
    pa, pb = (np.array(x, bool) for x in zip(*pairs)) if pairs else (np.zeros(0, bool),) * 2
    nan = float("nan")
    return Comparison(
        treatment=treatment, baseline=baseline, n_tasks=len(tasks), n_pairs=len(pairs),
        treatment_pass1=float(xa.mean()) if tasks else nan, baseline_pass1=float(xb.mean()) if tasks else nan,
        delta=boot.delta, ci95=boot.ci95, p_value=boot.p_value, mcnemar_p=mcnemar_exact(pa, pb),
        only_treatment=int(np.sum(pa & ~pb)), only_baseline=int(np.sum(~pa & pb)))


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the verdict; ratios are treatment / baseline (None = no efficiency target)."""

    target_delta: float = 0.05
    alpha: float = 0.05
    max_token_ratio: float | None = None
    max_latency_ratio: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """JSON form (written to stats.json)."""
        return asdict(self)


@dataclass
class Verdict:
    """Outcome of :func:`verdict` with the reason for every criterion.

    ``inconclusive`` is true when the bootstrap p-value is not below ``alpha`` (or undefined): the
    data cannot tell the arms apart, whatever the verdict; :attr:`label` then shows it.
    """

    verdict: str
    reasons: list[str] = field(default_factory=list)
    inconclusive: bool = False

    @property
    def label(self) -> str:
        """The verdict as shown: e.g. ``PARTIAL (INCONCLUSIVE)`` when p >= alpha."""
        return f"{self.verdict} ({INCONCLUSIVE})" if self.inconclusive else self.verdict


def verdict(cmp: Comparison, rule: VerdictRule = VerdictRule(), *, token_ratio: float | None = None,
            latency_ratio: float | None = None) -> Verdict:
    """Apply the verdict rule to a comparison.

    * SUCCESS: delta >= target, CI lower bound > 0, bootstrap p < alpha, and every efficiency
      target given in ``rule`` is met.
    * PARTIAL: not SUCCESS, but the accuracy target holds (delta >= target), or efficiency targets
      are given, all met, and delta >= 0 (at least as accurate, at the stated cost).
    * FAILURE: otherwise (also when there are no paired tasks).

    Any of them is also marked INCONCLUSIVE (``Verdict.inconclusive``) when p >= alpha or p is
    undefined.
    """
    reasons: list[str] = []
    acc_ok = bool(cmp.delta >= rule.target_delta)  # False for NaN
    reasons.append(f"delta {cmp.delta:+.3f} {'>=' if acc_ok else '<'} target {rule.target_delta:+.3f}")
    sig = bool(cmp.ci95[0] > 0 and cmp.p_value < rule.alpha)
    worse = bool(cmp.ci95[1] < 0 and cmp.p_value < rule.alpha)
    reasons.append(f"CI [{cmp.ci95[0]:+.3f}, {cmp.ci95[1]:+.3f}], p {cmp.p_value:.4f}: "
                   f"{'a significant gain' if sig else 'significantly worse' if worse else 'not significant'}"
                   f" at alpha {rule.alpha}")
    eff_checks = [(name, ratio, limit) for name, ratio, limit in
                  (("token", token_ratio, rule.max_token_ratio), ("latency", latency_ratio, rule.max_latency_ratio))
                  if limit is not None]
    eff_ok = True
    for name, ratio, limit in eff_checks:
        ok = ratio is not None and bool(ratio <= limit)
        eff_ok &= ok
        reasons.append(f"{name} ratio {ratio if ratio is None else round(ratio, 3)} "
                       f"{'<=' if ok else 'exceeds'} max {limit}")
    inconclusive = not bool(cmp.p_value < rule.alpha)  # True for NaN
    if acc_ok and sig and eff_ok:
        return Verdict(SUCCESS, reasons, inconclusive)
    if acc_ok or (eff_checks and eff_ok and cmp.delta >= 0):
        return Verdict(PARTIAL, reasons, inconclusive)
    return Verdict(FAILURE, reasons, inconclusive)


# -- across independent training seeds (one number per seed; Student-t, since seeds are few) --

def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the mean over seeds and its two-sided Student-t interval (n - 1 df)."""
    x = np.asarray(values, float)
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if x.size < 2:
        return (mean, math.nan, math.nan)
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return (mean, mean - half, mean + half)


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), lo, hi)``: Welch's t interval of a difference of two independent groups of
    seeds (unequal variances, Welch-Satterthwaite df). A zero-variance pair gives a zero-width interval."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.size == 0 or y.size == 0:
        return (math.nan, math.nan, math.nan)
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return (diff, math.nan, math.nan)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    if se == 0:
        return (diff, diff, diff)
    df = (vx + vy) ** 2 / (vx ** 2 / (x.size - 1) + vy ** 2 / (y.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
    return (diff, diff - half, diff + half)
