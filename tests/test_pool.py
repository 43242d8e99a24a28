"""Server pool (several --base_url URLs): least-in-flight routing, failover with re-send, cool-down
and return, one-line errors, config.json and the call log. Loopback Ollama wire servers backed by
scripted replies (fast); the real two-llama_cpp.server test is in test_pool_integration.py."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from ollama_wire import OllamaWireServer

from hrm_agents.backends import (
    BackendError,
    BackendUnreachable,
    GenParams,
    Message,
    ScriptedBackend,
    make_backend,
)
from hrm_agents.backends.pool import ServerPool
from hrm_agents.runner import ArmConfig, ArmOutcome, run_experiment
from hrm_agents.tasks.schema import Task

MODEL = "m:1"
HI = [Message(role="user", content="hi")]


def slow(reply: str, delay: float = 0.0, fail_after: int | None = None) -> ScriptedBackend:
    """Replies ``reply`` after ``delay`` s; from call ``fail_after`` on, raises (the wire answers 500)."""
    calls = iter(range(10**6))

    def answer(messages, params):
        n = next(calls)
        time.sleep(delay)
        if fail_after is not None and n >= fail_after:
            raise RuntimeError("GPU fell off")
        return reply
    return ScriptedBackend(answer)


def pool(*urls: str, **kw) -> ServerPool:
    backend = make_backend("ollama", MODEL, host=",".join(urls), **kw)
    assert isinstance(backend, ServerPool)
    return backend


def test_least_in_flight_spreads_concurrent_requests():
    with OllamaWireServer(slow("a", 0.4), models=(MODEL,)) as a, \
            OllamaWireServer(slow("b", 0.4), models=(MODEL,)) as b:
        p = pool(a.url, b.url)
        with ThreadPoolExecutor(4) as ex:
            done = list(ex.map(lambda _: p.complete(HI), range(4)))
        assert sorted(c.text for c in done) == ["a", "a", "b", "b"]
        assert {c.extra["endpoint"] for c in done} == {a.url, b.url}
        assert all(c.extra["endpoint"] == (a.url if c.text == "a" else b.url) for c in done)
        assert len(a.requests) == len(b.requests) == 2


def test_failing_server_is_taken_out_and_its_request_resent():
    with OllamaWireServer(slow("a", fail_after=1), models=(MODEL,)) as a, \
            OllamaWireServer(slow("b"), models=(MODEL,)) as b:
        p = pool(a.url, b.url, cooldown_s=60)
        texts = [p.complete(HI).text for _ in range(6)]
        # a answers once, fails once (that request goes to b), then stays out for the cool-down
        assert texts.count("a") == 1 and texts.count("b") == 5
        assert len(a.requests) == 2
        stats = p.stats()
        assert stats[a.url]["failures"] == 1 and stats[a.url]["out"]
        assert stats[b.url]["answered"] == 5 and not stats[b.url]["out"]


def test_server_back_after_cooldown_is_used_again():
    with OllamaWireServer(slow("a"), models=(MODEL,), fail_first=1) as a, \
            OllamaWireServer(slow("b"), models=(MODEL,)) as b:
        p = pool(a.url, b.url, cooldown_s=0.3)
        assert p.complete(HI).text == "b"  # a failed (503) and the request went to b
        assert p.stats()[a.url]["out"]
        time.sleep(0.4)
        assert {p.complete(HI).text for _ in range(4)} == {"a", "b"}


def test_dead_url_and_all_down_one_line():
    with OllamaWireServer(slow("b"), models=(MODEL,)) as b:
        dead = "http://127.0.0.1:9"
        p = pool(dead, b.url)
        assert [p.complete(HI).text for _ in range(3)] == ["b"] * 3
        assert p.stats()[dead]["failures"] == 1
    start = time.monotonic()
    with pytest.raises(BackendUnreachable) as e:
        pool("http://127.0.0.1:9", "http://127.0.0.1:10", cooldown_s=0.1, wait_s=0.5).complete(HI)
    assert time.monotonic() - start < 5
    assert "\n" not in str(e.value) and "127.0.0.1:9" in str(e.value) and "127.0.0.1:10" in str(e.value)


def test_client_errors_are_not_resent():
    with OllamaWireServer(slow("a"), models=("other:1",)) as a, OllamaWireServer(slow("b"), models=("other:1",)) as b:
        with pytest.raises(BackendError, match="not found"):
            pool(a.url, b.url).complete(HI)
        assert len(a.requests) + len(b.requests) == 1  # a 404 would repeat on every server


def test_env_var_with_several_urls_builds_a_pool_and_single_backend_refuses(monkeypatch):
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9, http://127.0.0.1:10")
    backend = make_backend("ollama", MODEL)
    assert isinstance(backend, ServerPool) and backend.urls == ["http://127.0.0.1:9", "http://127.0.0.1:10"]
    desc = backend.describe()
    assert desc["pool"] == backend.urls and desc["routing"] == "least-in-flight" and "host" not in desc
    from hrm_agents.backends.ollama_backend import OllamaBackend
    with pytest.raises(BackendError, match="pool"):
        OllamaBackend(MODEL)


def echo_arm(task, backend, cfg: ArmConfig) -> ArmOutcome:
    c = backend.complete([Message(role="user", content=task.id)], GenParams(seed=cfg.seed, max_tokens=8))
    return ArmOutcome(final=c.text, model_calls=1, iterations=1, call_latencies_s=[c.latency_s])


def test_run_survives_a_server_failing_midway_nothing_lost_or_duplicated(tmp_path):
    tasks = [Task(id=f"t{i}", kind="math", prompt="1+1?", answer="2") for i in range(12)]
    with OllamaWireServer(slow("2", 0.05, fail_after=3), models=(MODEL,)) as a, \
            OllamaWireServer(slow("2", 0.05), models=(MODEL,)) as b:
        backend = pool(a.url, b.url, cooldown_s=60)
        run_dir = run_experiment("exp_pool", tasks, {"flat": echo_arm}, backend, out_root=tmp_path,
                                 progress=False, concurrency=2)
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert sorted(r["task_id"] for r in records) == sorted(t.id for t in tasks)  # none lost, none twice
    assert all(r["error"] is None and r["passed"] for r in records)
    calls = [json.loads(x) for x in (run_dir / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == 12 and all("completion" in c for c in calls)
    endpoints = [c["completion"]["extra"]["endpoint"] for c in calls]
    assert endpoints.count(a.url) == 3 and endpoints.count(b.url) == 9
    config = json.loads((run_dir / "config.json").read_text())
    assert config["backend_describe"]["pool"] == [a.url, b.url]
    assert not json.loads((run_dir / "run_summary.json").read_text())["partial"]


def test_servers_that_keep_failing_end_the_request_after_three_failures_each():
    with OllamaWireServer(slow("a"), models=(MODEL,), fail_first=100) as a, \
            OllamaWireServer(slow("b"), models=(MODEL,), fail_first=100) as b:
        p = pool(a.url, b.url, cooldown_s=0.0, max_cooldown_s=0.0)  # always back at once, always failing
        with pytest.raises(BackendUnreachable, match="6 failures"):
            p.complete(HI)
        assert len(a.requests) == len(b.requests) == 3
