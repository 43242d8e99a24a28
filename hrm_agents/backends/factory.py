"""``make_backend(name, model, **opts)``: the one place a backend name becomes a backend."""

from __future__ import annotations

import importlib
from typing import Any

from .base import Backend, BackendError
from .pool import build_pool, pool_urls
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
    backend's constructor. Several comma-separated server URLs (ollama/openai, given as ``host``
    / ``base_url`` or through their variable) build a :class:`~hrm_agents.backends.pool.ServerPool`.
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
    urls = pool_urls(backend_cls, opts)
    if len(urls) > 1:
        opts.pop(backend_cls.url_option, None)
        backend = build_pool(backend_cls, urls, **opts)
    else:
        backend = backend_cls(**opts)
    return wrap_backend(backend, cache=cache, log_path=log_path)
