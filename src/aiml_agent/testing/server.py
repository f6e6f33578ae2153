"""A scripted AIMLAPI-compatible chat completions server for unit tests and benchmarks.

`ScriptedServer` is a real HTTP server on 127.0.0.1 (ephemeral port) that answers
``POST /v1/chat/completions`` in the OpenAI/AIMLAPI wire format from a script, so any client (the openai
SDK, `AIMLAPIChatGenerator`, an `Agent`) can be tested end to end without network or key::

    from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

    def test_weather_agent():
        script = [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]), "It is sunny."]
        with ScriptedServer(script) as server:
            generator = AIMLAPIChatGenerator(api_key=Secret.from_token("test-key"), api_base_url=server.base_url)
            ...                                       # run your code
            assert server.requests[0].body["model"]    # every request is recorded
            assert server.remaining == 0               # and the whole script was used

Replies are taken in order (or computed by a function of the request body); requests with
``"stream": true`` get server-sent events exactly as OpenAI sends them. Errors, delays and cut streams
are scripted the same way (`Reply.error`, `Reply.problem`, ``delay=``, ``cut_after=``), and so are the ways
real gateways differ from OpenAI: cost headers, reasoning fields, tool-call deltas with a missing or repeated
``index``, raw events. Every chat answer carries an ``x-inference-id`` header (and echoes the request's
``x-client-request-id``), as AIMLAPI's do. With ``models=``, ``GET /v1/models`` answers a model catalogue with a
weak ETag (``If-None-Match`` gets ``304``). AIMLAPI's limits are simulated by
``ScriptedServer(script, max_concurrent=N)`` (429 above N requests in flight) and ``credits=K`` (403 once K
requests were answered).

The script format is shared with `ScriptedChatGenerator`, which plays the same scripts in process, with no HTTP
(see :mod:`aiml_agent.testing._script`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiml_agent.testing._script import (
    CHAT_PATH,
    Reply,
    Script,
    ScriptExhausted,
    ScriptItem,
    ScriptItemError,
    ScriptPlayer,
    ToolCallReply,
    encoded_content,
    error_body,
    phrase,
)

__all__ = ["RecordedRequest", "Reply", "ScriptedServer", "ToolCallReply"]

MODELS_PATHS = ("/v1/models", "/models", "/api/v1/models")
RATE_LIMITED_MESSAGE = "Too Many Requests"
OUT_OF_CREDITS_MESSAGE = "You've run out of credits. Please top up your balance to continue."


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: `headers` have lower-case keys; `body` is the parsed JSON (or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes = b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, False)
        super().finish()

    def do_POST(self) -> None:
        self._answer()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw)
        path = self.path.split("?", 1)[0]
        if path in MODELS_PATHS and self.command == "GET" and self.server.owner._models is not None:
            self.server.owner._record(request)
            self._send_models(request)
            return
        if path != CHAT_PATH or self.command != "POST":
            self.server.owner._record(request)
            self._send_json(404, self._error_body(404, f"Cannot {self.command} {path}"))
            return
        if not isinstance(body, dict):
            self.server.owner._record(request)
            self._send_json(400, self._error_body(400, "Request body must be a JSON object"))
            return
        owner = self.server.owner
        refusal = owner._admit(request)
        if refusal is not None:
            self._send_json(refusal.status, self._error_body(refusal.status, refusal.error_message or ""))
            return
        try:
            reply = owner._next_reply(request)
            if reply.delay:
                time.sleep(reply.delay)
        finally:
            owner._leave()  # before answering: a client that got its answer may send the next request at once
        answer = owner._script.answer(reply, body, request.headers, self.path)
        if answer.events is not None:
            self._send_stream(answer.events, reply, answer.headers)
        else:
            self._send_json(answer.status, answer.content, answer.headers, content_type=answer.content_type)

    def _send_models(self, request: RecordedRequest) -> None:
        """The model catalogue with a weak ETag; ``304`` with no body when ``If-None-Match`` has that ETag."""
        data = json.dumps(self.server.owner._models).encode()
        etag = f'W/"{hashlib.sha1(data).hexdigest()[:16]}"'  # an ETag, not a security hash
        if etag in (request.headers.get("if-none-match") or ""):
            self.wfile.write(self._head(304, {"etag": etag, "content-length": "0"}))
            return
        self._send_json(200, self.server.owner._models, {"etag": etag, "cache-control": "public, max-age=300"})

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        return error_body(status, message, self.path)

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        reason = phrase(status) or "Status"
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_json(
        self, status: int, content: Any, extra: dict[str, str] | None = None, *, content_type: str | None = None
    ) -> None:
        """Send `content` as JSON (str / bytes: as is, as text, e.g. a proxy's HTML error page)."""
        data, kind = encoded_content(content)
        headers = {"content-type": content_type or kind, "content-length": str(len(data)), **(extra or {})}
        self.wfile.write(self._head(status, headers) + data)  # one write: no Nagle/delayed-ACK stall

    def _send_stream(self, events: Sequence[str], reply: Reply, extra: dict[str, str]) -> None:
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
            **extra,
        }
        try:
            self.wfile.write(self._head(200, headers))
            for sent, event in enumerate(events):
                if reply.cut_after is not None and sent >= reply.cut_after:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if sent and reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
                data = f"data: {event}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away mid-stream
            self.close_connection = True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client drops its connection; report real handler bugs."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class ScriptedServer:
    """A real chat completions server on 127.0.0.1 that answers from a script and records every request.

    :param script: Replies taken in order: `Reply` objects or strings (a text reply); or a function of
        the request body (a dict) returning a `Reply` or a string. When a list runs out, the server answers
        500 with a message saying so.
    :param model: The model named in answers when neither the reply nor the request names one.
    :param models: What ``GET /v1/models`` (also ``/models``) answers: a model catalogue (e.g.
        ``{"object": "list", "data": [...]}`` or the older bare list), served with a weak ``ETag``; ``None``:
        those paths answer 404.
    :param max_concurrent: Answer 429 (AIMLAPI's flat error body, no ``Retry-After``) to a chat request that
        arrives while this many are being answered; refused requests take no reply from the script.
    :param credits: Answer 403 "You've run out of credits" to every chat request after this many were
        answered from the script.

    Use it as a context manager (or call `start()` / `stop()`); point a client at `base_url`. Safe under
    concurrent requests; connections are kept alive, so per-request overhead is small enough to use it
    as a zero-latency model in benchmarks.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        model: str = "scripted-model",
        models: Any = None,
        max_concurrent: int | None = None,
        credits: int | None = None,
    ) -> None:
        self._script = ScriptPlayer(script, owner="ScriptedServer", model=model)
        self._models = models
        self._max_concurrent = max_concurrent
        self._credits = credits
        self._in_flight = 0
        self._refused = 0
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> ScriptedServer:
        """Bind an ephemeral port on 127.0.0.1 and serve from a daemon thread."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ScriptedServer:{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open (keep-alive) connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- public state ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the client's base URL."""
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not running: use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def remaining(self) -> int:
        """Replies left in a list script (0 for a function script)."""
        return self._script.remaining

    @property
    def refused(self) -> int:
        """Requests answered 429 (``max_concurrent``) or 403 (``credits``) so far."""
        with self._lock:
            return self._refused

    def add(self, *replies: ScriptItem) -> None:
        """Append replies to the script (a list script only)."""
        self._script.add(replies)

    # -- used by the handler -----------------------------------------------------------------------
    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _admit(self, request: RecordedRequest) -> Reply | None:
        """Count a chat request in flight, or record it and return the 403 / 429 that refuses it."""
        with self._lock:
            refusal = None
            if self._credits is not None and self._script.served >= self._credits:
                refusal = Reply.error(403, OUT_OF_CREDITS_MESSAGE)
            elif self._max_concurrent is not None and self._in_flight >= self._max_concurrent:
                refusal = Reply.error(429, RATE_LIMITED_MESSAGE)
            if refusal is None:
                self._in_flight += 1
            else:
                self._refused += 1
                self._requests.append(request)
            return refusal

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _next_reply(self, request: RecordedRequest) -> Reply:
        """Record `request` and take its reply (in one step, so requests[i] got the i-th reply); what goes wrong
        with the script (exhausted, a function that raised, a wrong item) is answered as a 500 saying so."""
        with self._lock:
            self._requests.append(request)
            try:
                item = self._script.next_item(len(self._requests))
            except ScriptExhausted as exhausted:
                return Reply.error(500, str(exhausted))
        try:
            return self._script.reply_for(item, request.body)
        except ScriptItemError as wrong:
            return Reply.error(500, str(wrong))
        except Exception as exc:
            return Reply.error(500, f"ScriptedServer script function raised {exc!r}")
