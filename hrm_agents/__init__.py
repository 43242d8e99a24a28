"""hrm_agents: does explicit hierarchy help?

Flat and hierarchical (LangGraph) LLM controllers and a native Hierarchical Reasoning Model, run on
the same tasks behind one backend interface and scored by one evaluator.
"""

from .backends import Backend, Completion, GenParams, Message, make_backend
from .tasks.schema import PublicTask, Suite, Task

__version__ = "0.1.0"

__all__ = ["Backend", "Completion", "GenParams", "Message", "PublicTask", "Suite", "Task",
           "__version__", "make_backend"]
