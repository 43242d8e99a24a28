"""``run_summary.json``: per-arm pass@k and costs of a (possibly partial) run."""

from __future__ import annotations

import resource
import statistics
from collections import Counter, defaultdict
from typing import Any, Iterable

from ..evaluation.records import AttemptRecord
from ..evaluation.stats import pass_at_k


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.fmean(values) if values else None


def arm_summary(records: list[AttemptRecord], samples: int) -> dict[str, Any]:
    """pass@1 / pass@k (unbiased, averaged over tasks; ``k`` in {1, samples}, over tasks with at
    least ``k`` finished samples) and mean costs of one arm's records."""
    by_task: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        by_task[r.task_id].append(r.passed)
    pass_k: dict[str, float | None] = {}
    for k in sorted({1, samples}):
        rates = [pass_at_k(len(v), sum(v), k) for v in by_task.values() if len(v) >= k]
        pass_k[f"pass@{k}"] = _mean(rates)
    latencies = [x for r in records for x in r.call_latencies_s]
    return {
        "n": len(records),
        "n_tasks": len(by_task),
        "n_passed": sum(r.passed for r in records),
        "n_errors": sum(r.error is not None for r in records),
        **pass_k,
        "self_check_rate": _mean(float(r.self_check_passed) for r in records if r.self_check_passed is not None),
        "mean_prompt_tokens": _mean(r.prompt_tokens for r in records),
        "mean_completion_tokens": _mean(r.completion_tokens for r in records),
        "mean_tokens": _mean(r.prompt_tokens + r.completion_tokens for r in records),
        "mean_wall_time_s": _mean(r.wall_time_s for r in records),
        "mean_time_to_solve_s": _mean(r.time_to_solve_s for r in records if r.time_to_solve_s is not None),
        "mean_iterations": _mean(r.iterations for r in records),
        "mean_tool_calls": _mean(r.tool_calls for r in records),
        "mean_model_calls": _mean(r.model_calls for r in records),
        "mean_latency_per_call_s": _mean(latencies),
        "failure_tags": dict(sorted(Counter(t.tag for r in records for t in r.failure_tags).items())),
    }


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its (sandbox) children, in MiB (Linux: KiB)."""
    return {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def run_summary(records: list[AttemptRecord], *, arms: list[str], samples: int, expected: int,
                wall_time_s: float) -> dict[str, Any]:
    """The whole ``run_summary.json``: per-arm summaries plus run-level facts.

    ``partial`` is true while fewer than ``expected`` attempts (tasks x arms x samples) finished.
    """
    return {
        "partial": len(records) < expected,
        "finished": len(records),
        "expected": expected,
        "wall_time_s": wall_time_s,
        "peak_rss_mb": peak_rss_mb(),
        "arms": {arm: arm_summary([r for r in records if r.arm == arm], samples) for arm in arms},
    }
