"""Retries with exponential backoff for server backends, and their one-line errors.

A backend classifies each exception its client raises as *unreachable* (connection refused,
timeout, dropped connection), *server error* (HTTP 5xx) or neither. The first two are retried;
when retries run out they become :class:`BackendUnreachable` / :class:`ServerFailed` whose
message is one line naming the server URL, so a CLI can print it without a stack trace.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from time import sleep
from typing import Callable, NamedTuple, Sequence, TypeVar

import httpx

from .base import BackendError, BackendUnreachable

T = TypeVar("T")


class ServerFailed(BackendError):
    """The server answered, but kept failing with HTTP 5xx (retryable on another server)."""


class Transient(NamedTuple):
    """A retryable failure: ``unreachable`` for network trouble, else an HTTP 5xx; ``why`` is short."""

    unreachable: bool
    why: str


Classifier = Callable[[BaseException], Transient | None]


def connection_reason(exc: BaseException) -> str:
    """Short reason for a network failure, found along the exception's cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, (TimeoutError, httpx.TimeoutException)):
            return "timed out"
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        seen = seen.__cause__ or seen.__context__
    return (str(exc).splitlines() or [""])[0] or type(exc).__name__


def split_urls(text: str | None) -> list[str]:
    """The URLs of a comma-separated list (``--base_url`` and the URL variables accept several)."""
    return [u.strip() for u in (text or "").split(",") if u.strip()]


def env_url(env: Sequence[str]) -> str | None:
    """The value of the first set variable of ``env`` (None if none is set)."""
    return next((os.environ[v] for v in env if os.environ.get(v)), None)


def configured_url(given: str | None, env: Sequence[str], default: str) -> str:
    """One server URL: ``given``, else the first set variable of ``env``, else ``default``.

    Several comma-separated URLs are a server pool, built by ``make_backend``
    (:class:`~hrm_agents.backends.pool.ServerPool`); a single backend refuses them in one line.
    """
    text = given or env_url(env) or default
    if len(split_urls(text)) > 1:
        raise BackendError(f"several server URLs ({text}) make a pool: build the backend with "
                           f"make_backend() or the --base_url flag")
    return text.strip()


@dataclass(frozen=True)
class Endpoint:
    """A server a backend talks to, with its retry policy.

    Attributes:
        server: human name, e.g. ``"Ollama"``.
        url: base URL as configured.
        env: environment variable that sets ``url`` (named in the unreachable message).
        retries: retries after the first attempt.
        base_delay: seconds before the first retry; doubles each retry (capped at ``max_delay``).
    """

    server: str
    url: str
    env: str
    retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def call(self, fn: Callable[[], T], classify: Classifier) -> T:
        """Run ``fn``, retrying transient failures; raise one-line backend errors when they persist."""
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below, re-raised if not transient
                failure = classify(exc)
                if failure is None:
                    raise
                attempt += 1
                if attempt > self.retries:
                    raise self.error(failure, attempt) from exc
                sleep(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def error(self, failure: Transient, attempts: int) -> BackendError:
        """The one-line error for a failure that outlasted the retries."""
        if failure.unreachable:
            return BackendUnreachable(
                f"cannot reach {self.server} at {self.url} ({failure.why}, {attempts} attempts)"
                f" — is the server running? set {self.env}")
        return ServerFailed(f"{self.server} at {self.url} kept failing ({failure.why}) "
                            f"after {attempts} attempts")
