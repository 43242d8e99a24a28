"""Rule-based failure tags: each rule on a minimal record, with its evidence."""

from __future__ import annotations

from typing import Any

import pytest

from hrm_agents.evaluation.records import AttemptRecord, FailureTag
from hrm_agents.evaluation.taxonomy import (ARM_ERROR, BACKEND_ERROR, BUDGET_EXHAUSTED, EXTRACTION_FAILURE,
                                            PLAN_DRIFT, RUNTIME_ERROR, SPEC_ERROR, SYNTAX_ERROR, TAGS, TIMEOUT,
                                            TOOL_MISUSE, VERIFICATION_GAP, WRONG_ANSWER, plan_steps, retag,
                                            tag_attempt)
from hrm_agents.tasks.schema import Task

CODE_TASK = Task(id="add", kind="code", entry_point="add",
                 prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
                 visible_tests=["assert add(1, 2) == 3"], hidden_tests=["assert add(2, 2) == 4", "assert add(0, 0) == 0"])
MBPP_TASK = Task(id="mbpp", kind="code", entry_point="largest", prompt="Write a function to find the largest number.",
                 hidden_tests=["assert largest([1, 5, 2]) == 5"])
MATH_TASK = Task(id="m1", kind="math", prompt="Start with 3, add 4, then multiply by 2.", answer="14",
                 family="arith_chain", meta={"k": 2}, reference={"steps": [7, 14]})
GOOD = "def add(a, b):\n    return a + b\n"


def rec(**kw: Any) -> AttemptRecord:
    base: dict[str, Any] = {"run_id": "r", "experiment": "e", "arm": "hier", "task_id": "add", "passed": False}
    return AttemptRecord(**{**base, **kw})


def report(status: str = "ok", results: list[dict[str, Any]] | None = None, **exec_kw: Any) -> dict[str, Any]:
    results = results if results is not None else [{"test": "assert add(2, 2) == 4", "passed": False,
                                                    "exc_type": "AssertionError", "message": "5 != 4"}]
    return {"exec": {"status": status, **exec_kw}, "results": results, "passed": False}


def tags(task: Task | None, record: AttemptRecord) -> dict[str, str]:
    out = tag_attempt(task, record)
    assert all(t.tag in TAGS for t in out)
    return {t.tag: t.evidence for t in out}


def test_tag_names_are_stable_constants() -> None:
    assert SPEC_ERROR == "spec_error" and TOOL_MISUSE == "tool_misuse" and BUDGET_EXHAUSTED == "budget_exhausted"
    assert len(set(TAGS)) == len(TAGS) == 12


def test_clean_pass_has_no_tags() -> None:
    assert tag_attempt(CODE_TASK, rec(passed=True, final=GOOD, self_check_passed=True)) == []


def test_wrong_answer_names_the_failing_test() -> None:
    t = tags(CODE_TASK, rec(final="def add(a, b):\n    return a + b + 1\n", hidden_report=report()))
    assert list(t) == [WRONG_ANSWER]
    assert "1/1 hidden tests failed" in t[WRONG_ANSWER] and "add(2, 2) == 4" in t[WRONG_ANSWER]


@pytest.mark.parametrize("final,rep,tag,needle", [
    ("def add(a, b):\n    return a +\n", report("error", [], exc_type="SyntaxError", exc_message="invalid syntax",
                                                   exc_line="return a +"), SYNTAX_ERROR, "return a +"),
    ("def add(a, b):\n    return a +\n", None, SYNTAX_ERROR, "line 2"),
    ("def add(a, b):\n    return c\n", report("error", [], exc_type="NameError",
                                                 exc_message="name 'c' is not defined", exc_line="return c"),
     RUNTIME_ERROR, "NameError: name 'c' is not defined at `return c`"),
    (GOOD, report("ok", [{"test": "assert add(2, 2) == 4", "passed": False, "exc_type": "TypeError",
                          "message": "bad operand"}]), RUNTIME_ERROR, "TypeError in test"),
    ("def add(a, b):\n    while True:\n        pass\n    return 0\n", report("timeout", [], duration_s=10.0),
     TIMEOUT, "timed out"),
    (GOOD, report("memory", []), RUNTIME_ERROR, "memory"),
    (None, None, EXTRACTION_FAILURE, "no code"),
    ("I would add the two numbers together.", None, EXTRACTION_FAILURE, "not code"),
    ("```python\ndef add(a, b):\n    return a + b\n```", None, EXTRACTION_FAILURE, "markdown"),
])
def test_mechanical_outcome(final: str | None, rep: dict[str, Any] | None, tag: str, needle: str) -> None:
    t = tag_attempt(CODE_TASK, rec(final=final, hidden_report=rep))
    assert t[0].tag == tag and needle in t[0].evidence


def test_spec_error_missing_entry_point_and_arity() -> None:
    t = tags(CODE_TASK, rec(final="def plus(a, b):\n    return a + b\n", hidden_report=report("error", [],
                                                                                           exc_type="NameError")))
    assert "no top-level function `add` (defines plus)" in t[SPEC_ERROR]
    t = tags(CODE_TASK, rec(final="def add(a):\n    return a\n", hidden_report=report()))
    assert "cannot be called with 2 positional args" in t[SPEC_ERROR]
    t = tags(CODE_TASK, rec(final="class Solution:\n    def add(self, a, b):\n        return a + b\n"))
    assert "no top-level function `add` (defines no functions)" in t[SPEC_ERROR]


def test_spec_error_return_and_io() -> None:
    t = tags(CODE_TASK, rec(final="def add(a, b):\n    print(a + b)\n", hidden_report=report()))
    assert "never returns a value" in t[SPEC_ERROR]
    t = tags(CODE_TASK, rec(final="def add(a, b) -> str:\n    return str(a + b)\n", hidden_report=report()))
    assert "returns `str` but the spec says `int`" in t[SPEC_ERROR]
    t = tags(CODE_TASK, rec(final="def add(a, b):\n    a = int(input())\n    return a + b\n", hidden_report=report()))
    assert "reads stdin" in t[SPEC_ERROR]


@pytest.mark.parametrize("code", [
    "def add(a, b=0):\n    return a + b\n",
    "def add(*args):\n    return sum(args)\n",
    "def add(a: int, b: int) -> int:\n    def helper(x):\n        return x\n    return helper(a) + b\n",
    "def add(a, b):\n    yield a + b\n",
])
def test_matching_signatures_are_not_spec_errors(code: str) -> None:
    assert SPEC_ERROR not in tags(CODE_TASK, rec(final=code, hidden_report=report()))


def test_arity_from_tests_when_prompt_has_no_signature() -> None:
    t = tags(MBPP_TASK, rec(task_id="mbpp", final="def largest(a, b):\n    return max(a, b)\n",
                            hidden_report=report()))
    assert "cannot be called with 1 positional args" in t[SPEC_ERROR]
    assert SPEC_ERROR not in tags(MBPP_TASK, rec(task_id="mbpp", final="def largest(xs):\n    return min(xs)\n",
                                                 hidden_report=report()))


def test_nested_return_does_not_count_for_the_entry_point() -> None:
    code = "def add(a, b):\n    def inner():\n        return a + b\n    inner()\n"
    assert "never returns a value" in tags(CODE_TASK, rec(final=code, hidden_report=report()))[SPEC_ERROR]


def test_verification_gap_both_ways() -> None:
    t = tags(CODE_TASK, rec(final=GOOD, self_check_passed=True, hidden_report=report()))
    assert "own check passed" in t[VERIFICATION_GAP]
    t = tag_attempt(CODE_TASK, rec(passed=True, final=GOOD, self_check_passed=False))
    assert [x.tag for x in t] == [VERIFICATION_GAP] and "rejected" in t[0].evidence
    assert VERIFICATION_GAP not in tags(CODE_TASK, rec(final=GOOD, self_check_passed=False, hidden_report=report()))


def test_budget_exhausted() -> None:
    t = tags(CODE_TASK, rec(final=GOOD, iterations=3, self_check_passed=False, meta={"max_iters": 3},
                            hidden_report=report()))
    assert t[BUDGET_EXHAUSTED] == "3/3 iterations used, own check never passed"
    assert BUDGET_EXHAUSTED not in tags(CODE_TASK, rec(final=GOOD, iterations=2, self_check_passed=False,
                                                       meta={"max_iters": 3}, hidden_report=report()))


def test_plan_drift_code() -> None:
    plan = "1. Sort the numbers in ascending order\n2. Remove duplicate entries\n3. Return the largest remaining"
    drifted = "def add(a, b):\n    total = a + b\n    return total\n"
    t = tags(CODE_TASK, rec(final=drifted, plan=plan, hidden_report=report()))
    assert "3/3 plan steps not reflected" in t[PLAN_DRIFT] and "'Sort the numbers" in t[PLAN_DRIFT]
    follows = "def add(xs):\n    return max(sorted(set(xs)))\n"
    assert PLAN_DRIFT not in tags(CODE_TASK, rec(final=follows, plan=plan, hidden_report=report()))
    one_step = "Add a and b."
    assert PLAN_DRIFT not in tags(CODE_TASK, rec(final=drifted, plan=one_step, hidden_report=report()))


def test_plan_steps_parsing() -> None:
    assert plan_steps("1. parse\n2) split\n- join\nStep 4: done") == ["parse", "split", "join", "done"]
    assert plan_steps("Parse the input. Then split it.") == ["Parse the input.", "Then split it."]


def test_tool_misuse_rules() -> None:
    never = tags(CODE_TASK, rec(final=GOOD, hidden_report=report(), meta={"tool_calls_detail": []}))
    assert never[TOOL_MISUSE] == "tools were available but never called"
    assert TOOL_MISUSE not in tags(CODE_TASK, rec(final=GOOD, hidden_report=report()))  # no tools offered

    crashed = [{"code": "print(x)", "status": "error", "stdout": "", "error": "NameError: name 'x' is not defined"}]
    t = tags(CODE_TASK, rec(final=GOOD, hidden_report=report(), meta={"tool_calls_detail": crashed}))
    assert "last tool call crashed: NameError" in t[TOOL_MISUSE]

    fixed = crashed + [{"code": "print(1)", "status": "ok", "stdout": "1", "error": None}]
    assert TOOL_MISUSE not in tags(CODE_TASK, rec(final=GOOD, hidden_report=report(),
                                                  meta={"tool_calls_detail": fixed}))

    bad = "def add(a, b):\n    return a - b"
    ignored = [{"code": bad, "status": "error", "stdout": "", "error": "AssertionError: add(1, 2) == 3"}]
    t = tags(CODE_TASK, rec(final=bad, hidden_report=report(), meta={"tool_calls_detail": ignored}))
    assert "final code is the code the last tool call reported failing" in t[TOOL_MISUSE]


def test_math_tags_with_step_evidence() -> None:
    t = tags(MATH_TASK, rec(task_id="m1", final="3 + 4 = 8, times 2 is 16. The answer is 16.", expected="14"))
    assert t[WRONG_ANSWER] == "answer 16 != expected 14; intermediates reached 0/2, first missing: step 1 = 7"
    t = tags(MATH_TASK, rec(task_id="m1", final="I am not sure.", expected="14"))
    assert list(t) == [EXTRACTION_FAILURE]


def test_math_plan_drift_and_ignored_tool_result() -> None:
    t = tags(MATH_TASK, rec(task_id="m1", final="The answer is 15", expected="14",
                            plan="1. 3 + 4 = 7\n2. 7 * 2 = 14"))
    assert t[PLAN_DRIFT] == "plan reaches 14 but the final answer is 15"
    assert t[WRONG_ANSWER] == "answer 15 != expected 14"  # every intermediate is in the plan: no step clause
    calls = [{"code": "print((3 + 4) * 2)", "status": "ok", "stdout": "14\n", "error": None}]
    t = tags(MATH_TASK, rec(task_id="m1", final="The answer is 15", expected="14",
                            meta={"tool_calls_detail": calls}))
    assert "a tool printed the correct answer 14 but the final answer is 15" in t[TOOL_MISUSE]


def test_crashed_attempts() -> None:
    t = tag_attempt(CODE_TASK, rec(error="BackendUnreachable: cannot reach http://localhost:11434"))
    assert [x.tag for x in t] == [BACKEND_ERROR]
    t = tag_attempt(CODE_TASK, rec(error="KeyError: 'plan'"))
    assert [x.tag for x in t] == [ARM_ERROR] and t[0].evidence == "KeyError: 'plan'"


def test_without_task_kind_comes_from_the_record() -> None:
    code = tags(None, rec(final=GOOD, hidden_report=report("error", [], exc_type="ZeroDivisionError")))
    assert RUNTIME_ERROR in code and SPEC_ERROR not in code
    math_ = tags(None, rec(final="The answer is 3", expected="4", hidden_report={"extracted": "3"}))
    assert math_[WRONG_ANSWER] == "answer 3 != expected 4"


def test_every_failed_attempt_gets_a_tag() -> None:
    for record in (rec(final=GOOD), rec(final=GOOD, hidden_report={"exec": {"status": "ok"}, "results": []}),
                   rec(task_id="m1", final="12", expected="14")):
        assert tag_attempt(CODE_TASK if record.task_id == "add" else MATH_TASK, record)


def test_retag_keeps_the_arms_own_tags_and_drops_stale_ones() -> None:
    arm_tag = {"tag": TOOL_MISUSE, "evidence": "no_output (iteration 1, step 2)"}
    record = rec(final=GOOD, hidden_report=report(), meta={"arm_tags": [arm_tag]},
                 failure_tags=[FailureTag(tag="bogus")])
    assert [(t.tag, t.evidence) for t in retag(CODE_TASK, record).failure_tags] == \
        [(TOOL_MISUSE, arm_tag["evidence"]), (WRONG_ANSWER, "1/1 hidden tests failed; first `assert add(2, 2) == 4`: 5 != 4")]


def test_list_state_intermediates_match_any_spacing() -> None:
    task = Task(id="l1", kind="math", prompt="Take [3,1,2], reverse it, sort it, give the 1st element.", answer="1",
                family="list_program", meta={"k": 3}, reference={"steps": [[2, 1, 3], [1, 2, 3], 1]})
    t = tags(task, rec(task_id="l1", final="reversed: [2,1,3]; sorted: [3, 2, 2]. Answer: 3", expected="1"))
    # mention-based: step 3's value 1 counts as reached because "1" appears in the first list
    assert t[WRONG_ANSWER] == "answer 3 != expected 1; intermediates reached 2/3, first missing: step 2 = [1, 2, 3]"
