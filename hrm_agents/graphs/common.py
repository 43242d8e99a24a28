"""Node accounting shared by every graph (coding, math, ...).

Each node appends :class:`Step` records to the state's ``steps`` list (a LangGraph ``operator.add``
channel): one per model call (:func:`llm_step`) or tool call (:func:`tool_step`). The steps are
the costs of an attempt; :func:`outcome_from_state` sums them into an
:class:`~hrm_agents.runner.ArmOutcome`, and the final state itself is the trace written to disk.
"""

from __future__ import annotations

import operator
import threading
import time
from typing import Annotated, Any, Callable, Iterable, TypedDict

from ..backends.base import Backend, GenParams, Message
from ..evaluation.records import FailureTag
from ..runner.arm import ArmConfig, ArmOutcome
from ..utils.jsonio import to_json


class Step(TypedDict):
    """One model or tool call made by a node."""

    node: str
    iteration: int
    kind: str  # "llm" or "tool"
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    tool_calls: int
    input: Any
    output: Any
    cached: bool  # answered from the response cache; latency_s is then the original call's


Steps = Annotated[list[Step], operator.add]
"""State channel type for the step log: nodes return ``{"steps": [step]}`` and LangGraph appends."""


class StepsState(TypedDict, total=False):
    """Base state of every graph: the step log."""

    steps: Steps


def gen_params(cfg: ArmConfig) -> GenParams:
    """The generation parameters of an attempt."""
    return GenParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)


def llm_step(backend: Backend, node: str, messages: list[Message], params: GenParams,
             iteration: int = 0) -> tuple[str, Step]:
    """Call the model once and return its text with the step record of the call.

    Latency is the backend's own measure when it reports one, else the wall time of the call; a
    call answered from the response cache keeps the original call's latency and is marked
    ``cached``. Backend errors propagate (the runner records them as ``backend_error``).
    """
    start = time.perf_counter()
    completion = backend.complete(messages, params)
    wall = time.perf_counter() - start
    return completion.text, Step(
        node=node, iteration=iteration, kind="llm",
        prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
        latency_s=completion.latency_s or wall, tool_calls=0,
        input=[m.model_dump() for m in messages], output=completion.text, cached=completion.cached)


def tool_step(node: str, tool_input: Any, output: Any, latency_s: float, iteration: int = 0,
              tool_calls: int = 1) -> Step:
    """The step record of a tool call (sandbox run, calculator, ...)."""
    return Step(node=node, iteration=iteration, kind="tool", prompt_tokens=0, completion_tokens=0,
                latency_s=latency_s, tool_calls=tool_calls, input=to_json(tool_input),
                output=to_json(output), cached=False)


def outcome_from_state(state: dict[str, Any], *, final: str | None, self_check_passed: bool | None,
                       iterations: int, plan: str | None = None,
                       tags: Iterable[FailureTag] = ()) -> ArmOutcome:
    """Sum the step log of a finished graph into an :class:`ArmOutcome` whose trace is the state."""
    steps: Iterable[Step] = state.get("steps", [])
    llm = [s for s in steps if s["kind"] == "llm"]
    return ArmOutcome(
        final=final, self_check_passed=self_check_passed, iterations=iterations, plan=plan,
        tool_calls=sum(s["tool_calls"] for s in steps),
        model_calls=len(llm),
        prompt_tokens=sum(s["prompt_tokens"] for s in llm),
        completion_tokens=sum(s["completion_tokens"] for s in llm),
        call_latencies_s=[s["latency_s"] for s in llm],
        replayed_s=sum(s["latency_s"] for s in llm if s.get("cached")),
        tags=list(tags),
        trace=to_json(state),
    )


_GRAPHS_LOCK = threading.Lock()


def compiled(build: Callable[..., Any], backend: Backend, cfg: ArmConfig, *args: Any, **kwargs: Any) -> Any:
    """``build(backend, cfg, *args, **kwargs)``, compiled once per backend and setting and reused.

    A graph's nodes close over the backend and the attempt's :class:`ArmConfig`, which is the same
    for every task of a run (up to the sample index), so an arm compiles its graph once per run and
    sample instead of once per attempt. Compiled graphs keep no state between invocations; they are
    kept on the backend object, so they go when it goes.
    """
    key = (build, cfg.model_dump_json(), args, tuple(sorted(kwargs.items())))
    with _GRAPHS_LOCK:
        graphs = vars(backend).setdefault("_compiled_graphs", {})
        if key not in graphs:
            graphs[key] = build(backend, cfg, *args, **kwargs)
        return graphs[key]
