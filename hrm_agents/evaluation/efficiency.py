"""Per-arm cost: latency per attempt and per model call, throughput, calls and tokens per solved
task, and the run's peak RAM (recorded by the runner)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .io import RunData
from .records import AttemptRecord

PEAK_RSS_KEY = "peak_rss_mb"


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """``{"n", "mean", "p50", "p95"}`` of the values (None when there are none)."""
    x = np.asarray(list(values), float)
    if x.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p95": None}
    return {"n": int(x.size), "mean": float(x.mean()), "p50": float(np.percentile(x, 50)),
            "p95": float(np.percentile(x, 95))}


def arm_efficiency(records: list[AttemptRecord]) -> dict[str, Any]:
    """Cost figures of one arm's attempts.

    ``latency_task_s``: wall time per attempt; ``latency_call_s``: per model call;
    ``throughput_tok_s``: completion tokens / summed model-call latency; ``*_per_solved``: totals
    over all attempts divided by the number of passed attempts (None if none passed);
    ``tokens_per_attempt``: mean prompt + completion tokens.
    """
    solved = sum(r.passed for r in records)
    completion = sum(r.completion_tokens for r in records)
    tokens = completion + sum(r.prompt_tokens for r in records)
    calls = sum(r.model_calls for r in records)
    call_time = sum(sum(r.call_latencies_s) for r in records)
    return {
        "latency_task_s": summarize(r.wall_time_s for r in records),
        "latency_call_s": summarize(x for r in records for x in r.call_latencies_s),
        "throughput_tok_s": completion / call_time if call_time > 0 else None,
        "model_calls_per_solved": calls / solved if solved else None,
        "tokens_per_solved": tokens / solved if solved else None,
        "tokens_per_attempt": tokens / len(records) if records else None,
        "model_calls_per_attempt": calls / len(records) if records else None,
    }


def peak_rss_mb(run: RunData) -> dict[str, float] | None:
    """Peak RAM in MiB from ``run_summary.json`` (``{"self": .., "children": ..}``: the run process
    and its sandbox children); a bare number is read as ``{"self": n}``. None if not recorded."""
    value = (run.summary or {}).get(PEAK_RSS_KEY)
    if value is None:
        return None
    return {k: float(v) for k, v in value.items()} if isinstance(value, dict) else {"self": float(value)}


def ratio(treatment: float | None, baseline: float | None) -> float | None:
    """treatment / baseline, None when either is missing or the baseline is 0."""
    if treatment is None or not baseline:
        return None
    return treatment / baseline
