"""What the dashboard shows, read from run folders: experiment runs (``results.jsonl`` +
``config.json``, E1–E4 and any :func:`~hrm_agents.runner.run_experiment` run) and training runs
(``metrics.jsonl``, :mod:`hrm_agents.hrm.train`).

Statistics, verdicts and alerts are the evaluator's (:func:`~hrm_agents.evaluation.report.analyze`,
:mod:`~hrm_agents.evaluation.alerts`); this module only collects them per run, re-reading a run
when one of its files changed (so runs still writing show their new results).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..evaluation.alerts import Alert, experiment_alerts, training_alerts
from ..evaluation.io import RESULTS, RunDirError, load_run
from ..evaluation.stats import pass_at_k

METRICS, HEARTBEAT = "metrics.jsonl", "heartbeat.json"
_WATCHED = (RESULTS, "run_summary.json", "config.json", METRICS, HEARTBEAT)
CURVE_POINTS = 60  # points per accuracy curve of an experiment run
N_RESAMPLES = 2000  # bootstrap resamples for the live view (the written reports use 10,000)


@dataclass
class RunView:
    """One run as the dashboard shows it.

    Attributes:
        path, name: the folder and its name relative to the dashboard's root.
        kind: ``experiment`` or ``training``.
        live: not finished yet (partial experiment, or training without a final line).
        accuracy: curve name -> ``{"x": steps, "y": values}``; pass@1/pass@10 against attempts
            finished (experiments) or training step (training: eval accuracy per split).
        stats: the evaluator's analysis (experiments), else None.
        train: ``train`` events (loss, lr, grad_norm per logged step).
        health: ``health`` events (CPU, RAM, GPU samples).
        alerts: the evaluator's alerts for this run.
        status: one line: progress and state.
    """

    path: Path
    name: str
    kind: str
    live: bool = False
    accuracy: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    stats: dict[str, Any] | None = None
    train: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    status: str = ""


def find_runs(root: Path, max_depth: int = 5) -> list[Path]:
    """Run folders under ``root`` (itself included): folders with ``results.jsonl`` or
    ``metrics.jsonl``, newest first; hidden folders, ``wandb`` and traces are skipped."""
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if (folder / RESULTS).is_file() or (folder / METRICS).is_file():
            found.append(folder)
        if depth >= max_depth:
            return
        try:
            children = [c for c in folder.iterdir() if c.is_dir()]
        except OSError:
            return
        for child in children:
            if not child.name.startswith(".") and child.name not in ("wandb", "traces", "checkpoint", "export"):
                walk(child, depth + 1)

    walk(root, 0)
    return sorted(found, key=_mtime, reverse=True)


def _mtime(folder: Path) -> float:
    return max(((folder / f).stat().st_mtime for f in _WATCHED if (folder / f).exists()), default=0.0)


def _signature(folder: Path) -> list[list[Any]]:
    return [[f, s.st_mtime_ns, s.st_size] for f in _WATCHED if (p := folder / f).exists() for s in [p.stat()]]


def _experiment_curves(records: list[Any]) -> dict[str, dict[str, list[float]]]:
    """pass@1 (running accuracy) and pass@10 (unbiased, over tasks with >= 10 samples so far) per arm
    against the number of attempts finished, at up to :data:`CURVE_POINTS` points."""
    curves: dict[str, dict[str, list[float]]] = {}
    n = len(records)
    if not n:
        return curves
    marks = sorted({max(1, round(n * i / CURVE_POINTS)) for i in range(1, CURVE_POINTS + 1)})
    for arm in dict.fromkeys(r.arm for r in records):
        for k in (1, 10):
            xs, ys = [], []
            for m in marks:
                by_task: dict[str, list[bool]] = defaultdict(list)
                for r in records[:m]:
                    if r.arm == arm:
                        by_task[r.task_id].append(r.passed)
                rates = [pass_at_k(len(v), sum(v), k) for v in by_task.values() if len(v) >= k]
                if rates:
                    xs.append(m)
                    ys.append(sum(rates) / len(rates))
            if xs:
                curves[f"{arm} pass@{k}"] = {"x": xs, "y": ys}
    return curves


def _experiment(path: Path, name: str) -> RunView:
    from ..evaluation.report import analyze

    run = load_run(path)
    view = RunView(path, name, "experiment", live=run.partial)
    if not run.records:
        view.status = "no attempt finished yet"
        return view
    view.stats = analyze([run], n_resamples=N_RESAMPLES)
    view.accuracy = _experiment_curves(run.records)
    view.alerts = experiment_alerts(name, view.stats)
    expected = (run.summary or {}).get("expected")
    view.status = (f"{len(run.records)}{'/' + str(expected) if expected else ''} attempts"
                   f"{' (running or interrupted)' if run.partial else ', finished'}")
    return view


def _split_accuracy(event: dict[str, Any]) -> dict[str, float]:
    """Accuracy lines of one ``eval`` event: top-level ``pass@k`` numbers, and per split the mean
    exact accuracy over its k (HRM curriculum evaluation) as ``<split> pass@1``."""
    out = {k: float(v) for k, v in event.items() if k.startswith("pass@") and isinstance(v, (int, float))}
    for split, per_k in event.items():
        if isinstance(per_k, dict):
            exact = [v["exact"] for v in per_k.values() if isinstance(v, dict) and "exact" in v]
            if exact:
                out[f"{split} pass@1"] = sum(exact) / len(exact)
    return out


def _training(path: Path, name: str) -> RunView:
    events = []
    for line in (path / METRICS).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written
    heartbeat = None
    if (path / HEARTBEAT).is_file():
        try:
            heartbeat = json.loads((path / HEARTBEAT).read_text())
        except json.JSONDecodeError:
            heartbeat = None
    view = RunView(path, name, "training")
    view.train = [e for e in events if e.get("event") == "train"]
    view.health = [e for e in events if e.get("event") == "health"]
    for e in (e for e in events if e.get("event") == "eval"):
        for line, value in _split_accuracy(e).items():
            curve = view.accuracy.setdefault(line, {"x": [], "y": []})
            curve["x"].append(e["step"])
            curve["y"].append(value)
    finished = any(e.get("event") == "final" for e in events)
    stopped = heartbeat is not None and heartbeat.get("status") == "stopped"
    view.live = not finished and not stopped
    view.alerts = training_alerts(name, events, heartbeat)
    last = view.train[-1] if view.train else None
    view.status = ("no step logged yet" if last is None else f"step {last['step']} · loss {last['loss']:.4g}") + \
        (", finished" if finished else ", stopped" if stopped else " (running or interrupted)")
    return view


class RunCache:
    """Run views by folder, rebuilt only when one of the folder's files changed (thread-safe)."""

    def __init__(self, root: Path):
        self.root = root
        self._views: dict[Path, tuple[list[list[Any]], RunView]] = {}
        self._lock = threading.Lock()

    def runs(self) -> list[Path]:
        """The run folders under the root, newest first."""
        return find_runs(self.root)

    def name(self, path: Path) -> str:
        """The run's name relative to the root."""
        return str(path.relative_to(self.root)) if path != self.root else path.name

    def signature(self, path: Path) -> list[list[Any]]:
        """``[file, mtime_ns, size]`` of the run's files the views are built from (JSON-able)."""
        return _signature(path)

    def view(self, path: Path) -> RunView:
        """The run's current view (an unreadable run becomes a view with one error alert)."""
        sig = _signature(path)
        with self._lock:
            cached = self._views.get(path)
            if cached and cached[0] == sig:
                return cached[1]
        name = self.name(path)
        try:
            view = _experiment(path, name) if (path / RESULTS).is_file() else _training(path, name)
        except (RunDirError, OSError, KeyError, ValueError) as e:
            view = RunView(path, name, "unknown", alerts=[Alert("error", name, f"cannot read run: {e}")],
                           status="unreadable")
        with self._lock:
            self._views[path] = (sig, view)
        return view
