"""An event loop on a thread of its own, where MCP sessions live whoever calls them.

The MCP SDK ties a session to the event loop (and, through anyio cancel scopes, to the task) that opened it.
Keeping every session on a private loop in a daemon thread lets any caller use it: sync code on any thread
blocks on a future, coroutines on any other loop await a wrapped one, and several runs share it at once. The
loop runs only MCP client code, never the caller's, so no caller can block it and none can deadlock on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _stopped() -> RuntimeError:
    return RuntimeError("the request was cancelled: its MCP connection was closed while it ran")


class LoopThread:
    """A daemon thread running one event loop until :meth:`stop`.

    :param name: The thread's name (shown in thread dumps and debuggers).
    """

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    @property
    def is_current(self) -> bool:
        """Whether the calling code runs on this loop's thread."""
        return threading.current_thread() is self._thread

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run ``coroutine`` on the loop and block until it is done (from any thread but this loop's own).

        :param timeout: Give up after this many seconds (None: wait as long as it takes); the coroutine is
            cancelled and ``TimeoutError`` raised.
        :raises RuntimeError: Called from the loop's own thread, where waiting would deadlock.
        """
        if self.is_current:
            coroutine.close()
            raise RuntimeError("an MCP call was made from the MCP client's own thread; it would wait for itself")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            concurrent.futures.wait([future], timeout)
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt: do not leave the call running on the loop
            raise
        if not future.done():
            future.cancel()
            raise TimeoutError(f"no result within {timeout:g} s")
        if future.cancelled():
            raise _stopped()
        return future.result()

    async def call_async(self, coroutine: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run ``coroutine`` on the loop and await it from another loop; cancelling the caller cancels it."""
        future = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))
        try:
            done, _ = await asyncio.wait({future}, timeout=timeout)
        finally:
            if not future.done():
                future.cancel()
        if not done:
            raise TimeoutError(f"no result within {timeout:g} s")
        if future.cancelled():
            raise _stopped()
        return future.result()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop (tasks still on it are cancelled) and wait up to ``timeout`` s for the thread to end."""
        if self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(self._loop.stop)
        except RuntimeError:  # closed in the meantime
            return
        if not self.is_current:
            self._thread.join(timeout)
