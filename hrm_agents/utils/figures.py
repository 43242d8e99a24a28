"""Matplotlib set-up shared by every report (the ``plots`` extra; imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NO_MATPLOTLIB = "figures skipped: matplotlib is not installed (pip install 'hrm_agents[plots]')"


def pyplot() -> Any | None:
    """``matplotlib.pyplot`` on the non-interactive Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Lay out, write and close ``fig``; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)
