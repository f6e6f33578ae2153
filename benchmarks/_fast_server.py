"""A fast scripted chat-completions server for the benchmarks: asyncio, one protocol object per connection.

It speaks the same wire format as ``aiml_agent.testing.ScriptedServer`` (JSON answers, SSE streams with
word-sized deltas, tool-call deltas split into argument fragments, usage in the last event when asked for,
``x-inference-id`` and the echoed ``x-client-request-id``) for the stateless benchmark scripts of
``_harness.make_script``, at a fraction of the cost: no thread per connection, no ``http.server`` parsing,
one write per answer. So a benchmark measures the client, and a run at 500 concurrent requests measures the
client's limits rather than the server's.

Also:

- ``--latency SECONDS``: every answer is sent that long after its request arrived (a timer, not a sleep:
  thousands of requests can wait at once), as a model's think time;
- ``GET /_stats``: ``{"connections": accepted connections that made a chat request, "requests": chat
  requests, "open": connections open now}``; ``POST /_stats/reset`` zeroes the counters.

    python benchmarks/_fast_server.py SCRIPT [--latency SECONDS]     # prints its base URL, serves until stdin closes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_ARG_PIECES = re.compile(r"\w+|\s+|[^\w\s]+")
_TEXT_PIECES = re.compile(r"\s*\S+|\s+")
_FINGERPRINT = "fp_scripted"


class Stats:
    """What the server saw: connections that made a chat request, chat requests, connections open now."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.open = 0

    def as_json(self) -> bytes:
        return json.dumps({"connections": self.connections, "requests": self.requests, "open": self.open}).encode()


def _head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Answers:
    """Builds the bytes of each answer from the script's reply (the same shapes ScriptedServer sends)."""

    def __init__(self, script: Callable[[dict[str, Any]], Any]) -> None:
        self.script = script
        self._counter = 0

    def answer(self, body: dict[str, Any], client_request_id: str | None) -> bytes:
        reply = self.script(body)
        self._counter += 1
        headers = [("x-inference-id", f"inf-{self._counter}")]
        if client_request_id:
            headers.append(("x-client-request-id", client_request_id))
        base = {
            "id": f"chatcmpl-{self._counter:024d}",
            "created": int(time.time()),
            "model": body.get("model") or "scripted-model",
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
        }
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
            for c in reply.tool_calls
        ]
        finish = "tool_calls" if calls else "stop"
        usage = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
        if body.get("stream"):
            return self._stream(base, reply.text, calls, finish, usage, body, headers)
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
        if calls:
            message["tool_calls"] = calls
        data = json.dumps(
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage,
            }
        ).encode()
        headers += [("content-type", "application/json"), ("content-length", str(len(data)))]
        return _head(200, "OK", headers) + data

    @staticmethod
    def _stream(
        base: dict[str, Any],
        text: str | None,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, int],
        body: dict[str, Any],
        headers: list[tuple[str, str]],
    ) -> bytes:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        base = {**base, "object": "chat.completion.chunk"}
        tail = {"usage": None} if include_usage else {}
        events: list[dict[str, Any]] = []

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            events.append({**base, "choices": [choice], **tail})

        chunk({"role": "assistant", "content": "" if text is not None else None, "refusal": None})
        for piece in _TEXT_PIECES.findall(text or ""):
            chunk({"content": piece})
        for index, call in enumerate(calls):
            function = call["function"]
            chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                   "function": {"name": function["name"], "arguments": ""}}]})  # fmt: skip
            for piece in _ARG_PIECES.findall(function["arguments"]):
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        chunk({}, finish)
        if include_usage:
            events.append({**base, "choices": [], "usage": usage})
        out = bytearray(
            _head(
                200,
                "OK",
                [
                    *headers,
                    ("content-type", "text/event-stream; charset=utf-8"),
                    ("cache-control", "no-cache"),
                    ("transfer-encoding", "chunked"),
                ],
            )
        )
        for payload in [*(json.dumps(e) for e in events), "[DONE]"]:
            data = f"data: {payload}\n\n".encode()
            out += b"%x\r\n%s\r\n" % (len(data), data)
        out += b"0\r\n\r\n"
        return bytes(out)


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 requests with a content-length body, kept alive, answered in order."""

    def __init__(self, server: FastServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.counted = False
        self.pending: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stats.open += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.stats.open -= 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self._handle(method, target.split("?", 1)[0], headers, body)

    def _handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> None:
        server = self.server
        if path == "/_stats":
            counts = server.stats.as_json()
            if method == "POST":  # a reset: the counts so far are answered, then zeroed
                server.stats.connections = server.stats.requests = 0
                self.counted = False
            self._send(_json_answer(counts), headers)
            return
        if method != "POST" or not path.endswith("/chat/completions"):
            self._send(_json_answer(b'{"message": "not found", "statusCode": 404}', 404), headers)
            return
        if not self.counted:
            self.counted = True
            server.stats.connections += 1
        server.stats.requests += 1
        answer = server.answers.answer(json.loads(raw), headers.get("x-client-request-id"))
        if server.latency:
            asyncio.get_running_loop().call_later(server.latency, self._send, answer, headers)
        else:
            self._send(answer, headers)

    def _send(self, answer: bytes, headers: dict[str, str]) -> None:
        if self.transport is None:
            return
        self.transport.write(answer)
        if headers.get("connection", "").lower() == "close":
            self.transport.close()


def _json_answer(data: bytes, status: int = 200) -> bytes:
    reason = "OK" if status == 200 else "Not Found"
    return _head(status, reason, [("content-type", "application/json"), ("content-length", str(len(data)))]) + data


class FastServer:
    """The server: ``start()`` binds 127.0.0.1 on an ephemeral port and serves from a thread of its own."""

    def __init__(self, script: Callable[[dict[str, Any]], Any], latency: float = 0.0) -> None:
        self.answers = Answers(script)
        self.latency = latency
        self.stats = Stats()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FastServer:
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            server = loop.run_until_complete(
                loop.create_server(lambda: _Connection(self), "127.0.0.1", 0, backlog=4096)
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fast-scripted-server", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FastServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("script", help="loop, steps-K or parallel-N-NAME (see _harness.make_script)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _harness import make_script

    with FastServer(make_script(args.script), args.latency) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
