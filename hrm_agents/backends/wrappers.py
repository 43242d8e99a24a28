"""Stack the wrapping backends (response cache, call log) on a backend: :func:`wrap_backend`."""

from __future__ import annotations

import os

from .base import Backend
from .cache import CachedBackend
from .calllog import LoggedBackend


def wrap_backend(backend: Backend, *, cache: str | os.PathLike[str] | None = None,
                 log_path: str | os.PathLike[str] | None = None) -> Backend:
    """Add the on-disk response cache and/or the JSONL call log to ``backend``.

    The log is outermost, so it records every call, cache hits included (``cached: true``).
    """
    if cache is not None:
        backend = CachedBackend(backend, cache)
    if log_path is not None:
        backend = LoggedBackend(backend, log_path)
    return backend
