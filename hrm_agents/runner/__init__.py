"""Experiment runner: arms x tasks x samples against one backend, scored by the evaluator,
written durably to ``runs/<experiment>/<run>/`` and resumable.

The arm contract (:mod:`.arm`) and the run settings (:mod:`.settings`) load nothing heavy; the rest
(:func:`run_experiment`, scoring) is imported on first use.
"""

from ..utils.lazy import lazy_exports
from .arm import ArmConfig, ArmFn, ArmOptions, ArmOutcome, with_options
from .settings import RunSettings

__all__ = ["ArmConfig", "ArmFn", "ArmOptions", "ArmOutcome", "RunAborted", "RunInterrupted", "RunSettings", "Score",
           "run_experiment", "score", "with_options"]
__getattr__ = lazy_exports(__name__, {"RunAborted": "experiment", "RunInterrupted": "experiment",
                                      "run_experiment": "experiment", "Score": "scoring", "score": "scoring"})
