"""The contract between the runner and a controller ("arm").

An arm is any callable ``(PublicTask, Backend, ArmConfig) -> ArmOutcome``. It sees only the public
task (no hidden tests, no reference answer), makes its model calls through the backend and
reports what it spent. The runner scores ``ArmOutcome.final`` itself.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..backends.base import Backend, GenParams
from ..evaluation.records import FailureTag
from ..tasks.schema import PublicTask


class ArmConfig(BaseModel):
    """Settings of one attempt, the same for every arm of a run.

    ``seed`` is already the per-sample seed (run seed + sample index). ``options`` carries
    arm-specific settings, each arm reading its own through its :class:`ArmOptions` model (keys
    another arm of the run uses are ignored). The defaults here are the run defaults of every entry
    point (:class:`~hrm_agents.runner.settings.RunSettings` and the CLI flags read them).
    """

    model_config = ConfigDict(frozen=True)

    max_iters: int = Field(default=3, ge=1, description="most attempts (coder / solver calls) an arm may make")
    temperature: float = GenParams.model_fields["temperature"].default  # a model call's defaults
    max_tokens: int = Field(default=GenParams.model_fields["max_tokens"].default, ge=1)
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
    replayed_s: float = Field(default=0.0, description="original latency of the calls answered from the "
                              "response cache; the runner adds it to the attempt's wall time")
    plan: str | None = None
    trace: dict[str, Any] = Field(default_factory=dict)
    tags: list[FailureTag] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


ArmFn = Callable[[PublicTask, Backend, ArmConfig], ArmOutcome]


class ArmOptions(BaseModel):
    """Typed options of one arm (``--option KEY=VALUE``); subclass it with the arm's fields and set
    it as the arm's ``Options`` attribute (:func:`with_options`). An arm without one takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @classmethod
    def of(cls, cfg: ArmConfig) -> ArmOptions:
        """The arm's options from ``cfg.options`` (keys this model does not know are ignored: they
        belong to another arm of the run); a bad value is one :class:`ValueError` line."""
        given = {k: v for k, v in cfg.options.items() if k in cls.model_fields}
        try:
            return cls(**given)
        except ValidationError as e:
            err = e.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else "?"
            raise ValueError(f"option {key}={given.get(key)!r}: {err['msg']}") from None


def with_options(options: type[ArmOptions]) -> Callable[[Callable[..., ArmOutcome]], Callable[..., ArmOutcome]]:
    """Decorator: declare the :class:`ArmOptions` model of an arm function."""

    def mark(arm: Callable[..., ArmOutcome]) -> Callable[..., ArmOutcome]:
        arm.Options = options  # type: ignore[attr-defined]
        return arm

    return mark


def options_model(arm: Callable[..., Any]) -> type[ArmOptions]:
    """The :class:`ArmOptions` model of ``arm`` (the empty model when it declares none)."""
    return getattr(arm, "Options", ArmOptions)


def check_options(arms: Mapping[str, Callable[..., Any]], options: Mapping[str, Any]) -> None:
    """One :class:`ValueError` line when an option is unknown to every arm of the run (naming the
    valid ones) or has a bad value for an arm that reads it."""
    valid = {name: options_model(arm).model_fields for name, arm in arms.items()}
    if unknown := sorted(set(options) - {k for fields in valid.values() for k in fields}):
        listed = "; ".join(f"{name}: {', '.join(fields)}" for name, fields in valid.items() if fields)
        raise ValueError(f"unknown arm option(s) {', '.join(unknown)}; valid: {listed or 'none for these arms'}")
    cfg = ArmConfig(options=dict(options))
    for arm in arms.values():
        options_model(arm).of(cfg)
