"""Strict JSON: conversion to JSON types, atomic writes, reads.

:func:`to_json` turns NaN/inf into ``None``, tuples and sets into lists, mapping keys into strings,
pydantic models, dataclasses, numpy values and paths into JSON types, so :func:`write_json` always
writes strict JSON (``allow_nan=False``). Writes go through a temp file in the same folder, fsync and
``os.replace``, so a kill never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def to_json(value: Any) -> Any:
    """``value`` as JSON types (strict: NaN/inf -> None); objects without a JSON form -> ``repr``."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, BaseModel):
        return to_json(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        return to_json(value.tolist())
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return to_json(vars(value))
    return repr(value)


def dumps(value: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``value`` (converted by :func:`to_json`)."""
    return json.dumps(to_json(value), indent=indent, allow_nan=False, ensure_ascii=False)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same folder, fsync and rename."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    """Write ``data`` as strict JSON (see :func:`to_json`), atomically; returns the path."""
    return write_text_atomic(path, dumps(data, indent) + "\n")


def read_json(path: str | Path) -> Any:
    """The parsed content of the JSON file at ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
