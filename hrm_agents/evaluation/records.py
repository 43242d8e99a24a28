"""The result format every experiment writes: one :class:`AttemptRecord` per task x arm x sample,
one JSON line each in ``results.jsonl``."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable

from pydantic import BaseModel, Field


class FailureTag(BaseModel):
    """One failure category with the evidence that led to it."""

    tag: str
    evidence: str = ""


class AttemptRecord(BaseModel):
    """The outcome of one controller (arm) on one task for one sample."""

    run_id: str
    experiment: str
    arm: str
    task_id: str
    sample: int = 0
    seed: int = 0
    passed: bool
    final: str | None = Field(default=None, description="final code (code tasks) or answer (math tasks)")
    expected: str | None = None
    iterations: int = 0
    tool_calls: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    call_latencies_s: list[float] = Field(default_factory=list)
    wall_time_s: float = 0.0
    time_to_solve_s: float | None = Field(default=None, description="wall time when solved, else None")
    self_check_passed: bool | None = Field(default=None, description="the controller's own tester/verifier verdict")
    plan: str | None = None
    hidden_report: dict[str, Any] | None = None
    failure_tags: list[FailureTag] = Field(default_factory=list)
    error: str | None = Field(default=None, description="one-line error if the attempt crashed (backend down, ...)")
    trace_path: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict, description="task meta (k, family, ...) and arm details")

    @property
    def key(self) -> tuple[str, str, int]:
        """Identity of this attempt inside a run (used by resume)."""
        return (self.arm, self.task_id, self.sample)


AttemptKey = Callable[[AttemptRecord], Hashable]


def outcomes(records: Iterable[AttemptRecord], key: AttemptKey,
             budget_s: float | None = None) -> dict[str, dict[Hashable, bool]]:
    """task id -> attempt key -> passed (and, with ``budget_s``, solved within that wall time)."""
    out: dict[str, dict[Hashable, bool]] = {}
    for r in records:
        ok = r.passed and (budget_s is None or (r.time_to_solve_s is not None and r.time_to_solve_s <= budget_s))
        out.setdefault(r.task_id, {})[key(r)] = ok
    return out
