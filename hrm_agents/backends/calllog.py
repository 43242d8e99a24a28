"""Request/response log: one JSON line per backend call, appended to a file in the run folder."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .base import Backend, BackendWrapper, Completion, GenParams, Message

_WRITE_LOCK = threading.Lock()


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line; safe across threads (lock) and processes (one O_APPEND write)."""
    data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    with _WRITE_LOCK:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


class LoggedBackend(BackendWrapper):
    """Logs every call of ``inner`` to the JSONL file ``log_path``.

    Each line: ``ts`` (UTC ISO time), ``backend``, ``model``, ``messages``, ``params`` and either
    ``completion`` (the full :class:`Completion`, with ``cached``) or ``error`` (``"Type: message"``,
    after which the error is re-raised).
    """

    def __init__(self, inner: Backend, log_path: str | os.PathLike[str]):
        super().__init__(inner)
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def _complete(self, messages: list[Message], params: GenParams) -> Completion:
        record: dict[str, Any] = {
            "ts": datetime.now(timezone.utc).isoformat(),
            "backend": self.name,
            "model": self.model,
            "messages": [m.model_dump() for m in messages],
            "params": params.model_dump(mode="json"),
        }
        try:
            completion = self.inner.complete(messages, params)
        except Exception as exc:
            append_jsonl(self.log_path, {**record, "error": f"{type(exc).__name__}: {exc}"})
            raise
        append_jsonl(self.log_path, {**record, "completion": completion.model_dump(mode="json")})
        return completion

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "log_path": str(self.log_path)}
