"""The contract between the runner and a controller ("arm").

An arm is any callable ``(PublicTask, Backend, ArmConfig) -> ArmOutcome``. It sees only the public
task (no hidden tests, no reference answer), makes its model calls through the backend and
reports what it spent. The runner scores ``ArmOutcome.final`` itself.
"""

from __future__ import annotations

from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from ..backends.base import Backend
from ..evaluation.records import FailureTag
from ..tasks.schema import PublicTask


class ArmConfig(BaseModel):
    """Settings of one attempt, the same for every arm of a run.

    ``seed`` is already the per-sample seed (run seed + sample index). ``options`` carries
    arm-specific settings (see each arm's docstring); unknown keys are ignored by arms.
    """

    model_config = ConfigDict(frozen=True)

    max_iters: int = Field(default=3, ge=1, description="most attempts (coder / solver calls) an arm may make")
    temperature: float = 0.0
    max_tokens: int = Field(default=512, ge=1)
    seed: int = 0
    sample: int = 0
    options: dict[str, Any] = Field(default_factory=dict)


class ArmOutcome(BaseModel):
    """What an arm returns: its final answer and its costs.

    ``final`` is the final code (code tasks) or answer text (math tasks), ``None`` when the arm
    produced nothing usable. ``tags`` are failures the arm itself detected (e.g.
    ``extraction_failure``); the runner keeps them in ``record.meta["arm_tags"]`` and adds the
    evaluator's tags. ``meta`` (JSON-serialisable) is merged into ``record.meta``, e.g.
    ``tool_calls_detail`` for the failure taxonomy. ``trace`` is the arm's full final state,
    JSON-serialisable, written to ``traces/``.
    """

    final: str | None = None
    self_check_passed: bool | None = None
    iterations: int = 0
    tool_calls: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    call_latencies_s: list[float] = Field(default_factory=list)
    plan: str | None = None
    trace: dict[str, Any] = Field(default_factory=dict)
    tags: list[FailureTag] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


ArmFn = Callable[[PublicTask, Backend, ArmConfig], ArmOutcome]
