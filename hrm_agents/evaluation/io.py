"""Reading (and atomically rewriting) a run directory.

Layout written by the runner: ``runs/<experiment>/<timestamp>-<name>/`` with ``config.json``,
``results.jsonl`` (one :class:`AttemptRecord` per line, appended as attempts finish),
``traces/<arm>/<task_id>__s<sample>.json`` (``{"key", "outcome": <arm's final state>}``) and
``run_summary.json`` (written when the run ends; ``"partial": true`` if it was interrupted). A run
without ``run_summary.json`` is still going or was killed: it is read as *partial* too.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..tasks.schema import Task
from ..utils.jsonio import write_text_atomic
from .records import AttemptRecord

RESULTS, CONFIG, SUMMARY = "results.jsonl", "config.json", "run_summary.json"


class RunDirError(ValueError):
    """A path that is not a readable run directory (one-line message)."""


@dataclass
class RunData:
    """Everything read from one run directory."""

    path: Path
    config: dict[str, Any]
    records: list[AttemptRecord]
    summary: dict[str, Any] | None
    bad_lines: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        """The runner's ``config["settings"]`` (arms, samples, seed, backend, ...)."""
        return self.config.get("settings") or {}

    @property
    def partial(self) -> bool:
        """True unless ``run_summary.json`` exists and does not say ``"partial": true``."""
        return self.summary is None or bool(self.summary.get("partial"))

    @property
    def arms(self) -> list[str]:
        """Arms in config order, then any others found in the records."""
        return list(dict.fromkeys([*self.settings.get("arms", []), *(r.arm for r in self.records)]))

    @property
    def backend(self) -> dict[str, Any]:
        """``{"backend": .., "model": ..}`` of the run (empty when config.json lacks it)."""
        return self.settings.get("backend") or {}

    def trace(self, record: AttemptRecord) -> dict[str, Any]:
        """The arm's final state saved for ``record`` (``{}`` if missing or unreadable)."""
        if not record.trace_path:
            return {}
        try:
            data = _read_json(self.path / record.trace_path) or {}
        except RunDirError:
            return {}
        return data.get("outcome") or {}


def read_records(path: Path) -> tuple[list[AttemptRecord], int]:
    """Records of a ``results.jsonl`` and the number of unreadable lines skipped.

    A truncated last line (a run being written) or any other broken line is skipped, not fatal.
    When one attempt appears twice (a resumed run retried it) the last line wins.
    """
    records: dict[tuple[str, str, str, int], AttemptRecord] = {}
    bad = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rec = AttemptRecord.model_validate_json(line)
            except ValidationError:
                bad += 1
                continue
            records[(rec.run_id, *rec.key)] = rec
    return list(records.values()), bad


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return data


def load_run(run_dir: str | Path) -> RunData:
    """Read one run directory (a run that has not finished an attempt yet has no ``results.jsonl``);
    raises :class:`RunDirError` if it has neither ``config.json`` nor ``results.jsonl``."""
    path = Path(run_dir)
    if not (path / RESULTS).is_file() and not (path / CONFIG).is_file():
        raise RunDirError(f"{path}: not a run directory (no {CONFIG} or {RESULTS})")
    records, bad = read_records(path / RESULTS) if (path / RESULTS).is_file() else ([], 0)
    run = RunData(path=path, config=_read_json(path / CONFIG) or {}, records=records,
                  summary=_read_json(path / SUMMARY), bad_lines=bad)
    if bad:
        run.warnings.append(f"{path.name}: skipped {bad} unreadable line(s) of {RESULTS}")
    return run


def load_tasks(run: RunData) -> dict[str, Task]:
    """The run's tasks by id, loaded from ``config["suite"]`` (a ``load_suite`` spec, or a dict with
    ``spec``); ``{}`` with a warning on ``run.warnings`` when the suite cannot be loaded."""
    from ..tasks import SuiteError, load_suite

    suite = run.config.get("suite")
    spec = suite.get("spec") if isinstance(suite, dict) else suite
    if not spec:
        run.warnings.append(f"{run.path.name}: config.json names no suite; tagging without task details")
        return {}
    ids = sorted({r.task_id for r in run.records})
    try:
        return {t.id: t for t in load_suite(str(spec), task_ids=ids).tasks}
    except (SuiteError, OSError) as e:
        run.warnings.append(f"{run.path.name}: cannot load suite {spec!r} ({e}); tagging without task details")
        return {}


def write_records(path: Path, records: list[AttemptRecord], *, backup: bool = True) -> Path | None:
    """Rewrite ``results.jsonl`` atomically (temp file in the same folder, fsync, rename).

    With ``backup`` the previous file is first copied to ``results.jsonl.bak``; returns its path.
    """
    bak = path.with_name(path.name + ".bak") if backup and path.exists() else None
    if bak is not None:
        shutil.copy2(path, bak)
    write_text_atomic(path, "".join(rec.model_dump_json() + "\n" for rec in records))
    return bak
