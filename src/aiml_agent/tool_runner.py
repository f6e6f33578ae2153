"""Executing one model turn's tool calls concurrently and turning every failure into text the model can act on.

Sync tools run on one process-wide thread pool, async tools as asyncio tasks, all at once up to a concurrency
limit; results come back in call order. From sync code a turn without async tools needs no event loop (one
call runs inline, several on the pool); a turn with async tools runs on a private event loop (in a worker
thread when the caller is itself inside a running loop). Each invocation sees its own ``RunContext``.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from haystack.dataclasses import StreamingChunk, ToolCall, ToolCallResult
from haystack.tools import Tool
from haystack.tools.errors import ToolInvocationError

from aiml_agent.context import RunContext, use_run_context
from aiml_agent.errors import ToolArgumentsError
from aiml_agent.run_result import ToolCallRecord

T = TypeVar("T")


def unknown_tool_message(name: str, available: Sequence[str]) -> str:
    """The error text for a call to a tool that does not exist."""
    listed = ", ".join(sorted(available)) if available else "(none)"
    return f"Error: there is no tool named '{name}'. Available tools: {listed}. Call one of these instead."


def malformed_arguments_message(tool_call: ToolCall) -> str:
    """The error text for a call whose arguments were not valid JSON (the generator keeps the raw text)."""
    extra = tool_call.extra or {}
    reason = f" Parser error: {extra['arguments_error']}." if extra.get("arguments_error") else ""
    return (
        f"Error: the arguments for tool '{tool_call.tool_name}' were not valid JSON. "
        f"Raw arguments received: {extra.get('raw_arguments', '')!r}.{reason} "
        "Call the tool again with the arguments as one valid JSON object."
    )


def exception_message(tool_name: str, exc: BaseException) -> str:
    """The error text for a tool that raised: validation errors field by field, otherwise the original exception."""
    if isinstance(exc, ToolArgumentsError):
        text = str(exc) if tool_name in str(exc) else f"Invalid arguments for tool '{tool_name}':\n{exc}"
        return f"Error: {text}\nFix these arguments and call the tool again."
    cause = exc.__cause__ if isinstance(exc, ToolInvocationError) and exc.__cause__ is not None else exc
    return f"Error: tool '{tool_name}' failed: {type(cause).__name__}: {cause}"


def _is_malformed(tool_call: ToolCall) -> bool:
    return bool(tool_call.extra and "arguments_error" in tool_call.extra)


def _invoke_sync(tool: Tool, arguments: dict[str, Any], context: RunContext[Any]) -> Any:
    with use_run_context(context):
        return tool.invoke(**arguments)


_POOL_LOCK = threading.Lock()
_POOL: tuple[ThreadPoolExecutor, int] | None = None  # the pool and its number of workers
MIN_POOL_WORKERS = 256


def shared_executor(min_workers: int = 1) -> ThreadPoolExecutor:
    """The process-wide pool sync tools run on, created on first use (threads start only when needed).

    One pool instead of one per turn: creating and tearing down an executor each turn was a visible share
    of a fast agent run. It has at least ``MIN_POOL_WORKERS`` workers (and is replaced by a larger one
    when a runner allows more calls at once), so each run's own ``concurrency`` is what bounds it.
    """
    global _POOL
    current = _POOL
    if current is not None and current[1] >= min_workers:
        return current[0]
    with _POOL_LOCK:
        if _POOL is None or _POOL[1] < min_workers:
            old = _POOL
            size = max(MIN_POOL_WORKERS, min_workers)
            _POOL = (ThreadPoolExecutor(size, thread_name_prefix="aiml-agent-tools"), size)
            if old is not None:
                old[0].shutdown(wait=False)  # its running calls finish; new ones go to the larger pool
        return _POOL[0]


def _forget_pool_after_fork() -> None:
    """A forked child has none of the parent's pool threads: it must start a pool of its own."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class ToolRunner:
    """Runs the tool calls of one model turn.

    :param tools: The tools the model may call, by name.
    :param concurrency: At most this many calls run at the same time.
    :param make_context: Builds the ``RunContext`` a given call sees.
    :param raise_on_error: Raise the first failure (in call order) instead of returning it as an error record.
    """

    def __init__(
        self,
        tools: dict[str, Tool],
        *,
        concurrency: int,
        make_context: Callable[[ToolCall], RunContext[Any]],
        raise_on_error: bool = False,
    ) -> None:
        self.tools = tools
        self.concurrency = max(1, concurrency)
        self.make_context = make_context
        self.raise_on_error = raise_on_error

    async def run_async(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Run all calls concurrently; return one record per call, in call order."""
        semaphore = asyncio.Semaphore(self.concurrency)
        executor = shared_executor(self.concurrency) if any(self._is_sync(c) for c in tool_calls) else None
        records = await asyncio.gather(*(self._run_one(call, semaphore, executor) for call in tool_calls))
        return self._checked(list(records))

    def run(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Run all calls concurrently from sync code (async tools included).

        A turn without async tools needs no event loop: one call runs right here (in a copy of the caller's
        context), several on the shared thread pool. Only a turn with an async tool runs an event loop, a
        private one, so the caller thread's current event loop is left as it was.
        """
        if any(self._is_async(call) for call in tool_calls):
            return run_blocking(lambda: self.run_async(tool_calls))
        if len(tool_calls) == 1 and not _in_running_loop():
            records = [contextvars.copy_context().run(self._run_one_sync, tool_calls[0])]
        else:
            records = self._run_on_pool(tool_calls)
        return self._checked(records)

    def _is_sync(self, tool_call: ToolCall) -> bool:
        tool = self.tools.get(tool_call.tool_name)
        return tool is not None and tool.async_function is None and not _is_malformed(tool_call)

    def _is_async(self, tool_call: ToolCall) -> bool:
        tool = self.tools.get(tool_call.tool_name)
        return tool is not None and tool.async_function is not None and not _is_malformed(tool_call)

    def _checked(self, records: list[ToolCallRecord]) -> list[ToolCallRecord]:
        """The records, or in raise mode the first failure (in call order) raised."""
        if self.raise_on_error:
            for record in records:
                if record.error:
                    raise record.exception or ToolInvocationError(record.result, tool_name=record.tool_name)
        return records

    def _run_on_pool(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Sync calls on the shared pool, at most ``concurrency`` submitted at once, each in a context copy."""
        pool = shared_executor(self.concurrency)
        waiting = list(enumerate(tool_calls))[::-1]
        running: dict[Future[ToolCallRecord], int] = {}
        records: list[ToolCallRecord | None] = [None] * len(tool_calls)
        while waiting or running:
            while waiting and len(running) < self.concurrency:
                position, call = waiting.pop()
                running[pool.submit(contextvars.copy_context().run, self._run_one_sync, call)] = position
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                records[running.pop(future)] = future.result()
        return [record for record in records if record is not None]

    def _rejected(self, tool_call: ToolCall) -> ToolCallRecord | None:
        """The error record of a call that cannot run (unknown tool, malformed arguments), else None."""
        name = tool_call.tool_name
        if name not in self.tools:
            message = unknown_tool_message(name, list(self.tools))
        elif _is_malformed(tool_call):
            message = malformed_arguments_message(tool_call)
        else:
            return None
        return ToolCallRecord(tool_call, message, True, exception=ToolInvocationError(message, tool_name=name))

    def _run_one_sync(self, tool_call: ToolCall) -> ToolCallRecord:
        rejected = self._rejected(tool_call)
        if rejected is not None:
            return rejected
        tool = self.tools[tool_call.tool_name]
        context = self.make_context(tool_call)
        started = time.perf_counter()
        try:
            value = _invoke_sync(tool, tool_call.arguments, context)
        except Exception as exc:  # noqa: BLE001 - every tool failure becomes a message the model can act on
            return _failed(tool_call, exc, started)
        return _succeeded(tool_call, value, started)

    async def _run_one(
        self, tool_call: ToolCall, semaphore: asyncio.Semaphore, executor: ThreadPoolExecutor | None
    ) -> ToolCallRecord:
        rejected = self._rejected(tool_call)
        if rejected is not None:
            return rejected
        tool = self.tools[tool_call.tool_name]
        context = self.make_context(tool_call)
        async with semaphore:
            started = time.perf_counter()
            try:
                if tool.async_function is not None:
                    # gather() runs this coroutine in its own task, so the context variable stays local to it.
                    with use_run_context(context):
                        value = await tool.invoke_async(**tool_call.arguments)
                else:
                    loop = asyncio.get_running_loop()
                    call_context = contextvars.copy_context()
                    value = await loop.run_in_executor(
                        executor, call_context.run, _invoke_sync, tool, tool_call.arguments, context
                    )
            except Exception as exc:  # noqa: BLE001 - every tool failure becomes a message the model can act on
                return _failed(tool_call, exc, started)
            return _succeeded(tool_call, value, started)


def _failed(tool_call: ToolCall, exc: Exception, started: float) -> ToolCallRecord:
    duration = time.perf_counter() - started
    return ToolCallRecord(tool_call, exception_message(tool_call.tool_name, exc), True, duration, exc)


def _succeeded(tool_call: ToolCall, value: Any, started: float) -> ToolCallRecord:
    duration = time.perf_counter() - started
    from aiml_agent.tools import result_to_text

    return ToolCallRecord(tool_call, result_to_text(value), False, duration)


def run_blocking(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also when called from inside a running event loop.

    The coroutine runs on a private loop (``asyncio.Runner`` with a loop factory), which, unlike
    ``asyncio.run``, leaves the thread's current event loop set as it was (openai-agents' ``run_sync``
    relies on it). Inside a running loop it gets that private loop in a worker thread (with the caller's
    context variables), since the caller's loop is blocked by the sync call.
    """
    if not _in_running_loop():
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


def tool_result_chunks(records: list[ToolCallRecord]) -> list[StreamingChunk]:
    """One streaming chunk per tool result, in call order."""
    return [
        StreamingChunk(
            content="",
            index=position,
            start=True,
            tool_call_result=ToolCallResult(result=record.result, origin=record.tool_call, error=record.error),
            meta={"tool_result": record.result, "tool_call": record.tool_call, "duration": record.duration},
        )
        for position, record in enumerate(records)
    ]
