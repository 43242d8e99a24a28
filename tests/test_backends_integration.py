"""Integration tests on the real SmolLM2-135M model: embedded llama.cpp, a real llama_cpp.server
through the openai client, and the real ollama client against an Ollama wire-format server."""

from __future__ import annotations

import ollama
import pytest

from hrm_agents.backends import GenParams, Message
from hrm_agents.backends.cache import CachedBackend
from hrm_agents.backends.ollama_backend import OllamaBackend
from hrm_agents.backends.openai_backend import OpenAIBackend

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MSGS = [Message(role="system", content="You are a concise assistant."),
        Message(role="user", content="Name three primary colors.")]
GREEDY = GenParams(temperature=0.0, max_tokens=24, seed=0)
PURE_GREEDY = {"repeat_penalty": 1.0}  # llama_cpp.server defaults to 1.1, the embedded Llama to 1.0


@pytest.fixture(scope="module")
def reference(llamacpp_backend):
    """The embedded backend's greedy answer, which every server backend must reproduce."""
    return llamacpp_backend.complete(MSGS, GREEDY)


def test_embedded_llamacpp_answers_with_counts_and_is_deterministic(llamacpp_backend, reference):
    assert reference.text.strip()
    assert reference.prompt_tokens > 0 and 0 < reference.completion_tokens <= 24
    assert reference.finish_reason in {"stop", "length"}
    assert reference.ttft_s is not None and 0 <= reference.ttft_s <= reference.latency_s
    assert reference.backend == "llamacpp" and reference.model.endswith(".gguf")
    again = llamacpp_backend.complete(MSGS, GREEDY)
    assert (again.text, again.completion_tokens) == (reference.text, reference.completion_tokens)


def test_embedded_llamacpp_seeded_sampling_is_reproducible(llamacpp_backend):
    params = GenParams(temperature=1.0, max_tokens=16, seed=7, n=2)
    first = llamacpp_backend.complete(MSGS, params)
    assert len(first.texts) == 2 and all(t.strip() for t in first.texts)
    assert llamacpp_backend.complete(MSGS, params).texts == first.texts


def test_cache_on_real_model_makes_zero_model_calls(llamacpp_backend, tmp_path, monkeypatch):
    calls = []
    real_choice = llamacpp_backend._choice
    monkeypatch.setattr(llamacpp_backend, "_choice",
                        lambda *a: calls.append(a) or real_choice(*a))
    prompts = [[Message(role="user", content=f"Say the number {i}.")] for i in range(3)]
    params = GenParams(max_tokens=12)
    first = [CachedBackend(llamacpp_backend, tmp_path / "c.sqlite").complete(p, params)
             for p in prompts]
    assert len(calls) == 3
    rerun = [CachedBackend(llamacpp_backend, tmp_path / "c.sqlite").complete(p, params)
             for p in prompts]
    assert len(calls) == 3
    for a, b in zip(first, rerun):
        assert b.cached and (b.text, b.prompt_tokens, b.completion_tokens) == (
            a.text, a.prompt_tokens, a.completion_tokens)


def test_openai_backend_against_real_llama_cpp_server(llama_server_url, reference):
    # model: the first one the server lists
    backend = OpenAIBackend(base_url=llama_server_url, extra_body=PURE_GREEDY)
    assert backend.model == reference.model
    completion = backend.complete(MSGS, GREEDY)
    # same GGUF, greedy: the server reproduces the embedded answer and its exact token counts
    assert completion.text == reference.text
    assert (completion.prompt_tokens, completion.completion_tokens) == (
        reference.prompt_tokens, reference.completion_tokens)
    assert completion.finish_reason == reference.finish_reason


def test_openai_streaming_measures_ttft(llama_server_url, reference):
    completion = OpenAIBackend(base_url=llama_server_url, stream=True,
                               extra_body=PURE_GREEDY).complete(MSGS, GREEDY)
    assert completion.text == reference.text
    assert completion.ttft_s is not None and 0 < completion.ttft_s <= completion.latency_s
    # llama-cpp-python's server sends no usage in streams: the estimate is flagged
    assert completion.completion_tokens > 0 and "usage" in completion.extra


def test_ollama_backend_through_real_client_and_wire_server(ollama_wire_server, reference):
    backend = OllamaBackend("smollm2:135m", host=ollama_wire_server.url)
    completion = backend.complete(MSGS, GREEDY)
    assert completion.text == reference.text
    assert (completion.prompt_tokens, completion.completion_tokens) == (
        reference.prompt_tokens, reference.completion_tokens)
    assert completion.ttft_s is not None and completion.extra["eval_s"] > 0
    assert ollama_wire_server.requests[-1]["options"] == {
        "temperature": 0.0, "num_predict": 24, "seed": 0}


def test_ollama_streaming_wire_format_with_real_model(ollama_wire_server, reference):
    client = ollama.Client(host=ollama_wire_server.url)
    chunks = list(client.chat(model="smollm2:135m", stream=True,
                              messages=[m.model_dump() for m in MSGS],
                              options={"temperature": 0, "num_predict": 24, "seed": 0}))
    assert "".join(c.message.content for c in chunks) == reference.text
    assert chunks[-1].done and chunks[-1].eval_count == reference.completion_tokens
