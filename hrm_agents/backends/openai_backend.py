"""Backend for any OpenAI-compatible chat server (vLLM, llama.cpp, LM Studio, OpenAI, ...)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, TypeVar

import httpx
import openai

from .base import BackendError, GenParams, Message
from .http import Endpoint, Transient, configured_url, connection_reason
from .llm import ChatBackend, Choice

DEFAULT_OPENAI_URL = "http://localhost:8000/v1"
log = logging.getLogger(__name__)
T = TypeVar("T")


def _classify(exc: BaseException) -> Transient | None:
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        return Transient(True, connection_reason(exc))
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return Transient(False, f"HTTP {exc.status_code}")
    return None


class OpenAIBackend(ChatBackend):
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        model: model id (default: ``$OPENAI_MODEL``, else the first model the server lists).
        base_url: API base (default: ``$OPENAI_API_BASE``, ``$OPENAI_BASE_URL`` or
            ``http://localhost:8000/v1``); several comma-separated URLs are a server pool, which
            :func:`~hrm_agents.backends.make_backend` builds.
        api_key: default ``$OPENAI_API_KEY`` or ``"sk-no-key"``.
        timeout: seconds per request.
        retries, retry_base_delay: backoff on connection errors, timeouts and HTTP 5xx (the
            client's own retries are off).
        stream: ``None`` (auto) streams to measure ``ttft_s`` and reads token usage from the
            stream (``stream_options.include_usage``); a server that sends no usage there
            (e.g. llama-cpp-python's) is asked again without streaming, and from then on only
            so — exact counts, no ``ttft_s``. ``True`` always streams (counts of such servers
            are then estimated as one token per chunk, flagged in ``extra["usage"]``);
            ``False`` never streams.
        extra_body: server-specific request fields sent with every request, e.g.
            ``{"repeat_penalty": 1.0}`` for llama-cpp-python's server (whose default is 1.1) or
            ``{"top_k": 20}`` for vLLM. Recorded by :meth:`describe`; not part of cache keys.

    Messages with role ``tool`` are sent as ``user`` messages (plain OpenAI servers require a
    ``tool_call_id`` for ``tool`` messages).
    """

    name = "openai"
    url_option, url_env = "base_url", ("OPENAI_API_BASE", "OPENAI_BASE_URL")

    def __init__(self, model: str | None = None, base_url: str | None = None,
                 api_key: str | None = None, timeout: float = 300.0, retries: int = 3,
                 retry_base_delay: float = 0.5, stream: bool | None = None,
                 extra_body: dict[str, Any] | None = None):
        self.base_url = configured_url(base_url, self.url_env, DEFAULT_OPENAI_URL)
        self.endpoint = Endpoint("OpenAI-compatible server", self.base_url, "OPENAI_API_BASE",
                                 retries, retry_base_delay)
        self.client = openai.OpenAI(base_url=self.base_url, timeout=timeout, max_retries=0,
                                    api_key=api_key or os.environ.get("OPENAI_API_KEY") or "sk-no-key")
        self.stream = stream
        self.extra_body = extra_body
        self._streaming = stream is not False
        super().__init__(model or os.environ.get("OPENAI_MODEL") or self._served_model())

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return self.endpoint.call(fn, _classify)
        except openai.APIStatusError as exc:
            raise BackendError(f"{self.endpoint.server} at {self.base_url}: "
                               f"HTTP {exc.status_code}: {exc.message}") from None

    def _served_model(self) -> str:
        models = self._call(lambda: self.client.models.list().data)
        if not models:
            raise BackendError(f"{self.endpoint.server} at {self.base_url} lists no models; "
                               "set OPENAI_MODEL")
        return models[0].id

    def _choice(self, messages: list[Message], params: GenParams, seed: int | None) -> Choice:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user" if m.role == "tool" else m.role, "content": m.content}
                         for m in messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            request["stop"] = list(params.stop)
        if seed is not None:
            request["seed"] = seed
        if self.extra_body:
            request["extra_body"] = self.extra_body
        if self._streaming:
            choice = self._call(lambda: self._streamed(request))
            if choice is not None:
                return choice
            self._streaming = False
            log.warning("%s sends no token usage when streaming; using non-streaming requests "
                        "(exact token counts, no ttft)", self.base_url)
        return self._call(lambda: self._whole(request))

    def _streamed(self, request: dict[str, Any]) -> Choice | None:
        """One streamed request; ``None`` in auto mode when the server sent no usage."""
        start = time.perf_counter()
        parts: list[str] = []
        ttft, finish, usage = None, "stop", None
        chunks = self.client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True})
        for chunk in chunks:
            usage = chunk.usage or usage
            for c in chunk.choices:
                if c.delta and c.delta.content:
                    ttft = time.perf_counter() - start if ttft is None else ttft
                    parts.append(c.delta.content)
                finish = c.finish_reason or finish
        if usage is None and self.stream is None:
            return None
        return Choice(
            text="".join(parts),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else len(parts),
            finish_reason=finish,
            ttft_s=ttft,
            extra={} if usage else {"usage": "estimated: no usage in stream; tokens = chunks"},
        )

    def _whole(self, request: dict[str, Any]) -> Choice:
        resp = self.client.chat.completions.create(**request)
        choice, usage = resp.choices[0], resp.usage
        return Choice(text=choice.message.content or "",
                      prompt_tokens=usage.prompt_tokens if usage else 0,
                      completion_tokens=usage.completion_tokens if usage else 0,
                      finish_reason=choice.finish_reason or "stop")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "base_url": self.base_url,
                **({"extra_body": self.extra_body} if self.extra_body else {})}
