"""E1 coding graphs: flat coder, flat coder with retries, and planner -> coder -> tester.

Graphs (LangGraph ``StateGraph`` over :class:`CodeState`)::

    flat        START -> coder -> tester -> END
    flat_retry  START -> coder -> tester -> END
                                   `-> coder   (failed, attempts left)
    hier        START -> planner -> coder -> tester -> END
                                               |-> coder    (failed, attempts left)
                                               `-> planner  (failed `replan_after` times in a row)

``max_iters`` bounds the number of coder attempts in every arm (flat always makes one). The nodes
are factories taking the backend and the attempt's :class:`~hrm_agents.runner.ArmConfig` (closure),
so a user can assemble other graphs from them; :func:`route_after_tester` is the conditional edge.

Done decision of the hierarchical arm: the visible tests must pass. Planner-proposed tests are
validated (one ``assert`` calling the entry point; broken ones dropped and recorded), run in a
separate sandbox run once the visible tests pass, reported separately (``planner_report``), and are
*advisory* by default: they are written by the
model and can be wrong, so requiring them would let a wrong planner test reject correct code and
send the loop into rewriting it. With ``options={"planner_tests": "required"}`` they must pass too.

Arm options are typed: :class:`CodingOptions` (every arm), :class:`HierCodingOptions` (``hier``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Literal

from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import END, START, StateGraph
from pydantic import Field

from ..backends.base import Backend
from ..evaluation.records import FailureTag
from ..evaluation.taxonomy import EXTRACTION_FAILURE
from ..runner.arm import ArmConfig, ArmOptions, ArmOutcome, with_options
from ..sandbox import run_tests
from ..tasks.schema import PublicTask
from ..utils.jsonio import to_json
from . import prompts
from .common import StepsState, compiled, gen_params, llm_step, outcome_from_state, tool_step
from .extract import add_prompt_imports, extract_code, validate_tests

PlannerTests = Literal["advisory", "required"]
_ASSERT_LINE = re.compile(r"^\s*(?:[-*]|\d+[.)])?\s*`*(assert\b.*?)`*\s*$")
_TESTS_HEADER = re.compile(r"^\W*tests?\W*:?\W*$", re.IGNORECASE | re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*]|\d+[.)])?\s*")
_PLAN_HEADER = re.compile(r"^\W*plan\W*:?\W*$", re.IGNORECASE | re.MULTILINE)


class CodeState(StepsState, total=False):
    """State of the coding graphs; the final state is the attempt's trace."""

    task: PublicTask
    plan: str | None
    planner_tests: list[str]
    rejected_tests: list[dict[str, str]]
    reply: str
    code: str | None
    extraction: dict[str, Any]
    visible_report: dict[str, Any] | None
    planner_report: dict[str, Any] | None
    self_check: bool
    feedback: str | None
    iterations: int
    plans: int
    failures_since_plan: int


Node = Callable[[CodeState], dict[str, Any]]


def planner_node(backend: Backend, cfg: ArmConfig, *, prompt: ChatPromptTemplate = prompts.PLANNER,
                 max_tests: int = 4, max_tokens: int | None = None, name: str = "planner") -> Node:
    """Decompose the spec into a short plan and proposed tests (validated; rejects recorded).

    On a re-plan the prompt carries the last failure and the previous plan; the coder then starts
    fresh from the new plan (feedback is cleared). ``max_tokens`` caps the reply below
    ``cfg.max_tokens``.
    """
    params = gen_params(cfg)
    if max_tokens is not None:
        params = params.model_copy(update={"max_tokens": min(max_tokens, params.max_tokens)})

    def planner(state: CodeState) -> dict[str, Any]:
        task = state["task"]
        replan = prompts.REPLAN_SECTION.format(feedback=state["feedback"], plan=state.get("plan") or "") \
            if state.get("feedback") else ""
        messages = prompts.render(prompt, prompt=task.prompt, entry_point=task.entry_point,
                                  replan_section=replan)
        text, step = llm_step(backend, name, messages, params, state.get("iterations", 0))
        plan, candidates = parse_plan_and_tests(text)
        tests = validate_tests(candidates, task.entry_point, known=task.visible_tests, limit=max_tests)
        return {"plan": plan, "planner_tests": tests.valid, "feedback": None, "failures_since_plan": 0,
                "rejected_tests": [{"test": t, "reason": r} for t, r in tests.rejected],
                "plans": state.get("plans", 0) + 1, "steps": [step]}

    return planner


def parse_plan_and_tests(text: str) -> tuple[str, list[str]]:
    """Split a planner reply into the plan text and candidate tests.

    Candidates are every line of the TESTS section (fences and bullets stripped; non-asserts are
    kept so validation can record them as rejected), or the ``assert`` lines anywhere when the reply
    has no TESTS header.
    """
    header = _TESTS_HEADER.search(text)
    plan_part = text[:header.start()] if header else text
    plan = "\n".join(line for line in _PLAN_HEADER.sub("", plan_part).strip().splitlines()
                     if not _ASSERT_LINE.match(line) and not line.startswith("```"))
    if header:
        lines = [line for line in text[header.end():].splitlines()
                 if line.strip() and not line.lstrip().startswith("```")]
        tests = [_BULLET.sub("", line).strip().strip("`") for line in lines]
    else:
        tests = [m.group(1) for line in text.splitlines() if (m := _ASSERT_LINE.match(line))]
    return prompts.clip(plan.strip(), prompts.MAX_PLAN_CHARS), tests


def coder_node(backend: Backend, cfg: ArmConfig, *, prompt: ChatPromptTemplate = prompts.CODER,
               name: str = "coder") -> Node:
    """Write the function: from the task, the plan (if any) and the last failure (if any)."""

    def coder(state: CodeState) -> dict[str, Any]:
        task = state["task"]
        attempt = state.get("iterations", 0) + 1
        plan = prompts.PLAN_SECTION.format(plan=state["plan"]) if state.get("plan") else ""
        revision = prompts.REVISION_SECTION.format(
            code=prompts.clip(state.get("code") or state.get("reply", ""), prompts.MAX_CODE_CHARS),
            feedback=state["feedback"]) if state.get("feedback") else ""
        messages = prompts.render(prompt, prompt=task.prompt, entry_point=task.entry_point,
                                  plan_section=plan, revision_section=revision)
        text, step = llm_step(backend, name, messages, gen_params(cfg), attempt)
        found = extract_code(text, task.entry_point)
        code = add_prompt_imports(found.code, task.prompt) if found.code is not None else None
        return {"reply": text, "code": code, "iterations": attempt, "steps": [step],
                "extraction": {"method": found.method, "error": found.error}}

    return coder


class CodingOptions(ArmOptions):
    """Options of every coding arm."""

    planner_tests: Literal["advisory", "required"] = Field(
        "advisory", description="whether the planner's tests must pass too (hier; see the module docstring)")


class HierCodingOptions(CodingOptions):
    """Options of the hierarchical coding arm."""

    replan_after: int = Field(2, ge=0, description="failures in a row before re-planning (0: never re-plan)")
    planner_max_tokens: int = Field(
        256, ge=1, description="token cap of a planner reply: a plan of at most 5 steps and 4 asserts fits in it, "
                               "and a greedy repetition loop then costs 256 tokens, not --max_tokens")


def tester_node(cfg: ArmConfig, *, name: str = "tester") -> Node:
    """Run the visible tests and, once they pass, the planner's tests (a separate run), in the sandbox.

    Sets ``self_check`` (visible tests pass, plus planner tests if ``options["planner_tests"]`` is
    ``"required"``) and, on failure, ``feedback`` naming the failing assertion for the next coder.
    """
    required = CodingOptions.of(cfg).planner_tests == "required"

    def tester(state: CodeState) -> dict[str, Any]:
        task, code, attempt = state["task"], state.get("code"), state.get("iterations", 0)
        failures = state.get("failures_since_plan", 0) + 1
        if code is None:
            feedback = prompts.FEEDBACK_EXTRACTION.format(error=state["extraction"]["error"],
                                                          entry_point=task.entry_point)
            return {"self_check": False, "feedback": feedback, "visible_report": None,
                    "planner_report": None, "failures_since_plan": failures}
        steps = []
        visible, step = _run(name, code, task.visible_tests, attempt)
        steps.append(step)
        planner = None
        if visible["passed"] and state.get("planner_tests"):
            planner, step = _run(name, code, state["planner_tests"], attempt)
            steps.append(step)
        ok = visible["passed"] and (not required or planner is None or planner["passed"])
        feedback = None if ok else prompts.clip(_feedback(planner or visible, planner_tests=planner is not None),
                                                prompts.MAX_FEEDBACK_CHARS)
        return {"self_check": ok, "feedback": feedback, "visible_report": visible, "planner_report": planner,
                "failures_since_plan": 0 if ok else failures, "steps": steps}

    return tester


def _run(node: str, code: str, tests: list[str], attempt: int) -> tuple[dict[str, Any], Any]:
    start = time.perf_counter()
    report = run_tests(code, list(tests))
    summary = {  # with no tests to run, "passed" means the code itself ran cleanly
        "passed": report.passed if tests else report.exec.status == "ok", "n_passed": report.n_passed, "n_total": report.n_total,
        "status": report.exec.status,
        "exec_error": f"{report.exec.exc_type}: {report.exec.exc_message}" if report.exec.exc_type else None,
        "exc_line": report.exec.exc_line,
        "failures": [to_json(r) for r in report.results if not r.passed][:5],
    }
    return summary, tool_step(node, {"tests": list(tests)}, to_json(report), time.perf_counter() - start, attempt)


def _feedback(report: dict[str, Any], *, planner_tests: bool) -> str:
    """One failure, as the coder should see it: the crash, the stop reason or the failing assert."""
    if report["status"] != "ok" and report["exec_error"]:
        exc_type, _, exc_message = report["exec_error"].partition(": ")
        where = f"\nat line: {report['exc_line']}" if report.get("exc_line") else ""
        return prompts.FEEDBACK_EXEC.format(exc_type=exc_type, exc_message=exc_message, where=where)
    if report["status"] != "ok" or not report["failures"]:
        return prompts.FEEDBACK_STATUS.format(status=report["status"],
                                              detail=f"{report['n_passed']}/{report['n_total']} tests passed")
    first = report["failures"][0]
    error = ": ".join(x for x in (first.get("exc_type"), first.get("message")) if x) or "AssertionError"
    template = prompts.FEEDBACK_PLANNER_TEST if planner_tests else prompts.FEEDBACK_TEST
    return template.format(test=first["test"], error=error)


def route_after_tester(cfg: ArmConfig, *, retry: bool, replan_after: int | None = None
                       ) -> Callable[[CodeState], str]:
    """Conditional edge after the tester: ``"done"``, ``"coder"`` or ``"planner"``.

    Done when the self-check passed, when retries are off, or when ``cfg.max_iters`` coder attempts
    were made; back to the planner after ``replan_after`` failures in a row since the last plan.
    """

    def route(state: CodeState) -> str:
        if state["self_check"] or not retry or state["iterations"] >= cfg.max_iters:
            return "done"
        if replan_after is not None and state["failures_since_plan"] >= replan_after:
            return "planner"
        return "coder"

    return route


def build_flat_graph(backend: Backend, cfg: ArmConfig, *, retry: bool = False):
    """Compiled flat graph: coder -> tester, looping back to the coder if ``retry``."""
    g = StateGraph(CodeState)
    g.add_node("coder", coder_node(backend, cfg))
    g.add_node("tester", tester_node(cfg))
    g.add_edge(START, "coder")
    g.add_edge("coder", "tester")
    g.add_conditional_edges("tester", route_after_tester(cfg, retry=retry), {"done": END, "coder": "coder"})
    return g.compile()


def build_hier_graph(backend: Backend, cfg: ArmConfig):
    """Compiled hierarchical graph: planner -> coder -> tester -> done | coder | planner.

    ``cfg.options``: see :class:`HierCodingOptions`.
    """
    options = HierCodingOptions.of(cfg)
    replan_after = options.replan_after or None
    g = StateGraph(CodeState)
    g.add_node("planner", planner_node(backend, cfg, max_tokens=options.planner_max_tokens))
    g.add_node("coder", coder_node(backend, cfg))
    g.add_node("tester", tester_node(cfg))
    g.add_edge(START, "planner")
    g.add_edge("planner", "coder")
    g.add_edge("coder", "tester")
    g.add_conditional_edges("tester", route_after_tester(cfg, retry=True, replan_after=replan_after),
                            {"done": END, "coder": "coder", "planner": "planner"})
    return g.compile()


def run_code_graph(graph: Any, task: PublicTask, cfg: ArmConfig) -> ArmOutcome:
    """Invoke a compiled coding graph on a task and turn its final state into an ArmOutcome."""
    state = graph.invoke({"task": task, "iterations": 0, "plans": 0, "failures_since_plan": 0, "steps": []},
                         {"recursion_limit": 4 * cfg.max_iters + 10})
    tags = [] if state.get("code") is not None else [
        FailureTag(tag=EXTRACTION_FAILURE, evidence=str(state["extraction"]["error"]))]
    return outcome_from_state(state, final=state.get("code"), self_check_passed=state["self_check"],
                              iterations=state["iterations"], plan=state.get("plan"), tags=tags)


@with_options(CodingOptions)
def flat_arm(task: PublicTask, backend: Backend, cfg: ArmConfig) -> ArmOutcome:
    """Arm B: one coder call, one run of the visible tests, no revision."""
    return run_code_graph(compiled(build_flat_graph, backend, cfg, retry=False), task, cfg)


@with_options(CodingOptions)
def flat_retry_arm(task: PublicTask, backend: Backend, cfg: ArmConfig) -> ArmOutcome:
    """Ablation: the flat coder revising from test feedback, up to ``max_iters`` attempts."""
    return run_code_graph(compiled(build_flat_graph, backend, cfg, retry=True), task, cfg)


@with_options(HierCodingOptions)
def hier_arm(task: PublicTask, backend: Backend, cfg: ArmConfig) -> ArmOutcome:
    """Arm A: planner -> coder -> tester with retries and re-planning (see module docstring)."""
    return run_code_graph(compiled(build_hier_graph, backend, cfg), task, cfg)


CODING_ARMS = {"flat": flat_arm, "flat_retry": flat_retry_arm, "hier": hier_arm}
"""The E1 arms by their CLI names."""
