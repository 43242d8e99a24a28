"""Embedded llama.cpp backend (llama-cpp-python in-process), the default when no server is set up.

The model is a registry name (``qwen2.5-coder-1.5b``, the default, or ``smollm2-135m``; see
:mod:`.models`) or a GGUF path. Loaded models
are shared per process (one per path/context/threads) and guarded by a lock, because one
``Llama`` instance is not thread-safe. :func:`llama_server` serves a GGUF over llama-cpp-python's
OpenAI-compatible server, for the ``openai`` backend's tests and benchmarks.
"""

from __future__ import annotations

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
from .models import DEFAULT_MODEL, MODELS, model_path

INSTALL_HINT = ('llama-cpp-python is not installed; run: '
               'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -e .[llamacpp]')


def resolve_gguf(model: str | os.PathLike[str] | None) -> Path:
    """The GGUF file for ``model``: a registry name (:data:`~.models.MODELS`), a path, or ``None``
    for the default model (Qwen2.5-Coder-1.5B-Instruct)."""
    name = DEFAULT_MODEL if model is None else str(model)
    if name in MODELS:
        return model_path(name)
    path = Path(model).expanduser()
    if not path.is_file():
        raise BackendError(f"GGUF model file not found: {path} (named models: {', '.join(MODELS)})")
    return path


def physical_cores() -> int:
    """Physical cores this process may run on (SMT siblings counted once), from Linux's CPU
    topology; the logical count where the topology cannot be read."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return max(1, len(cores))


def default_threads() -> int:
    """One thread per physical core, at most 8: llama.cpp slows down sharply when two of its
    threads share a core. Measured with Qwen2.5-Coder-1.5B on a 2-core machine: 2 threads give
    about 1.6x the tokens/s of 1 (``benchmarks/bench_backends.py``)."""
    return min(8, physical_cores())


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


_LOADED: dict[tuple[str, int, int, int, int], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def _load(path: Path, n_ctx: int, n_threads: int, prompt_lookup: int, cache_mb: int) -> _Loaded:
    key = (str(path.resolve()), n_ctx, n_threads, prompt_lookup, cache_mb)
    with _LOAD_LOCK:
        if key not in _LOADED:
            llama_cpp = _llama_cpp()
            draft = None
            if prompt_lookup:
                from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

                draft = LlamaPromptLookupDecoding(num_pred_tokens=prompt_lookup)
            try:
                llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                                        n_threads_batch=n_threads, seed=0, verbose=False, draft_model=draft)
            except ValueError as exc:
                raise BackendError(f"cannot load GGUF {path}: {exc}") from None
            if cache_mb:
                llama.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=cache_mb << 20))
            _LOADED[key] = _Loaded(llama, threading.Lock())
        return _LOADED[key]


def _first_token_ms(perf: Any) -> float:
    """Prompt-processing time; a fully cached prompt is re-run as one token, which llama.cpp
    counts as a decode step, so then it is one average decode step."""
    return perf.t_p_eval_ms if perf.n_p_eval else perf.t_eval_ms / max(perf.n_eval, 1)


class LlamaCppBackend(ChatBackend):
    """llama-cpp-python ``Llama`` in-process, chatting through the GGUF's own chat template.

    Args:
        model: a registry name (:data:`~.models.MODELS`) or a GGUF path; ``None`` =
            Qwen2.5-Coder-1.5B-Instruct.
        n_ctx: context length in tokens.
        n_threads: CPU threads for prompt and generation (default: one per physical core, at
            most 8).
        prompt_lookup: draft tokens per step for prompt-lookup decoding (llama-cpp-python's
            ``LlamaPromptLookupDecoding``; 0 = off). Greedy outputs are unchanged.
        cache_mb: size of an in-memory prompt-state cache (``LlamaRAMCache``), so a call whose
            prompt shares a prefix with an earlier, non-adjacent call skips re-reading it (0 = off;
            the last prompt's prefix is always reused).

    ``ttft_s`` is the prompt-processing time reported by llama.cpp's performance counters (the
    first token is sampled right after it), the in-process analogue of Ollama's
    ``prompt_eval_duration``.
    """

    name = "llamacpp"

    def __init__(self, model: str | os.PathLike[str] | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, prompt_lookup: int = 0, cache_mb: int = 0):
        self.path = resolve_gguf(model)
        super().__init__(self.path.name)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.prompt_lookup, self.cache_mb = prompt_lookup, cache_mb
        self._loaded = _load(self.path, n_ctx, self.n_threads, prompt_lookup, cache_mb)

    def _choice(self, messages: list[Message], params: GenParams, seed: int | None) -> Choice:
        llama_cpp = _llama_cpp()
        llm = self._loaded.llama
        with self._loaded.lock:
            llama_cpp.llama_perf_context_reset(llm.ctx)
            if params.temperature > 0:
                # Reusing the previous prompt's KV prefix evaluates the rest in other batches, which
                # moves the logits by rounding; a seeded sample must not depend on the call before it.
                llm.reset()
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
                "n_threads": self.n_threads, "prompt_lookup": self.prompt_lookup, "cache_mb": self.cache_mb}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def llama_server(model: str | os.PathLike[str] | None = None, *, host: str = "127.0.0.1",
                 port: int | None = None, n_ctx: int = 2048, n_threads: int | None = None,
                 startup_timeout: float = 60.0) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on a GGUF (a registry name or path) and yield its OpenAI base
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
