"""Arms built from other arms or from one fixed model: few-shot exemplars around an arm, and a
single call to a model that is not the run's backend (e.g. the native HRM)."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ..backends.base import Backend, GenParams, Message
from ..runner.arm import ArmConfig, ArmFn, ArmOutcome


def few_shot_arm(base: Callable[..., ArmOutcome], exemplars: Mapping[str, Sequence[tuple[str, str]]]) -> ArmFn:
    """``base`` (an arm taking ``examples=``, e.g. an E2 math arm) given the exemplar texts of the
    task's family (``exemplars[family]`` = ``[(id, text), ...]``; none for a family not in it); the
    exemplar ids go to ``meta["exemplars"]`` of the attempt's record."""
    shown = {f: ([text for _, text in ex], [i for i, _ in ex]) for f, ex in exemplars.items()}

    def arm(task: Any, backend: Backend, cfg: ArmConfig) -> ArmOutcome:
        examples, ids = shown.get(task.family, ([], []))
        outcome = base(task, backend, cfg, examples=examples)
        outcome.meta["exemplars"] = ids
        return outcome

    return arm


def single_call_arm(model: Backend) -> ArmFn:
    """One call to ``model`` (e.g. an HRMBackend) with the question; the answer is the completion text.
    The run's backend is not used."""

    def arm(task: Any, backend: Backend, cfg: ArmConfig) -> ArmOutcome:
        c = model.complete([Message(role="user", content=task.prompt)],
                           GenParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed))
        return ArmOutcome(final=c.text or None, iterations=1, model_calls=1, prompt_tokens=c.prompt_tokens,
                          completion_tokens=c.completion_tokens, call_latencies_s=[c.latency_s],
                          trace={"completion": c.model_dump()})

    return arm
