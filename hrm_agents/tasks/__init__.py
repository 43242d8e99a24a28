"""Tasks: the schema, suite loading (YAML, JSONL, HumanEval, MBPP, GSM8K) and math answer matching."""

from hrm_agents.tasks.answers import answers_match, extract_answer, parse_number
from hrm_agents.tasks.schema import PublicTask, Suite, Task
from hrm_agents.tasks.suites import SUITE_NAMES, SuiteError, load_suite, save_suite

__all__ = [
    "SUITE_NAMES",
    "PublicTask",
    "Suite",
    "SuiteError",
    "Task",
    "answers_match",
    "extract_answer",
    "load_suite",
    "parse_number",
    "save_suite",
]
