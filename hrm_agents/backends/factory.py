"""``make_backend(name, model, **opts)``: the one place a backend name becomes a backend."""

from __future__ import annotations

import importlib
from typing import Any

from .base import Backend, BackendError
from .wrappers import wrap_backend

# name -> (module, class). Modules are imported lazily so that optional extras
# (llama-cpp-python, torch) are only needed by the backends that use them.
BACKENDS: dict[str, tuple[str, str]] = {
    "llamacpp": ("hrm_agents.backends.llamacpp_backend", "LlamaCppBackend"),
    "ollama": ("hrm_agents.backends.ollama_backend", "OllamaBackend"),
    "openai": ("hrm_agents.backends.openai_backend", "OpenAIBackend"),
    "scripted": ("hrm_agents.backends.scripted", "ScriptedBackend"),
    "hrm": ("hrm_agents.hrm.backend", "HRMBackend"),
}

DEFAULT_BACKEND = "llamacpp"


def make_backend(name: str | None = None, model: str | None = None, **opts: Any) -> Backend:
    """Build a backend by name (default: the embedded llama.cpp model).

    ``model`` is the model id (ollama/openai), a GGUF path (llamacpp) or a checkpoint path (hrm);
    ``None`` picks each backend's default. ``cache`` (an SQLite path) and ``log_path`` (a JSONL
    path) wrap the backend with the response cache and the call log; other ``opts`` go to the
    backend's constructor.
    Raises :class:`BackendError` with one line for an unknown name.
    """
    name = name or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(sorted(BACKENDS))}")
    module, cls = BACKENDS[name]
    backend_cls = getattr(importlib.import_module(module), cls)
    if model is not None:
        opts["model"] = model
    cache, log_path = opts.pop("cache", None), opts.pop("log_path", None)
    return wrap_backend(backend_cls(**opts), cache=cache, log_path=log_path)
