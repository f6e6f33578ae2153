"""The asyncio twin of :mod:`aiml_agent._pool_sync`, for the generator's ``httpx2.AsyncClient``.

Each connection is an ``asyncio.Protocol`` (no stream reader, no task per read); a request waiting for a free
connection waits in a FIFO queue and is handed the connection another request returns, so at hundreds of
concurrent requests the cost per request stays that of one request. A pool belongs to the event loop it is
first used on, as the generator's async clients do (one per loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpcore2

from aiml_agent._http11 import (
    LAST_CHUNK,
    MAX_HEAD_BYTES,
    BodyDecoder,
    ProtocolViolation,
    ResponseHead,
    encoded_chunk,
    parse_head,
    request_framing,
    request_head,
)
from aiml_agent._pool_sync import DRAIN_BYTES, DRAIN_SECONDS, Origin, find_head_end, origin_of

#: Reading pauses while this many received bytes wait to be consumed.
HIGH_WATER = 256 * 1024
_SLOT = object()  # handed to a waiter: "open a connection of your own, its place is counted"


def _timed_out(waiter: asyncio.Future[Any], error: Exception) -> None:
    if not waiter.done():
        waiter.set_exception(error)


class _Connection(asyncio.Protocol):
    """One connection to one origin: received bytes are buffered until the request reading them asks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.last_used = 0.0
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False

    # -- asyncio.Protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._error = exc
        self.transport = None
        self._wake()
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by the pool ----------------------------------------------------------------------------

    @property
    def usable_when_idle(self) -> bool:
        """Still open, and nothing (not even EOF) arrived while idle."""
        return self.transport is not None and not self.eof and not self.buffer

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def receive(self, timeout: float | None) -> bytes:
        """The bytes received since the last call, waiting up to ``timeout`` for some; ``b""`` at EOF."""
        if not self.buffer and not self.eof:
            waiter = self._waiter = self.loop.create_future()
            timer = None
            if timeout is not None:
                timer = self.loop.call_later(timeout, _timed_out, waiter, httpcore2.ReadTimeout("timed out"))
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        if self.buffer:
            return self.take()
        if self._error is not None:
            raise httpcore2.ReadError(str(self._error) or type(self._error).__name__)
        return b""

    async def send(self, request: httpcore2.Request, timeout: float | None) -> None:
        chunked, _ = request_framing(request.headers)
        parts = [request_head(request.method, request.url.target, request.headers)]
        stream: Any = request.stream
        if hasattr(stream, "__iter__"):  # httpx2's ByteStream (bytes content): no async iteration needed
            parts.extend(encoded_chunk(part) if chunked else part for part in stream if part)
        else:
            async for part in stream:
                if part:
                    parts.append(encoded_chunk(part) if chunked else part)
                    if len(parts) > 16:
                        await self._write(b"".join(parts), timeout)
                        parts = []
        if chunked:
            parts.append(LAST_CHUNK)
        await self._write(b"".join(parts), timeout)

    async def _write(self, data: bytes, timeout: float | None) -> None:
        if self.transport is None:
            raise httpcore2.WriteError("The connection was closed")
        self.transport.write(data)
        if not self._writing_paused:
            return
        waiter = self._write_waiter = self.loop.create_future()
        timer = None
        if timeout is not None:
            timer = self.loop.call_later(timeout, _timed_out, waiter, httpcore2.WriteTimeout("timed out"))
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
        if self.transport is None:
            raise httpcore2.WriteError("The connection was closed while the request was sent")

    async def read_head(self, method: bytes, timeout: float | None) -> tuple[ResponseHead, BodyDecoder, bytes]:
        """The response head, the decoder of its body, and the body content already received."""
        buffer = b""
        while True:
            data = await self.receive(timeout)
            if not data:
                raise httpcore2.RemoteProtocolError("Server disconnected without sending a response.")
            buffer += data
            end, start = find_head_end(buffer)
            while end >= 0:
                head = parse_head(buffer[:end])
                buffer = buffer[start:]
                if not head.informational:
                    head.frame(method)
                    decoder = BodyDecoder(head)
                    return head, decoder, decoder.feed(buffer) if buffer else b""
                end, start = find_head_end(buffer)
            if len(buffer) > MAX_HEAD_BYTES:
                raise httpcore2.RemoteProtocolError("The response head is too long")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class _Body:
    """A response body streamed from its connection, which goes back to the pool once the body is complete."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        connection: _Connection,
        decoder: BodyDecoder,
        first: bytes,
        timeout: float | None,
        reusable: bool,
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._decoder = decoder
        self._first = first
        self._timeout = timeout
        self._reusable = reusable
        if decoder.done:
            self._finish()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._first:
            first, self._first = self._first, b""
            yield first
        while self._connection is not None and not self._decoder.done:
            content = await self._read(self._timeout)
            if content:
                yield content
        self._finish()

    async def _read(self, timeout: float | None) -> bytes:
        assert self._connection is not None
        try:
            data = await self._connection.receive(timeout)
            if not data:
                self._decoder.end_of_stream()
                return b""
            return self._decoder.feed(data)
        except ProtocolViolation as error:
            self._discard()
            raise httpcore2.RemoteProtocolError(str(error)) from error
        except BaseException:
            self._discard()
            raise

    async def aclose(self) -> None:
        """Release the connection; an unfinished body is read on for a moment first (see the sync pool)."""
        if self._connection is None:
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        drained = 0
        try:
            while not self._decoder.done and self._reusable and drained < DRAIN_BYTES:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                drained += len(await self._read(left))
        except Exception:
            return  # the rest did not come in time (or broke): the connection was discarded
        if self._decoder.done:
            self._finish()
        else:
            self._discard()

    def _finish(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._reusable and not self._decoder.leftover:
            self._pool.release(connection)
        else:
            self._pool.discard(connection)

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.discard(connection)


class AsyncConnectionPool:
    """HTTP/1.1 keep-alive pool for ``httpx2.AsyncHTTPTransport`` (the interface of httpcore2's async pool).

    :param ssl_context: Verifies ``https`` servers.
    :param max_connections: Connections open at once (all origins); more requests wait, first come first served.
    :param max_keepalive_connections: Idle connections kept; more are closed when released.
    :param keepalive_expiry: Seconds an idle connection is kept.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        max_connections: int | None = 100,
        max_keepalive_connections: int | None = 100,
        keepalive_expiry: float | None = 5.0,
    ) -> None:
        self.ssl_context = ssl_context
        self.max_connections = max_connections if max_connections is not None else 2**31
        self.max_keepalive = (
            max_keepalive_connections if max_keepalive_connections is not None else self.max_connections
        )
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._open = 0
        self._closed = False
        self._waiters: deque[tuple[Origin, asyncio.Future[Any]]] = deque()

    # -- what httpx2.AsyncHTTPTransport calls --------------------------------------------------------

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        origin = origin_of(request)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        connection = await self._acquire(origin, timeouts, request.extensions.get("sni_hostname"))
        try:
            await connection.send(request, timeouts.get("write"))
            head, decoder, first = await connection.read_head(request.method, timeouts.get("read"))
        except ProtocolViolation as error:
            self.discard(connection)
            raise httpcore2.RemoteProtocolError(str(error)) from error
        except BaseException:  # a cancelled request leaves its connection in an unknown state
            self.discard(connection)
            raise
        _, close = request_framing(request.headers)
        body = _Body(self, connection, decoder, first, timeouts.get("read"), head.keep_alive and not close)
        return httpcore2.Response(
            head.status,
            headers=head.headers,
            content=body,
            extensions={"http_version": head.http_version, "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        idle = [connection for connections in self._idle.values() for connection in connections]
        self._idle.clear()
        self._open -= len(idle)
        self._idle_count = 0
        for connection in idle:
            connection.close()
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(httpcore2.ConnectError("The connection pool is closed"))

    async def __aenter__(self) -> AsyncConnectionPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- connections ---------------------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        """Connections open now (idle or in use)."""
        return self._open

    def release(self, connection: _Connection) -> None:
        """A connection whose response is complete: handed to the first waiting request for its origin, else
        kept idle (or closed when enough wait)."""
        if self._closed or not connection.usable_when_idle:
            self.discard(connection)
            return
        while self._waiters:
            origin, waiter = self._waiters.popleft()
            if waiter.done():
                continue
            if origin == connection.origin:
                waiter.set_result(connection)
            else:  # another origin waits: this connection's place is worth more to it
                connection.close()
                waiter.set_result(_SLOT)
            return
        if self._idle_count >= self.max_keepalive:
            self._open -= 1
            connection.close()
            return
        connection.last_used = time.monotonic()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._idle_count += 1

    def discard(self, connection: _Connection) -> None:
        """A connection that cannot be reused: closed; its place goes to the first waiting request."""
        connection.close()
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(_SLOT)
                return
        self._open -= 1

    async def _acquire(self, origin: Origin, timeouts: dict[str, Any], sni_hostname: Any) -> _Connection:
        if self._closed:
            raise httpcore2.ConnectError("The connection pool is closed")
        connection = self._take_idle(origin)
        if connection is not None:
            return connection
        if self._open < self.max_connections or self._close_other_idle():
            self._open += 1
        else:
            granted = await self._wait_for_turn(origin, timeouts.get("pool"))
            if granted is not _SLOT:
                return granted
        try:
            return await self._connect(origin, timeouts.get("connect"), sni_hostname)
        except BaseException:
            self._free_slot()
            raise

    async def _wait_for_turn(self, origin: Origin, timeout: float | None) -> Any:
        """Wait (FIFO) until a released connection to ``origin`` or a free place is handed over."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        entry = (origin, waiter)
        self._waiters.append(entry)
        timer = None
        if timeout is not None:
            error = httpcore2.PoolTimeout("No connection became free within the pool timeout")
            timer = loop.call_later(timeout, _timed_out, waiter, error)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                granted = waiter.result()  # handed over just as this request gave up: pass it on
                if granted is _SLOT:
                    self._free_slot()
                else:
                    self.release(granted)
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _free_slot(self) -> None:
        """A counted place that will not be used: the first waiter gets it, else it is given back."""
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(_SLOT)
                return
        self._open -= 1

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            expired = self.keepalive_expiry is not None and now - connection.last_used > self.keepalive_expiry
            if expired or not connection.usable_when_idle:
                self._open -= 1
                connection.close()
                continue
            return connection
        return None

    def _close_other_idle(self) -> bool:
        """Make room at the limit by closing the oldest idle connection to another origin."""
        for connections in self._idle.values():
            if connections:
                connections.pop(0).close()
                self._idle_count -= 1
                self._open -= 1
                return True
        return False

    async def _connect(self, origin: Origin, timeout: float | None, sni_hostname: Any) -> _Connection:
        scheme, host_bytes, port = origin
        host = host_bytes.decode("ascii")
        loop = asyncio.get_running_loop()
        connection = _Connection(loop, origin)
        tls: dict[str, Any] = {}
        if scheme == b"https":
            server_hostname = sni_hostname.decode() if isinstance(sni_hostname, bytes) else sni_hostname or host
            tls = {"ssl": self.ssl_context, "server_hostname": server_hostname}
        try:
            await asyncio.wait_for(loop.create_connection(lambda: connection, host, port, **tls), timeout)
        except asyncio.TimeoutError as error:
            raise httpcore2.ConnectTimeout("timed out") from error
        except OSError as error:  # ssl.SSLError is an OSError
            raise httpcore2.ConnectError(str(error)) from error
        return connection
