"""The experiment runner: output files, scoring, pass@k, concurrency, errors, resume after SIGKILL
and Ctrl-C, and the CLI's one-line errors."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import hrm_agents.cli_common as cli_common
from hrm_agents.backends import BackendError, BackendUnreachable, GenParams, Message, ScriptedBackend, wrap_backend
from hrm_agents.evaluation.records import AttemptRecord, FailureTag
from hrm_agents.graphs.coding import flat_arm, hier_arm
from hrm_agents.runner import ArmConfig, ArmOutcome, RunAborted, run_experiment
from hrm_agents.tasks.schema import Task

from experiment_cli import experiment_main

REPO = Path(__file__).resolve().parents[1]
exp1_main = experiment_main("exp1_decomp_vs_flat")
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"


def tasks(n: int) -> list[Task]:
    return [Task(id=f"t{i}", kind="code", prompt="def add(a, b):\n    '''Return a + b.'''\n", entry_point="add",
                 visible_tests=["assert add(1, 2) == 3"], hidden_tests=["assert add(2, 3) == 5", "assert add(0, 0) == 0"])
            for i in range(n)]


def echo_arm(task, backend, cfg: ArmConfig) -> ArmOutcome:
    """One model call whose reply is the final code (the backend decides per task and seed)."""
    c = backend.complete([Message(role="user", content=task.id)], GenParams(seed=cfg.seed, max_tokens=cfg.max_tokens))
    return ArmOutcome(final=c.text, model_calls=1, iterations=1, prompt_tokens=c.prompt_tokens,
                      completion_tokens=c.completion_tokens, call_latencies_s=[0.5], self_check_passed=True,
                      trace={"reply": c.text})


def records(run_dir: Path) -> list[AttemptRecord]:
    return [AttemptRecord.model_validate_json(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def run(tmp_path, task_list, arms, backend, **kw) -> Path:
    return run_experiment("exp_test", task_list, arms, backend, out_root=tmp_path, progress=False, **kw)


def test_output_files_scoring_and_summary(tmp_path):
    script = {"t0": RIGHT, "t1": WRONG}
    backend = ScriptedBackend(lambda m, p: f"```python\n{script['t0' if 'ZERO' in m[-1].content else 't1']}```")
    task_list = [t.model_copy(update={"prompt": t.prompt + ("# ZERO\n" if t.id == "t0" else "")}) for t in tasks(2)]
    run_dir = run(tmp_path, task_list, {"flat": flat_arm, "hier": hier_arm}, backend, max_iters=2, name="demo")
    assert run_dir.parent == tmp_path / "exp_test" and run_dir.name.endswith("-demo")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["arms"] == ["flat", "hier"] and config["settings"]["tasks"] == ["t0", "t1"]
    assert config["settings"]["max_iters"] == 2 and config["backend_describe"]["backend"] == "scripted"
    assert config["packages"]["langgraph"] and config["python"] and "argv" in config and "git" in config
    recs = {(r.arm, r.task_id): r for r in records(run_dir)}
    assert len(recs) == 4
    assert recs["flat", "t0"].passed and recs["hier", "t0"].passed
    assert not recs["flat", "t1"].passed and recs["flat", "t1"].failure_tags[0].tag == "wrong_answer"
    assert recs["hier", "t1"].iterations == 2 and recs["hier", "t1"].model_calls == 3  # planner + 2 coder calls
    assert recs["flat", "t0"].time_to_solve_s == recs["flat", "t0"].wall_time_s > 0
    assert recs["flat", "t1"].time_to_solve_s is None
    assert recs["hier", "t0"].hidden_report["n_passed"] == 2
    trace = json.loads((run_dir / recs["hier", "t1"].trace_path).read_text())
    assert [s["node"] for s in trace["outcome"]["steps"]][:3] == ["planner", "coder", "tester"]
    summary = json.loads((run_dir / "run_summary.json").read_text())
    assert summary["partial"] is False and summary["finished"] == summary["expected"] == 4
    assert summary["arms"]["flat"]["pass@1"] == 0.5 and summary["arms"]["flat"]["mean_model_calls"] == 1
    assert summary["peak_rss_mb"]["self"] > 10
    assert (run_dir / "report.md").read_text().strip()


def test_samples_seeds_and_pass_at_k(tmp_path):
    backend = ScriptedBackend(lambda m, p: RIGHT if p.seed == 7 else WRONG)  # only sample 0 (seed 7) passes
    run_dir = run(tmp_path, tasks(2), {"echo": echo_arm}, backend, samples=3, seed=7)
    recs = records(run_dir)
    assert sorted((r.task_id, r.sample, r.seed, r.passed) for r in recs) == [
        (t, s, 7 + s, s == 0) for t in ("t0", "t1") for s in range(3)]
    arm = json.loads((run_dir / "run_summary.json").read_text())["arms"]["echo"]
    assert arm["pass@1"] == pytest.approx(1 / 3) and arm["pass@3"] == 1.0
    assert arm["mean_latency_per_call_s"] == 0.5


def test_concurrency_runs_attempts_in_parallel(tmp_path):
    in_flight, peak, lock = 0, 0, threading.Lock()

    def slow(messages, params):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.3)
        with lock:
            in_flight -= 1
        return RIGHT

    run_dir = run(tmp_path, tasks(8), {"echo": echo_arm}, ScriptedBackend(slow), concurrency=4)
    assert peak >= 3  # attempts overlapped (a wall-clock bound would be flaky on a loaded machine)
    assert len(records(run_dir)) == 8 and all(r.passed for r in records(run_dir))


class Unreachable(ScriptedBackend):
    def _complete(self, messages, params):
        raise BackendUnreachable("cannot reach Ollama at http://127.0.0.1:9 (connection refused)")


def test_unreachable_backend_at_start_stops_the_run(tmp_path):
    with pytest.raises(RunAborted) as err:
        run(tmp_path, tasks(3), {"echo": echo_arm}, Unreachable(), concurrency=2)
    assert str(err.value) == "cannot reach Ollama at http://127.0.0.1:9 (connection refused)"
    assert err.value.exit_code == 2 and not list((tmp_path / "exp_test").iterdir())  # no empty run left


def test_backend_errors_mid_run_become_records_then_resume_retries_them(tmp_path):
    calls = 0

    def flaky(messages, params):
        nonlocal calls
        calls += 1
        if calls in (2, 3):
            raise BackendError("server returned garbage")
        if calls == 4:
            raise BackendUnreachable("cannot reach Ollama at http://127.0.0.1:9")
        return RIGHT

    run_dir = run(tmp_path, tasks(5), {"echo": echo_arm}, ScriptedBackend(flaky))
    recs = records(run_dir)
    assert len(recs) == 5 and sum(r.passed for r in recs) == 2
    errors = [r for r in recs if r.error]
    assert [r.error for r in errors] == ["BackendError: server returned garbage"] * 2 + [
        "BackendUnreachable: cannot reach Ollama at http://127.0.0.1:9"]
    assert {r.failure_tags[0].tag for r in errors} == {"backend_error"}
    assert json.loads((run_dir / "run_summary.json").read_text())["arms"]["echo"]["n_errors"] == 3
    logged = [json.loads(line) for line in (run_dir / "calls.jsonl").read_text().splitlines()]
    assert [m["messages"][0]["content"] for m in logged] == [f"t{i}" for i in range(5)]
    assert [m.get("error", "")[:12] for m in logged] == ["", "BackendError", "BackendError", "BackendUnrea", ""]
    assert logged[0]["completion"]["text"] == RIGHT
    # a backend that already logs to the run's calls.jsonl is not wrapped again: each call is one line
    prelogged = wrap_backend(ScriptedBackend([RIGHT] * 3), log_path=run_dir / "calls.jsonl")
    run_experiment("exp_test", tasks(5), {"echo": echo_arm}, prelogged, resume=run_dir, progress=False)
    recs = records(run_dir)
    assert len(recs) == 5 and all(r.passed and r.error is None for r in recs)
    resumed = (run_dir / "calls.jsonl").read_text().splitlines()[len(logged):]
    assert [json.loads(line)["messages"][0]["content"] for line in resumed] == ["t1", "t2", "t3"]


def test_arm_meta_and_own_tags_reach_the_record_and_the_arm_sees_no_reference(tmp_path):
    seen = []

    def arm(task, backend, cfg: ArmConfig) -> ArmOutcome:
        seen.append(task.model_dump())
        detail = [{"code": "print(1)", "status": "error", "stdout": "", "error": "NameError: x"}]
        return ArmOutcome(final=RIGHT if task.id == "t0" else WRONG, tags=[FailureTag(tag="tool_misuse", evidence="mine")],
                          meta={"tool_calls_detail": detail, "family": "spoofed", "steps": [0]})

    task_list = [t.model_copy(update={"family": "fam", "meta": {"k": 2}, "reference": {"steps": [3, 5]}})
                 for t in tasks(2)]
    recs = {r.task_id: r for r in records(run(tmp_path, task_list, {"a": arm}, ScriptedBackend([])))}
    assert all("reference" not in t and t["meta"] == {"k": 2} for t in seen)
    passed, failed = recs["t0"], recs["t1"]
    assert passed.passed and not failed.passed
    for r in (passed, failed):
        assert r.meta["arm_tags"] == [{"tag": "tool_misuse", "evidence": "mine"}]  # kept on passed attempts too
        assert r.meta["tool_calls_detail"][0]["error"] == "NameError: x"
        assert (r.meta["family"], r.meta["steps"], r.meta["k"]) == ("fam", [3, 5], 2)  # the evaluator's data wins
    assert [t.tag for t in failed.failure_tags] == ["tool_misuse", "wrong_answer"]
    assert failed.failure_tags[0].evidence == "mine"  # the arm's own tag wins over the rule tag of that name


def test_consecutive_backend_errors_abort_the_run(tmp_path):
    replies = iter([RIGHT])

    def dying(messages, params):
        try:
            return next(replies)
        except StopIteration:
            raise BackendError("HTTP 500") from None

    with pytest.raises(RunAborted, match=r"3 attempts in a row failed; last: BackendError: HTTP 500; 4/10"):
        run(tmp_path, tasks(10), {"echo": echo_arm}, ScriptedBackend(dying), max_consecutive_errors=3)


def test_arm_crash_is_a_tagged_record_with_traceback(tmp_path):
    def broken(task, backend, cfg):
        raise KeyError("oops")

    run_dir = run(tmp_path, tasks(1), {"broken": broken}, ScriptedBackend())
    (rec,) = records(run_dir)
    assert rec.error == "KeyError: 'oops'" and rec.failure_tags[0].tag == "arm_error" and not rec.passed
    assert "Traceback" in json.loads((run_dir / rec.trace_path).read_text())["outcome"]["traceback"]


def test_resume_drops_a_truncated_line_and_refuses_other_settings(tmp_path):
    run_dir = run(tmp_path, tasks(3), {"echo": echo_arm}, ScriptedBackend(lambda m, p: RIGHT))
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    (run_dir / "results.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # kill mid-write
    with pytest.raises(RunAborted, match=r"settings differ .*samples: 1 != 2"):
        run_experiment("exp_test", tasks(3), {"echo": echo_arm}, ScriptedBackend(), samples=2, resume=run_dir,
                       progress=False)
    backend = ScriptedBackend([RIGHT])
    run_experiment("exp_test", tasks(3), {"echo": echo_arm}, backend, resume=run_dir, progress=False)
    assert [m[0][0].content for m in backend.calls] == ["t2"]  # only the lost attempt ran again
    assert [r.task_id for r in records(run_dir)] == ["t0", "t1", "t2"]
    config = json.loads((run_dir / "config.json").read_text())
    assert len(config["resumed"]) == 1


DRIVER = textwrap.dedent('''
    import sys, time
    from hrm_agents.backends import GenParams, Message, ScriptedBackend
    from hrm_agents.runner import ArmOutcome, run_experiment
    from hrm_agents.tasks.schema import Task

    TASKS = [Task(id=f"t{i}", kind="code", prompt="add", entry_point="add", hidden_tests=["assert add(1, 2) == 3"])
             for i in range(6)]

    def backend(delay):
        def reply(messages, params):
            time.sleep(delay)
            return "def add(a, b):\\n    return a + b\\n"
        return ScriptedBackend(reply)

    def arm(task, backend, cfg):
        c = backend.complete([Message(role="user", content=task.id)], GenParams())
        return ArmOutcome(final=c.text, model_calls=1, iterations=1)

    if __name__ == "__main__":
        run_experiment("exp_test", TASKS, {"a": arm, "b": arm}, backend(0.4), out_root=sys.argv[1], progress=False)
''')


def run_to_files(tmp_path: Path, cmd: list[str], env: dict[str, str] | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a command to completion with its output in files, not pipes (a sandbox server that
    outlives the command can keep a pipe open)."""
    out, err = tmp_path / "cmd.out", tmp_path / "cmd.err"
    with out.open("w") as o, err.open("w") as e:
        rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=o, stderr=e, timeout=timeout).returncode
    return subprocess.CompletedProcess(cmd, rc, out.read_text(), err.read_text())


def _wait_for_results(root: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> Path:
    """Wait until the driver's run under ``root/exp_test/`` has ``n`` result lines; return its run dir."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list(root.glob("exp_test/*/results.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= n:
            return found[0].parent
        assert proc.poll() is None, f"exited early with {proc.returncode}"
        time.sleep(0.05)
    raise AssertionError(f"no run under {root} reached {n} result lines")


def test_resume_after_sigkill_finishes_without_duplicates(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen([sys.executable, str(driver), str(tmp_path)], env=env, stdout=log,
                                stderr=log)
    try:
        run_dir = _wait_for_results(tmp_path, 3, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    before = records(run_dir)
    assert 3 <= len(before) < 12
    ns = runpy.run_path(str(driver))
    run_experiment("exp_test", ns["TASKS"], {"a": ns["arm"], "b": ns["arm"]}, ns["backend"](0), resume=run_dir,
                   progress=False)
    after = records(run_dir)
    assert len(after) == 12 and len({r.key for r in after}) == 12
    assert after[:len(before)] == before  # finished results kept untouched
    assert json.loads((run_dir / "run_summary.json").read_text())["partial"] is False


CLI_DRIVER = textwrap.dedent('''
    import sys, time
    import hrm_agents.cli_common as cli
    from hrm_agents.backends import ScriptedBackend
    from hrm_agents.graphs.coding import CODING_ARMS

    def slow(messages, params):
        time.sleep(0.5)
        return "```python\\ndef f(*a):\\n    return None\\n```"

    def main(argv):
        cli.make_backend = lambda *a, **k: ScriptedBackend(slow)
        return cli.run_cli("exp_test", CODING_ARMS, argv, default_suite="eval/suites/coding_suite.yaml",
                           default_arms="flat")

    if __name__ == "__main__":
        sys.exit(main(sys.argv[1:]))
''')


def test_ctrl_c_stops_with_one_line_and_resume_completes(tmp_path, monkeypatch, capsys):
    driver = tmp_path / "cli_driver.py"
    driver.write_text(CLI_DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = ["--limit", "4", "--out_root", str(tmp_path), "--name", "ctrlc"]
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen([sys.executable, str(driver), *args], env=env, cwd=REPO, stdout=out, stderr=err)
    try:
        run_dir = _wait_for_results(tmp_path, 1, proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    err = (tmp_path / "err").read_text()
    assert proc.returncode == 130
    assert err.strip().splitlines() == [err.strip()] and err.startswith("error: interrupted; ")
    assert f"--resume {run_dir}" in err and "Traceback" not in err
    n = len(records(run_dir))
    assert 1 <= n < 4 and json.loads((run_dir / "run_summary.json").read_text())["partial"] is True
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(cli_common, "make_backend", cli_common.make_backend)  # restored after the driver patches it
    assert runpy.run_path(str(driver))["main"](["--resume", str(run_dir)]) == 0  # other flags from config.json
    assert sorted(r.task_id for r in records(run_dir)) == sorted(
        json.loads((run_dir / "config.json").read_text())["settings"]["tasks"])
    assert f"results: {run_dir}" in capsys.readouterr().out


def test_cli_without_ollama_server_fails_with_one_line(tmp_path):
    """The issue's command, exactly as written, against a closed port."""
    env = {**os.environ, "OLLAMA_BASE_URL": "http://127.0.0.1:9"}
    cmd = [sys.executable, "experiments/exp1_decomp_vs_flat/run.py", "--suite", "eval/suites/coding_suite.yaml",
           "--model_backend", "ollama", "--model_name", "llama3.1:8b-instruct-q4_K_M", "--max_iters", "3",
           "--out_root", str(tmp_path)]
    done = run_to_files(tmp_path, cmd, env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "http://127.0.0.1:9" in lines[0] and lines[0].startswith("error: cannot reach Ollama")
    assert not any((tmp_path / "exp1_decomp_vs_flat").iterdir())  # nothing finished, nothing left behind


@pytest.mark.parametrize("argv, message", [
    (["--arms", "flat,bogus"], "unknown arms ['bogus']"),
    (["--suite", "nope.yaml"], "error: nope.yaml: no such file"),
    (["--max_iters", "0"], "--max_iters must be at least 1"),
    (["--resume", "/nonexistent"], "cannot resume from /nonexistent"),
])
def test_cli_bad_input_is_one_line(argv, message, capsys):
    try:
        code = exp1_main(argv)
    except SystemExit as e:  # argparse errors exit
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_backend_flags_cache_and_base_url(tmp_path):
    backend_from_args, parse_args = cli_common.backend_from_args, cli_common.parse_args
    parser = cli_common.build_parser(None, arms=["flat"], default_arms="flat", default_suite="unused.yaml")
    cache = tmp_path / "responses.sqlite"
    args = parse_args(parser, ["--model_backend", "scripted", "--cache", str(cache)], {"flat": flat_arm})
    assert backend_from_args(args).describe() == {"backend": "scripted", "model": "scripted", "cache": str(cache)}
    args = parse_args(parser, ["--base_url", "http://host:1"], {"flat": flat_arm})
    with pytest.raises(BackendError, match="--base_url needs --model_backend ollama or openai"):
        backend_from_args(args)


def test_package_exports_and_light_import():
    code = ("import sys, hrm_agents\n"
            "heavy = {'torch', 'llama_cpp', 'scipy', 'langgraph', 'hrm_agents.runner'} & set(sys.modules)\n"
            "assert not heavy, heavy\n"
            "from hrm_agents import load_suite, make_backend, run_experiment\n"
            "import hrm_agents.runner, hrm_agents.evaluation as ev\n"
            "assert run_experiment is hrm_agents.runner.run_experiment\n"
            "assert all(getattr(ev, n) is not None for n in ev.__all__) and ev.write_report and ev.tag_attempt\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import hrm_agents
        hrm_agents.nope


def test_cached_calls_count_their_original_latency_in_wall_time(tmp_path):
    """A re-run from the response cache reports the time the model took, not the ~0 s of the replay
    (arms that share a first call, e.g. flat and flat_retry, are then timed alike)."""

    class Slow(ScriptedBackend):
        def _complete(self, messages, params):
            time.sleep(0.3)
            return super()._complete(messages, params).model_copy(update={"latency_s": 0.3})

    cache = tmp_path / "c.sqlite"
    first = run(tmp_path / "a", tasks(1), {"flat": flat_arm}, wrap_backend(Slow([f"```python\n{RIGHT}```"]), cache=cache))
    again = run(tmp_path / "b", tasks(1), {"flat": flat_arm}, wrap_backend(ScriptedBackend([]), cache=cache))
    (a,), (b,) = records(first), records(again)
    assert a.passed and b.passed and b.call_latencies_s == a.call_latencies_s == [0.3]
    assert a.wall_time_s >= 0.3 and b.wall_time_s >= 0.3
    trace = json.loads((again / b.trace_path).read_text())["outcome"]
    assert [s["cached"] for s in trace["steps"] if s["kind"] == "llm"] == [True]
