"""One MCP server connection: opened when first needed, shared by every caller, reopened after it broke.

The session lives on a :class:`~aiml_agent.mcp._loop.LoopThread`. A task there holds the SDK client open
until the connection is closed or found broken; requests run as tasks of their own next to it, each bounded by
the connection's timeout and watched against the holding task, so a server that dies mid-call fails the call
at once instead of leaving it waiting. A lost connection is dropped (a stdio server process is stopped) and the
next request opens a new one.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import httpx2
from mcp import MCPError
from mcp.types import CONNECTION_CLOSED

from aiml_agent.errors import MCPConnectionError
from aiml_agent.mcp._loop import LoopThread

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Tool

T = TypeVar("T")

#: Seconds a session may take to shut down (the SDK stops a stdio server within about 7 s, killing it last).
SHUTDOWN_GRACE = 10.0
#: At most this many pages of a paginated tool listing are read.
MAX_LIST_PAGES = 100

_OPEN: weakref.WeakSet[MCPConnection] = weakref.WeakSet()  # connections to close when the interpreter exits


class MCPConnection:
    """A shared, self-healing connection to one MCP server, usable from sync code on any thread and any loop.

    :param label: How messages name the server, e.g. ``MCP server 'python server.py'``.
    :param make_client: Builds a fresh, unopened ``mcp.Client`` for each new session.
    :param timeout: Seconds allowed for each request; None for no limit.
    :param connect_timeout: Seconds allowed for opening a session (starting the server, the handshake).
    """

    def __init__(
        self, label: str, make_client: Callable[[], Client], timeout: float | None, connect_timeout: float | None
    ) -> None:
        self.label = label
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._make_client = make_client
        self._worker: _Worker | None = None
        self._worker_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ public

    def list_tools(self) -> list[Tool]:
        """All tools the server offers (every page), connecting first if needed."""
        return self._call(lambda worker: self._request(worker, _list_all_tools, "the tool listing"))

    async def list_tools_async(self) -> list[Tool]:
        """:meth:`list_tools` for async callers, on any event loop."""
        return await self._call_async(lambda worker: self._request(worker, _list_all_tools, "the tool listing"))

    def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call tool ``name`` (its name on the server) and return the server's result, connecting first if needed.

        :raises MCPConnectionError: The server cannot be reached, or the connection was lost during the call.
        :raises TimeoutError: No answer within the timeout (the request is cancelled; the connection stays).
        :raises MCPError: The server answered with a JSON-RPC error.
        """
        return self._call(lambda worker: self._request(worker, _tool_call(name, arguments), f"the call of '{name}'"))

    async def call_tool_async(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """:meth:`call_tool` for async callers, on any event loop."""
        operation = _tool_call(name, arguments)
        return await self._call_async(lambda worker: self._request(worker, operation, f"the call of '{name}'"))

    @property
    def is_open(self) -> bool:
        """Whether a session is open right now (a broken one is noticed on its next request)."""
        worker = self._worker
        return worker is not None and worker.session is not None and worker.session.alive

    def close(self) -> None:
        """End the session (stopping a stdio server process) and the loop thread; safe to call many times.

        A later request opens a new connection.
        """
        with self._worker_lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            worker.thread.call(worker.shutdown(), SHUTDOWN_GRACE + 5)
        finally:
            worker.thread.stop()

    async def close_async(self) -> None:
        """:meth:`close` for async callers: waits without blocking the caller's loop."""
        with self._worker_lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            await worker.thread.call_async(worker.shutdown(), SHUTDOWN_GRACE + 5)
        finally:
            await asyncio.to_thread(worker.thread.stop)

    # ------------------------------------------------------------------------------------------ plumbing

    def _current_worker(self) -> _Worker:
        with self._worker_lock:
            if self._worker is None:
                self._worker = _Worker()
                _OPEN.add(self)
            return self._worker

    def _caller_limit(self) -> float | None:
        """How long a caller waits at most: connecting, one request and dropping a broken session, each bounded."""
        if self.timeout is None or self.connect_timeout is None:
            return None
        return self.connect_timeout + self.timeout + SHUTDOWN_GRACE

    def _call(self, make: Callable[[_Worker], Coroutine[Any, Any, T]]) -> T:
        worker = self._current_worker()
        return worker.thread.call(make(worker), self._caller_limit())

    async def _call_async(self, make: Callable[[_Worker], Coroutine[Any, Any, T]]) -> T:
        worker = self._current_worker()
        return await worker.thread.call_async(make(worker), self._caller_limit())

    async def _request(self, worker: _Worker, operation: Callable[[Client], Awaitable[T]], what: str) -> T:
        """Run ``operation`` on the worker's session (opened first if needed); on the loop thread."""
        session = await worker.open_session(self._make_client, self.label, self.connect_timeout)
        try:
            return await session.run(operation, self.timeout)
        except _ConnectionLost as lost:
            worker.discard(session)
            reason = _describe(lost.cause) if lost.cause is not None else "the session ended"
            raise MCPConnectionError(
                f"lost the connection to {self.label} during {what} ({reason}); the next call reconnects"
            ) from lost.cause
        except TimeoutError:
            raise TimeoutError(f"{self.label} did not answer {what} within {self.timeout:g} s") from None


class _Worker:
    """A connection's loop thread and the session state that lives on it (touched only on that loop)."""

    def __init__(self) -> None:
        self.thread = LoopThread("aiml-agent-mcp")
        self.session: _Session | None = None
        self._lock: asyncio.Lock | None = None  # created on the loop, where it is used
        self._stopping: set[asyncio.Task[None]] = set()

    async def open_session(self, make_client: Callable[[], Client], label: str, timeout: float | None) -> _Session:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # concurrent first calls open one session, not one each
            if self.session is not None and self.session.alive:
                return self.session
            if self.session is not None:
                self.discard(self.session)
            try:
                client = make_client()
            except Exception as error:  # e.g. an environment variable a header refers to is not set
                raise MCPConnectionError(f"cannot connect to {label}: {error}") from error
            session = _Session(client)
            await session.start(label, timeout)
            self.session = session
            return session

    def discard(self, session: _Session) -> None:
        """Stop ``session`` in the background (a later :meth:`shutdown` waits for it)."""
        if self.session is session:
            self.session = None
        task = asyncio.ensure_future(session.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def shutdown(self) -> None:
        if self.session is not None:
            self.discard(self.session)
        if self._stopping:
            await asyncio.wait(set(self._stopping), timeout=SHUTDOWN_GRACE)


class _ConnectionLost(Exception):
    """A request failed because the connection is gone (``cause`` says how, when known)."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Session:
    """One open SDK client, held open by a task of its own until :meth:`stop` (or until the connection dies)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.error: BaseException | None = None
        self._stop = asyncio.Event()
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, label: str, timeout: float | None) -> None:
        """Open the client (start the server process, or reach the URL) and complete the MCP handshake.

        :raises MCPConnectionError: It failed, or took longer than ``timeout`` seconds.
        """
        self._task = asyncio.ensure_future(self._hold())
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise MCPConnectionError(f"{label} did not complete the MCP handshake within {timeout:g} s") from None
        except Exception as error:
            await self.stop()
            raise MCPConnectionError(f"cannot connect to {label}: {_describe(error)}") from error

    async def _hold(self) -> None:
        try:
            async with self.client:
                self._ready.set_result(None)
                await self._stop.wait()
        except BaseException as error:  # an ExceptionGroup from the SDK's task groups included
            self.error = error
            if not self._ready.done():
                if isinstance(error, Exception):
                    self._ready.set_exception(error)
                else:
                    self._ready.cancel()
            if not isinstance(error, Exception):
                raise

    async def run(self, operation: Callable[[Client], Awaitable[T]], timeout: float | None) -> T:
        """Run one request; raise :class:`_ConnectionLost` when the connection dies first, TimeoutError on time."""
        assert self._task is not None
        request = asyncio.ensure_future(operation(self.client))
        try:
            done, _ = await asyncio.wait({request, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if request in done:
                error = request.exception()
                if error is None:
                    return request.result()
                if _is_connection_lost(error):
                    raise _ConnectionLost(error) from error
                raise error
            if self._task in done:
                raise _ConnectionLost(self.error)
            raise TimeoutError
        finally:
            if not request.done():
                request.cancel()
                request.add_done_callback(_retrieve)

    async def stop(self) -> None:
        """Close the client (a stdio server gets its stdin closed, then is terminated, then killed)."""
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        if self._ready.done():  # opened: leave the client's context in order, as it was entered
            await asyncio.wait({task}, timeout=SHUTDOWN_GRACE)
        if not task.done():  # still opening (or will not close): cancelling unwinds what was started
            task.cancel()
            await asyncio.wait({task}, timeout=SHUTDOWN_GRACE)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a cancelled request's outcome as seen, so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


async def _list_all_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _tool_call(name: str, arguments: dict[str, Any]) -> Callable[[Client], Awaitable[CallToolResult]]:
    def call(client: Client) -> Awaitable[CallToolResult]:
        return client.call_tool(name, arguments)

    return call


def _is_connection_lost(error: BaseException) -> bool:
    """Whether a request failed because the connection itself is gone (not a slow or erroring server)."""
    if isinstance(error, MCPError):
        return error.code == CONNECTION_CLOSED
    if isinstance(error, (TimeoutError, httpx2.TimeoutException)):
        return False
    return isinstance(
        error,
        (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError, httpx2.TransportError),
    )


def _describe(error: BaseException) -> str:
    """One line for an error, looking through the exception groups the SDK's task groups raise."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@atexit.register
def _close_open_connections() -> None:
    """Stop the servers of connections nobody closed, so no stdio server outlives the program."""
    for connection in list(_OPEN):
        with contextlib.suppress(Exception):  # exiting anyway: one failure must not keep the others open
            connection.close()
