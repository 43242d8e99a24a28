"""Estimators against closed forms and scipy on fixed data; the verdict rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from hrm_agents.evaluation.stats import (FAILURE, PARTIAL, SUCCESS, Comparison, VerdictRule, bootstrap_ci,
                                         compare, mcnemar_exact, paired_bootstrap, pass_at_k, unpaired_bootstrap_ci,
                                         verdict, wilson_ci)


@pytest.mark.parametrize("n,c,k", [(n, c, k) for n in (1, 5, 10, 50) for c in range(0, n + 1, max(1, n // 5))
                                   for k in (1, 2, 5, 10) if k <= n])
def test_pass_at_k_matches_binomial_closed_form(n: int, c: int, k: int) -> None:
    expected = 1.0 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_edges_and_errors() -> None:
    assert pass_at_k(200, 0, 100) == 0.0
    assert pass_at_k(200, 200, 1) == 1.0
    assert pass_at_k(200, 3, 1) == pytest.approx(3 / 200)
    assert pass_at_k(200, 150, 100) == 1.0  # n - c < k
    for bad in ((5, 6, 1), (5, 2, 6), (5, 2, 0), (5, -1, 1)):
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def _wilson_by_hand(s: int, n: int, z: float) -> tuple[float, float]:
    p = s / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("s,n", [(0, 10), (7, 20), (10, 10), (1, 3), (450, 1000)])
def test_wilson_matches_closed_form(s: int, n: int) -> None:
    z = sps.norm.ppf(0.975)
    assert wilson_ci(s, n) == pytest.approx(_wilson_by_hand(s, n, z), abs=1e-9)


def test_wilson_known_values() -> None:
    # 7/20: p=0.35, z=1.95996: centre 0.369168, half 0.192977
    assert wilson_ci(7, 20) == pytest.approx((0.181192, 0.567146), abs=1e-6)
    assert wilson_ci(0, 10)[0] == 0.0 and wilson_ci(0, 10)[1] == pytest.approx(0.277533, abs=1e-6)
    assert wilson_ci(0, 0) == (0.0, 1.0)


def test_mcnemar_exact_against_binomial_sum() -> None:
    # 10 pairs where only a passed, 2 where only b passed, 5 concordant.
    a = np.array([1] * 10 + [0] * 2 + [1] * 3 + [0] * 2, bool)
    b = np.array([0] * 10 + [1] * 2 + [1] * 3 + [0] * 2, bool)
    by_hand = 2 * sum(math.comb(12, i) for i in range(3)) / 2 ** 12  # = 158/4096
    assert mcnemar_exact(a, b) == pytest.approx(by_hand) == pytest.approx(0.0385742, abs=1e-6)
    assert mcnemar_exact(b, a) == pytest.approx(by_hand)
    assert mcnemar_exact(a, a) == 1.0
    assert mcnemar_exact(np.array([1], bool), np.array([0], bool)) == 1.0  # 1 discordant pair: p = 2 * 0.5


def test_paired_bootstrap_null_difference_contains_zero() -> None:
    # 20 tasks only a solves, 20 only b solves, 80 both, 80 neither: no difference
    a = np.array([1] * 20 + [0] * 20 + [1] * 80 + [0] * 80, bool)
    b = np.array([0] * 20 + [1] * 20 + [1] * 80 + [0] * 80, bool)
    res = paired_bootstrap(a, b)
    assert res.delta == 0 and res.ci95[0] < 0 < res.ci95[1]
    assert res.p_value > 0.5
    same = paired_bootstrap(a, a)
    assert same.delta == 0 and same.ci95 == (0.0, 0.0) and same.p_value == 1.0


def test_paired_bootstrap_coverage_under_the_null() -> None:
    """Two arms with the same 50% pass rate: the 95% CI holds 0 in about 95% of experiments and
    p < 0.05 about 5% of the time."""
    rng = np.random.default_rng(7)
    results = [paired_bootstrap(rng.random(100) < 0.5, rng.random(100) < 0.5, n_resamples=2000, seed=i)
               for i in range(60)]
    covered = np.mean([r.ci95[0] <= 0 <= r.ci95[1] for r in results])
    rejected = np.mean([r.p_value < 0.05 for r in results])
    assert covered >= 0.85 and rejected <= 0.15


def test_paired_bootstrap_detects_a_real_difference_and_is_seeded() -> None:
    a = np.r_[np.ones(30), np.zeros(10)]
    b = np.r_[np.ones(18), np.zeros(22)]  # a solves 12 tasks more, never fewer
    res = paired_bootstrap(a, b, seed=3)
    assert res.delta == pytest.approx(0.3)
    assert 0 < res.ci95[0] < 0.3 < res.ci95[1]
    assert res.p_value < 0.001
    assert paired_bootstrap(a, b, seed=3) == res
    # the percentile CI equals the quantiles of the resampled means (same seed, same resamples)
    boot = sps.bootstrap((a - b,), np.mean, n_resamples=10_000, method="percentile",
                         rng=np.random.default_rng(3)).confidence_interval
    assert res.ci95 == pytest.approx((boot.low, boot.high))


def test_paired_bootstrap_too_few_units() -> None:
    res = paired_bootstrap(np.ones(1), np.zeros(1))
    assert res.delta == 1.0 and math.isnan(res.ci95[0]) and math.isnan(res.p_value)
    assert all(math.isnan(x) for x in bootstrap_ci(np.ones(1)))


def test_compare_pairs_tasks_and_seeds() -> None:
    # two seeds x one sample; task t3 only in the treatment (left out); key (seed, sample)
    treat = {"t1": {(0, 0): True, (1, 0): True}, "t2": {(0, 0): True, (1, 0): False}, "t3": {(0, 0): True}}
    base = {"t1": {(0, 0): False, (1, 0): True}, "t2": {(0, 0): False, (1, 0): False}}
    cmp = compare("hier", treat, "flat", base, n_resamples=500)
    assert (cmp.n_tasks, cmp.n_pairs) == (2, 4)
    assert cmp.treatment_pass1 == pytest.approx(0.75)  # per-task means 1.0 and 0.5
    assert cmp.baseline_pass1 == pytest.approx(0.25)
    assert cmp.delta == pytest.approx(0.5)
    assert (cmp.only_treatment, cmp.only_baseline) == (2, 0)
    assert cmp.mcnemar_p == pytest.approx(0.5)  # 2 discordant pairs, both one way
    block = cmp.pass_at_1()
    assert block["hier"] == cmp.treatment_pass1 and block["delta"] == cmp.delta and len(block["ci95"]) == 2


def _cmp(delta: float, ci: tuple[float, float], p: float) -> Comparison:
    return Comparison("hier", "flat", 50, 50, 0.5 + delta, 0.5, delta, ci, p, p)


def test_verdict_rule() -> None:
    rule = VerdictRule(target_delta=0.05, alpha=0.05)
    assert verdict(_cmp(0.10, (0.02, 0.18), 0.01), rule).verdict == SUCCESS
    assert verdict(_cmp(0.10, (-0.02, 0.20), 0.09), rule).verdict == PARTIAL  # accuracy, no significance
    assert verdict(_cmp(0.03, (0.01, 0.05), 0.01), rule).verdict == FAILURE  # significant but below target
    assert verdict(_cmp(-0.10, (-0.2, 0.0), 0.04), rule).verdict == FAILURE
    reason = {d: verdict(_cmp(d, ci, p), rule).reasons[1] for d, ci, p in
              ((0.1, (0.02, 0.18), 0.01), (-0.13, (-0.21, -0.06), 0.001), (0.0, (-0.1, 0.1), 1.0))}
    assert reason[0.1].endswith("a significant gain at alpha 0.05")
    assert reason[-0.13] == "CI [-0.210, -0.060], p 0.0010: significantly worse at alpha 0.05"
    assert reason[0.0].endswith("not significant at alpha 0.05")
    nan = float("nan")
    assert verdict(_cmp(nan, (nan, nan), nan), rule).verdict == FAILURE

    eff = VerdictRule(max_token_ratio=2.0)
    good = _cmp(0.10, (0.02, 0.18), 0.01)
    assert verdict(good, eff, token_ratio=1.5).verdict == SUCCESS
    missed = verdict(good, eff, token_ratio=3.0)
    assert missed.verdict == PARTIAL and any("exceeds" in r for r in missed.reasons)
    assert verdict(good, eff, token_ratio=None).verdict == PARTIAL  # target given but not measurable
    assert verdict(_cmp(0.0, (-0.1, 0.1), 1.0), eff, token_ratio=0.5).verdict == PARTIAL  # cheaper, as accurate
    assert verdict(_cmp(-0.1, (-0.2, 0.0), 0.1), eff, token_ratio=0.5).verdict == FAILURE  # cheaper but worse


def test_unpaired_bootstrap_ci_resamples_each_group_on_its_own():
    a, b = np.array([1.0] * 10 + [0.0] * 10), np.array([1.0] * 18 + [0.0] * 2)  # different task sets, 20 each
    lo, hi = unpaired_bootstrap_ci(a, b, n_resamples=4000, seed=3)
    assert (lo, hi) == unpaired_bootstrap_ci(a, b, n_resamples=4000, seed=3)  # seeded
    rng = np.random.default_rng(0)  # an independent percentile bootstrap of the difference of means
    diffs = [rng.choice(a, a.size).mean() - rng.choice(b, b.size).mean() for _ in range(4000)]
    assert lo == pytest.approx(np.percentile(diffs, 2.5), abs=0.05)
    assert hi == pytest.approx(np.percentile(diffs, 97.5), abs=0.05)
    assert lo < -0.4 < hi < 0  # the groups differ
    unequal = unpaired_bootstrap_ci([1, 0, 1], [0, 0, 1, 0, 0, 1, 0], n_resamples=500)  # sizes need not match
    assert unequal[0] < 2 / 3 - 2 / 7 < unequal[1]
    assert all(math.isnan(x) for x in unpaired_bootstrap_ci([1.0], [0.0, 1.0]))
