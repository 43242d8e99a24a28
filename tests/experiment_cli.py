"""The thin experiment CLIs (``experiments/<name>/run.py``) as callables, for tests."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def experiment_main(name: str) -> Callable[[list[str]], int]:
    """``main`` of ``experiments/<name>/run.py``, loaded by path (every experiment has a run.py)."""
    return runpy.run_path(str(ROOT / "experiments" / name / "run.py"))["main"]
