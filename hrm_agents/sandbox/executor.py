"""Library side of the sandbox: starts the executor process, sends requests, builds results.

Generated code never runs in this process. Each execution holds its own socket to a supervisor
process (see ``_server.py``), so any number of threads can run code at once; idle supervisor
sockets are kept for the next execution (a supervisor never runs generated code itself).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Literal

from rich.console import Console

from ._server import recv_msg, send_msg
from .models import ExecResult, IsolationInfo, Limits, TestOutcome, TestReport

log = logging.getLogger(__name__)

_SERVER = Path(__file__).with_name("_server.py")
# The executor starts with this environment only: nothing of the library's (API keys, tokens) leaks.
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_REPLY_GRACE_S = 30.0  # the supervisor answers within timeout_s + a few seconds; past this it is lost
_MAX_IDLE = 16  # idle supervisors kept
_warned = False
_warn_lock = threading.Lock()

StartMethod = Literal["forkserver", "spawn"]


class Sandbox:
    """Runs generated Python in isolated, resource-limited child processes. Thread-safe.

    ``start_method="forkserver"`` (default) keeps one small, clean executor process that forks
    supervisors (kept and reused; they never run generated code), each forking a fresh worker per
    execution; ``"spawn"`` starts a new interpreter per execution.
    ``isolate=False`` runs without namespaces / uid drop (rlimits and process-group kill only).
    """

    def __init__(self, *, start_method: StartMethod = "forkserver", isolate: bool = True) -> None:
        if start_method not in ("forkserver", "spawn"):
            raise ValueError(f"start_method must be 'forkserver' or 'spawn', not {start_method!r}")
        self.start_method: StartMethod = start_method
        self.isolate = isolate
        self._lock = threading.Lock()
        self._info: IsolationInfo | None = None
        self._server: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._finalizer: weakref.finalize | None = None
        self._idle: list[socket.socket] = []
        self._owner = 0

    # ---- public API ---------------------------------------------------------------------------------

    @property
    def info(self) -> IsolationInfo:
        """The isolation in force (probed once; warns loudly the first time it is "none")."""
        with self._lock:
            if self._info is None:
                self._info = self._probe()
        _warn_if_unisolated(self._info)
        return self._info

    def run_code(self, code: str, *, limits: Limits | None = None, stdin: str = "") -> ExecResult:
        """Run ``code`` as a program (like ``python -c``) and report what happened."""
        _check_str("code", code)
        _check_str("stdin", stdin)
        reply = self._request({"code": code, "stdin": stdin}, limits or Limits())
        reply.pop("tests", None)
        return ExecResult.model_validate(reply)

    def run_tests(self, code: str, tests: list[str], *, setup: str = "", limits: Limits | None = None) -> TestReport:
        """Run ``code`` then ``setup`` once in one sandboxed process, then each test separately.

        A test is an assert statement or a small block; it passes when it raises nothing. Only the
        tests passed here are run: the caller decides which (visible or hidden) tests it may use.
        """
        _check_str("code", code)
        _check_str("setup", setup)
        if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
            raise TypeError("tests must be a list of str")
        reply = self._request({"code": code, "setup": setup, "tests": tests}, limits or Limits())
        verdicts = reply.pop("tests", None) or [[False, None, "not run: sandbox failure"]] * len(tests)
        return TestReport(exec=ExecResult.model_validate(reply),
                          results=[TestOutcome(test=t, passed=p, exc_type=e, message=m)
                                   for t, (p, e, m) in zip(tests, verdicts)])

    def close(self) -> None:
        """Stop the fork server (a later call starts a new one)."""
        with self._lock:
            self._stop()

    # ---- internals ------------------------------------------------------------------------------------

    def _request(self, req: dict, limits: Limits) -> dict:
        info = self.info
        req.update(limits=limits.model_dump(), level=info.level)
        while True:
            conn, proc, reused = self._acquire()
            reply = None
            try:
                conn.settimeout(limits.timeout_s + _REPLY_GRACE_S)
                send_msg(conn, req)
                reply = recv_msg(conn)
                return reply
            except (OSError, EOFError, ValueError) as exc:
                if reused and isinstance(exc, (EOFError, ConnectionError)):
                    continue  # an idle supervisor died meanwhile: retry (the pool empties, then a fresh one)
                return {"status": "error", "exc_type": "SandboxError", "isolation": info.isolation,
                        "exc_message": f"sandbox supervisor failed: {type(exc).__name__}: {exc}"}
            finally:
                self._release(conn, proc, keep=reply is not None)

    def _acquire(self) -> tuple[socket.socket, subprocess.Popen | None, bool]:
        """A socket to a supervisor (its process too, in spawn mode) and whether it was idle in the pool."""
        if self.start_method == "spawn":
            ours, theirs = socket.socketpair()
            with theirs:
                return ours, _popen(["once", str(theirs.fileno())], pass_fds=[theirs.fileno()]), False
        with self._lock:
            if self._owner != os.getpid():  # forked library process: start our own server and pool
                self._server = self._ctrl = self._finalizer = None
                self._idle = []
            if self._idle:
                return self._idle.pop(), None, True
            ours, theirs = socket.socketpair()
            with theirs:
                for attempt in range(2):
                    try:
                        if self._server is None or self._server.poll() is not None:
                            self._start()
                        socket.send_fds(self._ctrl, [b"x"], [theirs.fileno()])
                        break
                    except OSError:
                        self._stop()
                        if attempt:
                            raise
        return ours, None, False

    def _release(self, conn: socket.socket, proc: subprocess.Popen | None, keep: bool) -> None:
        if proc is None and keep:
            with self._lock:
                if self._owner == os.getpid() and len(self._idle) < _MAX_IDLE:
                    self._idle.append(conn)
                    return
        conn.close()  # the supervisor exits on EOF
        if proc is not None:
            proc.wait()

    def _probe(self) -> IsolationInfo:
        if not self.isolate:
            return IsolationInfo(level="none", isolation="none", reason="isolation disabled (isolate=False)",
                                 start_method=self.start_method)
        if self.start_method == "spawn":
            out = subprocess.run([sys.executable, "-I", str(_SERVER), "probe"], env=_ENV, capture_output=True,
                                 text=True, timeout=60, check=True).stdout
            caps = json.loads(out)
        else:
            caps = self._start()
        return IsolationInfo(**caps, start_method=self.start_method)

    def _start(self) -> dict:
        """(Re)start the fork server; returns its isolation probe."""
        self._stop()
        ctrl, theirs = socket.socketpair()
        with theirs:
            self._server = _popen(["serve", str(theirs.fileno())], pass_fds=[theirs.fileno()])
        self._ctrl, self._owner = ctrl, os.getpid()
        self._finalizer = weakref.finalize(self, _shutdown, self._server, ctrl)
        ctrl.settimeout(60)
        try:
            caps = recv_msg(ctrl)
        except (OSError, EOFError, ValueError) as exc:
            self._stop()
            raise RuntimeError(f"sandbox executor did not start: {type(exc).__name__}: {exc}") from exc
        ctrl.settimeout(None)
        return caps

    def _stop(self) -> None:
        if self._owner == os.getpid():
            for conn in self._idle:
                conn.close()
            if self._finalizer is not None:
                self._finalizer()  # runs _shutdown once
        self._idle = []
        self._server = self._ctrl = self._finalizer = None


def _popen(args: list[str], pass_fds: list[int]) -> subprocess.Popen:
    # stdout is not ours to hold open; stderr stays, for the executor's own crash reports
    return subprocess.Popen([sys.executable, "-I", str(_SERVER), *args], env=_ENV, pass_fds=pass_fds,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)


def _shutdown(proc: subprocess.Popen, ctrl: socket.socket | None) -> None:
    if ctrl is not None:
        ctrl.close()  # the server exits on EOF; running executions finish on their own
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")


def _warn_if_unisolated(info: IsolationInfo) -> None:
    global _warned
    if info.level == "full":
        return
    with _warn_lock:
        if _warned:
            return
        _warned = True
    msg = (f"hrm_agents.sandbox: generated code runs WITHOUT isolation ({info.reason}). It gets rlimits and "
           "a process-group kill only: network, file system and other processes are reachable.")
    log.warning(msg)
    Console(stderr=True).print(f"[bold red]WARNING[/] {msg}")


_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """The process-wide sandbox used by :func:`run_code` / :func:`run_tests`."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
        return _default


def run_code(code: str, *, limits: Limits | None = None, stdin: str = "") -> ExecResult:
    """Run generated ``code`` in the default sandbox. See :meth:`Sandbox.run_code`."""
    return default_sandbox().run_code(code, limits=limits, stdin=stdin)


def run_tests(code: str, tests: list[str], *, setup: str = "", limits: Limits | None = None) -> TestReport:
    """Run ``tests`` against generated ``code`` in the default sandbox. See :meth:`Sandbox.run_tests`."""
    return default_sandbox().run_tests(code, tests, setup=setup, limits=limits)


def isolation_info() -> IsolationInfo:
    """The isolation the default sandbox provides on this machine."""
    return default_sandbox().info
