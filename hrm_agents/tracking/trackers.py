"""Experiment trackers: Weights & Biases (offline) and MLflow (a local SQLite store).

One small interface, :class:`Tracker`: parameters once, metrics per step, a final summary, files as
artifacts, and a final status. The experiment runner and the HRM trainer call it when
``--tracker wandb``, ``--tracker mlflow`` or ``--tracker wandb,mlflow`` (the same run in both) is
given; everything stays on disk, nothing is sent:

- ``wandb``: an offline run in ``<run dir>/wandb/offline-run-*``; upload it later with
  ``wandb sync <run dir>/wandb/offline-run-*``.
- ``mlflow``: ``<root>/mlflow.db`` (runs, params, metrics) and ``<root>/mlartifacts/`` (files),
  where ``root`` is the runs root (``runs/``) for experiments and the training folder's parent for
  the trainer; ``$MLFLOW_TRACKING_URI`` overrides. View with
  ``mlflow ui --backend-store-uri sqlite:///runs/mlflow.db``.

Both packages are optional (``pip install -e .[track]``); asking for a tracker without its package
is one :class:`TrackerError` line naming the install command.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Mapping

TRACKERS = ("wandb", "mlflow")
INSTALL = "pip install -e .[track]"


class TrackerError(RuntimeError):
    """A tracker cannot be used (package missing, unknown name); the message is one line."""


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level with ``a/b`` keys (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}/"))
        else:
            out[name] = value
    return out


def numbers(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of ``data`` (flattened; booleans and NaN left out)."""
    return {k: float(v) for k, v in flatten(data, prefix).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class Tracker:
    """Base tracker: subclasses send to a tracking library. All methods are called from one thread
    at a time (the runner logs from its main loop)."""

    name = "none"

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Run parameters (flattened; values shown as text)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Numbers at one step (attempts finished, or optimiser steps)."""

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        """Final numbers of the run (flattened; only finite numbers are kept)."""

    def log_artifact(self, path: str | os.PathLike[str]) -> None:
        """Attach a file (report, stats) to the run, if it exists."""

    def finish(self, status: str = "finished") -> None:
        """Close the run: ``finished``, ``failed`` or ``killed``."""

    def where(self) -> str:
        """Where the run was written, and how to look at it (one line)."""
        return ""


def _safe(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip("-") or "run"


class WandbTracker(Tracker):
    """A W&B run in offline mode under ``run_dir/wandb``."""

    name = "wandb"

    def __init__(self, project: str, run_name: str, run_dir: Path):
        import wandb

        run_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=_safe(project), name=run_name, dir=str(run_dir), mode="offline",
                              settings=wandb.Settings(console="off", silent=True))
        self._wandb = wandb

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.run.config.update(flatten(params), allow_val_change=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        self.run.summary.update(numbers(summary))

    def log_artifact(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        if path.is_file():
            artifact = self._wandb.Artifact(_safe(f"{self.run.name}-{path.stem}"), type="run-file")
            artifact.add_file(str(path))
            self.run.log_artifact(artifact)

    def finish(self, status: str = "finished") -> None:
        self.run.finish(exit_code=0 if status == "finished" else 1)

    def where(self) -> str:
        return f"wandb offline run {self.run.dir.rsplit('/files', 1)[0]} (upload: wandb sync <that folder>)"


class MlflowTracker(Tracker):
    """An MLflow run in a local SQLite store (``root/mlflow.db``, artifacts in ``root/mlartifacts``)."""

    name = "mlflow"
    _STATUS = {"finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}

    def __init__(self, project: str, run_name: str, root: Path):
        import logging

        from mlflow import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        root.mkdir(parents=True, exist_ok=True)
        self.uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root.resolve() / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri)
        found = self.client.get_experiment_by_name(project)
        exp_id = found.experiment_id if found else self.client.create_experiment(
            project, artifact_location=(root.resolve() / "mlartifacts" / _safe(project)).as_uri())
        self.run_id = self.client.create_run(exp_id, run_name=run_name).info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(_key(k), float(v), now, step) for k, v in metrics.items()])

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(_key(f"final/{k}"), v, now, 0) for k, v in numbers(summary).items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i:i + 1000])

    def log_artifact(self, path: str | os.PathLike[str]) -> None:
        if Path(path).is_file():
            self.client.log_artifact(self.run_id, str(path))

    def finish(self, status: str = "finished") -> None:
        self.client.set_terminated(self.run_id, self._STATUS.get(status, "FAILED"))

    def where(self) -> str:
        return f"mlflow run {self.run_id} in {self.uri} (view: mlflow ui --backend-store-uri {self.uri})"


def _key(name: str) -> str:
    """An MLflow metric name (letters, digits, ``_ - . / space`` only)."""
    return re.sub(r"[^\w\-./ ]", "_", name)


class _Several(Tracker):
    """The same run sent to several trackers (``--tracker wandb,mlflow``)."""

    def __init__(self, trackers: list[Tracker]):
        self.trackers = trackers
        self.name = ",".join(t.name for t in trackers)

    def log_params(self, params: Mapping[str, Any]) -> None:
        for t in self.trackers:
            t.log_params(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for t in self.trackers:
            t.log_metrics(metrics, step)

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        for t in self.trackers:
            t.log_summary(summary)

    def log_artifact(self, path: str | os.PathLike[str]) -> None:
        for t in self.trackers:
            t.log_artifact(path)

    def finish(self, status: str = "finished") -> None:
        for t in self.trackers:
            t.finish(status)

    def where(self) -> str:
        return "; ".join(t.where() for t in self.trackers)


def tracker_names(kind: str | None) -> list[str]:
    """The tracker names of a ``--tracker`` value (comma-separated, e.g. ``wandb,mlflow``)."""
    return [k.strip() for k in (kind or "").split(",") if k.strip()]


def check_tracker(kind: str | None) -> None:
    """Raise :class:`TrackerError` (one line) unless every name in ``kind`` (None, ``wandb``,
    ``mlflow`` or both comma-separated) is a usable tracker."""
    for name in tracker_names(kind):
        if name not in TRACKERS:
            raise TrackerError(f"unknown tracker {name!r}; choose from: {', '.join(TRACKERS)} (comma-separated)")
        if importlib.util.find_spec(name) is None:
            raise TrackerError(f"--tracker {name} needs the {name} package: {INSTALL}")


def open_tracker(kind: str | None, *, project: str, run_name: str, run_dir: Path, root: Path) -> Tracker:
    """A started tracker run (``kind`` None: the do-nothing :class:`Tracker`; ``wandb,mlflow``: both).

    ``project`` groups runs (the experiment name), ``run_dir`` is the run's own folder (W&B writes
    there), ``root`` the folder of the MLflow store. Raises :class:`TrackerError`.
    """
    check_tracker(kind)
    opened: list[Tracker] = []
    for name in tracker_names(kind):
        opened.append(WandbTracker(project, run_name, run_dir) if name == "wandb" else MlflowTracker(project, run_name, root))
    return opened[0] if len(opened) == 1 else _Several(opened) if opened else Tracker()


def log_training_event(tracker: Tracker, event: str, fields: Mapping[str, Any]) -> None:
    """Send one :mod:`hrm_agents.hrm.train` ``metrics.jsonl`` event to ``tracker``: ``start`` ->
    params (config, model config, size, device); ``train``/``eval``/``health`` -> metrics at their
    step under ``train/``, ``eval/``, ``health/``; ``recover`` -> ``watchdog/recoveries``; ``final``
    -> the summary."""
    if event == "start":
        tracker.log_params({**fields.get("config", {}), "model": fields.get("model_config", {}),
                            **{k: v for k, v in fields.items() if k not in ("config", "model_config")}})
    elif event in ("train", "eval", "health") and "step" in fields:
        tracker.log_metrics(numbers({k: v for k, v in fields.items() if k != "step"}, f"{event}/"), int(fields["step"]))
    elif event == "recover":
        tracker.log_metrics({"watchdog/recoveries": fields["recovery"], "watchdog/lr_scale": fields["lr_scale"]},
                            int(fields["step"]))
    elif event == "final":
        tracker.log_summary(fields)
