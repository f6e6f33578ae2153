"""aiml_agent's HTTP/1.1 connection pools (inside httpx2's transports) and the chat requests sent through them.

A raw socket server plays exact bytes (chunked and close-delimited bodies, 1xx heads, garbage, stalls) and
counts the connections it accepted; the ScriptedServer shows the generator reusing one connection.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from haystack.utils import Secret

from aiml_agent import Agent, AIMLAPIChatGenerator, create_tool
from aiml_agent._http import DEFAULT_HTTP_LIMITS, default_http_client
from aiml_agent._wire import SSEDecoder
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

Handler = Callable[[socket.socket, bytes], bool]  # (connection, request bytes) -> keep the connection open


class RawServer:
    """Answers each request with what ``handler`` writes; counts accepted connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length")
                        ),
                        0,
                    )
                    if len(rest) < length:
                        break
                    request, buffer = head + b"\r\n\r\n" + rest[:length], rest[length:]
                    self.requests.append(request)
                    if not self.handler(conn, request):
                        return

    def close(self) -> None:
        self._stopped = True
        self._sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def answer(body: bytes = b"hello", *, extra: bytes = b"") -> Handler:
    def handler(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body))
        return True

    return handler


def client(**limits: Any) -> httpx2.Client:
    return default_http_client("http://unused", 5.0, async_client=False, limits=limits)


def async_client(**limits: Any) -> httpx2.AsyncClient:
    return default_http_client("http://unused", 5.0, async_client=True, limits=limits)


# ---- framing -------------------------------------------------------------------------------------------------


CHUNKED = (
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
)


def test_bodies_of_every_framing_and_the_connection_kept_when_it_can_be(raw_server) -> None:
    replies = iter(
        [
            CHUNKED,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",  # 1xx head skipped
            b"HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n",  # no body whatever the length says
            b"HTTP/1.1 200 OK\r\n\r\nuntil the end",  # close-delimited: the connection ends with it
        ]
    )

    def handler(conn: socket.socket, request: bytes) -> bool:
        reply = next(replies)
        conn.sendall(reply)
        return not reply.endswith(b"until the end")

    server = raw_server(handler)
    with client() as http:
        assert http.get(server.url).text == "hello world"
        assert http.get(server.url).text == "ok"
        assert http.get(server.url).status_code == 204
        assert http.get(server.url).text == "until the end"
    assert server.connections == 1


def test_a_head_response_has_no_body_even_with_a_length(raw_server) -> None:
    server = raw_server(answer(b"", extra=b"content-length: 100\r\n"))
    with client() as http:
        assert http.head(server.url).status_code == 200
        assert http.head(server.url).status_code == 200
    assert server.connections == 1


def test_chunks_split_across_reads_decode_the_same(raw_server) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        for i in range(len(CHUNKED)):  # one byte per segment
            conn.sendall(CHUNKED[i : i + 1])
        return True

    server = raw_server(handler)
    with client() as http:
        assert http.get(server.url).text == "hello world"
        assert http.get(server.url).text == "hello world"
    assert server.connections == 1


@pytest.mark.parametrize(
    "reply",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["status-line", "two-lengths", "chunk-size"],
)
def test_a_response_that_is_not_http_raises_a_protocol_error(raw_server, reply: bytes) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(reply)
        return False

    server = raw_server(handler)
    with client() as http, pytest.raises(httpx2.RemoteProtocolError):
        http.get(server.url).read()


def test_a_body_cut_short_raises_and_the_connection_is_not_reused(raw_server) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        return False

    server = raw_server(handler)
    with client() as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            http.get(server.url)
        with pytest.raises(httpx2.RemoteProtocolError):
            http.get(server.url)
        assert http._transport._pool.open_connections == 0
    assert server.connections == 2


# ---- keep-alive -----------------------------------------------------------------------------------------------


def test_a_connection_the_server_closed_while_idle_is_replaced(raw_server) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        return False  # closes after each answer, without saying so

    server = raw_server(handler)
    with client() as http:
        for _ in range(3):
            assert http.get(server.url).text == "ok"
            time.sleep(0.05)  # the close reaches the client while the connection is idle
    assert server.connections == 3


def test_connection_close_from_the_server_is_honoured(raw_server) -> None:
    server = raw_server(answer(b"ok", extra=b"connection: close\r\n"))
    with client() as http:
        assert [http.get(server.url).text for _ in range(2)] == ["ok", "ok"]
        assert http._transport._pool.open_connections == 0
    assert server.connections == 2


def test_an_idle_connection_expires(raw_server) -> None:
    server = raw_server(answer())
    with client(keepalive_expiry=0.05) as http:
        http.get(server.url)
        time.sleep(0.15)
        http.get(server.url)
    assert server.connections == 2


def test_a_response_closed_early_is_drained_when_the_rest_comes_at_once(raw_server) -> None:
    server = raw_server(answer(b"x" * 100_000))
    with client() as http:
        for _ in range(3):
            with http.stream("GET", server.url) as response:
                next(response.iter_raw(10))  # stops after the first part; the rest is drained on close
    assert server.connections == 1


def test_a_response_whose_rest_never_comes_is_closed_without_waiting(raw_server) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        time.sleep(30)  # never finishes the body
        return False

    server = raw_server(handler)
    started = time.monotonic()
    with client() as http:
        with http.stream("GET", server.url) as response:
            assert next(response.iter_bytes()) == b"hello"
        assert http._transport._pool.open_connections == 0
    assert time.monotonic() - started < 5


# ---- limits and failures --------------------------------------------------------------------------------------


async def test_max_connections_is_never_exceeded_and_waiters_are_served(raw_server) -> None:
    open_now = [0]
    most = [0]
    lock = threading.Lock()

    def handler(conn: socket.socket, request: bytes) -> bool:
        with lock:
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])
        time.sleep(0.02)
        with lock:
            open_now[0] -= 1
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        return True

    server = raw_server(handler)
    async with async_client(max_connections=2) as http:
        texts = [r.text for r in await asyncio.gather(*(http.get(server.url) for _ in range(12)))]
    assert texts == ["ok"] * 12
    assert server.connections == 2 and most[0] <= 2


async def test_a_request_waiting_past_the_pool_timeout_fails(raw_server) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        time.sleep(1)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        return True

    server = raw_server(handler)
    async with async_client(max_connections=1) as http:
        slow = asyncio.ensure_future(http.get(server.url))
        await asyncio.sleep(0.1)
        with pytest.raises(httpx2.PoolTimeout):
            await http.get(server.url, timeout=httpx2.Timeout(5, pool=0.1))
        assert (await slow).text == "ok"


async def test_a_cancelled_request_gives_its_place_back(raw_server) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        if len(raw.requests) == 1:
            time.sleep(0.5)  # the first request hangs until cancelled
            return False
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        return True

    raw = raw_server(handler)
    async with async_client(max_connections=1) as http:
        task = asyncio.ensure_future(http.get(raw.url))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await http.get(raw.url)).text == "ok"  # the one place is free again
        assert http._transport._pool.open_connections == 1


def test_timeouts_and_refused_connections_are_httpx2_errors(raw_server) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        time.sleep(1)
        return False

    server = raw_server(handler)
    with client() as http:
        with pytest.raises(httpx2.ReadTimeout):
            http.get(server.url, timeout=0.1)
        free_port = socket.create_server(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free_port.getsockname()[1]}"
        free_port.close()
        with pytest.raises(httpx2.ConnectError):
            http.get(url)


async def test_async_timeouts_and_refused_connections_are_httpx2_errors(raw_server) -> None:
    def handler(conn: socket.socket, request: bytes) -> bool:
        time.sleep(1)
        return False

    server = raw_server(handler)
    async with async_client() as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get(server.url, timeout=0.1)
        free_port = socket.create_server(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free_port.getsockname()[1]}"
        free_port.close()
        with pytest.raises(httpx2.ConnectError):
            await http.get(url)


def test_a_streamed_request_body_is_sent_chunked(raw_server) -> None:
    server = raw_server(answer())
    with client() as http:
        http.post(server.url, content=iter([b"ab", b"cd"]))
    assert server.requests[0].lower().count(b"transfer-encoding: chunked") == 1


# ---- the generator on the pool ---------------------------------------------------------------------------------


def count_connections(server: ScriptedServer) -> list[int]:
    """Counts the connections ``server`` accepts from now on."""
    accepted = [0]
    track = server._track

    def counting(conn: socket.socket, alive: bool) -> None:
        accepted[0] += alive
        track(conn, alive)

    server._track = counting  # type: ignore[method-assign]
    return accepted


def generator_for(server: ScriptedServer, **kwargs: Any) -> AIMLAPIChatGenerator:
    return AIMLAPIChatGenerator(
        api_key=Secret.from_token("test-key"), api_base_url=server.base_url, max_retries=0, **kwargs
    )


def test_twenty_streamed_calls_use_one_connection() -> None:
    with ScriptedServer([Reply(text=f"answer number {i}") for i in range(20)]) as server:
        accepted = count_connections(server)
        generator = generator_for(server)
        texts = [generator.run("Hi", streaming_callback=lambda chunk: None)["replies"][0].text for _ in range(20)]
    assert texts == [f"answer number {i}" for i in range(20)]
    assert accepted[0] == 1


async def test_twenty_async_streamed_calls_use_one_connection() -> None:
    with ScriptedServer([Reply(text=f"answer number {i}") for i in range(20)]) as server:
        accepted = count_connections(server)
        generator = generator_for(server)
        for _ in range(20):
            await generator.run_async("Hi", streaming_callback=lambda chunk: None)
    assert accepted[0] == 1


def get_weather(city: str) -> str:
    """Weather of a city.

    :param city: The city.
    """
    return f"Sunny in {city}"


def test_streamed_agent_runs_keep_one_connection() -> None:
    script: list[Reply | str] = []
    for _ in range(5):
        script += [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]), "It is sunny."]
    with ScriptedServer(script) as server:
        accepted = count_connections(server)
        agent = Agent(generator_for(server), [create_tool(get_weather)], streaming_callback=lambda chunk: None)
        results = [agent.run("Weather?") for _ in range(5)]
    assert [r["last_message"].text for r in results] == ["It is sunny."] * 5
    assert accepted[0] == 1


async def test_http_limits_reach_the_pool_and_round_trip() -> None:
    with ScriptedServer(["ok"]) as server:
        generator = generator_for(server, http_limits={"max_connections": 3, "keepalive_expiry": 1.5})
        assert (await generator.run_async("Hi"))["replies"][0].text == "ok"
        pool = generator.async_client._client._transport._pool  # type: ignore[union-attr]
        assert (pool.max_connections, pool.max_keepalive, pool.keepalive_expiry) == (3, 1000, 1.5)
    data = AIMLAPIChatGenerator(http_limits={"max_connections": 3, "keepalive_expiry": 1.5}).to_dict()
    assert data["init_parameters"]["http_limits"] == {"max_connections": 3, "keepalive_expiry": 1.5}
    assert AIMLAPIChatGenerator.from_dict(data).http_limits == {"max_connections": 3, "keepalive_expiry": 1.5}


def test_http_limits_are_checked() -> None:
    assert AIMLAPIChatGenerator(http_limits=httpx.Limits(max_connections=7)).http_limits == {
        "max_connections": 7,
        "max_keepalive_connections": None,
        "keepalive_expiry": 5.0,
    }
    with pytest.raises(ValueError, match="unknown key.*'max_conections'"):
        AIMLAPIChatGenerator(http_limits={"max_conections": 3})
    with pytest.raises(ValueError, match="max_connections.*positive whole number"):
        AIMLAPIChatGenerator(http_limits={"max_connections": 0})
    with pytest.raises(ValueError, match="either http_limits .* or http_client_kwargs"):
        AIMLAPIChatGenerator(http_limits={"max_connections": 3}, http_client_kwargs={"timeout": 3})
    assert set(DEFAULT_HTTP_LIMITS) == {"max_connections", "max_keepalive_connections", "keepalive_expiry"}


# ---- server-sent events ----------------------------------------------------------------------------------------


def test_sse_decoder_splits_events_whatever_the_blocks() -> None:
    stream = b': comment\r\ndata: {"a": 1}\r\n\r\nevent: x\ndata: line one\ndata: line two\n\ndata:[DONE]\n\n'
    whole = SSEDecoder().feed(stream)
    assert whole == ['{"a": 1}', "line one\nline two", "[DONE]"]
    decoder = SSEDecoder()
    pieces = [event for i in range(len(stream)) for event in decoder.feed(stream[i : i + 1])]
    assert pieces == whole
    unterminated = SSEDecoder()
    assert unterminated.feed(b"data: last") == [] and unterminated.end() == ["last"]


def test_a_proxy_from_the_environment_is_still_used(raw_server, monkeypatch) -> None:
    completion = b'{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"via proxy"},"finish_reason":"stop"}]}'
    server = raw_server(answer(completion, extra=b"content-type: application/json\r\n"))
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    generator = AIMLAPIChatGenerator(
        api_key=Secret.from_token("test-key"), api_base_url="http://api.example.invalid/v1", max_retries=0
    )
    assert generator.run("Hi")["replies"][0].text == "via proxy"
    assert server.requests[0].startswith(b"POST http://api.example.invalid/v1/chat/completions HTTP/1.1")
