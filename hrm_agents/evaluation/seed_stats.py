"""Statistics across independent training seeds: Student-t intervals of a mean and of a difference.

Each seed gives one number (e.g. a model's accuracy on the test set); with few seeds the normal
approximation is too narrow, so intervals use the t distribution. Fewer than two values give NaN
bounds (no interval can be estimated from one seed).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats


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
