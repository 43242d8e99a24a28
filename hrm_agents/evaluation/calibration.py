"""Calibration of predicted probabilities (e.g. the HRM's Q-halt head, P(answer correct)).

Reliability bins are kept as sums (``n``, summed confidence, summed correctness) so bins of several
runs (seeds) pool exactly with :func:`pool_bins`. The expected calibration error is
``ECE = sum_b (n_b / N) * |accuracy_b - confidence_b|`` over ``n_bins`` equal-width bins of [0, 1]
(a confidence of exactly 1.0 falls in the last bin).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def reliability_bins(confidence: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
                     n_bins: int = 10) -> dict[str, Any]:
    """``{"edges", "n", "conf_sum", "correct_sum"}`` per equal-width bin (lists of length ``n_bins``)."""
    conf = np.asarray(confidence, float)
    hit = np.asarray(correct, float)
    if conf.shape != hit.shape:
        raise ValueError(f"confidence and correct differ in shape: {conf.shape} vs {hit.shape}")
    if conf.size and (conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must lie in [0, 1]")
    idx = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    return {"edges": np.linspace(0, 1, n_bins + 1).tolist(),
            "n": np.bincount(idx, minlength=n_bins).tolist(),
            "conf_sum": np.bincount(idx, conf, minlength=n_bins).tolist(),
            "correct_sum": np.bincount(idx, hit, minlength=n_bins).tolist()}


def pool_bins(bins: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Bins of several runs summed (all must share the same edges)."""
    if not bins:
        raise ValueError("no reliability bins to pool")
    if any(b["edges"] != bins[0]["edges"] for b in bins):
        raise ValueError("reliability bins with different edges cannot be pooled")
    return {"edges": bins[0]["edges"],
            **{key: np.sum([b[key] for b in bins], axis=0).tolist() for key in ("n", "conf_sum", "correct_sum")}}


def expected_calibration_error(bins: dict[str, Any]) -> float:
    """ECE of binned sums (NaN when there are no samples)."""
    n = np.asarray(bins["n"], float)
    if n.sum() == 0:
        return float("nan")
    return float(np.abs(np.asarray(bins["correct_sum"]) - np.asarray(bins["conf_sum"])).sum() / n.sum())


def reliability_curve(bins: dict[str, Any]) -> list[dict[str, float]]:
    """Non-empty bins as ``{"lo", "hi", "n", "confidence", "accuracy"}`` (means within the bin)."""
    edges = bins["edges"]
    return [{"lo": edges[i], "hi": edges[i + 1], "n": int(n), "confidence": c / n, "accuracy": a / n}
            for i, (n, c, a) in enumerate(zip(bins["n"], bins["conf_sum"], bins["correct_sum"])) if n]
