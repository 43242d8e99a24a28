"""``results.jsonl``: appended by one writer, fsync'd per record, repaired on resume."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..evaluation.records import AttemptRecord


class ResultStore:
    """Thread-safe append-only store of :class:`AttemptRecord` lines.

    Each :meth:`append` writes one line, flushes and fsyncs under a lock, so a record is either
    fully on disk or not there at all (a kill can at worst leave a truncated last line, which
    :meth:`load` drops).
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> tuple[list[AttemptRecord], int]:
        """Read back the finished records for a resume and rewrite the file with exactly those.

        Unparseable lines (a line cut by a kill), duplicate keys and records with ``error`` set
        (the attempt never finished: backend down, crash) are dropped, so those attempts run again.
        Returns ``(kept records, number of dropped lines)``.
        """
        kept: dict[tuple[str, str, int], AttemptRecord] = {}
        dropped = 0
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    rec = AttemptRecord.model_validate_json(line)
                except ValidationError:
                    dropped += bool(line.strip())
                    continue
                if rec.error is not None or rec.key in kept:
                    dropped += 1
                    continue
                kept[rec.key] = rec
        tmp = self.path.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.writelines(r.model_dump_json() + "\n" for r in kept.values())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        return list(kept.values()), dropped

    def append(self, record: AttemptRecord) -> None:
        """Append one record durably."""
        line = record.model_dump_json() + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def write_json(path: Path, data: object) -> None:
    """Write JSON atomically (temp file + rename), so a kill never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def jsonable(value: Any) -> Any:
    """``value`` with pydantic models, dataclasses and other objects turned into JSON types."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "__dict__"):
        return jsonable(vars(value))
    return repr(value)
