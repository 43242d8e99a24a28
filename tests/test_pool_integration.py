"""A run on a pool of two real ``llama_cpp.server`` processes (SmolLM2) survives losing one of them
mid-run: it finishes, with every attempt stored exactly once and no errored attempt."""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from hrm_agents.backends import GenParams, Message, make_backend
from hrm_agents.runner import ArmConfig, ArmOutcome, run_experiment
from hrm_agents.tasks.schema import Task

pytestmark = pytest.mark.integration
psutil = pytest.importorskip("psutil", reason="psutil not installed: pip install -e .[hrm]")
N_TASKS = 10


def server_process(url: str) -> psutil.Process:
    """The child llama_cpp.server process listening on ``url``'s port."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    for child in psutil.Process().children(recursive=True):
        if "llama_cpp.server" in child.cmdline() and port in child.cmdline():
            return child
    raise AssertionError(f"no llama_cpp.server child on port {port}")


def one_call_arm(task, backend, cfg: ArmConfig) -> ArmOutcome:
    c = backend.complete([Message(role="user", content=task.prompt)],
                         GenParams(seed=cfg.seed, max_tokens=cfg.max_tokens))
    return ArmOutcome(final=c.text, model_calls=1, iterations=1, completion_tokens=c.completion_tokens,
                      call_latencies_s=[c.latency_s])


def kill_when_answered(calls: Path, url: str, after: int, killed: dict, stop: threading.Event) -> None:
    """SIGKILL the server at ``url`` once it has answered ``after`` calls of the run."""
    while not stop.is_set():
        answered = 0
        if calls.exists():
            answered = sum(json.loads(x).get("completion", {}).get("extra", {}).get("endpoint") == url
                           for x in calls.read_text().splitlines() if x.strip())
        if answered >= after:
            killed["at_calls"] = len(calls.read_text().splitlines())
            server_process(url).kill()
            return
        time.sleep(0.05)


def test_two_server_run_survives_killing_one(smollm2_gguf, tmp_path):
    pytest.importorskip("llama_cpp", reason='llama-cpp-python not installed: CMAKE_ARGS="-DGGML_NATIVE=OFF" '
                                            "pip install -e .[llamacpp]")
    from hrm_agents.backends.llamacpp_backend import llama_server

    tasks = [Task(id=f"t{i}", kind="math", prompt=f"What is {i} plus {i}? Answer with a number.",
                  answer=str(2 * i)) for i in range(N_TASKS)]
    with ExitStack() as stack:
        a = stack.enter_context(llama_server(smollm2_gguf, n_threads=1, startup_timeout=60))
        b = stack.enter_context(llama_server(smollm2_gguf, n_threads=1, startup_timeout=60))
        backend = make_backend("openai", None, base_url=f"{a},{b}", timeout=60, cooldown_s=2, wait_s=30)
        out_root = tmp_path / "runs"
        killed: dict = {}
        stop = threading.Event()
        # the run dir does not exist yet: watch for its calls.jsonl
        watcher = threading.Thread(target=lambda: kill_when_answered(
            _wait_for_calls(out_root, stop), b, 2, killed, stop), daemon=True)
        watcher.start()
        start = time.monotonic()
        try:
            run_dir = run_experiment("exp_pool", tasks, {"flat": one_call_arm}, backend, out_root=out_root,
                                     progress=False, concurrency=2, max_tokens=24)
        finally:
            stop.set()
        wall = time.monotonic() - start
    assert killed, "the second server was never killed"
    assert backend.stats()[b]["failures"] >= 1  # its in-flight request failed and was re-sent to a
    assert wall < 240
    records = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    assert sorted(r["task_id"] for r in records) == sorted(t.id for t in tasks)  # 0 lost, 0 duplicated
    assert all(r["error"] is None for r in records)
    calls = [json.loads(x) for x in (run_dir / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == N_TASKS and all("completion" in c for c in calls)
    endpoints = [c["completion"]["extra"]["endpoint"] for c in calls]
    assert endpoints.count(b) >= 2 and endpoints.count(a) >= 1
    assert all(e == a for e in endpoints[killed["at_calls"] + 1:])  # after the kill only a answers
    assert json.loads((run_dir / "config.json").read_text())["backend_describe"]["pool"] == [a, b]
    assert not json.loads((run_dir / "run_summary.json").read_text())["partial"]


def _wait_for_calls(out_root: Path, stop: threading.Event) -> Path:
    while not stop.is_set():
        found = list(out_root.glob("exp_pool/*/"))
        if found:
            return found[0] / "calls.jsonl"
        time.sleep(0.05)
    return out_root / "none"
