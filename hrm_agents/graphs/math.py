"""E2 math graphs: chain-of-thought, one Program-of-Thought tool call, and supervisor -> PoT
executors -> verifier.

Graphs (LangGraph ``StateGraph`` over :class:`MathState`)::

    flat       START -> solver -> END
    flat_tool  START -> tool_solver -> tools -> observe -> answer -> END
                                   `-> END   (no codelet: the reply is the answer)
    hier       START -> supervisor -> executor -> tools -> observe -> executor (next subgoal)
                                          |                       `-> verifier
                                          `-> executor | verifier   (no codelet for this subgoal)
               verifier -> END | supervisor (rejected, with the reason; at most ``max_iters`` plans)

Codelets run only in the sandbox, through LangGraph's ``ToolNode`` with the sandbox
``python_tool``: the small models we target do not emit native tool calls, so the node that wrote
the codelet turns it into an ``AIMessage`` tool call itself. Every codelet run is recorded
(``tool_log``: code, status, stdout, error) and classified; misuse (code that errors, code that
prints nothing, prose sent to the tool as code, a required tool call never made) is listed in
``misuse`` and reported as a ``tool_misuse`` tag.

The hierarchical answer is what the last subgoal's codelet printed. The verifier first runs
:func:`~hrm_agents.tasks.plausibility.rule_checks` (a number at all, finite, whole when the question counts, not negative for an
amount, a percentage not given as a fraction, plausible size); only an answer that passes them goes
to the model for a verdict. When the budget runs out the last answer found is returned, with
``self_check_passed=False``.
"""

from __future__ import annotations

import operator
import re
from typing import Annotated, Any, Callable, Sequence, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from pydantic import Field

from ..backends.base import Backend, GenParams
from ..evaluation.records import FailureTag
from ..evaluation.taxonomy import TOOL_MISUSE
from ..runner.arm import ArmConfig, ArmOptions, ArmOutcome, with_options
from ..sandbox import python_tool
from ..tasks.answers import extract_answer
from ..tasks.plausibility import rule_checks
from ..tasks.schema import PublicTask
from . import prompts
from .common import StepsState, compiled, gen_params, llm_step, outcome_from_state, tool_step
from .extract import extract_codelet, looks_like_code, syntax_error

TOOL_ARG = "code"  # the argument of the sandbox python_tool
CODE_STOP = ("\n```\n\n",)  # end of a code block followed by prose: the codelet is complete
VERDICT_STOP = ("\n\n",)
_STEP_LINE = re.compile(r"^\s*(?:\d+\s*[.):]|[-*\u2022]|step\s*\d+\s*[:.)-]?)\s*(\S.*)$", re.IGNORECASE)
_VERDICT = re.compile(r"\b(ACCEPT|REJECT)\w*\b[\s:.,-]*(.*)", re.IGNORECASE | re.DOTALL)


class ToolCall(TypedDict):
    """One codelet for the Python tool and what came of it (one row of ``tool_calls_detail``).

    ``status`` is the sandbox status, or ``"no_call"`` for a subgoal whose reply had no codelet
    (then no tool ran). ``misuse`` is None for a clean call, else one of ``"error"``,
    ``"no_output"``, ``"non_code"``, ``"no_tool_call"``.
    """

    node: str
    iteration: int
    step: int
    code: str
    status: str
    stdout: str
    error: str | None
    misuse: str | None


class Verdict(TypedDict):
    """The verifier's decision on one round's answer (``source``: rules, llm or llm_unclear)."""

    iteration: int
    answer: str | None
    accepted: bool
    source: str
    reason: str


class MathState(StepsState, total=False):
    """State of the math graphs; the final state is the attempt's trace."""

    task: PublicTask
    messages: Annotated[list[AnyMessage], add_messages]
    reply: str
    answer: str | None
    iterations: int
    plan: list[str]
    results: list[ToolCall]
    tool_log: Annotated[list[ToolCall], operator.add]
    misuse: Annotated[list[ToolCall], operator.add]
    verdicts: Annotated[list[Verdict], operator.add]
    feedback: str | None
    self_check: bool | None


Node = Callable[[MathState], dict[str, Any]]


def _params(cfg: ArmConfig, stop: tuple[str, ...]) -> GenParams:
    return gen_params(cfg).model_copy(update={"stop": stop})


# -- codelets and the tool -------------------------------------------------------------------------

def _tool_request(node: str, reply: str, iteration: int, results: list[ToolCall]) -> dict[str, Any]:
    """The state update of a node whose reply should contain a codelet: a tool-call ``AIMessage``
    for the ``ToolNode``, or (no codelet) a ``no_call`` result with ``no_tool_call`` misuse."""
    found = extract_codelet(reply)
    step = len(results) + 1
    if found.code is None:
        missing = ToolCall(node=node, iteration=iteration, step=step, code="", status="no_call", stdout="",
                           error=found.error, misuse="no_tool_call")
        return {"results": [*results, missing], "misuse": [missing]}
    call = {"name": python_tool.name, "args": {TOOL_ARG: found.code}, "id": f"call-{iteration}-{step}",
            "type": "tool_call"}
    return {"messages": [AIMessage(content=reply, name=node, tool_calls=[call])]}


def pending_tool_call(state: MathState) -> bool:
    """Whether the last message is a tool call the ``ToolNode`` has not answered yet."""
    messages = state.get("messages") or []
    return bool(messages) and isinstance(messages[-1], AIMessage) and bool(messages[-1].tool_calls)


def _exec_summary(message: ToolMessage) -> tuple[str, str, str | None, float]:
    """(status, stdout, error, duration_s) of the sandbox run behind a ``ToolMessage``."""
    result = message.artifact
    if result is None:  # the tool itself raised; ToolNode put the error text in the content
        return "error", "", str(message.content), 0.0
    if result.status == "ok":
        error = None
    elif result.exc_type:
        where = f" at `{result.exc_line.strip()}`" if result.exc_line else ""
        error = f"{result.exc_type}: {result.exc_message}{where}"
    else:
        error = f"{result.status}: {result.stderr.strip()[-300:]}".rstrip(": ")
    return result.status, result.stdout, error, result.duration_s


def classify_misuse(code: str, status: str, stdout: str) -> str | None:
    """``non_code`` (the input does not parse and no line of it is code), ``error`` (it crashed,
    did not parse, or hit a limit), ``no_output`` (it ran but printed nothing) or None for a clean
    call."""
    if syntax_error(code) is not None and not looks_like_code(code):
        return "non_code"
    if status != "ok":
        return "error"
    return None if stdout.strip() else "no_output"


def observe_node(*, tool_node: str = "tools") -> Node:
    """Record the ``ToolNode``'s last run: one :class:`ToolCall` (attributed to the node that wrote
    the codelet) in ``results`` and ``tool_log``, and a tool step of ``tool_node`` for the cost
    accounting."""

    def observe(state: MathState) -> dict[str, Any]:
        request, message = state["messages"][-2], state["messages"][-1]
        code = request.tool_calls[0]["args"][TOOL_ARG]
        status, stdout, error, duration = _exec_summary(message)
        record = ToolCall(node=request.name, iteration=state.get("iterations", 0),
                          step=len(state.get("results", [])) + 1, code=code, status=status, stdout=stdout,
                          error=error, misuse=classify_misuse(code, status, stdout))
        step = tool_step(tool_node, {TOOL_ARG: code}, {"status": status, "stdout": stdout, "error": error},
                         duration, record["iteration"])
        return {"results": [*state.get("results", []), record], "tool_log": [record], "steps": [step],
                "misuse": [record] if record["misuse"] else []}

    return observe


def _observation(call: ToolCall) -> str:
    """What a later prompt shows of a tool call."""
    if call["status"] == "no_call":
        return "no program was written"
    if call["error"]:
        return f"error: {call['error'][:300]}"
    return call["stdout"].strip()[:300] or "the program printed nothing"


# -- flat ------------------------------------------------------------------------------------------

def solver_node(backend: Backend, cfg: ArmConfig, *, prompt: ChatPromptTemplate = prompts.MATH_FLAT,
                name: str = "solver") -> Node:
    """Chain-of-thought: one model call; the answer is extracted from the reply."""

    def solver(state: MathState) -> dict[str, Any]:
        messages = prompts.render(prompt, question=state["task"].prompt)
        text, step = llm_step(backend, name, messages, gen_params(cfg), 1)
        return {"reply": text, "answer": extract_answer(text), "iterations": 1, "steps": [step]}

    return solver


def tool_solver_node(backend: Backend, cfg: ArmConfig, *,
                     prompt: ChatPromptTemplate = prompts.MATH_FLAT_TOOL, name: str = "tool_solver") -> Node:
    """Ask for one codelet; without one, the reply is taken as the answer (and the missing tool
    call is recorded as misuse). Generation stops after the code block (:data:`CODE_STOP`)."""

    def tool_solver(state: MathState) -> dict[str, Any]:
        messages = prompts.render(prompt, question=state["task"].prompt)
        text, step = llm_step(backend, name, messages, _params(cfg, CODE_STOP), 1)
        update = {"reply": text, "iterations": 1, "steps": [step]} | _tool_request(name, text, 1, [])
        if not pending_tool_call(update):
            update["answer"] = extract_answer(text)
        return update

    return tool_solver


def tool_answer_node(backend: Backend, cfg: ArmConfig, *,
                     prompt: ChatPromptTemplate = prompts.MATH_TOOL_ANSWER, name: str = "answer") -> Node:
    """The node answers, having seen its codelet and what the tool returned."""

    def answer(state: MathState) -> dict[str, Any]:
        call = state["results"][-1]
        messages = prompts.render(prompt, question=state["task"].prompt, code=call["code"].strip(),
                                  observation=_observation(call))
        text, step = llm_step(backend, name, messages, gen_params(cfg), 1)
        return {"answer": extract_answer(text), "steps": [step]}

    return answer


# -- hierarchical ----------------------------------------------------------------------------------

def parse_subgoals(text: str, max_subgoals: int) -> list[str]:
    """Numbered or bulleted lines of a supervisor reply, at most ``max_subgoals`` (the first ones and
    the last, which computes the answer); the whole reply as one subgoal if it has no such lines."""
    steps = [m.group(1).strip() for line in text.splitlines() if (m := _STEP_LINE.match(line))]
    if not steps:
        return [" ".join(text.split())[:300] or "Compute the answer."]
    return steps if len(steps) <= max_subgoals else steps[:max_subgoals - 1] + steps[-1:]


def _numbered(plan: list[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(plan, 1))


def _results_text(results: list[ToolCall]) -> str:
    return "\n".join(f"Step {c['step']}: {_observation(c)}" for c in results) or "(none yet)"


def supervisor_node(backend: Backend, cfg: ArmConfig, *, max_subgoals: int = 3,
                    prompt: ChatPromptTemplate = prompts.MATH_SUPERVISOR, name: str = "supervisor") -> Node:
    """Write a plan of at most ``max_subgoals`` subgoals (generation stops when the model starts
    one more); on a re-plan the prompt carries the previous plan and the verifier's reason for
    rejecting its answer."""
    params = _params(cfg, (f"\n{max_subgoals + 1}.",))

    def supervisor(state: MathState) -> dict[str, Any]:
        iteration = state.get("iterations", 0) + 1
        replan = prompts.MATH_REPLAN_SECTION.format(plan=_numbered(state["plan"]), reason=state["feedback"]) \
            if state.get("feedback") else ""
        messages = prompts.render(prompt, question=state["task"].prompt, max_subgoals=max_subgoals,
                                  replan_section=replan)
        text, step = llm_step(backend, name, messages, params, iteration)
        return {"plan": parse_subgoals(text, max_subgoals), "results": [], "feedback": None,
                "iterations": iteration, "steps": [step]}

    return supervisor


def executor_node(backend: Backend, cfg: ArmConfig, *, prompt: ChatPromptTemplate = prompts.MATH_EXECUTOR,
                  name: str = "executor") -> Node:
    """Write the codelet of the next subgoal, given the plan and the earlier subgoals' results
    (generation stops after the code block)."""

    def executor(state: MathState) -> dict[str, Any]:
        plan, results = state["plan"], state.get("results", [])
        step = len(results) + 1
        messages = prompts.render(
            prompt, question=state["task"].prompt, plan=_numbered(plan), results=_results_text(results),
            step=step, subgoal=plan[step - 1],
            what="only the final answer" if step == len(plan) else "the result")
        text, llm = llm_step(backend, name, messages, _params(cfg, CODE_STOP), state["iterations"])
        return {"steps": [llm]} | _tool_request(name, text, state["iterations"], results)

    return executor


def parse_verdict(text: str) -> tuple[bool | None, str]:
    """(accepted, reason) from a verifier reply; accepted is None when it says neither word."""
    m = _VERDICT.search(text)
    if m is None:
        return None, "the verifier gave no verdict"
    reason = " ".join(m.group(2).split())[:300]
    if m.group(1).upper() == "ACCEPT":
        return True, reason
    return False, reason or "the verifier rejected the answer without a reason"


def verifier_node(backend: Backend, cfg: ArmConfig, *, prompt: ChatPromptTemplate = prompts.MATH_VERIFIER,
                  name: str = "verifier") -> Node:
    """Check the round's answer (what the last codelet printed): :func:`rule_checks` first, then a
    model verdict. A reply with no verdict counts as acceptance (the rules passed), recorded as
    ``llm_unclear``. Sets ``self_check``, ``answer`` (if this round found one) and, on rejection,
    ``feedback`` for the supervisor."""

    def verifier(state: MathState) -> dict[str, Any]:
        task, plan, results, iteration = state["task"], state["plan"], state["results"], state["iterations"]
        last = results[-1]
        answer = extract_answer(last["stdout"]) if last["status"] == "ok" else None
        steps = []
        if problems := rule_checks(task.prompt, answer):
            accepted, source, reason = False, "rules", "; ".join(problems)
        else:
            messages = prompts.render(prompt, question=task.prompt, plan=_numbered(plan),
                                      results=_results_text(results), answer=answer)
            text, llm = llm_step(backend, name, messages, _params(cfg, VERDICT_STOP), iteration)
            steps.append(llm)
            said, reason = parse_verdict(text)
            accepted, source = (True, "llm_unclear") if said is None else (said, "llm")
        verdict = Verdict(iteration=iteration, answer=answer, accepted=accepted, source=source, reason=reason)
        update: dict[str, Any] = {"self_check": accepted, "feedback": None if accepted else reason,
                                  "verdicts": [verdict], "steps": steps}
        if answer is not None:
            update["answer"] = answer
        return update

    return verifier


def route_step(state: MathState) -> str:
    """Conditional edge after an executor or observe: ``"tools"`` (a codelet to run),
    ``"executor"`` (subgoals left) or ``"verifier"``."""
    if pending_tool_call(state):
        return "tools"
    return "executor" if len(state["results"]) < len(state["plan"]) else "verifier"


def route_after_verifier(cfg: ArmConfig) -> Callable[[MathState], str]:
    """``"done"`` when the answer is accepted or ``cfg.max_iters`` plans were made, else
    ``"supervisor"`` (re-plan with the verifier's reason)."""

    def route(state: MathState) -> str:
        return "done" if state["self_check"] or state["iterations"] >= cfg.max_iters else "supervisor"

    return route


# -- graphs and arms -------------------------------------------------------------------------------

def build_flat_graph(backend: Backend, cfg: ArmConfig, examples: Sequence[str] = ()):
    """Compiled chain-of-thought graph: solver -> END. ``examples``: few-shot worked solutions
    shown in the system message of every model call (:func:`~hrm_agents.graphs.prompts.with_examples`)."""
    g = StateGraph(MathState)
    g.add_node("solver", solver_node(backend, cfg, prompt=prompts.with_examples(prompts.MATH_FLAT, examples)))
    g.add_edge(START, "solver")
    g.add_edge("solver", END)
    return g.compile()


def build_flat_tool_graph(backend: Backend, cfg: ArmConfig, examples: Sequence[str] = ()):
    """Compiled flat + tool graph: tool_solver -> tools -> observe -> answer, or tool_solver -> END
    (``examples`` as in :func:`build_flat_graph`)."""
    g = StateGraph(MathState)
    g.add_node("tool_solver", tool_solver_node(backend, cfg,
                                               prompt=prompts.with_examples(prompts.MATH_FLAT_TOOL, examples)))
    g.add_node("tools", ToolNode([python_tool]))
    g.add_node("observe", observe_node())
    g.add_node("answer", tool_answer_node(backend, cfg, prompt=prompts.with_examples(prompts.MATH_TOOL_ANSWER,
                                                                                   examples)))
    g.add_edge(START, "tool_solver")
    g.add_conditional_edges("tool_solver", lambda s: "tools" if pending_tool_call(s) else "done",
                            {"tools": "tools", "done": END})
    g.add_edge("tools", "observe")
    g.add_edge("observe", "answer")
    g.add_edge("answer", END)
    return g.compile()


class HierMathOptions(ArmOptions):
    """Options of the hierarchical math arm."""

    max_subgoals: int = Field(3, ge=1, description="most subgoals in one plan")


def build_hier_graph(backend: Backend, cfg: ArmConfig, examples: Sequence[str] = ()):
    """Compiled supervisor -> executors (PoT, via the ToolNode) -> verifier graph.

    ``cfg.options``: see :class:`HierMathOptions`; ``examples`` as in :func:`build_flat_graph`.
    """
    max_subgoals = HierMathOptions.of(cfg).max_subgoals
    g = StateGraph(MathState)
    g.add_node("supervisor", supervisor_node(backend, cfg, max_subgoals=max_subgoals,
                                             prompt=prompts.with_examples(prompts.MATH_SUPERVISOR, examples)))
    g.add_node("executor", executor_node(backend, cfg, prompt=prompts.with_examples(prompts.MATH_EXECUTOR, examples)))
    g.add_node("tools", ToolNode([python_tool]))
    g.add_node("observe", observe_node())
    g.add_node("verifier", verifier_node(backend, cfg, prompt=prompts.with_examples(prompts.MATH_VERIFIER, examples)))
    g.add_edge(START, "supervisor")
    g.add_edge("supervisor", "executor")
    step_targets = {"tools": "tools", "executor": "executor", "verifier": "verifier"}
    g.add_conditional_edges("executor", route_step, step_targets)
    g.add_edge("tools", "observe")
    g.add_conditional_edges("observe", route_step, step_targets)
    g.add_conditional_edges("verifier", route_after_verifier(cfg), {"done": END, "supervisor": "supervisor"})
    return g.compile()


def misuse_tags(bad: list[ToolCall]) -> list[FailureTag]:
    """One ``tool_misuse`` tag listing the misused calls, or none."""
    if not bad:
        return []
    evidence = "; ".join(f"{c['misuse']} (iteration {c['iteration']}, step {c['step']}"
                         + (f": {c['error'][:80]})" if c["error"] else ")") for c in bad)
    return [FailureTag(tag=TOOL_MISUSE, evidence=f"{len(bad)} misused tool call(s): {evidence}")]


def run_math_graph(graph: Any, task: PublicTask, cfg: ArmConfig, *, tools: bool,
                   recursion_limit: int = 25) -> ArmOutcome:
    """Invoke a compiled math graph and turn its final state into an :class:`ArmOutcome`.

    With ``tools``, ``outcome.meta`` (merged into the record's meta by the runner) carries
    ``tool_calls_detail``: one row per codelet run (code, status, stdout, error, misuse, iteration,
    step), present even when empty (the taxonomy reads an empty list as "tools offered but never
    called").
    """
    state = graph.invoke({"task": task, "iterations": 0, "steps": [], "results": [], "tool_log": [],
                          "misuse": [], "verdicts": [], "messages": []}, {"recursion_limit": recursion_limit})
    plan = _numbered(state["plan"]) if state.get("plan") else None
    outcome = outcome_from_state(state, final=state.get("answer"), self_check_passed=state.get("self_check"),
                                 iterations=state["iterations"], plan=plan, tags=misuse_tags(state["misuse"]))
    if tools:
        outcome.meta["tool_calls_detail"] = [
            {k: c[k] for k in ("code", "status", "stdout", "error", "misuse", "iteration", "step")}
            for c in state["tool_log"]]
    return outcome


def flat_arm(task: PublicTask, backend: Backend, cfg: ArmConfig, *, examples: Sequence[str] = ()) -> ArmOutcome:
    """Flat, no tool: one chain-of-thought call (``examples``: few-shot worked solutions)."""
    return run_math_graph(compiled(build_flat_graph, backend, cfg, tuple(examples)), task, cfg, tools=False)


def flat_tool_arm(task: PublicTask, backend: Backend, cfg: ArmConfig, *,
                  examples: Sequence[str] = ()) -> ArmOutcome:
    """Flat + tool: one codelet, run in the sandbox, then the node answers."""
    return run_math_graph(compiled(build_flat_tool_graph, backend, cfg, tuple(examples)), task, cfg, tools=True)


@with_options(HierMathOptions)
def hier_arm(task: PublicTask, backend: Backend, cfg: ArmConfig, *, examples: Sequence[str] = ()) -> ArmOutcome:
    """Supervisor -> PoT executors -> verifier, at most ``cfg.max_iters`` plans (see module docstring)."""
    return run_math_graph(compiled(build_hier_graph, backend, cfg, tuple(examples)), task, cfg, tools=True,
                          recursion_limit=cfg.max_iters * (2 + 3 * HierMathOptions.of(cfg).max_subgoals) + 5)


MATH_ARMS = {"flat": flat_arm, "flat_tool": flat_tool_arm, "hier": hier_arm}
"""The E2 arms by their CLI names; each also takes ``examples=`` (few-shot worked solutions, used by E3)."""
