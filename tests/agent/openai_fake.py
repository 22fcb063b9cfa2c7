"""A real loopback OpenAI-compatible HTTP server for LLM-path tests.

    with FakeOpenAI(script=[tool_call_response([("predict_property", '{"smiles": ["CCO"]}')]),
                            text_response("done")]) as fake:
        settings = LLMSettings(base_url=fake.base_url, model="fake-model")
        ...
        fake.requests[0].body["messages"]

Each ``POST /v1/chat/completions`` (or ``/chat/completions``) consumes the next script item:

* a ``dict``: sent as the JSON chat completion (build it with ``tool_call_response`` / ``text_response``);
* ``(status, body)``: an HTTP error; ``body`` is a dict (sent as JSON) or a str (wrapped in OpenAI's error shape);
* ``"timeout"``: the server holds the request for ``timeout_sleep_s`` (longer than the client's timeout);
* a ``RawResponse``: sent as given (status, content type, raw bytes), for endpoints that answer with something that
  is not a chat completion: HTML, binary, ``{}``; a ``content_length`` above the body's length sends a body cut
  short (the connection closes after the bytes given).

A request after the script is exhausted gets HTTP 400 ``fake script exhausted``, so a test that asks too often
fails loudly instead of hanging. Every request is recorded (path, headers, parsed JSON body). The server binds
127.0.0.1 on a free port, serves from a daemon thread, stops when the ``with`` block ends, and stops itself
after ``max_lifetime_s`` or ``max_requests`` whatever the test does.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class RawResponse:
    """A script item sent byte for byte: ``status``, ``content_type`` (``None``: no Content-Type header), ``body``
    (a ``str`` is sent as UTF-8) and ``content_length`` (default: the body's length; larger: a truncated body)."""

    body: bytes | str = b""
    status: int = 200
    content_type: str | None = "application/json"
    content_length: int | None = None

    @property
    def data(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body


ScriptItem = dict[str, Any] | tuple[int, dict[str, Any] | str] | Literal["timeout"] | RawResponse

FAKE_MODEL = "fake-model"
_MAX_BODY_BYTES = 10 * 1024 * 1024
_ids = itertools.count(1)


def _completion(message: dict[str, Any], finish_reason: str, usage: tuple[int, int], model: str) -> dict[str, Any]:
    prompt_tokens, completion_tokens = usage
    return {
        "id": f"chatcmpl-fake-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def tool_call_response(
    calls: Sequence[tuple[str, str]],
    content: str | None = None,
    *,
    usage: tuple[int, int] = (100, 20),
    model: str = FAKE_MODEL,
) -> dict[str, Any]:
    """A chat completion whose message calls ``calls`` = [(tool name, arguments as a JSON string)]."""
    tool_calls = [
        {"id": f"call_fake_{next(_ids)}", "type": "function", "function": {"name": name, "arguments": arguments}}
        for name, arguments in calls
    ]
    message = {"role": "assistant", "content": content, "tool_calls": tool_calls}
    return _completion(message, "tool_calls", usage, model)


def text_response(content: str, *, usage: tuple[int, int] = (100, 20), model: str = FAKE_MODEL) -> dict[str, Any]:
    """A chat completion whose message is plain text."""
    return _completion({"role": "assistant", "content": content}, "stop", usage, model)


def error_body(message: str, *, type_: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    raw_body: str
    body: Any  # the parsed JSON, or None when the body was not JSON


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        logger.debug("fake openai: " + format, *args)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY_BYTES:
            self._send_json(413, error_body("request too large"))
            return
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, error_body(f"unknown path {path}", code="not_found"))
            return
        item = fake._record_and_next(
            RecordedRequest("POST", path, {k.lower(): v for k, v in self.headers.items()}, raw, body)
        )
        if item is None:
            self._send_json(400, error_body("fake script exhausted"))
        elif item == "timeout":
            fake._stopping.wait(fake.timeout_sleep_s)  # the client gives up first; a stop ends the wait early
            self._send_json(200, text_response("too late"))
        elif isinstance(item, RawResponse):
            self._send_raw(item)
        elif isinstance(item, tuple):
            status, payload = item
            self._send_json(status, payload if isinstance(payload, dict) else error_body(payload))
        else:
            self._send_json(200, item)

    def _send_raw(self, item: RawResponse) -> None:
        data = item.data
        try:
            self.send_response(item.status)
            if item.content_type is not None:
                self.send_header("Content-Type", item.content_type)
            self.send_header("Content-Length", str(len(data) if item.content_length is None else item.content_length))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client timed out and went away
            pass
        self.close_connection = True


class FakeOpenAI:
    """A scripted OpenAI-compatible chat-completions server on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        timeout_sleep_s: float = 2.0,
        max_lifetime_s: float = 60.0,
        max_requests: int = 100,
    ) -> None:
        self.timeout_sleep_s = timeout_sleep_s
        self.max_lifetime_s = max_lifetime_s
        self.max_requests = max_requests
        self._script: deque[ScriptItem] = deque(script)
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already running")
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                         name="fake-openai", daemon=True)
        self._thread.start()
        self._watchdog = threading.Timer(self.max_lifetime_s, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def stop(self) -> None:
        """Stop serving; idempotent, safe from any thread but the server's own."""
        self._stopping.set()
        with self._lifecycle:
            if self._watchdog is not None and self._watchdog is not threading.current_thread():
                self._watchdog.cancel()
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def _expire(self) -> None:
        logger.warning("fake openai: max lifetime (%.0f s) reached, stopping", self.max_lifetime_s)
        self.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- what tests use ---------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def push(self, *items: ScriptItem) -> None:
        with self._lock:
            self._script.extend(items)

    def _record_and_next(self, request: RecordedRequest) -> ScriptItem | None:
        with self._lock:
            self._requests.append(request)
            if len(self._requests) > self.max_requests:
                threading.Thread(target=self.stop, daemon=True).start()
                return None
            return self._script.popleft() if self._script else None
