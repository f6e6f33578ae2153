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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["RecordedRequest", "Reply", "ScriptedServer", "ToolCallReply"]

CHAT_PATH = "/v1/chat/completions"
MODELS_PATHS = ("/v1/models", "/models", "/api/v1/models")
_FINGERPRINT = "fp_scripted"
RATE_LIMITED_MESSAGE = "Too Many Requests"
OUT_OF_CREDITS_MESSAGE = "You've run out of credits. Please top up your balance to continue."


@dataclass
class ToolCallReply:
    """One tool call in a scripted reply.

    :param name: The function name the "model" calls.
    :param arguments: A dict (sent as JSON) or a raw string, sent as is (e.g. ``'{"tz": '`` to simulate
        malformed JSON from the model).
    :param id: The call id; ``None`` gives ``"call_N"``, numbered per server in the order calls are sent (``""``
        is sent as is, as Gemini does).
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """The arguments string as it goes on the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Reply:
    """One scripted answer.

    :param text: The assistant's text (``None``: no content).
    :param tool_calls: Tool calls, sent with indexes 0, 1, ... in this order.
    :param finish_reason: Defaults to ``"tool_calls"`` when there are tool calls, else ``"stop"``.
    :param usage: Token usage sent as is; ``None`` gives deterministic counts: prompt tokens are the
        whitespace-separated words of the request's messages, completion tokens the words of the reply's
        text plus its tool calls' names and argument strings.
    :param cost: AIMLAPI cost (e.g. ``{"credits_used": 42, "usd_spent": 0.000021}``), sent as top-level
        ``"meta": {"usage": cost}`` (in a stream, on the last chunk before ``[DONE]``).
    :param model: The model named in the answer; defaults to the request's ``model``.
    :param status: HTTP status. A status >= 400 without `body` answers AIMLAPI's flat error body.
    :param body: A raw body sent as is with `status`: JSON (e.g. OpenAI's ``{"error": {...}}`` shape), or a
        str / bytes sent as plain text (e.g. a proxy's error page).
    :param error_message: The ``message`` of the AIMLAPI flat error body (see `Reply.error`).
    :param request_id: ``requestId`` of the error body; ``None`` gives a fresh uuid.
    :param delay: Seconds to wait before answering.
    :param chunk_delay: Seconds to wait between server-sent events of a streamed answer.
    :param cut_after: For a streamed answer: close the connection after this many events, without
        ``[DONE]`` and without ending the chunked body, so the client sees a broken stream.
    :param headers: Extra response headers (e.g. ``{"retry-after": "0"}``).
    :param cost_in: Where `cost` goes: ``"body"`` (``meta.usage``), ``"headers"`` (``x-aimlapi-credits-used`` /
        ``x-aimlapi-usd-spent``, as AIMLAPI sends it on whole answers) or ``"both"``.
    :param reasoning: Reasoning text, sent before the answer in the message's (or the deltas') `reasoning_field`.
    :param reasoning_field: ``"reasoning_content"`` (DeepSeek, Qwen), ``"reasoning"`` (OpenRouter, Groq) or
        ``"reasoning_details"`` (a list of ``{"type": "reasoning.text", "text": ...}``).
    :param tool_call_index: How streamed tool-call deltas are numbered: ``"sequential"`` (OpenAI: 0, 1, ...),
        ``"repeated"`` (every call ``0``), ``"missing"`` (no ``index``) or ``"whole"`` (no ``index``, each call
        in one delta, as Gemini sends them).
    :param events: For a streamed answer: these raw SSE ``data:`` payloads instead of the scripted reply's.
    :param content_type: The content type of a raw `body` (default: JSON for data, text for str / bytes).
    :param inference_id: The ``x-inference-id`` header; ``None`` gives ``"inf-N"``, numbered per server in the
        order answers are sent (so that recording an unchanged run again gives the same file).
    """

    text: str | None = None
    tool_calls: list[ToolCallReply] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    model: str | None = None
    status: int = 200
    body: Any = None
    error_message: str | None = None
    request_id: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cost_in: Literal["body", "headers", "both"] = "body"
    reasoning: str | None = None
    reasoning_field: Literal["reasoning_content", "reasoning", "reasoning_details"] = "reasoning_content"
    tool_call_index: Literal["sequential", "repeated", "missing", "whole"] = "sequential"
    events: list[str] | None = None
    content_type: str | None = None
    inference_id: str | None = None

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """An AIMLAPI error: ``{"message", "path", "requestId", "statusCode", "timestamp"}`` with `status`.

        :param status: The HTTP status (e.g. 429, 500).
        :param message: The body's ``message``.
        :param request_id: The body's ``requestId``; ``None`` gives a fresh uuid.
        :param headers: Extra response headers (e.g. ``{"retry-after": "1"}``).
        :param delay: Seconds to wait before answering.
        """
        return cls(
            status=status, error_message=message, request_id=request_id, headers=dict(headers or {}), delay=delay
        )

    @classmethod
    def problem(
        cls,
        status: int,
        message: str,
        *,
        title: str | None = None,
        request_id: str | None = None,
        error_name: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """An AIMLAPI problem+json error: ``{"title", "status", "instance", "message", "requestId", "timestamp",
        "error": {"name", "message"}}`` sent as ``application/problem+json``.

        :param status: The HTTP status.
        :param message: The ``message`` (and ``error.message``).
        :param title: The ``title``; defaults to the status's reason phrase.
        :param request_id: ``requestId``; ``None`` gives a fresh uuid.
        :param error_name: ``error.name``; defaults to the phrase as an exception name ("BadRequestException").
        :param headers: Extra response headers.
        """
        phrase = _phrase(status) or f"HTTP {status}"
        request_id = request_id or str(uuid.uuid4())
        body = {
            "title": title or phrase,
            "status": status,
            "instance": CHAT_PATH,
            "message": message,
            "requestId": request_id,
            "timestamp": _timestamp(),
            "error": {"name": error_name or phrase.replace(" ", "") + "Exception", "message": message},
        }
        return cls(
            status=status,
            body=body,
            content_type="application/problem+json; charset=utf-8",
            headers={"x-request-id": request_id, **(headers or {})},
        )


ScriptItem = Reply | str
Script = Sequence[ScriptItem] | Callable[[dict[str, Any]], ScriptItem]


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: `headers` have lower-case keys; `body` is the parsed JSON (or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes = b""


def _words(value: Any) -> int:
    """Whitespace-separated words in message content (a string or a list of text parts)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(part.get("text") if isinstance(part, dict) else part) for part in value)
    return 0


def _default_usage(body: dict[str, Any], reply: Reply) -> dict[str, int]:
    messages: list[Any] = body["messages"] if isinstance(body.get("messages"), list) else []
    prompt = sum(_words(m.get("content")) for m in messages if isinstance(m, dict))
    completion = _words(reply.text) + sum(1 + len(c.arguments_json.split()) for c in reply.tool_calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _text_pieces(text: str) -> list[str]:
    """Split text into word-sized deltas (each keeps its leading whitespace); they join back to `text`."""
    return re.findall(r"\s*\S+|\s+", text)


def _argument_pieces(arguments: str) -> list[str]:
    """Split an arguments string into 2+ token-like fragments, as OpenAI streams them."""
    pieces = re.findall(r"\w+|\s+|[^\w\s]+", arguments)
    if len(pieces) == 1 and len(arguments) > 1:
        half = len(arguments) // 2
        pieces = [arguments[:half], arguments[half:]]
    return pieces


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cost_headers(cost: dict[str, Any]) -> dict[str, str]:
    """AIMLAPI's cost headers: credits an integer, dollars a decimal string such as ``0.001240000``."""
    headers = {}
    if cost.get("credits_used") is not None:
        headers["x-aimlapi-credits-used"] = str(cost["credits_used"])
    if cost.get("usd_spent") is not None:
        headers["x-aimlapi-usd-spent"] = f"{float(cost['usd_spent']):.9f}"
    return headers


def _phrase(status: int) -> str:
    """The HTTP reason phrase ("" for a non-standard status such as 599)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


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
        headers = {"x-inference-id": reply.inference_id or owner._next_inference_id()}
        if "x-client-request-id" in request.headers:
            headers["x-client-request-id"] = request.headers["x-client-request-id"]
        headers.update(reply.headers)
        if reply.status >= 400 or reply.body is not None:
            content = (
                reply.body
                if reply.body is not None
                else self._error_body(
                    reply.status,
                    reply.error_message or _phrase(reply.status) or f"HTTP {reply.status}",
                    reply.request_id,
                )
            )
            self._send_json(reply.status, content, headers, content_type=reply.content_type)
        elif body.get("stream"):
            self._send_stream(body, reply, headers)
        else:
            if reply.cost is not None and reply.cost_in in ("headers", "both"):
                headers.update(_cost_headers(reply.cost))
            self._send_json(200, self.server.owner._completion(body, reply), headers)

    def _send_models(self, request: RecordedRequest) -> None:
        """The model catalogue with a weak ETag; ``304`` with no body when ``If-None-Match`` has that ETag."""
        data = json.dumps(self.server.owner._models).encode()
        etag = f'W/"{hashlib.sha1(data).hexdigest()[:16]}"'  # an ETag, not a security hash
        if etag in (request.headers.get("if-none-match") or ""):
            self.wfile.write(self._head(304, {"etag": etag, "content-length": "0"}))
            return
        self._send_json(200, self.server.owner._models, {"etag": etag, "cache-control": "public, max-age=300"})

    def _error_body(self, status: int, message: str, request_id: str | None = None) -> dict[str, Any]:
        return {
            "message": message,
            "path": self.path,
            "requestId": request_id or str(uuid.uuid4()),
            "statusCode": status,
            "timestamp": _timestamp(),
        }

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        phrase = _phrase(status) or "Status"
        lines = [f"HTTP/1.1 {status} {phrase}"] + [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_json(
        self, status: int, content: Any, extra: dict[str, str] | None = None, *, content_type: str | None = None
    ) -> None:
        """Send `content` as JSON (str / bytes: as is, as text, e.g. a proxy's HTML error page)."""
        if isinstance(content, (str, bytes)):
            data, kind = (content.encode() if isinstance(content, str) else content), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(content).encode(), "application/json"
        headers = {"content-type": content_type or kind, "content-length": str(len(data)), **(extra or {})}
        self.wfile.write(self._head(status, headers) + data)  # one write: no Nagle/delayed-ACK stall

    def _send_stream(self, body: dict[str, Any], reply: Reply, extra: dict[str, str]) -> None:
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
            **extra,
        }
        events = reply.events if reply.events is not None else self.server.owner._events(body, reply)
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
        self._function: Callable[[dict[str, Any]], ScriptItem] | None = None
        self._replies: deque[ScriptItem] = deque()
        if callable(script):
            self._function = script
        elif script is not None:
            if isinstance(script, (str, Reply)):
                raise TypeError("ScriptedServer(script) takes a list of replies or a function, not one reply")
            self._replies.extend(script)
        self._model = model
        self._models = models
        self._max_concurrent = max_concurrent
        self._credits = credits
        self._in_flight = 0
        self._refused = 0
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._served = 0
        self._call_counter = 0
        self._inference_counter = 0
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
        with self._lock:
            return len(self._replies)

    @property
    def refused(self) -> int:
        """Requests answered 429 (``max_concurrent``) or 403 (``credits``) so far."""
        with self._lock:
            return self._refused

    def add(self, *replies: ScriptItem) -> None:
        """Append replies to the script (a list script only)."""
        if self._function is not None:
            raise TypeError("ScriptedServer.add() needs a list script; this server answers with a function")
        with self._lock:
            self._replies.extend(replies)

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
            if self._credits is not None and self._served >= self._credits:
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
        """Record `request` and take its reply (in one step, so requests[i] got the i-th reply)."""
        with self._lock:
            self._requests.append(request)
            if self._function is None:
                if not self._replies:
                    return Reply.error(
                        500,
                        f"ScriptedServer script exhausted: no reply left for request "
                        f"#{len(self._requests)} ({self._served} requests served)",
                    )
                item: ScriptItem | None = self._replies.popleft()
            else:
                item = None
            self._served += 1
        if item is None:
            try:
                item = self._function(request.body)  # type: ignore[misc]
            except Exception as exc:
                return Reply.error(500, f"ScriptedServer script function raised {exc!r}")
        if isinstance(item, str):
            return Reply(text=item)
        if not isinstance(item, Reply):
            return Reply.error(500, f"ScriptedServer script item must be a Reply or str, got {item!r}")
        return item

    def _next_inference_id(self) -> str:
        with self._lock:
            self._inference_counter += 1
            return f"inf-{self._inference_counter}"

    def _call_ids(self, reply: Reply) -> list[str]:
        with self._lock:
            ids = []
            for call in reply.tool_calls:
                if call.id is None:
                    self._call_counter += 1
                ids.append(call.id if call.id is not None else f"call_{self._call_counter}")
            return ids

    def _base(self, body: dict[str, Any], reply: Reply, obj: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": obj,
            "created": int(time.time()),
            "model": reply.model or body.get("model") or self._model,
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
        }

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
        if reply.reasoning is not None:
            message[reply.reasoning_field] = _reasoning_value(reply, reply.reasoning)
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                for call_id, c in zip(self._call_ids(reply), reply.tool_calls)
            ]
        result = self._base(body, reply, "chat.completion")
        result["choices"] = [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"),
            }
        ]
        result["usage"] = reply.usage if reply.usage is not None else _default_usage(body, reply)
        if reply.cost is not None and reply.cost_in in ("body", "both"):
            result["meta"] = {"usage": reply.cost}
        return result

    def _events(self, body: dict[str, Any], reply: Reply) -> Iterator[str]:
        """The SSE data payloads of a streamed reply, ending with ``[DONE]``."""
        base = self._base(body, reply, "chat.completion.chunk")
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        chunks: list[dict[str, Any]] = []

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            chunks.append({**base, "choices": [choice], **({"usage": None} if include_usage else {})})

        chunk({"role": "assistant", "content": "" if reply.text is not None else None, "refusal": None})
        for piece in _text_pieces(reply.reasoning or ""):
            chunk({reply.reasoning_field: _reasoning_value(reply, piece)})
        for piece in _text_pieces(reply.text or ""):
            chunk({"content": piece})
        for delta in _tool_call_deltas(reply, self._call_ids(reply)):
            chunk({"tool_calls": [delta]})
        chunk({}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"))
        if include_usage:
            usage = reply.usage if reply.usage is not None else _default_usage(body, reply)
            chunks.append({**base, "choices": [], "usage": usage})
        if reply.cost is not None:
            chunks[-1]["meta"] = {"usage": reply.cost}  # a stream has no headers after its start: always in the body
        for item in chunks:
            yield json.dumps(item)
        yield "[DONE]"


def _reasoning_value(reply: Reply, text: str) -> Any:
    """Reasoning text as `reply.reasoning_field` carries it (a list of detail objects for ``reasoning_details``)."""
    if reply.reasoning_field == "reasoning_details":
        return [{"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}]
    return text


def _tool_call_deltas(reply: Reply, call_ids: list[str]) -> Iterator[dict[str, Any]]:
    """The streamed tool-call deltas of a reply, numbered as `Reply.tool_call_index` says."""
    for position, (call_id, call) in enumerate(zip(call_ids, reply.tool_calls)):
        mode = reply.tool_call_index
        index = {"index": position} if mode == "sequential" else {"index": 0} if mode == "repeated" else {}
        head = {**index, "id": call_id, "type": "function"}
        if mode == "whole":
            yield {**head, "function": {"name": call.name, "arguments": call.arguments_json}}
            continue
        yield {**head, "function": {"name": call.name, "arguments": ""}}
        for piece in _argument_pieces(call.arguments_json):
            yield {**index, "function": {"arguments": piece}}
