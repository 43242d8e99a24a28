"""Sandbox executor: the only place generated code runs. Standard library only.

Run as a separate interpreter (``python -I _server.py MODE ...``); the library imports this module
only for the message framing (send_msg / recv_msg) and never runs generated code itself:

* ``serve CTRL_FD``  fork server: probe the isolation once, then for every socket received on the
  control socket fork a supervisor (cheap: this process is small, clean and has the common stdlib
  modules loaded). A supervisor serves requests on its socket one after another until the library
  closes it; it never runs generated code itself, so reusing it is safe;
* ``once CONN_FD``  act as the supervisor of executions on one socket (plain subprocess start);
* ``probe``  print the isolation level this machine allows, as JSON.

Per execution: supervisor (root: feeds stdin, reads the pipes, enforces the wall clock and the
output cap, reaps) --fork--> a fresh worker. At level "full" the worker is pid 1 of a fresh pid
namespace (when it exits the kernel kills every process left in it, setsid or not), in a fresh
mount namespace (whole file system read-only except its work dir, a size-capped tmpfs; a fresh
/proc that shows only the sandbox) and IPC namespace (no SysV/POSIX IPC object outlives it), in a
network namespace with no interface up (the supervisor's own: no connection can be made), running
as an unused uid (RLIMIT_NPROC counts per uid; no access to root-owned files) with no_new_privs.
It then applies the rlimits and execs the generated code. The worker is never reused; it is forked
and isolated before its request arrives, so that this is off the critical path.

Results travel on a dedicated channel (fd 3: a write-only, append-only memfd the worker cannot
reopen for reading), one JSON line per message, each prefixed with a random per-execution nonce;
the supervisor reads it after the worker exited and fails every test on any malformed or un-nonced
line, so writing to fd 3, printing fake verdicts or exiting early fails closed. The verdict code
keeps private references to the builtins and to os.write / the C JSON string encoder, so
overriding builtins or patching modules (json, os, ...) does not change it. Residual risk: the
harness shares the interpreter with the generated code, so code that deliberately walks the
harness's own objects (gc, frame introspection, ctypes) can forge a result; see the README.
"""

import ast
import builtins
import ctypes
import fcntl
import gc
import io
import json
import linecache
import os
import reprlib
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
import types

# Stdlib modules generated code commonly imports: loaded once here so every fork starts warm.
import bisect, collections, copy, dataclasses, datetime, decimal, enum, fractions, functools  # noqa: E401,F401
import hashlib, heapq, itertools, math, operator, random, re, statistics, string, typing  # noqa: E401,F401

# Functions defined below look builtins up in this private copy, so generated code that overrides
# builtins (builtins.exec = ..., builtins.isinstance = ...) cannot change what the harness does.
__builtins__ = dict(vars(builtins))

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x08000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE = 442, -100, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
UID_BASE = 1 << 30  # sandbox uid = UID_BASE + supervisor pid: unique while the execution lives
SETUP_FAILED = 125  # worker exit code when isolation could not be set up
RESULT_CAP = 8 << 20  # bytes of result-channel traffic kept
REQ_FD, GO_FD = 4, 5  # worker descriptors: the request (memfd), the start signal (pipe)
MSG_CAP = 2000  # characters of one message kept
FULL = "netns+pidns+ipcns+rofs+uid"

libc = ctypes.CDLL(None, use_errno=True)


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _ok(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _ok(libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _mount_setattr(path: str, flags: int, attr_set: int = 0, attr_clr: int = 0) -> None:
    attr = MountAttr(attr_set, attr_clr, 0, 0)
    _ok(libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(),
                     ctypes.c_uint(flags), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))),
        f"mount_setattr {path}")


def _python_covers() -> dict:
    """{dir the sandbox uid cannot traverse: [Python install dirs below it]}, e.g. {"/root": [pyenv]}."""
    covers: dict = {}
    for root in sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}):
        parts = root.split("/")
        for i in range(2, len(parts)):
            anc = "/".join(parts[:i])
            if not os.stat(anc).st_mode & 0o001:
                covers.setdefault(anc, []).append(root)
                break
    return covers


COVERS = _python_covers()


# ---- framing on the library <-> supervisor socket ------------------------------------------------

def send_msg(sock: socket.socket, obj) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)


def recv_msg(sock: socket.socket):
    head = _recv_exact(sock, 4)
    return json.loads(_recv_exact(sock, struct.unpack("!I", head)[0]))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        buf += chunk
    return bytes(buf)


# ---- worker (runs in the forked child, then becomes the generated program) ------------------------

def _isolate() -> None:
    """New mount + IPC namespaces, the Python install reachable, a fresh /proc, all read-only.

    (The network namespace is the supervisor's own, see ``_private_netns``.)"""
    _ok(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = {root: os.open(root, os.O_PATH) for roots in COVERS.values() for root in roots}
    for blocked, roots in COVERS.items():  # hide e.g. /root, but keep the Python install reachable
        _mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
        for root in roots:
            os.makedirs(root, exist_ok=True)
            _mount(f"/proc/self/fd/{keep[root]}", root, None, MS_BIND | MS_REC)
    for fd in keep.values():
        os.close(fd)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount_setattr("/", AT_RECURSIVE, attr_set=MOUNT_ATTR_RDONLY)


def _set_limits(lim: dict, uid) -> None:
    mb = 1 << 20
    for res, value in ((resource.RLIMIT_AS, lim["memory_mb"] * mb),
                       (resource.RLIMIT_FSIZE, lim["file_size_mb"] * mb),
                       (resource.RLIMIT_NPROC, lim["max_processes"]),
                       (resource.RLIMIT_NOFILE, lim["max_open_files"]),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # let the process read its own /proc/self
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _make_reporter(fd: int, nonce: str, write=os.write, enc=json.encoder.encode_basestring_ascii):
    """report(kind, **fields): one nonce-tagged JSON line on the result channel.

    Encodes with the C string encoder and writes with os.write captured here, so patching json / os
    in generated code changes nothing."""
    prefix = nonce + " "

    def report(kind: str, **fields) -> None:
        parts = ['"kind":' + enc(kind)]
        for key, val in fields.items():
            if val is None or val is True or val is False:
                text = "null" if val is None else ("true" if val else "false")
            elif type(val) is int:
                text = "%d" % val
            else:
                text = enc(val[:MSG_CAP] if type(val) is str else "<unprintable>")
            parts.append(enc(key) + ":" + text)
        try:
            write(fd, (prefix + "{" + ",".join(parts) + "}\n").encode())
        except OSError:  # channel closed by generated code: the verdicts go missing = fail
            pass

    return report


def _text(obj) -> str:
    try:
        s = str(obj)
        return s if type(s) is str else "<unprintable>"
    except BaseException:
        return "<unprintable>"


def _compile(src: str, filename: str, capture: bool):
    """Compile ``src``; with ``capture`` each assert keeps its left operand in ``__hrm_got__``.

    Returns the code object and {(filename, line): assert source} for the asserts found."""
    lines = src.splitlines(True)
    linecache.cache[filename] = (len(src), None, lines, filename)
    if not capture:
        return compile(src, filename, "exec"), {}
    tree = ast.parse(src, filename)
    asserts = {}
    for node in _assert_nodes(tree.body):
        end = node.end_lineno or node.lineno
        text = " ".join("".join(lines[node.lineno - 1:end]).split())[:300]
        for line in range(node.lineno, end + 1):
            asserts[(filename, line)] = text
        target = node.test.left if isinstance(node.test, ast.Compare) else node.test
        got = ast.copy_location(ast.Name("__hrm_got__", ast.Store()), target)
        wrapped = ast.copy_location(ast.NamedExpr(got, target), target)
        if isinstance(node.test, ast.Compare):
            node.test.left = wrapped
        else:
            node.test = wrapped
    try:
        return compile(tree, filename, "exec"), asserts
    except SyntaxError:
        return compile(src, filename, "exec"), asserts


def _assert_nodes(stmts: list):
    """Assert statements in ``stmts`` and the blocks nested in them (expressions are not walked)."""
    for node in stmts:
        if isinstance(node, ast.Assert):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                yield from _assert_nodes(block)


_GOT = object()
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 120


def _describe(exc: BaseException, asserts: dict) -> str:
    """'assert f(2) == 5 -> got 4' for a failed assert, else 'Type: message [in: <assert>]'."""
    tb, hit = exc.__traceback__, None
    while tb is not None:
        if (tb.tb_frame.f_code.co_filename, tb.tb_lineno) in asserts:
            hit = tb
        tb = tb.tb_next
    where = asserts[(hit.tb_frame.f_code.co_filename, hit.tb_lineno)] if hit else ""
    if isinstance(exc, AssertionError) and hit is not None:
        got = hit.tb_frame.f_locals.get("__hrm_got__", _GOT)
        try:
            msg = where + ("" if got is _GOT else " -> got " + _repr.repr(got))
        except BaseException:
            msg = where
        detail = _text(exc)
        return msg + (f" ({detail})" if detail else "")
    msg = f"{type(exc).__name__}: {_text(exc)}"
    return msg + (f" [in: {where}]" if where else "")


def _user_tb(exc: BaseException, filename: str):
    """The traceback from the first frame of ``filename`` on (hides the harness frames)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


def _exc_lineno(exc: BaseException, filename: str):
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno
    lineno, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _worker(level: str, workdir: str, uid, nonce: str) -> None:
    """Body of the forked worker: isolate, wait for the request, run it. Never returns.

    fds: 0-2 stdio, 3 the result channel, REQ_FD the request (memfd), GO_FD the start signal."""
    exit_, flush_to = os._exit, []
    report = _make_reporter(3, nonce)
    try:
        os.setsid()  # own process group (pgid == pid) so the supervisor can kill the whole group
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if level == "full":
            _isolate()  # done ahead of the request: off the critical path
        if not os.read(GO_FD, 1):
            exit_(0)  # the supervisor went away without a request
        req = json.loads(os.pread(REQ_FD, os.fstat(REQ_FD).st_size, 0))
        os.close(REQ_FD)
        os.close(GO_FD)
        if level == "full":  # the only writable place: a size-capped tmpfs owned by the sandbox uid
            _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"size={req['limits']['workdir_mb']}m,mode=700,uid={uid},gid={uid}")
        _set_limits(req["limits"], uid)
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=workdir, TMPDIR=workdir, LANG="C.UTF-8",
                          OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        tempfile.tempdir = workdir
        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                                      errors="backslashreplace")
        sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                                      errors="backslashreplace", line_buffering=True)
        flush_to = [sys.stdout, sys.stderr]
        sys.argv = [""]
    except BaseException as exc:
        report("setup_error", message=f"{type(exc).__name__}: {_text(exc)}")
        exit_(SETUP_FAILED)
    report("ready")
    code = _run(req, report)
    for stream in flush_to:
        try:
            stream.flush()
        except BaseException:
            pass
    exit_(code)


def _run(req: dict, report) -> int:
    """Exec the generated code (then setup and tests, if any); return the process exit code."""
    tests = req.get("tests")
    capture = tests is not None
    main = types.ModuleType("__main__")
    ns = main.__dict__
    sys.modules["__main__"] = main
    pristine = dict(vars(builtins))
    exec_, type_, enumerate_ = exec, type, enumerate
    setup_obj, asserts, test_objs = None, {}, []
    if capture:  # compiled before any generated code runs
        try:
            setup_obj, asserts = _compile(req.get("setup", ""), "<setup>", True)
        except (SyntaxError, ValueError) as exc:  # ValueError: null bytes
            setup_obj = f"{type(exc).__name__}: {_text(exc)}"
        for i, test in enumerate(tests):
            try:
                obj, found = _compile(test, f"<test {i}>", True)
                asserts.update(found)
                test_objs.append((obj, None))
            except (SyntaxError, ValueError) as exc:
                test_objs.append((None, f"{type(exc).__name__} in test: {_text(exc)}"))
    try:
        exec_(_compile(req["code"], "<generated>", False)[0], ns)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) or exc.code is None else 1
        if status:
            report("exc", type="SystemExit", message=_text(exc.code), lineno=_exc_lineno(exc, "<generated>"))
            if not isinstance(exc.code, int):
                print(_text(exc.code), file=sys.stderr)
        return status or 0
    except BaseException as exc:
        report("exc", type=type_(exc).__name__, message=_text(exc), lineno=_exc_lineno(exc, "<generated>"))
        try:
            traceback.print_exception(type(exc), exc, _user_tb(exc, "<generated>"))
        except BaseException:
            pass
        return 1
    if not capture:
        return 0
    if type_(setup_obj) is str:
        report("setup_failed", message=setup_obj)
        return 0
    ns["__builtins__"] = dict(pristine)
    try:
        exec_(setup_obj, ns)
    except BaseException as exc:
        report("setup_failed", message=_describe(exc, asserts))
        return 0
    for i, (obj, error) in enumerate_(test_objs):
        report("start", i=i)
        if error is not None:
            report("test", i=i, passed=False, exc_type=error.split(" ", 1)[0], message=error)
            continue
        ns["__builtins__"] = dict(pristine)
        try:
            exec_(obj, ns)
        except BaseException as exc:
            report("test", i=i, passed=False, exc_type=type_(exc).__name__, message=_describe(exc, asserts))
        else:
            report("test", i=i, passed=True, exc_type=None, message="")
    return 0


# ---- supervisor ------------------------------------------------------------------------------------

def supervise(conn: socket.socket, prefork: bool = True) -> None:
    """Serve execution requests on ``conn`` one by one (read, run, answer) until it is closed.

    With ``prefork`` the worker for the next request is forked and isolated right after each
    answer, while the library is busy elsewhere."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    spare = None
    try:
        while True:
            try:
                req = recv_msg(conn)
            except (EOFError, OSError):
                return
            worker, spare = spare, None
            try:
                if worker is None or worker.level != req["level"]:
                    if worker is not None:
                        worker.discard()
                    worker = Worker(req["level"])
                result = worker.run(req)
            except Exception as exc:  # an internal failure must still produce an answer
                if worker is not None:
                    worker.discard()
                result = {"status": "error", "exc_type": "SandboxError",
                          "exc_message": f"{type(exc).__name__}: {exc}"}
            try:
                send_msg(conn, result)
            except OSError:  # the library gave up on this execution
                return
            if prefork:
                try:
                    spare = Worker(req["level"])
                except OSError:  # e.g. no process slot now: the next request forks its own
                    spare = None
    finally:
        if spare is not None:
            spare.discard()


_host_pid_ns = None
_netns_private = False


def _private_netns() -> None:
    """Move this supervisor (and so its workers) into a network namespace of its own, once.

    It has no interface up, and workers cannot configure it (no capabilities), so it holds nothing
    between executions: reusing it, one worker after another, saves creating and tearing down a
    namespace per execution. Supervisors never share it."""
    global _netns_private
    if not _netns_private:
        _ok(libc.unshare(CLONE_NEWNET), "unshare net")
        _netns_private = True


def _new_pid_namespace() -> None:
    """Make the next child pid 1 of a fresh pid namespace (repeatable: reset to ours, then unshare)."""
    global _host_pid_ns
    if _host_pid_ns is None:
        _host_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    _ok(libc.setns(_host_pid_ns, CLONE_NEWPID), "setns pid")
    _ok(libc.unshare(CLONE_NEWPID), "unshare pid")


class Worker:
    """A freshly forked worker, isolated ahead of time, waiting for its one request."""

    def __init__(self, level: str) -> None:
        self.level, self.nonce, self.pid = level, os.urandom(16).hex(), None
        self.uid = UID_BASE + os.getpid() if level == "full" else None
        self.workdir = tempfile.mkdtemp(prefix="hrm-sbx-")
        self.fds: list = []  # what this supervisor must close
        try:
            self.stdin = self._keep(os.memfd_create("stdin"))
            self.request = self._keep(os.memfd_create("request"))
            # The result channel is a memfd read after exit (no wake-up per message). The worker
            # only gets a write-only, append-only descriptor; mode 0200 (root) stops it reopening
            # the memfd for reading through /proc/self/fd.
            self.results = self._keep(os.memfd_create("results"))
            os.fchmod(self.results, 0o200)
            res_w = self._keep(os.open(f"/proc/self/fd/{self.results}", os.O_WRONLY | os.O_APPEND))
            go_r, self.go = map(self._keep, os.pipe())
            self.out, out_w = map(self._keep, os.pipe())
            self.err, err_w = map(self._keep, os.pipe())
            if level == "full":
                _private_netns()
                _new_pid_namespace()
            self.pid = os.fork()
            if self.pid == 0:
                try:
                    sources = (self.stdin, out_w, err_w, res_w, self.request, go_r)
                    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in sources]  # no clash with 0..GO_FD
                    for target, fd in enumerate(high):
                        os.dup2(fd, target)
                    os.set_inheritable(3, False)
                    os.closerange(GO_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
                    _worker(level, self.workdir, self.uid, self.nonce)
                finally:
                    os._exit(SETUP_FAILED)
            for fd in (res_w, go_r, out_w, err_w):
                os.close(fd)
                self.fds.remove(fd)
        except BaseException:
            self.discard()
            raise

    def _keep(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def run(self, req: dict) -> dict:
        """Hand ``req`` to the worker, wait for it to finish, return the result; then clean up."""
        lim = req["limits"]
        os.pwrite(self.stdin, req.get("stdin", "").encode(), 0)
        os.pwrite(self.request, json.dumps(req).encode(), 0)
        start = time.monotonic()
        try:
            os.write(self.go, b"x")
        except BrokenPipeError:  # it died while setting up; its report says why
            pass
        (stdout, stderr), reason, truncated = _collect(self.pid, self.out, self.err, start + lim["timeout_s"],
                                                       lim["max_output_bytes"], kill_group=self.level != "full")
        _, status, usage = os.wait4(self.pid, 0)
        self.pid = None
        duration = time.monotonic() - start
        channel = os.pread(self.results, RESULT_CAP, 0)
        self.discard()
        return _result(req, stdout, stderr, channel, reason, truncated, status, usage, duration, self.nonce)

    def discard(self) -> None:
        """Kill the worker if it still runs; close our descriptors; remove the work dir."""
        if self.pid is not None:
            _kill(self.pid)
            os.waitpid(self.pid, 0)
            self.pid = None
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        shutil.rmtree(self.workdir, ignore_errors=True)


def _kill(pid: int) -> None:
    for kill in (os.kill, os.killpg):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _collect(pid: int, out_r: int, err_r: int, deadline: float, cap: int, kill_group: bool):
    """Read stdout/stderr until EOF; kill on wall timeout or when a stream passes ``cap`` bytes."""
    bufs = {out_r: bytearray(), err_r: bytearray()}
    pidfd = os.pidfd_open(pid)
    poll = select.poll()
    for fd in (out_r, err_r, pidfd):
        poll.register(fd, select.POLLIN)
    live, reason, truncated, exited, killed = set(bufs), None, False, False, False
    while live:
        now = time.monotonic()
        if now >= deadline:
            if exited or killed:  # only a process that escaped the group still holds a pipe
                break
            reason, killed, deadline = reason or "timeout", True, now + 2.0
            _kill(pid)
        for fd, _ in poll.poll(max(0.0, deadline - now) * 1000):
            if fd == pidfd:
                poll.unregister(pidfd)
                exited = True
                if kill_group:  # without a pid namespace: take the rest of the group down too
                    _kill(pid)
                deadline = min(deadline, time.monotonic() + 1.0)
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                poll.unregister(fd)
                live.discard(fd)
                continue
            buf = bufs[fd]
            room = cap - len(buf)
            buf += chunk[:max(room, 0)]
            if len(chunk) > room:
                truncated = True
                if reason is None:
                    reason, killed = "output_limit", True
                    _kill(pid)
    os.close(pidfd)
    return (bytes(bufs[out_r]), bytes(bufs[err_r])), reason, truncated


def _parse_channel(raw: bytes, nonce: str):
    """Messages carrying our nonce, and whether any line did not (tampering)."""
    msgs, tampered = [], False
    tag = nonce.encode() + b" "
    for line in raw.split(b"\n"):
        if not line:
            continue
        try:
            if not line.startswith(tag):
                raise ValueError
            msg = json.loads(line[len(tag):])
            if not isinstance(msg, dict):
                raise ValueError
        except ValueError:
            tampered = True
            continue
        msgs.append(msg)
    return msgs, tampered


def _result(req, stdout, stderr, channel, reason, truncated, status, usage, duration, nonce) -> dict:
    msgs, tampered = _parse_channel(channel, nonce)
    kinds = {m.get("kind") for m in msgs}
    exc = next((m for m in msgs if m.get("kind") == "exc"), {})
    exit_code = os.waitstatus_to_exitcode(status)
    if reason is None and exit_code == SETUP_FAILED and "ready" not in kinds:
        reason = "setup"
        setup = next((m for m in msgs if m.get("kind") == "setup_error"), {})
        exc = {"type": "SandboxError", "message": setup.get("message", "sandbox setup failed")}
    if reason in ("timeout", "output_limit"):
        state = reason
    elif reason == "setup":
        state = "error"
    elif exit_code < 0:  # pid 1 ignores SIGXCPU: the CPU limit then ends in SIGKILL at cpu_s + 1
        cpu_out = -exit_code == signal.SIGXCPU or usage.ru_utime + usage.ru_stime >= req["limits"]["cpu_s"]
        state = "timeout" if cpu_out else "killed"
    elif exc.get("type") == "MemoryError":
        state = "memory"
    else:
        state = "ok" if exit_code == 0 else "error"
    lineno = exc.get("lineno")
    lines = req["code"].splitlines()
    out = {
        "status": state, "exit_code": exit_code, "truncated": truncated,
        "stdout": stdout.decode("utf-8", "replace"), "stderr": stderr.decode("utf-8", "replace"),
        "exc_type": exc.get("type"), "exc_message": exc.get("message"),
        "exc_lineno": lineno if isinstance(lineno, int) else None,
        "exc_line": lines[lineno - 1].strip() if isinstance(lineno, int) and 0 < lineno <= len(lines) else None,
        "duration_s": duration, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_memory_kb": usage.ru_maxrss,
        "isolation": FULL if req["level"] == "full" else "none",
    }
    if state == "timeout" and reason is None:
        out["exc_message"] = out["exc_message"] or "CPU time limit exceeded"
    if req.get("tests") is not None:
        out["tests"] = _verdicts(req, msgs, tampered, state)
    return out


def _verdicts(req: dict, msgs: list, tampered: bool, state: str) -> list:
    """One [passed, exc_type, message] per test; anything missing or suspicious is a failure."""
    n = len(req["tests"])
    why = "no verdict (the program exited early or closed the result channel)" if state == "ok" else state
    verdicts = [[False, None, f"not run: {why}"] for _ in range(n)]
    exc = next((m for m in msgs if m.get("kind") == "exc"), None)
    if exc is not None:
        why = f"not run: the code raised {exc.get('type')}: {exc.get('message')}"
        return [[False, None, why] for _ in range(n)]
    setup = next((m for m in msgs if m.get("kind") == "setup_failed"), None)
    if setup is not None:
        return [[False, None, f"not run: test setup failed: {setup.get('message')}"] for _ in range(n)]
    seen = set()
    for m in msgs:
        i = m.get("i")
        if not isinstance(i, int) or not 0 <= i < n:
            continue
        if m.get("kind") == "start":
            verdicts[i] = [False, state if state != "ok" else None, f"did not finish: {state}"]
        elif m.get("kind") == "test" and i not in seen:
            seen.add(i)
            verdicts[i] = [m.get("passed") is True, m.get("exc_type"), m.get("message") or ""]
    if tampered:  # something other than the harness wrote on the result channel
        return [[False, "Tampering", "result channel tampered with"] for _ in range(n)]
    return verdicts


# ---- entry points ------------------------------------------------------------------------------------

def _supervise_in_child(conn: socket.socket, peer: socket.socket | None = None, prefork: bool = True) -> None:
    """Fork a supervisor on ``conn`` (closing our end ``peer`` in it, so that it sees EOF)."""
    if os.fork() == 0:
        try:
            if peer is not None:
                peer.close()
            supervise(conn, prefork)
        finally:
            os._exit(0)


PROBE = '''
import errno, os, socket
assert os.getuid() != 0 and os.getpid() == 1, "not an unprivileged pid 1"
try:
    open("/hrm-sandbox-probe", "w")
except OSError as exc:
    assert exc.errno in (errno.EROFS, errno.EACCES), exc
else:
    raise AssertionError("file system writable")
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
except OSError as exc:
    assert exc.errno == errno.ENETUNREACH, exc
else:
    raise AssertionError("network reachable")
'''


def probe() -> dict:
    """Check that a full-isolation execution works; else level "none" with the reason."""
    reason = "not running as root" if os.geteuid() != 0 else None
    if reason is None:
        ours, theirs = socket.socketpair()
        _supervise_in_child(theirs, ours, prefork=False)
        theirs.close()
        limits = {"timeout_s": 10, "cpu_s": 10, "memory_mb": 512, "file_size_mb": 1, "workdir_mb": 1,
                  "max_processes": 8, "max_open_files": 64, "max_output_bytes": 1 << 16}
        send_msg(ours, {"code": PROBE, "limits": limits, "level": "full"})
        res = recv_msg(ours)
        ours.close()
        if res.get("status") != "ok":
            reason = f"{res.get('exc_type')}: {res.get('exc_message')}"
    if reason is None:
        return {"level": "full", "isolation": FULL, "reason": ""}
    return {"level": "none", "isolation": "none", "reason": reason}


def serve(ctrl: socket.socket) -> None:
    """Fork server loop: one supervisor per socket received; exit when the library goes away."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    send_msg(ctrl, probe())
    gc.freeze()  # forks then share the heap instead of copying every page the collector touches
    while True:
        msg, fds, _, _ = socket.recv_fds(ctrl, 16, 64)
        if not msg:
            return
        for fd in fds:
            conn = socket.socket(fileno=fd)
            _supervise_in_child(conn)
            conn.close()


def main(argv: list) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the library decides when we stop
    mode = argv[1]
    if mode == "probe":
        print(json.dumps(probe()))
    elif mode == "serve":
        serve(socket.socket(fileno=int(argv[2])))
    elif mode == "once":
        supervise(socket.socket(fileno=int(argv[2])), prefork=False)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
