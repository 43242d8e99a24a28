"""hrm_agents: does explicit hierarchy help?

Flat and hierarchical (LangGraph) LLM controllers and a native Hierarchical Reasoning Model, run on
the same tasks behind one backend interface and scored by one evaluator.

``run_experiment`` is imported on first use (it loads the runner, the evaluator and SciPy), so
``import hrm_agents`` stays fast and never loads torch or llama.cpp.
"""

from typing import Any

from .backends import Backend, Completion, GenParams, Message, make_backend
from .tasks import load_suite
from .tasks.schema import PublicTask, Suite, Task

__version__ = "0.1.0"

__all__ = ["Backend", "Completion", "GenParams", "Message", "PublicTask", "Suite", "Task",
           "__version__", "load_suite", "make_backend", "run_experiment"]


def __getattr__(name: str) -> Any:
    if name == "run_experiment":
        from .runner import run_experiment

        return run_experiment
    raise AttributeError(f"module 'hrm_agents' has no attribute {name!r}")
