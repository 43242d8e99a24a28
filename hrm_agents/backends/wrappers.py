"""Backends that wrap another backend (cache, call log) and :func:`wrap_backend` to stack them."""

from __future__ import annotations

import os
from typing import Any

from .base import Backend


class BackendWrapper(Backend):
    """Delegates everything to ``inner``; subclasses override :meth:`_complete`.

    ``name``, ``model`` and ``task_kinds`` are the inner backend's, so records look the same with
    or without wrappers; other attributes (e.g. ``ScriptedBackend.calls``) are read through.
    """

    def __init__(self, inner: Backend):
        super().__init__(inner.model)
        self.inner = inner
        self.name = inner.name
        self.task_kinds = inner.task_kinds

    def __getattr__(self, attr: str) -> Any:
        if attr == "inner":  # not set yet (e.g. during unpickling)
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


def wrap_backend(backend: Backend, *, cache: str | os.PathLike[str] | None = None,
                 log_path: str | os.PathLike[str] | None = None) -> Backend:
    """Add the on-disk response cache and/or the JSONL call log to ``backend``.

    The log is outermost, so it records every call, cache hits included (``cached: true``).
    """
    from .cache import CachedBackend
    from .calllog import LoggedBackend

    if cache is not None:
        backend = CachedBackend(backend, cache)
    if log_path is not None:
        backend = LoggedBackend(backend, log_path)
    return backend
