"""Experiment runner: arms x tasks x samples against one backend, scored by the evaluator,
written durably to ``runs/<experiment>/<run>/`` and resumable."""

from .arm import ArmConfig, ArmFn, ArmOutcome
from .experiment import RunAborted, RunInterrupted, run_experiment
from .scoring import Score, score

__all__ = ["ArmConfig", "ArmFn", "ArmOutcome", "RunAborted", "RunInterrupted", "Score", "run_experiment", "score"]
