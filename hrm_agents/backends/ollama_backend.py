"""Ollama backend through the official ``ollama`` client (``/api/chat``)."""

from __future__ import annotations

from typing import Any

import httpx
import ollama

from .base import BackendError, GenParams, Message
from .http import Endpoint, Transient, configured_url, connection_reason
from .llm import ChatBackend, Choice

DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_OLLAMA_MODEL = "llama3.1:8b-instruct-q4_K_M"


def _classify(exc: BaseException) -> Transient | None:
    if isinstance(exc, ollama.ResponseError):
        return Transient(False, f"HTTP {exc.status_code}") if exc.status_code >= 500 else None
    if isinstance(exc, (ConnectionError, httpx.TransportError)):
        return Transient(True, connection_reason(exc))
    return None


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


class OllamaBackend(ChatBackend):
    """A model served by Ollama.

    Args:
        model: Ollama model tag.
        host: server URL (default: ``$OLLAMA_BASE_URL`` or ``http://localhost:11434``); several
            comma-separated URLs are a server pool, which :func:`~hrm_agents.backends.make_backend`
            builds.
        timeout: seconds per request.
        retries, retry_base_delay: backoff on connection errors, timeouts and HTTP 5xx.

    ``GenParams`` map to Ollama options (temperature, num_predict, stop, seed). Token counts are
    Ollama's ``prompt_eval_count``/``eval_count``; ``ttft_s`` is the server's
    ``load_duration + prompt_eval_duration``.
    """

    name = "ollama"
    url_option, url_env = "host", ("OLLAMA_BASE_URL",)

    def __init__(self, model: str = DEFAULT_OLLAMA_MODEL, host: str | None = None,
                 timeout: float = 300.0, retries: int = 3, retry_base_delay: float = 0.5):
        super().__init__(model)
        self.host = configured_url(host, self.url_env, DEFAULT_OLLAMA_URL)
        self.endpoint = Endpoint("Ollama", self.host, "OLLAMA_BASE_URL", retries, retry_base_delay)
        self.client = ollama.Client(host=self.host, timeout=timeout)

    def _choice(self, messages: list[Message], params: GenParams, seed: int | None) -> Choice:
        options: dict[str, Any] = {"temperature": params.temperature,
                                   "num_predict": params.max_tokens}
        if params.stop:
            options["stop"] = list(params.stop)
        if seed is not None:
            options["seed"] = seed
        try:
            resp = self.endpoint.call(
                lambda: self.client.chat(model=self.model, options=options, stream=False,
                                         messages=[m.model_dump() for m in messages]),
                _classify)
        except ollama.ResponseError as exc:
            hint = f" — run: ollama pull {self.model}" if exc.status_code == 404 else ""
            raise BackendError(f"Ollama at {self.host}: {exc.error} "
                               f"(HTTP {exc.status_code}){hint}") from None
        prompt_s = _seconds(resp.prompt_eval_duration)
        return Choice(
            text=resp.message.content or "",
            prompt_tokens=resp.prompt_eval_count or 0,
            completion_tokens=resp.eval_count or 0,
            finish_reason=resp.done_reason or "stop",
            ttft_s=None if prompt_s is None else prompt_s + (_seconds(resp.load_duration) or 0.0),
            extra={"load_s": _seconds(resp.load_duration), "prompt_eval_s": prompt_s,
                   "eval_s": _seconds(resp.eval_duration)},
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "host": self.host}
