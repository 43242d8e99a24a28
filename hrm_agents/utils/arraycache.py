"""A spec-keyed cache of generated arrays on disk: one ``.npz`` per data spec, shared by runs."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

Groups = dict[str, dict[str, np.ndarray]]


def cached_groups(cache_dir: str | Path | None, prefix: str, spec: Any, build: Callable[[], Groups]) -> Groups:
    """``build()``'s named groups of arrays, kept in ``<cache_dir>/<prefix>-<hash of spec>.npz``
    (``spec`` a dataclass): read back when present, else built and written atomically, so several
    runs on the same data build it once. Without ``cache_dir``, just ``build()``."""
    if cache_dir is None:
        return build()
    key = hashlib.sha1(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{prefix}-{key}.npz"
    if path.exists():
        groups: Groups = {}
        with np.load(path) as z:
            for name in z.files:
                group, array = name.split("/")
                groups.setdefault(group, {})[array] = z[name]
        return groups
    groups = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **{f"{g}/{k}": v for g, arrays in groups.items() for k, v in arrays.items()})
    os.replace(tmp, path)
    return groups
