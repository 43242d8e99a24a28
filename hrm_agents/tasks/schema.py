"""Task and suite schemas.

A :class:`Task` holds everything the evaluator needs, including hidden tests, the reference answer
and ``reference`` (evaluator-only data such as a curriculum task's per-step results). Controllers
(graph nodes) only ever receive a :class:`PublicTask` (``task.public()``), which has none of these,
so no arm, tester or verifier can read them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TaskKind = Literal["code", "math"]


class PublicTask(BaseModel):
    """What a controller may see of a task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: TaskKind
    prompt: str = Field(description="spec (code) or question (math), shown to the model")
    entry_point: str | None = Field(default=None, description="function name a code task must define")
    visible_tests: list[str] = Field(default_factory=list, description="assert statements the controller may run")
    family: str | None = Field(default=None, description="task family, e.g. 'arith_chain', 'gsm8k', 'humaneval'")
    meta: dict[str, Any] = Field(default_factory=dict)


class Task(PublicTask):
    """A task with its hidden tests / reference answer (evaluator side only)."""

    hidden_tests: list[str] = Field(default_factory=list, description="assert statements used only for scoring")
    test_setup: str = Field(default="", description="code run before the hidden tests (e.g. HumanEval's check())")
    answer: str | None = Field(default=None, description="reference answer of a math task")
    reference: dict[str, Any] = Field(
        default_factory=dict, description="evaluator-only data, e.g. a curriculum task's canonical form and "
                                          "per-step results (used by scoring and the failure taxonomy)")

    @model_validator(mode="after")
    def _check_kind(self) -> "Task":
        if self.kind == "code":
            if not self.entry_point:
                raise ValueError("code task needs entry_point")
            if not self.hidden_tests:
                raise ValueError("code task needs hidden_tests")
        elif self.answer is None:
            raise ValueError("math task needs answer")
        return self

    def public(self) -> PublicTask:
        """The controller's view: no hidden tests, no answer, no ``reference``."""
        return PublicTask(**self.model_dump(include=set(PublicTask.model_fields)))


class Suite(BaseModel):
    """A named list of tasks (the YAML suite file format)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    tasks: list[Task]
    skipped: list[str] = Field(default_factory=list,
                               description="records of a benchmark file the loader could not read, as 'where: why'")

    @model_validator(mode="after")
    def _unique_ids(self) -> "Suite":
        seen: set[str] = set()
        for t in self.tasks:
            if t.id in seen:
                raise ValueError(f"duplicate task id {t.id!r}")
            seen.add(t.id)
        return self
