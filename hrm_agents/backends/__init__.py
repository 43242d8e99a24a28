"""Backends: one interface for Ollama, OpenAI-compatible servers, embedded llama.cpp, scripted
responses and the native HRM."""

from .base import (Backend, BackendError, BackendUnreachable, Completion, GenParams, Message,
                   as_messages)
from .cache import CachedBackend
from .calllog import LoggedBackend
from .factory import BACKENDS, DEFAULT_BACKEND, make_backend
from .scripted import ScriptedBackend
from .wrappers import wrap_backend

__all__ = [
    "BACKENDS", "Backend", "BackendError", "BackendUnreachable", "CachedBackend", "Completion",
    "DEFAULT_BACKEND", "GenParams", "LoggedBackend", "Message", "ScriptedBackend", "as_messages",
    "make_backend", "wrap_backend",
]
