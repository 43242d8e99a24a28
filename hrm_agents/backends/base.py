"""The one backend interface every arm uses.

A backend takes chat messages plus :class:`GenParams` and returns a :class:`Completion`.
LLM backends (ollama, openai, llamacpp, scripted) answer any task kind; a non-LLM model such as
the native HRM declares the task kinds it can answer in :attr:`Backend.task_kinds` and returns a
completion with ``finish_reason="unsupported"`` for anything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


class GenParams(BaseModel):
    """Generation parameters shared by every backend."""

    model_config = ConfigDict(frozen=True)

    temperature: float = 0.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    n: int = Field(default=1, ge=1)


FinishReason = Literal["stop", "length", "error", "unsupported", "cached"]


class Completion(BaseModel):
    """One model answer with its cost.

    ``texts`` holds all ``n`` choices; ``text`` is the first one.
    """

    text: str
    texts: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    ttft_s: float | None = None
    model: str = ""
    backend: str = ""
    finish_reason: str = "stop"
    cached: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        if not self.texts:
            self.texts = [self.text]


class BackendError(RuntimeError):
    """A backend failed in a way the caller should report as one line (no stack trace)."""


class BackendUnreachable(BackendError):
    """The server could not be reached at all; the message names the URL."""


MessagesLike = Sequence[Message | dict[str, str]]


def as_messages(messages: MessagesLike) -> list[Message]:
    """Accept :class:`Message` objects or ``{"role": .., "content": ..}`` dicts."""
    return [m if isinstance(m, Message) else Message(**m) for m in messages]


class Backend(ABC):
    """Abstract backend. Subclasses implement :meth:`_complete`.

    Attributes:
        name: backend kind, e.g. ``"ollama"``.
        model: model id as the server knows it.
        task_kinds: ``None`` for general LLMs (answer anything); otherwise the set of task kinds
            (e.g. ``{"arith_chain"}``) a specialised model can answer.
    """

    name: str = "base"
    task_kinds: frozenset[str] | None = None

    def __init__(self, model: str):
        self.model = model

    def supports(self, task_kind: str | None) -> bool:
        """Whether this backend can answer tasks of ``task_kind``."""
        return self.task_kinds is None or task_kind in self.task_kinds

    def complete(self, messages: MessagesLike, params: GenParams | None = None) -> Completion:
        """Answer ``messages`` with ``params`` (defaults: greedy, 512 tokens)."""
        return self._complete(as_messages(messages), params or GenParams())

    @abstractmethod
    def _complete(self, messages: list[Message], params: GenParams) -> Completion: ...

    def describe(self) -> dict[str, Any]:
        """What a run's config.json records about this backend."""
        return {"backend": self.name, "model": self.model}

    def close(self) -> None:  # pragma: no cover - default no-op
        """Release resources (servers, model weights)."""


class BackendWrapper(Backend):
    """Delegates everything to ``inner``; subclasses override :meth:`_complete`.

    ``name``, ``model`` and ``task_kinds`` are the inner backend's, so records look the same with
    or without wrappers; other attributes (e.g. ``ScriptedBackend.calls``) are read through.
    """

    def __init__(self, inner: Backend):
        super().__init__(inner.model)
        self.inner = inner
        self.name = inner.name
        self.task_kinds = inner.task_kinds

    def __getattr__(self, attr: str) -> Any:
        if attr == "inner":  # not set yet (e.g. during unpickling)
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()
