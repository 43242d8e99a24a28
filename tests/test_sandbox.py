"""Sandbox API: results, limits, the test runner, concurrency, the LangGraph tool."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from hrm_agents.sandbox import (ExecResult, Limits, Sandbox, TestReport, isolation_info, python_tool, run_code,
                                run_tests)
from hrm_agents.sandbox import executor

FAST = Limits(timeout_s=3, cpu_s=3)


def test_ok_run_reports_stdout_isolation_and_memory():
    r = run_code("import sys\nprint('hello')\nprint('warn', file=sys.stderr)")
    assert r.status == "ok" and r.exit_code == 0
    assert r.stdout == "hello\n" and r.stderr == "warn\n"
    assert r.isolation == isolation_info().isolation
    assert 0 < r.duration_s < 5
    assert r.peak_memory_kb > 1000


def test_exception_is_located_in_generated_code():
    r = run_code("def f(x):\n    return 1 / x\n\nprint('before')\nf(0)\n")
    assert r.status == "error" and r.exit_code == 1
    assert (r.exc_type, r.exc_message) == ("ZeroDivisionError", "division by zero")
    assert (r.exc_lineno, r.exc_line) == (2, "return 1 / x")
    assert r.stdout == "before\n"
    assert 'File "<generated>", line 2' in r.stderr and "_server.py" not in r.stderr


def test_syntax_error():
    r = run_code("x = 1\ndef f(:\n    pass\n")
    assert r.status == "error" and r.exc_type == "SyntaxError" and r.exc_lineno == 2
    assert r.exc_line == "def f(:"


def test_stdin_is_fed():
    assert run_code("print(input()[::-1])", stdin="abc\n").stdout == "cba\n"


def test_exit_codes():
    assert run_code("import sys; sys.exit(0)").status == "ok"
    r = run_code("import sys; sys.exit(3)")
    assert (r.status, r.exit_code, r.exc_type) == ("error", 3, "SystemExit")
    r = run_code("raise SystemExit('bye')")
    assert (r.status, r.exit_code, r.stderr) == ("error", 1, "bye\n")
    r = run_code("raise KeyboardInterrupt")
    assert (r.status, r.exc_type) == ("error", "KeyboardInterrupt")


def test_memory_limit():
    r = run_code("x = bytearray(300 * 2**20)", limits=Limits(memory_mb=256))
    assert r.status == "memory" and r.exc_type == "MemoryError"
    r = run_code("x = bytearray(100 * 2**20)\nx[::4096] = b'1' * len(x[::4096])")
    assert r.status == "ok" and r.peak_memory_kb > 100 * 1024


def test_cpu_limit():
    r = run_code("while True:\n    pass", limits=Limits(cpu_s=1, timeout_s=30))
    assert r.status == "timeout" and r.exc_message == "CPU time limit exceeded"
    assert 0.5 < r.cpu_s < 3 and r.duration_s < 30  # stopped by RLIMIT_CPU, not the wall clock


def test_wall_timeout():
    r = run_code("import time\ntime.sleep(30)", limits=Limits(timeout_s=1))
    assert r.status == "timeout" and r.exit_code == -9 and 1 <= r.duration_s < 4


def test_file_size_and_open_file_limits():
    r = run_code("open('big', 'wb').write(b'x' * 3 * 2**20)", limits=Limits(file_size_mb=1))
    assert r.status == "error" and "File too large" in r.exc_message
    r = run_code("fs = [open('f%d' % i, 'w') for i in range(100)]", limits=Limits(max_open_files=32))
    assert r.status == "error" and "Too many open files" in r.exc_message


def test_output_is_capped_and_marked():
    r = run_code("while True:\n    print('x' * 1000)", limits=Limits(max_output_bytes=10_000, timeout_s=5))
    assert r.status == "output_limit" and r.truncated
    assert len(r.stdout) == 10_000 and r.duration_s < 4


def test_limits_validation():
    with pytest.raises(ValueError):
        Limits(timeout_s=0)
    with pytest.raises(ValueError):
        Limits(memory_mb=1)
    with pytest.raises(ValueError):
        Limits(bogus=1)
    with pytest.raises(TypeError, match="code must be str"):
        run_code(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tests must be a list of str"):
        run_tests("x = 1", "assert x")  # type: ignore[arg-type]


def test_work_dir_is_fresh_writable_and_removed():
    code = ("import os\nprint(os.getcwd())\nprint(os.listdir('.'))\n"
            "open('f.txt', 'w').write('hi')\nprint(open('f.txt').read())")
    a, b = run_code(code), run_code(code)
    cwd_a, listing, content = a.stdout.splitlines()
    assert (listing, content) == ("[]", "hi") and a.status == "ok"
    assert cwd_a != b.stdout.splitlines()[0]
    assert not os.path.exists(cwd_a)


# ---- run_tests ----------------------------------------------------------------------------------------

def test_run_tests_per_test_outcomes():
    rep = run_tests("def f(x):\n    return x + 1\n",
                    ["assert f(1) == 2", "assert f(2) == 5", "assert f('a') == 1",
                     "x = f(3)\nassert x > 100, 'too small'"])
    assert isinstance(rep, TestReport)
    assert [o.passed for o in rep.results] == [True, False, False, False]
    assert (rep.n_passed, rep.n_total, rep.passed) == (1, 4, False)
    assert rep.first_failure.test == "assert f(2) == 5"
    assert rep.results[1].message == "assert f(2) == 5 -> got 3"
    assert rep.results[2].exc_type == "TypeError" and "[in: assert f('a') == 1]" in rep.results[2].message
    assert rep.results[3].message == "assert x > 100, 'too small' -> got 4 (too small)"


def test_run_tests_all_pass():
    rep = run_tests("def add(a, b):\n    return a + b\n", ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"])
    assert rep.passed and rep.n_passed == 2 and rep.first_failure is None and rep.exec.status == "ok"


def test_run_tests_humaneval_style_setup():
    setup = "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"
    good = run_tests("def total(xs):\n    return sum(xs)\n", ["check(total)"], setup=setup)
    bad = run_tests("def total(xs):\n    return len(xs)\n", ["check(total)"], setup=setup)
    assert good.passed and not bad.passed
    assert bad.results[0].message == "assert candidate([1, 2]) == 3 -> got 2"


def test_run_tests_code_error_means_nothing_runs():
    rep = run_tests("def f(:\n", ["assert True"])
    assert rep.exec.status == "error" and rep.exec.exc_type == "SyntaxError"
    assert not rep.results[0].passed and rep.results[0].message.startswith("not run: the code raised SyntaxError")


def test_run_tests_setup_failure_fails_every_test():
    for setup in ("def check(:", "raise ValueError('bad fixture')"):
        rep = run_tests("x = 1", ["assert x == 1"], setup=setup)
        assert rep.exec.status == "ok" and not rep.passed
        assert rep.results[0].message.startswith("not run: test setup failed:")


def test_run_tests_bad_test_syntax_and_empty_list():
    rep = run_tests("x = 1", ["assert x == 1", "assert (", "assert x"])
    assert [o.passed for o in rep.results] == [True, False, True]
    assert rep.results[1].exc_type == "SyntaxError"
    assert not run_tests("x = 1", []).passed


def test_run_tests_timeout_names_the_hanging_test():
    rep = run_tests("def f():\n    while True:\n        pass\n", ["assert 1 == 1", "f()", "assert True"],
                    limits=Limits(timeout_s=1))
    assert rep.exec.status == "timeout"
    assert [o.passed for o in rep.results] == [True, False, False]
    assert rep.results[1].message == "did not finish: timeout"
    assert rep.results[2].message == "not run: timeout"


# ---- concurrency, fork server, tool -------------------------------------------------------------------

def test_parallel_runs_do_not_interfere():
    code = ("import os, time\nopen('id', 'w').write({i!r})\ntime.sleep(0.2)\n"
            "print(open('id').read(), os.getcwd())")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: run_code(code.format(i=str(i))), range(16)))
    ids = [r.stdout.split()[0] for r in results]
    assert ids == [str(i) for i in range(16)]
    assert len({r.stdout.split()[1] for r in results}) == 16


def test_fork_server_restarts_after_dying():
    sb = Sandbox()
    try:
        assert sb.run_code("print(1)").stdout == "1\n"
        sb._server.kill()
        sb._server.wait()
        assert sb.run_code("print(2)").stdout == "2\n"
    finally:
        sb.close()


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_idle_supervisor_keeps_a_preforked_worker_and_close_reaps_everything():
    sb = Sandbox()
    try:
        assert sb.run_code("print(1)").stdout == "1\n"
        server = sb._server.pid
        supervisors = _children(server)
        deadline = time.monotonic() + 5
        while not (spares := [w for s in supervisors for w in _children(s)]) and time.monotonic() < deadline:
            time.sleep(0.02)  # the supervisor forks the next worker right after answering
        assert len(supervisors) == 1 and len(spares) == 1  # the next worker waits, already isolated
        time.sleep(0.5)
        r = sb.run_code("import os\nprint(os.getpid())")
        assert r.stdout == ("1\n" if r.isolation != "none" else f"{spares[0]}\n")
    finally:
        sb.close()
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{p}").exists() for p in [server, *supervisors, *spares]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{p}").exists() for p in [server, *supervisors, *spares])


def test_spawn_start_method_gives_same_results():
    sb = Sandbox(start_method="spawn")
    r = sb.run_code("print(6 * 7)")
    assert (r.status, r.stdout, r.isolation) == ("ok", "42\n", sb.info.isolation)
    with pytest.raises(ValueError):
        Sandbox(start_method="thread")  # type: ignore[arg-type]


def test_isolate_false_reports_none_and_warns_once(monkeypatch, caplog, capsys):
    monkeypatch.setattr(executor, "_warned", False)
    sb = Sandbox(isolate=False)
    try:
        with caplog.at_level(logging.WARNING, logger="hrm_agents.sandbox.executor"):
            first = sb.run_code("import time\ntime.sleep(30)", limits=Limits(timeout_s=1))
            second = sb.run_code("print('x')")
        assert (first.status, first.isolation, second.isolation) == ("timeout", "none", "none")
        assert second.stdout == "x\n"
        assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
        assert "WITHOUT isolation" in caplog.records[0].message
        assert "WITHOUT isolation" in capsys.readouterr().err
    finally:
        sb.close()


def test_python_tool_in_tool_node():
    call = {"name": python_tool.name, "args": {"code": "print(21 * 2)\n1/0"}, "id": "c1", "type": "tool_call"}
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([python_tool]))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    out = graph.compile().invoke({"messages": [AIMessage(content="", tool_calls=[call])]})
    msg = out["messages"][-1]
    assert isinstance(msg, ToolMessage) and msg.tool_call_id == "c1"
    assert msg.content.startswith("status: error") and "42" in msg.content
    assert "ZeroDivisionError: division by zero at line 2: 1/0" in msg.content
    assert isinstance(msg.artifact, ExecResult) and msg.artifact.exc_lineno == 2
