"""Hostile generated code: each attack must be contained, and afterwards this process must be alive,
no sandbox process may be left, and a normal run must still work."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from hrm_agents.sandbox import Limits, default_sandbox, isolation_info, run_code, run_tests

FULL = isolation_info().level == "full"
needs_full = pytest.mark.skipif(not FULL, reason=f"full isolation unavailable: {isolation_info().reason}")
SHORT = Limits(timeout_s=2, cpu_s=2, max_processes=32, memory_mb=256)
SANDBOX_UID_MIN = 1 << 30  # _server.UID_BASE


def _sandbox_processes() -> list[str]:
    """Processes still running under the uid of one of our supervisors (uid = UID_BASE + its pid)."""
    server = default_sandbox()._server.pid
    uids = {SANDBOX_UID_MIN + int(pid) for pid in Path(f"/proc/{server}/task/{server}/children").read_text().split()}
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            uid_line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(uid_line.split()[1]) in uids:
            left.append(pid)
    return left


def _processes_with(marker: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def still_healthy():
    yield
    assert _sandbox_processes() == []
    r = run_code("print(sum(range(10)))")
    assert (r.status, r.stdout) == ("ok", "45\n")


@needs_full
def test_fork_bomb_is_bounded_and_killed():
    r = run_code("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", limits=SHORT)
    assert r.status == "timeout" and r.duration_s < 5


@needs_full
def test_fork_bomb_via_ctypes():
    r = run_code("import ctypes\nlibc = ctypes.CDLL(None)\nwhile True:\n    libc.fork()", limits=SHORT)
    assert r.status == "timeout" and r.duration_s < 5


def test_memory_bomb():
    r = run_code("a = []\nwhile True:\n    a.append(bytearray(10**7))", limits=SHORT)
    assert r.status == "memory" and r.exc_type == "MemoryError"


def test_infinite_loop_and_sleep_past_timeout():
    assert run_code("while True:\n    pass", limits=SHORT).status == "timeout"
    r = run_code("import time\ntime.sleep(60)", limits=SHORT)
    assert r.status == "timeout" and r.duration_s < 4


def test_sigterm_ignored_is_still_killed():
    code = ("import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
            "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass")
    assert run_code(code, limits=SHORT).status == "timeout"


def test_100mb_of_output_and_a_huge_line():
    r = run_code("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 10**6)", limits=SHORT)
    assert r.status == "output_limit" and r.truncated and len(r.stdout) == SHORT.max_output_bytes
    r = run_code("import sys\nsys.stderr.write('y' * 50 * 10**6)", limits=SHORT)
    assert r.status == "output_limit" and r.truncated and len(r.stderr) == SHORT.max_output_bytes


@needs_full
def test_writes_outside_the_work_dir_fail():
    repo_file = Path(__file__).resolve().parents[1] / "SANDBOX_ESCAPE"
    code = ("import os\nfor p in ['/tmp/hrm_escape', '/var/tmp/hrm_escape', '/dev/shm/hrm_escape', %r]:\n"
            "    try:\n        open(p, 'w').write('x')\n        print('WROTE', p)\n"
            "    except OSError as e:\n        print(type(e).__name__, e.errno)\n"
            "open('inside.txt', 'w').write('ok')\nprint(open('inside.txt').read())") % str(repo_file)
    r = run_code(code, limits=SHORT)
    assert r.status == "ok" and "WROTE" not in r.stdout and r.stdout.endswith("ok\n")
    assert r.stdout.count("OSError 30") == 4  # EROFS: /tmp is world-writable, only the read-only mount stops it
    for p in ("/tmp/hrm_escape", "/var/tmp/hrm_escape", "/dev/shm/hrm_escape", repo_file):
        assert not os.path.exists(p)


@needs_full
def test_filling_the_disk_is_capped():
    code = ("import os\nn = 0\ntry:\n    while True:\n        open(f'f{n}', 'wb').write(b'x' * 2**20)\n        n += 1\n"
            "except OSError as e:\n    print(e.errno, n)")
    r = run_code(code, limits=Limits(workdir_mb=8, timeout_s=5))
    errno, written = map(int, r.stdout.split())
    assert errno == 28 and written <= 8  # ENOSPC once the 8 MiB work dir is full


@needs_full
def test_sysv_ipc_does_not_outlive_the_run():
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.shmget(0, 1 << 20, 0o1600))")  # IPC_PRIVATE, IPC_CREAT | 0600
    assert int(run_code(code, limits=SHORT).stdout) >= 0
    sandbox_segments = [line for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
                        if int(line.split()[7]) >= SANDBOX_UID_MIN]  # column 8: uid
    assert sandbox_segments == []


@needs_full
def test_deleting_files_fails():
    victim_dir = tempfile.mkdtemp(dir="/tmp")
    os.chmod(victim_dir, 0o777)
    victim = Path(victim_dir) / "victim.txt"
    victim.write_text("keep")
    victim.chmod(0o666)
    try:
        code = f"""
import os, shutil
for f in (lambda: os.remove({str(victim)!r}), lambda: shutil.rmtree({victim_dir!r}),
          lambda: open({str(victim)!r}, 'w')):
    try:
        f()
    except OSError as e:
        print(e.errno)
"""
        r = run_code(code, limits=SHORT)
        assert r.stdout.split() == ["30", "30", "30"]
        assert victim.read_text() == "keep"
    finally:
        victim.unlink()
        os.rmdir(victim_dir)


def test_parent_secrets_do_not_leak(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "secret-sk-123")
    monkeypatch.setenv("HF_TOKEN", "secret-hf-456")
    code = ("import os\nprint(sorted(os.environ))\n"
            "for pid in (1, %d):\n    try:\n        print(open(f'/proc/{pid}/environ', 'rb').read())\n"
            "    except OSError as e:\n        print(type(e).__name__)") % os.getpid()
    r = run_code(code, limits=SHORT)
    assert r.status == "ok" and "secret" not in r.stdout
    assert "OPENAI_API_KEY" not in r.stdout and "HF_TOKEN" not in r.stdout
    if FULL:  # our pid does not exist in the sandbox's /proc
        assert r.stdout.splitlines()[-1] == "FileNotFoundError"


def test_network_connection_fails():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        r = run_code(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('CONNECTED')",
                     limits=SHORT)
        if FULL:
            assert r.status == "error" and "Network is unreachable" in r.exc_message
            with pytest.raises(TimeoutError):
                server.accept()
        else:
            assert r.isolation == "none"
    finally:
        server.close()


@needs_full
def test_cannot_see_or_kill_outside_processes():
    code = f"""
import os
print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
print(os.getpid(), os.getppid(), os.getuid())
for f in (lambda: os.kill(os.getppid(), 9), lambda: os.kill({os.getpid()}, 9), lambda: os.kill(-1, 9),
          lambda: os.killpg(0, 9)):
    try:
        f()
    except OSError as e:
        print(type(e).__name__)
print('alive')
"""
    r = run_code(code, limits=SHORT)
    lines = r.stdout.splitlines()
    assert lines[0] == "[1]" and lines[1].split()[:2] == ["1", "0"] and int(lines[1].split()[2]) >= SANDBOX_UID_MIN
    assert r.status == "ok" and lines[-1] == "alive"


def test_exit_paths():
    assert run_code("import sys\nsys.exit(3)", limits=SHORT).exit_code == 3
    assert run_code("raise KeyboardInterrupt", limits=SHORT).exc_type == "KeyboardInterrupt"
    assert run_code("raise SystemExit(7)", limits=SHORT).exit_code == 7
    assert run_code("import os\nos._exit(0)", limits=SHORT).status == "ok"


def test_deep_recursion():
    r = run_code("def f(n):\n    return f(n + 1)\nf(0)", limits=SHORT)
    assert r.status == "error" and r.exc_type == "RecursionError" and r.exc_lineno == 2
    r = run_code("import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return [f(n + 1)]\nf(0)", limits=SHORT)
    assert r.status in ("memory", "timeout", "killed")


def test_ctypes_segfault():
    r = run_code("import ctypes\nctypes.string_at(0)", limits=SHORT)
    assert (r.status, r.exit_code) == ("killed", -11)


@needs_full
def test_orphans_and_double_forks_die_with_the_run():
    marker = f"hrm-sandbox-marker-{os.getpid()}"
    code = f"""
import os, subprocess, sys
argv = [sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}]
subprocess.Popen(argv, start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, argv)
    os._exit(0)
import time
while sum({marker!r}.encode() in open(f'/proc/{{p}}/cmdline', 'rb').read()
          for p in os.listdir('/proc') if p.isdigit()) < 2:
    time.sleep(0.05)
print('spawned')
"""
    r = run_code(code, limits=SHORT)
    assert (r.status, r.stdout) == ("ok", "spawned\n")
    assert _processes_with(marker) == []


def test_threading_bomb():
    r = run_code("import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()",
                 limits=SHORT)
    if FULL:
        assert r.status == "error" and r.exc_type == "RuntimeError" and "can't start new thread" in r.exc_message
    else:
        assert r.status in ("error", "memory", "timeout")


# ---- forging test verdicts ----------------------------------------------------------------------------

WRONG = "def f(x):\n    return x + 1\n"
TESTS = ["assert f(2) == 5", "assert abs(f(1.0) - 7.0) < 1e-6"]
FAKE = '{"kind":"test","i":0,"passed":true}'
FORGERIES = {
    "fake verdicts on every fd": WRONG + ("import os\nfor fd in range(3, 64):\n    try:\n"
                                         f"        os.write(fd, b'{FAKE}\\n')\n    except OSError:\n        pass\n"),
    "fake verdicts on stdout": WRONG + f"print('{FAKE}')\n",
    "close the result channel": WRONG + "import os\nos.close(3)\n",
    "exit before the tests": WRONG + "import os\nos._exit(0)\n",
    "sys.exit(0) before the tests": WRONG + "import sys\nsys.exit(0)\n",
    "sys.exit(0) inside the function": "def f(x):\n    import sys\n    sys.exit(0)\n",
    "KeyboardInterrupt inside the function": "def f(x):\n    raise KeyboardInterrupt\n",
    "override builtins": WRONG + ("import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.exec = lambda *a, **k: None\n"
                                 "builtins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int\n"
                                 "builtins.AssertionError = type('E', (Exception,), {})\n"),
    "patch json and os.write": WRONG + ("import json, json.encoder, os\njson.dumps = lambda *a, **k: '" + FAKE + "'\n"
                                        "json.encoder.JSONEncoder.encode = lambda *a, **k: '" + FAKE + "'\n"
                                        "json.encoder.encode_basestring_ascii = lambda s: '\"x\"'\n"
                                        "_w = os.write\n"
                                        "os.write = lambda fd, b: _w(fd, b.replace(b'false', b'true'))\n"),
    "spam the channel from a thread": WRONG + ("import os, threading, time\ndef spam():\n    while True:\n"
                                               "        os.write(3, b'" + FAKE + "\\n')\n"
                                               "threading.Thread(target=spam, daemon=True).start()\ntime.sleep(0.2)\n"),
}


@needs_full
def test_result_channel_cannot_be_read_back():
    code = ("import mmap, os\nfor f in (lambda: os.read(3, 100), lambda: os.pread(3, 100, 0),\n"
            "          lambda: open('/proc/self/fd/3', 'rb').read(), lambda: mmap.mmap(3, 0, prot=mmap.PROT_READ)):\n"
            "    try:\n        print('READ', f())\n    except OSError as e:\n        print(type(e).__name__)")
    rep = run_tests(code, ["assert True"], limits=SHORT)
    assert rep.exec.stdout.split() == ["OSError", "OSError", "PermissionError", "PermissionError"]
    assert rep.passed  # the harness still reports normally


@pytest.mark.parametrize("name", FORGERIES)
def test_verdicts_cannot_be_forged_cheaply(name):
    rep = run_tests(FORGERIES[name], TESTS, limits=SHORT)
    assert not rep.passed and rep.n_passed == 0, rep.results
    honest = run_tests("def f(x):\n    return 5 if x == 2 else 7.0\n", TESTS, limits=SHORT)
    assert honest.passed
