"""A sync HTTP/1.1 connection pool whose cost does not grow with its size, for the generator's ``httpx2`` client.

It takes the place of httpcore2's pool inside an ``httpx2.HTTPTransport`` (so vcrpy, which patches that
transport, still records and replays every request): idle connections wait per origin, most recently used
first, and taking or returning one is O(1) (httpcore2 walks every connection on every request). A response
closed before its body was read to the end (an SSE stream after ``[DONE]``) is drained for a moment, so its
connection is reused instead of closed. Errors are httpcore2's, which the transport maps to httpx2's.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
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

#: How long closing an unfinished response may wait for the rest of its body (then the connection is closed).
DRAIN_SECONDS = 0.1
#: How much of an unfinished body closing it may read (then the connection is closed).
DRAIN_BYTES = 64 * 1024
READ_SIZE = 64 * 1024
_DEFAULT_PORTS = {b"http": 80, b"https": 443}

Origin = tuple[bytes, bytes, int]


def origin_of(request: httpcore2.Request) -> Origin:
    """``(scheme, host, port)`` of a request; only ``http`` and ``https`` are spoken."""
    url = request.url
    if url.scheme not in _DEFAULT_PORTS:
        raise httpcore2.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme.decode()}://'.")
    return url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme]


def find_head_end(buffer: bytes | bytearray) -> tuple[int, int]:
    """(end of the head, start of what follows), or (-1, -1) while the blank line has not arrived."""
    end = buffer.find(b"\r\n\r\n")
    if end >= 0:
        return end, end + 4
    end = buffer.find(b"\n\n")
    return (end, end + 2) if end >= 0 else (-1, -1)


def _unusable_when_idle(sock: socket.socket) -> bool:
    """Whether an idle connection was closed by the server (or got unsolicited bytes): readable means unusable."""
    try:
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class _Connection:
    """One socket to one origin (a connection is reused only when nothing was received past its last answer)."""

    __slots__ = ("last_used", "origin", "sock")

    def __init__(self, sock: socket.socket, origin: Origin) -> None:
        self.sock = sock
        self.origin = origin
        self.last_used = 0.0

    def recv(self, timeout: float | None) -> bytes:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(READ_SIZE)
        except TimeoutError as error:
            raise httpcore2.ReadTimeout(str(error) or "timed out") from error
        except OSError as error:
            raise httpcore2.ReadError(str(error)) from error

    def send(self, request: httpcore2.Request, timeout: float | None) -> None:
        chunked, _ = request_framing(request.headers)
        parts = [request_head(request.method, request.url.target, request.headers)]
        size = len(parts[0])
        self.sock.settimeout(timeout)
        try:
            for part in request.stream:  # type: ignore[union-attr]
                if not part:
                    continue
                parts.append(encoded_chunk(part) if chunked else part)
                size += len(parts[-1])
                if size > READ_SIZE:
                    self.sock.sendall(b"".join(parts))
                    parts, size = [], 0
            if chunked:
                parts.append(LAST_CHUNK)
            self.sock.sendall(b"".join(parts))
        except TimeoutError as error:
            raise httpcore2.WriteTimeout(str(error) or "timed out") from error
        except OSError as error:
            raise httpcore2.WriteError(str(error)) from error

    def read_head(self, method: bytes, timeout: float | None) -> tuple[ResponseHead, BodyDecoder, bytes]:
        """The response head, the decoder of its body, and the body content already received."""
        buffer = b""
        while True:
            end, start = find_head_end(buffer)
            if end >= 0:
                head = parse_head(buffer[:end])
                buffer = buffer[start:]
                if head.informational:
                    continue
                head.frame(method)
                decoder = BodyDecoder(head)
                return head, decoder, decoder.feed(buffer) if buffer else b""
            if len(buffer) > MAX_HEAD_BYTES:
                raise httpcore2.RemoteProtocolError("The response head is too long")
            data = self.recv(timeout)
            if not data:
                raise httpcore2.RemoteProtocolError("Server disconnected without sending a response.")
            buffer += data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Body:
    """A response body streamed from its connection, which goes back to the pool once the body is complete."""

    def __init__(
        self,
        pool: ConnectionPool,
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

    def __iter__(self) -> Iterator[bytes]:
        if self._first:
            first, self._first = self._first, b""
            yield first
        while self._connection is not None and not self._decoder.done:
            content = self._read(self._timeout)
            if content:
                yield content
        self._finish()

    def _read(self, timeout: float | None) -> bytes:
        assert self._connection is not None
        try:
            data = self._connection.recv(timeout)
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

    def close(self) -> None:
        """Release the connection; an unfinished body is read on for a moment first, so the connection can be
        reused (it is closed when the rest does not come at once)."""
        if self._connection is None:
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        drained = 0
        try:
            while not self._decoder.done and self._reusable and drained < DRAIN_BYTES:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                drained += len(self._read(left))
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


class ConnectionPool:
    """HTTP/1.1 keep-alive pool for ``httpx2.HTTPTransport`` (the interface of ``httpcore2.ConnectionPool``).

    :param ssl_context: Verifies ``https`` servers.
    :param max_connections: Connections open at once (all origins); more requests wait up to the pool timeout.
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
        self._available = threading.Condition(threading.Lock())

    # -- what httpx2.HTTPTransport calls -------------------------------------------------------------

    def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        origin = origin_of(request)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        connection = self._acquire(origin, timeouts, request.extensions.get("sni_hostname"))
        try:
            connection.send(request, timeouts.get("write"))
            head, decoder, first = connection.read_head(request.method, timeouts.get("read"))
        except ProtocolViolation as error:
            self.discard(connection)
            raise httpcore2.RemoteProtocolError(str(error)) from error
        except BaseException:
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

    def close(self) -> None:
        with self._available:
            self._closed = True
            idle = [connection for connections in self._idle.values() for connection in connections]
            self._idle.clear()
            self._open -= len(idle)
            self._idle_count = 0
            self._available.notify_all()
        for connection in idle:
            connection.close()

    def __enter__(self) -> ConnectionPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- connections ---------------------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        """Connections open now (idle or in use)."""
        return self._open

    def release(self, connection: _Connection) -> None:
        """A connection whose response is complete: kept for the next request, or closed when enough wait."""
        with self._available:
            if not self._closed and self._idle_count < self.max_keepalive:
                connection.last_used = time.monotonic()
                self._idle.setdefault(connection.origin, []).append(connection)
                self._idle_count += 1
                self._available.notify()
                return
            self._open -= 1
            self._available.notify()
        connection.close()

    def discard(self, connection: _Connection) -> None:
        """A connection that cannot be reused (broken, or its response ended it): closed, its place freed."""
        connection.close()
        with self._available:
            self._open -= 1
            self._available.notify()

    def _acquire(self, origin: Origin, timeouts: dict[str, Any], sni_hostname: Any) -> _Connection:
        pool_timeout = timeouts.get("pool")
        deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
        stale: list[_Connection] = []
        try:
            with self._available:
                while True:
                    if self._closed:
                        raise httpcore2.ConnectError("The connection pool is closed")
                    connection = self._take_idle(origin, stale)
                    if connection is not None:
                        return connection
                    if self._open < self.max_connections:
                        self._open += 1
                        break
                    if self._close_other_idle(stale):
                        continue
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise httpcore2.PoolTimeout("No connection became free within the pool timeout")
                    self._available.wait(left)
        finally:
            for connection in stale:
                connection.close()
        try:
            return self._connect(origin, timeouts.get("connect"), sni_hostname)
        except BaseException:
            with self._available:
                self._open -= 1
                self._available.notify()
            raise

    def _take_idle(self, origin: Origin, stale: list[_Connection]) -> _Connection | None:
        """The most recently used idle connection to ``origin`` that is still good (under the lock)."""
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            expired = self.keepalive_expiry is not None and now - connection.last_used > self.keepalive_expiry
            if expired or _unusable_when_idle(connection.sock):
                self._open -= 1
                stale.append(connection)
                continue
            return connection
        return None

    def _close_other_idle(self, stale: list[_Connection]) -> bool:
        """Make room at the limit by closing the oldest idle connection to another origin (under the lock)."""
        for connections in self._idle.values():
            if connections:
                stale.append(connections.pop(0))
                self._idle_count -= 1
                self._open -= 1
                return True
        return False

    def _connect(self, origin: Origin, timeout: float | None, sni_hostname: Any) -> _Connection:
        scheme, host_bytes, port = origin
        host = host_bytes.decode("ascii")
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError as error:
            raise httpcore2.ConnectTimeout(str(error) or "timed out") from error
        except OSError as error:
            raise httpcore2.ConnectError(str(error)) from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == b"https":
                server_hostname = sni_hostname.decode() if isinstance(sni_hostname, bytes) else sni_hostname or host
                sock.settimeout(timeout)
                sock = self.ssl_context.wrap_socket(sock, server_hostname=server_hostname)
        except TimeoutError as error:
            sock.close()
            raise httpcore2.ConnectTimeout(str(error) or "timed out") from error
        except OSError as error:  # ssl.SSLError is an OSError
            sock.close()
            raise httpcore2.ConnectError(str(error)) from error
        return _Connection(sock, origin)
