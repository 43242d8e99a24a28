"""A pool of servers behind one backend: ``--base_url URL1,URL2,...`` for ollama and openai.

Each request goes to the server with the fewest requests in flight (ties: the one that has been
sent the fewest). A server that fails (unreachable, dropped connection, HTTP 5xx) is taken out for
a cool-down (doubling on each failure in a row, up to ``max_cooldown_s``) and the request is
re-sent at once to another server; when every server is out, the request waits for the first to
come back, up to ``wait_s``. A server back from its cool-down is tried again by the next request.
A request is answered exactly once: it is only re-sent after its server failed, so the caller
(and the run's call log) sees one completion per request, with the URL that answered in
``Completion.extra["endpoint"]``.

Errors that another server would repeat (HTTP 4xx, a prompt too long) are not retried.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

from .base import BackendError, BackendUnreachable, Completion, GenParams, Message
from .http import ServerFailed, env_url, split_urls
from .llm import ChatBackend, Choice

log = logging.getLogger(__name__)


@dataclass
class _Member:
    backend: ChatBackend
    url: str
    in_flight: int = 0
    sent: int = 0
    answered: int = 0
    failures: int = 0
    failed_in_a_row: int = 0
    down_until: float = 0.0


class ServerPool(ChatBackend):
    """One backend over several servers of the same kind serving the same model.

    Args:
        members: one single-server backend per URL (build them with :func:`build_pool`).
        cooldown_s: how long a failed server is left out at first; doubles on each failure in a
            row, up to ``max_cooldown_s``.
        wait_s: how long a request waits while every server is out before it fails with
            :class:`BackendUnreachable` (one line naming every URL); a request also fails after
            3 failures per server (servers that keep coming back and failing).
    """

    def __init__(self, members: Sequence[ChatBackend], *, cooldown_s: float = 5.0,
                 max_cooldown_s: float = 60.0, wait_s: float = 30.0):
        if not members:
            raise BackendError("a server pool needs at least one server")
        first = members[0]
        super().__init__(first.model)
        self.name = first.name
        self._members = [_Member(m, _url(m)) for m in members]
        self.cooldown_s, self.max_cooldown_s, self.wait_s = cooldown_s, max_cooldown_s, wait_s
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def urls(self) -> list[str]:
        """The pool's server URLs, in the order given."""
        return [m.url for m in self._members]

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per URL: requests sent, answered, failed, in flight now, and whether it is out now."""
        now = time.monotonic()
        with self._lock:
            return {m.url: {"sent": m.sent, "answered": m.answered, "failures": m.failures,
                            "in_flight": m.in_flight, "out": m.down_until > now} for m in self._members}

    def _pick(self) -> _Member | None:
        now = time.monotonic()
        with self._lock:
            up = [m for m in self._members if m.down_until <= now]
            if not up:
                return None
            member = min(up, key=lambda m: (m.in_flight, m.sent))
            member.in_flight += 1
            member.sent += 1
            return member

    def _release(self, member: _Member, error: BaseException | None = None) -> None:
        with self._lock:
            member.in_flight -= 1
            if error is None:
                if member.failed_in_a_row:
                    log.warning("server pool: %s answers again", member.url)
                member.answered += 1
                member.failed_in_a_row = 0
                return
            member.failures += 1
            member.failed_in_a_row += 1
            pause = min(self.max_cooldown_s, self.cooldown_s * 2 ** (member.failed_in_a_row - 1))
            member.down_until = time.monotonic() + pause
        log.warning("server pool: %s taken out for %.1f s (%s); re-sending its request",
                    member.url, pause, " ".join(str(error).split()))

    def _next_back(self) -> float:
        with self._lock:
            return min(m.down_until for m in self._members)

    def _choice(self, messages: list[Message], params: GenParams, seed: int | None) -> Choice:
        waited_since: float | None = None
        last: BaseException | None = None
        failures = 0
        while True:
            if failures >= 3 * len(self._members):
                raise self._unreachable(f"{failures} failures", last)
            member = self._pick()
            if member is None:
                now = time.monotonic()
                waited_since = now if waited_since is None else waited_since
                if now - waited_since >= self.wait_s:
                    raise self._unreachable(f"every server out for {self.wait_s:.0f}s", last)
                time.sleep(max(0.05, min(self._next_back() - now, waited_since + self.wait_s - now)))
                continue
            waited_since = None
            try:
                choice = member.backend._choice(messages, params, seed)
            except (BackendUnreachable, ServerFailed) as exc:
                self._release(member, exc)
                last, failures = exc, failures + 1
                continue
            except BaseException:
                self._release(member)
                raise
            self._release(member)
            choice.extra = {**choice.extra, "endpoint": member.url}
            self._local.endpoints.append(member.url)
            return choice

    def _unreachable(self, why: str, last: BaseException | None) -> BackendUnreachable:
        return BackendUnreachable(f"no server of the pool answered ({why}; {', '.join(self.urls)}); "
                                  f"last error: {' '.join(str(last).split())}")

    def _complete(self, messages: list[Message], params: GenParams) -> Completion:
        self._local.endpoints = []
        completion = super()._complete(messages, params)
        if params.n > 1:
            completion.extra = {**completion.extra, "endpoints": self._local.endpoints}
        return completion

    def describe(self) -> dict[str, Any]:
        first = self._members[0].backend
        desc = {k: v for k, v in first.describe().items() if k != first.url_option}  # type: ignore[attr-defined]
        return {**desc, "pool": self.urls, "routing": "least-in-flight",
                "cooldown_s": self.cooldown_s, "max_cooldown_s": self.max_cooldown_s, "wait_s": self.wait_s}

    def close(self) -> None:
        for m in self._members:
            m.backend.close()


def _url(backend: ChatBackend) -> str:
    return getattr(backend, backend.url_option)  # type: ignore[attr-defined]


def build_pool(backend_cls: type[ChatBackend], urls: Sequence[str], *, model: str | None = None,
               cooldown_s: float = 5.0, max_cooldown_s: float = 60.0, wait_s: float = 30.0,
               **opts: Any) -> ServerPool:
    """A :class:`ServerPool` of ``backend_cls`` (ollama or openai) on ``urls``.

    Members do not retry by themselves (``retries=0`` unless given): a failure moves the request
    to another server at once. When ``model`` is ``None`` and the backend asks its server for the
    model (openai), the first server that answers is asked and every member uses its answer.
    """
    opts.setdefault("retries", 0)
    option = backend_cls.url_option  # type: ignore[attr-defined]
    members: dict[str, ChatBackend] = {}
    errors: list[str] = []
    for url in urls:
        try:
            members[url] = backend_cls(**opts, **{option: url}, **({"model": model} if model else {}))
        except BackendUnreachable as exc:
            errors.append(" ".join(str(exc).split()))
            continue
        model = model or members[url].model
    if not members:
        raise BackendUnreachable(f"no server of the pool answered: {'; '.join(errors)}")
    for url in urls:  # servers down at start join with the model the others serve
        if url not in members:
            members[url] = backend_cls(**opts, **{option: url}, model=model)
    return ServerPool([members[u] for u in urls], cooldown_s=cooldown_s, max_cooldown_s=max_cooldown_s,
                      wait_s=wait_s)


def pool_urls(backend_cls: type, opts: dict[str, Any]) -> list[str]:
    """The server URLs ``make_backend`` would give ``backend_cls``: its URL option in ``opts``, else its
    URL variable; empty for backends without a server URL."""
    option = getattr(backend_cls, "url_option", None)
    if option is None:
        return []
    return split_urls(opts.get(option) or env_url(backend_cls.url_env))
