"""``results.jsonl``: appended by one writer, fsync'd per record, repaired on resume."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pydantic import ValidationError

from ..evaluation.records import AttemptRecord
from ..utils.jsonio import write_text_atomic


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
        write_text_atomic(self.path, "".join(r.model_dump_json() + "\n" for r in kept.values()))
        return list(kept.values()), dropped

    def append(self, record: AttemptRecord) -> None:
        """Append one record durably."""
        line = record.model_dump_json() + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
