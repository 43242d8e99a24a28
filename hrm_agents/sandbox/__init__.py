"""Sandboxed execution of generated Python: the only way model-written code is run.

``run_code`` runs a program, ``run_tests`` runs assert-style tests against it, ``python_tool`` wraps
``run_code`` for LangGraph. Every result says which isolation was in force (``isolation``).
"""

from .executor import Sandbox, default_sandbox, isolation_info, run_code, run_tests
from .models import ExecResult, IsolationInfo, Limits, Status, TestOutcome, TestReport
from .tool import python_tool

__all__ = [
    "ExecResult", "IsolationInfo", "Limits", "Sandbox", "Status", "TestOutcome", "TestReport", "default_sandbox",
    "isolation_info", "python_tool", "run_code", "run_tests",
]
