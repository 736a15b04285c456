"""Real HTTP servers on 127.0.0.1 for tests and benchmarks: fake agents and a fake
OpenAI-compatible chat endpoint.

Usage::

    from tests.workflows.fake_servers import FakeServer, Reply, echo_agent, openai_chat

    with FakeServer(echo_agent(latency=0.2)) as server:
        server.url             # "http://127.0.0.1:<port>/" (append any path you like)
        ...                    # call it
        server.requests        # every FakeRequest received (method, path, headers, json)

    # Scripted replies, one per request; the last one repeats:
    with FakeServer(Reply.sequence([Reply(429, headers={"Retry-After": "0"}),
                                    Reply(200, json={"answer": "ok"})])) as server: ...

    # A fake OpenAI-compatible endpoint: POST <server.url>v1/chat/completions
    with FakeServer(openai_chat(content="Paris", prompt_tokens=12, completion_tokens=3)) as s:
        base_url = s.url + "v1"

A handler is any callable ``handler(request: FakeRequest) -> Reply``. A ``Reply`` has a status,
a JSON body (or raw ``body`` bytes/str, e.g. malformed JSON), headers and an optional
``delay`` in seconds (latency, or longer than the client's timeout). The server is threaded
(one thread per connection, keep-alive on), so concurrent clients are served concurrently.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @staticmethod
    def sequence(replies: list[Reply]) -> Callable[[FakeRequest], Reply]:
        """A handler answering with ``replies`` in order, repeating the last one."""
        lock = threading.Lock()
        counter = itertools.count()

        def handler(request: FakeRequest) -> Reply:
            with lock:
                index = next(counter)
            return replies[min(index, len(replies) - 1)]

        return handler

    def encoded(self) -> bytes:
        if self.body is not None:
            return self.body.encode() if isinstance(self.body, str) else self.body
        return json.dumps(self.json).encode()


def echo_agent(*, latency: float = 0.0) -> Callable[[FakeRequest], Reply]:
    """An agent answering ``{"answer": "echo: <question>", usage, chunks, spans}``."""

    def handler(request: FakeRequest) -> Reply:
        data = request.json if isinstance(request.json, dict) else {}
        question = data.get("question", "")
        return Reply(
            json={
                "answer": f"echo: {question}",
                "usage": {"input_tokens": 7, "output_tokens": 3},
                "chunks": [{"text": "chunk text", "source_name": "doc.txt", "index_uuid": "i-1"}],
                "spans": [{"name": "llm", "type": "llm", "input": question, "output": "echo"}],
            },
            delay=latency,
        )

    return handler


def openai_chat(
    *, content: str = "ok", prompt_tokens: int = 10, completion_tokens: int = 2, latency=0.0
) -> Callable[[FakeRequest], Reply]:
    """A fake OpenAI-compatible ``POST .../chat/completions``; content may use ``{user}``
    to echo the last user message."""

    def handler(request: FakeRequest) -> Reply:
        if not request.path.rstrip("/").endswith("/chat/completions"):
            return Reply(404, json={"error": {"message": "not found"}})
        data = request.json if isinstance(request.json, dict) else {}
        messages = data.get("messages") or [{}]
        user = messages[-1].get("content", "")
        return Reply(
            json={
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": data.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content.format(user=user)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            delay=latency,
        )

    return handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed ACK
    server: _Server

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = FakeRequest(self.command, self.path, dict(self.headers.items()), body)
        with self.server.lock:
            self.server.requests.append(request)
        reply = self.server.handler(request)
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.encoded()
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.handler = handler
        self.requests: list[FakeRequest] = []
        self.lock = threading.Lock()


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 and a free port, for the ``with`` block."""

    def __init__(self, handler: Callable[[FakeRequest], Reply]):
        self.handler = handler
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeServer:
        self._server = _Server(self.handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def requests(self) -> list[FakeRequest]:
        assert self._server is not None
        with self._server.lock:
            return list(self._server.requests)
