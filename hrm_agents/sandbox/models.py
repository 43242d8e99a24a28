"""Pydantic models of the sandbox API: limits in, structured results out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

Status = Literal["ok", "error", "timeout", "killed", "memory", "output_limit"]


class Limits(BaseModel):
    """Resource limits of one execution (defaults are safe for generated benchmark code)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(default=10.0, gt=0, le=3600, description="wall clock; the whole sandbox is killed")
    cpu_s: int = Field(default=10, ge=1, le=3600, description="RLIMIT_CPU seconds per process")
    memory_mb: int = Field(default=512, ge=128, description="RLIMIT_AS per process, MiB")
    file_size_mb: int = Field(default=16, ge=0, description="RLIMIT_FSIZE, MiB (largest file it may write)")
    workdir_mb: int = Field(default=64, ge=1, le=4096,
                            description="size of the work dir (a RAM tmpfs at full isolation), MiB")
    max_processes: int = Field(default=16, ge=1, le=4096,
                               description="RLIMIT_NPROC: processes + threads (enforced at full isolation)")
    max_open_files: int = Field(default=256, ge=16, le=65536, description="RLIMIT_NOFILE")
    max_output_bytes: int = Field(default=1_000_000, ge=1024,
                                  description="per stream; beyond it the run is killed, status output_limit")


class ExecResult(BaseModel):
    """What one sandboxed execution did."""

    status: Status
    exit_code: int | None = Field(default=None, description="negative: killed by that signal")
    stdout: str = ""
    stderr: str = ""
    truncated: bool = Field(default=False, description="stdout/stderr cut at max_output_bytes")
    exc_type: str | None = Field(default=None, description="uncaught exception of the generated code")
    exc_message: str | None = None
    exc_line: str | None = Field(default=None, description="source text of the generated line it came from")
    exc_lineno: int | None = None
    duration_s: float = Field(default=0.0, description="wall clock from fork to exit")
    cpu_s: float = Field(default=0.0, description="user + system CPU of the sandbox process and its reaped children")
    peak_memory_kb: int = Field(default=0, description="max RSS of the sandbox process (wait4)")
    isolation: str = Field(default="none",
                           description='mechanisms in force, e.g. "netns+pidns+ipcns+rofs+uid", or "none"')

    def summary(self, max_chars: int = 2000) -> str:
        """Compact text for a model: status, stdout and the error with its line."""
        parts = [f"status: {self.status} (exit {self.exit_code}, {self.duration_s:.2f}s)"]
        if self.stdout:
            parts.append("stdout:\n" + _clip(self.stdout, max_chars))
        if self.exc_type:
            where = f" at line {self.exc_lineno}: {self.exc_line}" if self.exc_lineno else ""
            parts.append(f"error: {self.exc_type}: {_clip(self.exc_message or '', max_chars)}{where}")
        elif self.status != "ok" and self.stderr:
            parts.append("stderr:\n" + _clip(self.stderr, max_chars))
        if self.truncated:
            parts.append("(output truncated)")
        return "\n".join(parts)


class TestOutcome(BaseModel):
    """Verdict of one test (an assert statement or a small block)."""

    __test__ = False  # not a pytest class

    test: str
    passed: bool
    exc_type: str | None = None
    message: str = Field(default="", description="e.g. 'assert f(2) == 5 -> got 4', or why it did not run")


class TestReport(BaseModel):
    """Result of :func:`run_tests`: the execution and one outcome per test, in order."""

    __test__ = False

    exec: ExecResult
    results: list[TestOutcome]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def n_total(self) -> int:
        return len(self.results)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def n_passed(self) -> int:
        return sum(r.passed for r in self.results)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """All tests passed (at least one) and the code itself ran without error."""
        return self.exec.status == "ok" and bool(self.results) and self.n_passed == self.n_total

    @property
    def first_failure(self) -> TestOutcome | None:
        return next((r for r in self.results if not r.passed), None)


class IsolationInfo(BaseModel):
    """The isolation a :class:`~hrm_agents.sandbox.Sandbox` provides on this machine."""

    level: Literal["full", "none"]
    isolation: str = Field(description="the value every ExecResult.isolation carries")
    reason: str = Field(default="", description="why full isolation is not in force")
    start_method: Literal["forkserver", "spawn"]


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + f"... [{len(text) - n} more chars]"
