"""Deterministic backend for unit tests: answers come from a script, never from a model."""

from __future__ import annotations

from typing import Callable, Iterable

from .base import Backend, BackendError, Completion, GenParams, Message

ScriptFn = Callable[[list[Message], GenParams], str]


class ScriptedBackend(Backend):
    """Replies from a fixed list (in order) or from a function of the messages.

    Token counts are whitespace word counts, so tests can assert on them. Every call is kept in
    :attr:`calls` as ``(messages, params)``.
    """

    name = "scripted"

    def __init__(self, script: Iterable[str] | ScriptFn = (), model: str = "scripted",
                 task_kinds: Iterable[str] | None = None):
        super().__init__(model)
        self._fn = script if callable(script) else None
        self._queue = [] if callable(script) else list(script)
        self.task_kinds = frozenset(task_kinds) if task_kinds is not None else None
        self.calls: list[tuple[list[Message], GenParams]] = []

    def _complete(self, messages: list[Message], params: GenParams) -> Completion:
        self.calls.append((messages, params))
        if self._fn is not None:
            text = self._fn(messages, params)
        elif self._queue:
            text = self._queue.pop(0)
        else:
            raise BackendError(f"scripted backend ran out of responses after {len(self.calls) - 1} calls")
        return Completion(
            text=text,
            texts=[text] * params.n,
            prompt_tokens=sum(len(m.content.split()) for m in messages),
            completion_tokens=len(text.split()),
            model=self.model,
            backend=self.name,
        )
