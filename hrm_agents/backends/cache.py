"""On-disk response cache (SQLite): re-running an experiment makes no model calls."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from .base import Backend, BackendWrapper, Completion, GenParams, Message

_SCHEMA = """CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY, backend TEXT NOT NULL, model TEXT NOT NULL, completion TEXT NOT NULL)"""


def cache_key(backend: str, model: str, messages: list[Message], params: GenParams) -> str:
    """sha256 of the canonical JSON of backend name, model, messages and params."""
    payload = {"backend": backend, "model": model,
               "messages": [m.model_dump() for m in messages],
               "params": params.model_dump(mode="json")}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CachedBackend(BackendWrapper):
    """Serves repeated requests from an SQLite file; otherwise asks ``inner`` and stores the answer.

    A hit returns the stored completion with ``cached=True`` (text, tokens and timings as first
    measured). Requests that are not reproducible (``temperature > 0`` with ``seed=None``) are
    never cached. The file may be shared by threads and processes (WAL journal, busy timeout).
    :attr:`hits` and :attr:`misses` count this instance's lookups.
    """

    def __init__(self, inner: Backend, path: str | os.PathLike[str], timeout: float = 30.0):
        super().__init__(inner)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        with closing(self._connect()) as con, con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self.timeout)

    def _complete(self, messages: list[Message], params: GenParams) -> Completion:
        if params.temperature > 0 and params.seed is None:
            return self.inner.complete(messages, params)
        key = cache_key(self.name, self.model, messages, params)
        with closing(self._connect()) as con:
            row = con.execute("SELECT completion FROM completions WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            return Completion.model_validate_json(row[0]).model_copy(update={"cached": True})
        self.misses += 1
        completion = self.inner.complete(messages, params)
        if completion.finish_reason != "error":
            with closing(self._connect()) as con, con:
                con.execute("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)",
                            (key, self.name, self.model, completion.model_dump_json()))
        return completion

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "cache": str(self.path)}
