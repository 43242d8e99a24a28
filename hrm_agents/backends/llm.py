"""Shared base of the LLM backends (llamacpp, ollama, openai): one request per choice."""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

from .base import Backend, Completion, GenParams, Message


@dataclass
class Choice:
    """One generated answer as a backend's single request returns it."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    ttft_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ChatBackend(Backend):
    """An LLM answering chat messages. ``n`` choices are ``n`` requests with seeds
    ``seed, seed+1, ...`` (servers differ in ``n`` support; this way every backend samples alike).

    Token counts add up over the requests (each one processes the prompt); ``latency_s`` is the
    wall time of all of them; ``ttft_s``, ``finish_reason`` and ``extra`` come from the first.
    """

    @abstractmethod
    def _choice(self, messages: list[Message], params: GenParams, seed: int | None) -> Choice:
        """Run one request."""

    def _complete(self, messages: list[Message], params: GenParams) -> Completion:
        start = time.perf_counter()
        choices = [self._choice(messages, params, None if params.seed is None else params.seed + i)
                   for i in range(params.n)]
        first = choices[0]
        return Completion(
            text=first.text,
            texts=[c.text for c in choices],
            prompt_tokens=sum(c.prompt_tokens for c in choices),
            completion_tokens=sum(c.completion_tokens for c in choices),
            latency_s=time.perf_counter() - start,
            ttft_s=first.ttft_s,
            model=self.model,
            backend=self.name,
            finish_reason=first.finish_reason,
            extra=first.extra,
        )
