"""Running a coroutine to completion from sync code: the one place the package does it.

Used by ``FunctionTool.invoke`` on an async function and by the tool runner for a turn with async tools.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def in_running_loop() -> bool:
    """Whether this thread is inside a running event loop (so it must not block on one of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_blocking(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also when called from inside a running event loop.

    The coroutine runs on a private loop which, unlike ``asyncio.run``, leaves the thread's current event
    loop set as it was (openai-agents' ``run_sync`` and others rely on it). Inside a running loop the
    private loop runs in a worker thread (with the caller's context variables), since the caller's loop
    is blocked by this sync call anyway.

    :param make_coroutine: Makes the coroutine; called in the thread that runs it.
    """
    if not in_running_loop():
        return _run_private(make_coroutine)
    caller_context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiml-agent-loop") as worker:
        return worker.submit(caller_context.run, _run_private, make_coroutine).result()


def _run_private(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` without touching the thread's current event loop."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return runner.run(make_coroutine())
    loop = asyncio.new_event_loop()  # Python 3.10: what asyncio.run does, minus set_event_loop
    try:
        return loop.run_until_complete(make_coroutine())
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
