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
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, Literal, final

from haystack.dataclasses import StreamingChunk, ToolCall, ToolCallResult
from haystack.tools import Tool
from haystack.tools.errors import ToolInvocationError

from aiml_agent import _observe
from aiml_agent._sync import in_running_loop, run_blocking
from aiml_agent.context import RunContext, current_run_context
from aiml_agent.errors import ToolArgumentsError
from aiml_agent.run_result import ToolCallRecord
from aiml_agent.tools import result_to_text


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


_POOL_LOCK = threading.Lock()
_POOL: tuple[ThreadPoolExecutor, int] | None = None  # the pool and its number of workers
MIN_POOL_WORKERS = 256


def shared_executor(min_workers: int = 1) -> ThreadPoolExecutor:
    """The process-wide pool sync tools run on, created on first use (threads start only when needed).

    One pool instead of one per turn: creating and tearing down an executor each turn was a visible share
    of a fast agent run. It has at least ``MIN_POOL_WORKERS`` workers, so each run's own ``concurrency`` is
    what bounds it. A runner that allows more calls at once gets a larger pool that replaces this one for
    new runners; the old pool is not shut down, since runs in progress still submit to it: once they let go
    of it, it is garbage-collected and its idle workers exit.
    """
    global _POOL
    current = _POOL
    if current is not None and current[1] >= min_workers:
        return current[0]
    with _POOL_LOCK:
        if _POOL is None or _POOL[1] < min_workers:
            size = max(MIN_POOL_WORKERS, min_workers)
            _POOL = (ThreadPoolExecutor(size, thread_name_prefix="aiml-agent-tools"), size)
        return _POOL[0]


def _forget_pool_after_fork() -> None:
    """A forked child has none of the parent's pool threads: it must start a pool of its own."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


class ToolRunner:
    """Runs the tool calls of one model turn.

    :param tools: The tools the model may call, by name.
    :param concurrency: At most this many calls run at the same time (at least 1).
    :param make_context: Builds the ``RunContext`` a given call sees.
    :param raise_on_error: Raise the first failure (in call order) instead of returning it as an error record.
    :raises ValueError: ``concurrency`` is below 1 (nothing could ever run).
    """

    def __init__(
        self,
        tools: dict[str, Tool],
        *,
        concurrency: int,
        make_context: Callable[[ToolCall], RunContext[Any]],
        raise_on_error: bool = False,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"ToolRunner concurrency must be at least 1, got {concurrency}")
        self.tools = tools
        self.concurrency = concurrency
        self.make_context = make_context
        self.raise_on_error = raise_on_error

    async def run_async(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Run all calls concurrently; return one record per call, in call order."""
        semaphore = asyncio.Semaphore(self.concurrency)
        executor = shared_executor(self.concurrency) if any(self._kind(c) == "sync" for c in tool_calls) else None
        records = await asyncio.gather(*(self._run_one(call, semaphore, executor) for call in tool_calls))
        return self._checked(list(records))

    def run(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Run all calls concurrently from sync code (async tools included).

        A turn without async tools needs no event loop: one call runs right here (in a copy of the caller's
        context), several on the shared thread pool. Only a turn with an async tool runs an event loop, a
        private one, so the caller thread's current event loop is left as it was.
        """
        if any(self._kind(call) == "async" for call in tool_calls):
            return run_blocking(lambda: self.run_async(tool_calls))
        if len(tool_calls) == 1 and not in_running_loop():
            records = [contextvars.copy_context().run(self._run_one_sync, tool_calls[0])]
        else:
            records = self._run_on_pool(tool_calls)
        return self._checked(records)

    def _kind(self, tool_call: ToolCall) -> Literal["sync", "async"] | None:
        """How the call runs: ``"sync"`` or ``"async"`` tool, or None when it cannot run (see ``_rejected``)."""
        tool = self.tools.get(tool_call.tool_name)
        if tool is None or _is_malformed(tool_call):
            return None
        return "sync" if tool.async_function is None else "async"

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
        record = ToolCallRecord(tool_call, message, True, exception=ToolInvocationError(message, tool_name=name))
        with _observe.tool_call(tool_call) as observed:
            observed.finish(record)
        return record

    def _run_one_sync(self, tool_call: ToolCall) -> ToolCallRecord:
        """One call of a sync tool (or a rejected call), on this thread."""
        rejected = self._rejected(tool_call)
        if rejected is not None:
            return rejected
        with _Attempt(tool_call, self.make_context(tool_call)) as attempt:
            attempt.value = self.tools[tool_call.tool_name].invoke(**tool_call.arguments)
        return attempt.record

    async def _run_one(
        self, tool_call: ToolCall, semaphore: asyncio.Semaphore, executor: ThreadPoolExecutor | None
    ) -> ToolCallRecord:
        """One call under the semaphore: a sync tool on ``executor``, an async tool in this task."""
        rejected = self._rejected(tool_call)
        if rejected is not None:
            return rejected
        async with semaphore:
            if self._kind(tool_call) == "sync":
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(
                    executor, contextvars.copy_context().run, self._run_one_sync, tool_call
                )
            # gather() runs this coroutine in its own task, so the context variable stays local to it.
            with _Attempt(tool_call, self.make_context(tool_call)) as attempt:
                attempt.value = await self.tools[tool_call.tool_name].invoke_async(**tool_call.arguments)
            return attempt.record


@final
class _Attempt:
    """One tool invocation: sets its ``RunContext``, times it and turns its outcome into a record.

    ``with _Attempt(call, context) as attempt: attempt.value = tool.invoke(...)``; an ``Exception`` raised in
    the block becomes an error record (the model is told about it) instead of propagating.
    """

    def __init__(self, tool_call: ToolCall, context: RunContext[Any]) -> None:
        self.tool_call = tool_call
        self.value: Any = None
        self.record: ToolCallRecord = ToolCallRecord(tool_call, "", True)
        self._context = context
        self._token: contextvars.Token[RunContext[Any] | None] | None = None
        self._started = 0.0
        self._observed = _observe.tool_call(tool_call)
        self._scope: _observe.Scope = _observe.NO_SCOPE

    def __enter__(self) -> _Attempt:
        self._scope = self._observed.__enter__()
        self._token = current_run_context.set(self._context)
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        duration = time.perf_counter() - self._started
        if self._token is not None:
            current_run_context.reset(self._token)
        name = self.tool_call.tool_name
        if exc is None:
            self.record = ToolCallRecord(self.tool_call, result_to_text(self.value), False, duration)
        elif isinstance(exc, Exception):
            self.record = ToolCallRecord(self.tool_call, exception_message(name, exc), True, duration, exc)
        else:  # KeyboardInterrupt, cancellation: not a tool failure
            self._observed.__exit__(exc_type, exc, traceback)
            return False
        self._scope.finish(self.record)
        self._observed.__exit__(None, None, None)
        return exc is not None  # every tool failure becomes a message the model can act on


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
