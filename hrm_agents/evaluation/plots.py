"""PNG figures of a report (needs the ``plots`` extra, matplotlib; imported lazily by :mod:`hrm_agents.utils.figures`).

Figures: pass@k per arm with 95% CI error bars, failure tags per arm, accuracy vs number of steps k
(curriculum runs), and the distribution of wall time per attempt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..utils import figures
from .records import AttemptRecord


def _yerr(points: Sequence[tuple[float, Sequence[float | None]]]) -> list[list[float]]:
    """Error bar lengths below/above each value from its CI (0 where the CI is unknown)."""
    return [[v - lo if lo is not None else 0.0 for v, (lo, _) in points],
            [hi - v if hi is not None else 0.0 for v, (_, hi) in points]]


def _grouped_bars(ax: Any, groups: Sequence[str], series: Mapping[str, Sequence[Any]]) -> None:
    """One bar per (group, arm); ``series[arm]`` holds per group a value, or a (value, ci) pair
    for a bar with an error bar."""
    width = 0.8 / max(len(series), 1)
    for i, (arm, vals) in enumerate(series.items()):
        with_ci = any(isinstance(v, tuple) for v in vals)
        pts = [v if isinstance(v, tuple) else (v, (None, None)) for v in vals]
        ax.bar([j + i * width for j in range(len(groups))], [v for v, _ in pts], width,
               yerr=_yerr(pts) if with_ci else None, capsize=3, label=arm)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(groups))], groups,
                  rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.legend()


def make_figures(stats: Mapping[str, Any], records_by_arm: Mapping[str, Sequence[AttemptRecord]],
                 out_dir: Path) -> tuple[list[Path], str]:
    """Write the figures to ``out_dir``; returns (paths, note). Without matplotlib: ([], note)."""
    if (plt := figures.pyplot()) is None:
        return [], figures.NO_MATPLOTLIB
    arms: Mapping[str, Any] = stats["arms"]
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        paths.append(figures.save(fig, out_dir / name))

    ks = sorted({int(k) for s in arms.values() for k in s["pass_at_k"]})
    if ks:
        fig, ax = plt.subplots(figsize=(6, 4))
        nan = (0.0, (None, None))
        _grouped_bars(ax, [f"pass@{k}" for k in ks],
                      {arm: [(p["value"], p["ci95"]) if (p := s["pass_at_k"].get(str(k))) else nan for k in ks]
                       for arm, s in arms.items()})
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("fraction of tasks")
        ax.set_title("pass@k per arm (95% bootstrap CI over tasks)")
        save(fig, "pass_at_k.png")

    tags = list(dict.fromkeys(t for s in arms.values() for t in s["failure_tags"]))
    if tags:
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(tags) + 2), 4))
        _grouped_bars(ax, tags, {arm: [s["failure_tags"].get(t, 0) for t in tags] for arm, s in arms.items()})
        ax.set_ylabel("attempts")
        ax.set_title("Failure tags per arm")
        save(fig, "failure_tags.png")

    if any(s["by_k"] for s in arms.values()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for i, (arm, s) in enumerate(arms.items()):
            by_k = sorted(s["by_k"].items(), key=lambda kv: int(kv[0]))
            dodge = 0.08 * (i - (len(arms) - 1) / 2)  # arms with equal accuracy stay visible
            ax.errorbar([int(k) + dodge for k, _ in by_k], [v["accuracy"] for _, v in by_k], marker="o", capsize=3,
                        yerr=_yerr([(v["accuracy"], v["ci95"]) for _, v in by_k]), label=arm)
        ax.set_xticks(sorted({int(k) for s in arms.values() for k in s["by_k"]}))
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("number of steps k")
        ax.set_ylabel("accuracy")
        ax.set_title("Accuracy vs steps (Wilson 95% CI)")
        ax.legend()
        save(fig, "accuracy_vs_k.png")

    latencies = {a: [r.wall_time_s for r in recs] for a, recs in records_by_arm.items() if recs}
    if latencies:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.boxplot(list(latencies.values()), tick_labels=list(latencies))
        ax.set_ylabel("wall time per attempt (s)")
        ax.set_title("Latency per attempt")
        save(fig, "latency.png")
    return paths, ""
