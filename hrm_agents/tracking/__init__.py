"""Experiment trackers (W&B offline, MLflow local store) for the runner and the HRM trainer; see
:mod:`.trackers`."""

from .trackers import TRACKERS, Tracker, TrackerError, check_tracker, open_tracker

__all__ = ["TRACKERS", "Tracker", "TrackerError", "check_tracker", "open_tracker"]
