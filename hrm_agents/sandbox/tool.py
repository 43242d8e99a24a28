"""LangChain tool wrapping :func:`run_code`, for a LangGraph ``ToolNode``."""

from __future__ import annotations

from langchain_core.tools import tool

from .executor import run_code
from .models import ExecResult


@tool(response_format="content_and_artifact")
def python_tool(code: str) -> tuple[str, ExecResult]:
    """Run a self-contained Python program in an isolated sandbox (no network, read-only file system,
    time and memory limits) and return its status, printed output and error. Print what you want to see."""
    result = run_code(code)
    return result.summary(), result
