"""Per-task analysis: which ARC puzzles does a model solve? Success against the number of colours,
the grid area, size-changing puzzles and the number of demonstrations, as a table and a figure
(the bimodality the independent re-implementation reported: more colours, larger grids or a size
change -> failure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..utils import figures
from ..utils.fmt import num
from .data import Puzzle

# feature -> (label, bin edges as (name, lo, hi) with lo <= value <= hi)
BINS: dict[str, tuple[str, tuple[tuple[str, float, float], ...]]] = {
    "n_colours": ("colours used", (("1-3", 1, 3), ("4-5", 4, 5), ("6+", 6, 99))),
    "area": ("test output area (cells)", (("<=16", 0, 16), ("17-49", 17, 49), ("50+", 50, 10**4))),
    "size_change": ("output size differs from input", (("no", 0, 0), ("yes", 1, 1))),
    "n_demos": ("demonstration pairs", (("2", 0, 2), ("3", 3, 3), ("4+", 4, 99))),
}


def features(p: Puzzle) -> dict[str, int]:
    """The puzzle's colours used, mean test-output area, size change (any pair) and number of demos."""
    grids = p.grids()
    return {"n_colours": len(np.unique(np.concatenate([g.ravel() for g in grids]))),
            "area": int(np.mean([b.size for _, b in p.test])),
            "size_change": int(any(a.shape != b.shape for a, b in p.train + p.test)),
            "n_demos": len(p.train)}


def table(rows: Sequence[dict[str, Any]], metrics: Sequence[str] = ("pass@2", "orig_exact", "orig_cell")
          ) -> list[dict[str, Any]]:
    """Per feature bin: number of puzzles and the mean of each metric. ``rows``: per-puzzle dicts with
    the :func:`features` keys and the metrics (e.g. pooled over runs)."""
    out = []
    for feat, (label, bins) in BINS.items():
        for name, lo, hi in bins:
            sel = [r for r in rows if lo <= r[feat] <= hi]
            out.append({"feature": label, "bin": name, "n": len(sel),
                        **{m: float(np.mean([r[m] for r in sel])) if sel else None for m in metrics}})
    return out


def markdown(tab: Sequence[dict[str, Any]], metrics: Sequence[str] = ("pass@2", "orig_exact", "orig_cell")) -> str:
    """The :func:`table` as markdown."""
    lines = ["| feature | bin | n (puzzle-runs) | " + " | ".join(metrics) + " |",
             "|---|---|---|" + "---|" * len(metrics)]
    lines += [f"| {r['feature']} | {r['bin']} | {r['n']} | " + " | ".join(num(r[m]) for m in metrics) + " |"
              for r in tab]
    return "\n".join(lines)


def figure(tab: Sequence[dict[str, Any]], path: str | Path, metric: str = "orig_cell",
           title: str = "") -> Path | None:
    """Bar chart of ``metric`` per bin, one panel per feature; None without matplotlib."""
    plt = figures.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, len(BINS), figsize=(3.2 * len(BINS), 3), sharey=True)
    for ax, (feat, (label, _)) in zip(axes, BINS.items()):
        sel = [r for r in tab if r["feature"] == label]
        ax.bar([f"{r['bin']}\n(n={r['n']})" for r in sel], [r[metric] or 0 for r in sel], color="tab:blue")
        ax.set_title(label, fontsize=9)
    axes[0].set_ylabel(metric)
    if title:
        fig.suptitle(title, fontsize=10)
    return figures.save(fig, path)
