"""Score an arm's final answer against what only the evaluator sees."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..sandbox import run_tests
from ..tasks.answers import answers_match, extract_answer
from ..tasks.schema import Task
from ..utils.jsonio import to_json
from .arm import ArmOutcome


class Score(BaseModel):
    """Whether an outcome is correct, with what it was compared against."""

    passed: bool
    expected: str | None = None
    hidden_report: dict[str, Any] | None = None


def score(task: Task, outcome: ArmOutcome) -> Score:
    """Code tasks: run ``outcome.final`` with ``task.test_setup`` against ``task.hidden_tests`` in
    the sandbox. Math tasks: ``answers_match(extract_answer(final), task.answer)``."""
    if task.kind == "math":
        pred = extract_answer(outcome.final)
        return Score(passed=answers_match(pred, task.answer), expected=task.answer,
                     hidden_report={"extracted": pred})
    if outcome.final is None:
        return Score(passed=False)
    report = run_tests(outcome.final, task.hidden_tests, setup=task.test_setup)
    return Score(passed=report.passed, hidden_report=to_json(report))
