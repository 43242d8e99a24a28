"""The settings of one run, in one object: :class:`RunSettings` (what :func:`~hrm_agents.runner.run_experiment`
takes besides the tasks, arms and backend). Its defaults are the run defaults of every entry point;
the per-attempt ones (``temperature``, ``max_iters``, ``max_tokens``) come from :class:`ArmConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .arm import ArmConfig

_ARM = ArmConfig.model_fields


class RunSettings(BaseModel):
    """How to run an experiment: samples and seeds, the arms' shared settings, where to write, how."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    samples: int = Field(1, ge=1, description="attempts per task and arm, for pass@k")
    seed: int = Field(0, description="base seed; sample i uses seed + i")
    temperature: float = Field(_ARM["temperature"].default, description="sampling temperature (0: greedy)")
    max_iters: int = Field(_ARM["max_iters"].default, ge=1, description=_ARM["max_iters"].description)
    max_tokens: int = Field(_ARM["max_tokens"].default, ge=1, description="max new tokens per model call")
    concurrency: int = Field(1, ge=1, description="attempts in parallel (threads)")
    options: dict[str, Any] = Field(default_factory=dict, description="arm options (KEY=VALUE)")
    out_root: Path = Field(Path("runs"), description="output root")
    name: str | None = Field(None, description="run name (default: <backend>-<model>)")
    resume: Path | None = Field(None, description="finish this interrupted run directory")
    extra_config: dict[str, Any] = Field(default_factory=dict, description="merged into config.json")
    progress: bool = Field(True, description="live progress bars on a terminal")
    max_consecutive_errors: int = Field(5, ge=1, description="stop after this many errored attempts in a row")
    tracker: str | None = Field(None, description="also log the run to W&B (offline), MLflow (local store) or "
                                                 "both (wandb,mlflow); see hrm_agents.tracking")

    @classmethod
    def of(cls, base: RunSettings | None = None, **overrides: Any) -> RunSettings:
        """``base`` (default: the defaults) with ``overrides`` applied and validated."""
        return cls.model_validate({**(base.model_dump() if base else {}), **overrides})

    def arm_config(self, sample: int) -> ArmConfig:
        """The :class:`ArmConfig` of sample ``sample`` (seed ``seed + sample``)."""
        return ArmConfig(max_iters=self.max_iters, temperature=self.temperature, max_tokens=self.max_tokens,
                         seed=self.seed + sample, sample=sample, options=self.options)


DEFAULTS = RunSettings()
"""The run defaults (read by the CLI flags)."""
