"""Backends: one interface for Ollama, OpenAI-compatible servers, embedded llama.cpp, scripted
responses and the native HRM."""

from .base import (Backend, BackendError, BackendUnreachable, Completion, GenParams, Message,
                   as_messages)
from .factory import BACKENDS, DEFAULT_BACKEND, make_backend
from .scripted import ScriptedBackend

__all__ = [
    "BACKENDS", "Backend", "BackendError", "BackendUnreachable", "Completion", "DEFAULT_BACKEND",
    "GenParams", "Message", "ScriptedBackend", "as_messages", "make_backend",
]
