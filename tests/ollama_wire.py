"""A loopback server speaking Ollama's documented wire format, answering with any Backend.

Implements ``GET /api/tags`` and ``POST /api/chat`` (non-streaming JSON, and streaming NDJSON
with chunked transfer encoding; the final object carries ``done: true``, ``done_reason`` and the
usage fields ``total_duration``, ``load_duration``, ``prompt_eval_count``,
``prompt_eval_duration``, ``eval_count``, ``eval_duration`` in nanoseconds), see
https://docs.ollama.com/api/chat and https://docs.ollama.com/api/usage. Request ``options``
(temperature, num_predict, stop, seed) become :class:`GenParams`. With a real llama.cpp backend
behind it, the real ``ollama`` client is tested end to end without an Ollama install.
``fail_first=k`` answers the first ``k`` chats with HTTP 503 (for retry tests).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hrm_agents.backends import Backend, Completion, GenParams

OLLAMA_DEFAULT_TEMPERATURE = 0.8
DEFAULT_NUM_PREDICT = 128


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def params_from_options(options: dict[str, Any]) -> GenParams:
    """Ollama request options -> GenParams (Ollama's defaults where an option is absent)."""
    stop = options.get("stop") or ()
    return GenParams(temperature=options.get("temperature", OLLAMA_DEFAULT_TEMPERATURE),
                     max_tokens=options.get("num_predict", DEFAULT_NUM_PREDICT),
                     stop=(stop,) if isinstance(stop, str) else tuple(stop),
                     seed=options.get("seed"))


def final_fields(completion: Completion) -> dict[str, Any]:
    """The ``done`` object's fields: reason and usage (durations in nanoseconds)."""
    ttft = completion.ttft_s or 0.0
    return {"done": True, "done_reason": completion.finish_reason,
            "total_duration": int(completion.latency_s * 1e9), "load_duration": 0,
            "prompt_eval_count": completion.prompt_tokens,
            "prompt_eval_duration": int(ttft * 1e9),
            "eval_count": completion.completion_tokens,
            "eval_duration": int(max(completion.latency_s - ttft, 0.0) * 1e9)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != "/api/tags":
            return self._json(404, {"error": "not found"})
        self._json(200, {"models": [
            {"name": m, "model": m, "modified_at": _now(), "size": 0, "digest": "",
             "details": {"format": "gguf", "family": "llama"}} for m in self.server.wire.models]})

    def do_POST(self) -> None:
        wire = self.server.wire
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path != "/api/chat":
            return self._json(404, {"error": "not found"})
        wire.requests.append(body)
        with wire.lock:
            fail = wire.failures_left > 0
            wire.failures_left -= fail
        if fail:
            return self._json(503, {"error": "server busy"})
        if body.get("model") not in wire.models:
            return self._json(404, {"error": f"model '{body.get('model')}' not found"})
        try:
            completion = wire.backend.complete(
                [{"role": m["role"], "content": m.get("content", "")} for m in body["messages"]],
                params_from_options(body.get("options") or {}))
        except Exception as exc:  # noqa: BLE001 - reported to the client like Ollama does
            return self._json(500, {"error": str(exc)})
        head = {"model": body["model"], "created_at": _now()}
        if not body.get("stream", True):
            message = {"role": "assistant", "content": completion.text}
            return self._json(200, {**head, "message": message, **final_fields(completion)})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in re.findall(r"\s*\S+\s*|\s+", completion.text):
            self._chunk({**head, "message": {"role": "assistant", "content": piece}, "done": False})
        self._chunk({**head, "message": {"role": "assistant", "content": ""},
                     **final_fields(completion)})
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    wire: "OllamaWireServer"


class OllamaWireServer:
    """Serve ``backend`` as Ollama models ``models`` on a free loopback port (context manager).

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        requests: every ``/api/chat`` request body received, in order.
    """

    def __init__(self, backend: Backend, models: tuple[str, ...] = ("smollm2:135m",),
                 fail_first: int = 0):
        self.backend = backend
        self.models = models
        self.failures_left = fail_first
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.wire = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "OllamaWireServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
