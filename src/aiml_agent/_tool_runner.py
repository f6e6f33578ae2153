"""Executing one model turn's tool calls concurrently and turning every outcome into a record: the result as
text (cut to the tool's ``max_output_chars``), or a :class:`~aiml_agent.tool_failure.ToolFailure` worded by
the formatter.

Sync tools run on one process-wide thread pool, async tools as asyncio tasks, all at once up to a concurrency
limit; results come back in call order. From sync code a turn without async tools needs no event loop (one
call runs inline, several on threads); a turn with async tools runs on a private event loop (in a worker
thread when the caller is itself inside a running loop). Each invocation sees its own ``RunContext``.

Timeouts: an async call is cancelled at its deadline; a sync call runs on a daemon thread of its own, which is
abandoned at its deadline (Python cannot stop a thread), so neither the run nor the shared pool waits for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from functools import partial
from types import TracebackType
from typing import Any, Literal, final

from haystack.dataclasses import StreamingChunk, ToolCall, ToolCallResult
from haystack.tools import Tool
from haystack.tools.errors import ToolInvocationError

from aiml_agent import _observe
from aiml_agent._result_text import ResultTextError, result_to_text, truncate_text
from aiml_agent._sync import in_running_loop, run_blocking
from aiml_agent.context import RunContext, current_run_context
from aiml_agent.errors import ToolTimeoutError
from aiml_agent.run_result import ToolCallRecord
from aiml_agent.tool_controls import NO_CONTROLS, ToolControls
from aiml_agent.tool_failure import ToolErrorFormatter, ToolFailure, format_tool_failure

logger = logging.getLogger(__name__)


def _is_malformed(tool_call: ToolCall) -> bool:
    return bool(tool_call.extra and "arguments_error" in tool_call.extra)


_POOL_LOCK = threading.Lock()
_POOL: tuple[ThreadPoolExecutor, int] | None = None  # the pool and its number of workers
MIN_POOL_WORKERS = 256


def shared_executor(min_workers: int = 1) -> ThreadPoolExecutor:
    """The process-wide pool sync tools run on, created on first use (threads start only when needed).

    One pool instead of one per turn: creating and tearing down an executor each turn would be a visible share
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
    :param controls: The resolved controls per tool name (timeout, max_output_chars); a missing name has none.
    :param formatter: Words a failure for the model.
    :param raise_on_error: Raise the first failure (in call order) instead of returning it as an error record.
    :raises ValueError: ``concurrency`` is below 1 (nothing could ever run).
    """

    def __init__(
        self,
        tools: dict[str, Tool],
        *,
        concurrency: int,
        make_context: Callable[[ToolCall], RunContext[Any]],
        controls: Mapping[str, ToolControls] | None = None,
        formatter: ToolErrorFormatter = format_tool_failure,
        raise_on_error: bool = False,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"ToolRunner concurrency must be at least 1, got {concurrency}")
        self.tools = tools
        self.concurrency = concurrency
        self.make_context = make_context
        self.controls = controls or {}
        self.formatter = formatter
        self.raise_on_error = raise_on_error

    async def run_async(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Run all calls concurrently; return one record per call, in call order."""
        semaphore = asyncio.Semaphore(self.concurrency)
        pooled = any(self._kind(c) == "sync" and self._timeout(c) is None for c in tool_calls)
        executor = shared_executor(self.concurrency) if pooled else None
        records = await asyncio.gather(*(self._run_one(call, semaphore, executor) for call in tool_calls))
        return self._checked(list(records))

    def run(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Run all calls concurrently from sync code (async tools included).

        A turn without async tools needs no event loop: one call without a timeout runs right here (in a copy
        of the caller's context), several on the shared thread pool. Only a turn with an async tool runs an
        event loop, a private one, so the caller thread's current event loop is left as it was.
        """
        if any(self._kind(call) == "async" for call in tool_calls):
            return run_blocking(lambda: self.run_async(tool_calls))
        if len(tool_calls) == 1 and self._timeout(tool_calls[0]) is None and not in_running_loop():
            records = [contextvars.copy_context().run(self._run_one_sync, tool_calls[0])]
        else:
            records = self._run_on_threads(tool_calls)
        return self._checked(records)

    def failed(self, tool_call: ToolCall, failure: ToolFailure, duration: float = 0.0) -> ToolCallRecord:
        """The record of a failed call: the failure worded by the formatter, cut to the tool's output limit."""
        return self._record(tool_call, self.formatter(failure), failure, duration)

    def _record(self, tool_call: ToolCall, text: str, failure: ToolFailure | None, duration: float) -> ToolCallRecord:
        limit = self._controls(tool_call).max_output_chars
        text, cut = truncate_text(text, limit) if limit is not None else (text, 0)
        return ToolCallRecord(tool_call=tool_call, result=text, failure=failure, duration=duration, truncated_chars=cut)

    def _succeeded(self, tool_call: ToolCall, value: Any, duration: float) -> ToolCallRecord:
        """The record of a call that returned ``value``; a value that cannot become text is a failure."""
        try:
            text = result_to_text(value)
        except ResultTextError as error:
            failure = ToolFailure(
                kind="invalid_result",
                tool_name=tool_call.tool_name,
                call_id=tool_call.id,
                detail=str(error),
                exception_type=type(error.__cause__ or error).__name__,
                exception=error,
            )
            return self.failed(tool_call, failure, duration)
        return self._record(tool_call, text, None, duration)

    def _controls(self, tool_call: ToolCall) -> ToolControls:
        return self.controls.get(tool_call.tool_name, NO_CONTROLS)

    def _timeout(self, tool_call: ToolCall) -> float | None:
        return self._controls(tool_call).timeout if self._kind(tool_call) is not None else None

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
                if record.failure is not None:
                    raise record.failure.exception or ToolInvocationError(record.result, tool_name=record.tool_name)
        return records

    def _timed_out(self, tool_call: ToolCall, timeout: float) -> ToolCallRecord:
        name = tool_call.tool_name
        if self._kind(tool_call) == "sync":
            logger.warning(
                "Tool '%s' timed out after %g s; its thread is left to finish in the background.", name, timeout
            )
        error = ToolTimeoutError(f"Tool '{name}' timed out after {timeout:g} s", tool_name=name, timeout=timeout)
        failure = ToolFailure(kind="timeout", tool_name=name, call_id=tool_call.id, timeout=timeout, exception=error)
        return self.failed(tool_call, failure, timeout)

    def _run_on_threads(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Sync calls on threads, at most ``concurrency`` at once, each in a context copy.

        Calls without a timeout run on the shared pool; a call with one gets a thread of its own, so that a
        call abandoned at its deadline never takes a pool worker away from later runs.
        """
        pool = shared_executor(self.concurrency)
        waiting = list(enumerate(tool_calls))[::-1]
        running: dict[Future[ToolCallRecord], tuple[int, float | None]] = {}  # position, deadline
        records: list[ToolCallRecord | None] = [None] * len(tool_calls)
        while waiting or running:
            while waiting and len(running) < self.concurrency:
                position, call = waiting.pop()
                task = partial(contextvars.copy_context().run, self._run_one_sync, call)
                timeout = self._timeout(call)
                if timeout is None:
                    running[pool.submit(task)] = (position, None)
                else:
                    running[_on_own_thread(task)] = (position, time.monotonic() + timeout)
            deadlines = [deadline for _, deadline in running.values() if deadline is not None]
            wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            done, _ = wait(running, timeout=wait_for, return_when=FIRST_COMPLETED)
            for future in done:
                records[running.pop(future)[0]] = future.result()
            now = time.monotonic()
            for future, (position, deadline) in list(running.items()):
                if deadline is not None and deadline <= now:
                    del running[future]
                    call = tool_calls[position]
                    records[position] = self._timed_out(call, self._timeout(call) or 0.0)
        return [record for record in records if record is not None]

    def _rejected(self, tool_call: ToolCall) -> ToolCallRecord | None:
        """The error record of a call that cannot run (unknown tool, malformed arguments), else None."""
        name = tool_call.tool_name
        if name not in self.tools:
            failure = ToolFailure(
                kind="unknown_tool", tool_name=name, call_id=tool_call.id, available_tools=tuple(sorted(self.tools))
            )
        elif _is_malformed(tool_call):
            extra = tool_call.extra or {}
            failure = ToolFailure(
                kind="malformed_arguments",
                tool_name=name,
                call_id=tool_call.id,
                detail=str(extra.get("arguments_error") or ""),
                raw_arguments=str(extra.get("raw_arguments") or ""),
            )
        else:
            return None
        text = self.formatter(failure)
        record = self._record(
            tool_call, text, replace(failure, exception=ToolInvocationError(text, tool_name=name)), 0.0
        )
        with _observe.tool_call(tool_call) as observed:
            observed.finish(record)
        return record

    def _run_one_sync(self, tool_call: ToolCall) -> ToolCallRecord:
        """One call of a sync tool (or a rejected call), on this thread."""
        rejected = self._rejected(tool_call)
        if rejected is not None:
            return rejected
        with _Attempt(self, tool_call) as attempt:
            attempt.value = self.tools[tool_call.tool_name].invoke(**tool_call.arguments)
        return attempt.outcome()

    async def _run_one(
        self, tool_call: ToolCall, semaphore: asyncio.Semaphore, executor: ThreadPoolExecutor | None
    ) -> ToolCallRecord:
        """One call under the semaphore: a sync tool on a thread, an async tool in this task."""
        rejected = self._rejected(tool_call)
        if rejected is not None:
            return rejected
        timeout = self._timeout(tool_call)
        async with semaphore:
            try:
                if self._kind(tool_call) == "async":
                    return await asyncio.wait_for(self._run_one_async(tool_call), timeout)
                task = partial(contextvars.copy_context().run, self._run_one_sync, tool_call)
                if timeout is None:
                    return await asyncio.get_running_loop().run_in_executor(executor, task)
                return await asyncio.wait_for(asyncio.wrap_future(_on_own_thread(task)), timeout)
            except asyncio.TimeoutError:  # only wait_for's: a tool's own exceptions became records inside
                return self._timed_out(tool_call, timeout or 0.0)

    async def _run_one_async(self, tool_call: ToolCall) -> ToolCallRecord:
        # gather() runs this coroutine in its own task, so the context variable stays local to it.
        with _Attempt(self, tool_call) as attempt:
            attempt.value = await self.tools[tool_call.tool_name].invoke_async(**tool_call.arguments)
        return attempt.outcome()


def _on_own_thread(task: Callable[[], ToolCallRecord]) -> Future[ToolCallRecord]:
    """Run ``task`` on a new daemon thread: one that may be abandoned, and never keeps the process alive."""
    future: Future[ToolCallRecord] = Future()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(task())
        except BaseException as error:  # handed to whoever still waits for the future
            future.set_exception(error)

    threading.Thread(target=target, name="aiml-agent-timed-tool", daemon=True).start()
    return future


@final
class _Attempt:
    """One tool invocation: sets its ``RunContext``, times it and turns its outcome into a record.

    ``with _Attempt(runner, call) as attempt: attempt.value = tool.invoke(...)``; an ``Exception`` raised in
    the block becomes an error record (the model is told about it) instead of propagating.
    """

    def __init__(self, runner: ToolRunner, tool_call: ToolCall) -> None:
        self.runner = runner
        self.tool_call = tool_call
        self.value: Any = None
        self.record: ToolCallRecord | None = None
        self._context = runner.make_context(tool_call)
        self._token: contextvars.Token[RunContext[Any] | None] | None = None
        self._started = 0.0
        self._observed = _observe.tool_call(tool_call)
        self._scope: _observe.Scope = _observe.NO_SCOPE

    def outcome(self) -> ToolCallRecord:
        """The record, once the ``with`` block is left."""
        assert self.record is not None, "outcome() is read after the with block"
        return self.record

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
        if exc is None:
            self.record = self.runner._succeeded(self.tool_call, self.value, duration)
        elif isinstance(exc, Exception):
            failure = ToolFailure.from_exception(exc, tool_name=self.tool_call.tool_name, call_id=self.tool_call.id)
            self.record = self.runner.failed(self.tool_call, failure, duration)
        else:  # KeyboardInterrupt, cancellation (a timed-out async tool): not a tool failure, it propagates
            self._observed.__exit__(exc_type, exc, traceback)
            return False
        self._scope.finish(self.record)
        self._observed.__exit__(None, None, None)
        return exc is not None  # every tool failure becomes a message the model can act on


def tool_result_chunks(
    records: Sequence[ToolCallRecord], pending: Sequence[tuple[ToolCall, str]] = ()
) -> list[StreamingChunk]:
    """One streaming chunk per tool result, in call order, then one per call left waiting for approval.

    A waiting call's chunk has ``meta["pending_approval"] = True`` and its approval id in ``meta["approval_id"]``;
    its ``tool_call_result`` text says it waits (that text is never sent to the model).
    """
    chunks = [
        StreamingChunk(
            content="",
            index=position,
            start=True,
            tool_call_result=ToolCallResult(result=record.result, origin=record.tool_call, error=record.error),
            meta={
                "tool_result": record.result,
                "tool_call": record.tool_call,
                "duration": record.duration,
                "failure": record.failure.kind if record.failure is not None else None,
                "truncated_chars": record.truncated_chars,
                "approval": record.approval,
            },
        )
        for position, record in enumerate(records)
    ]
    for position, (call, approval_id) in enumerate(pending, start=len(records)):
        text = f"Waiting for approval (id {approval_id})"
        chunks.append(
            StreamingChunk(
                content="",
                index=position,
                start=True,
                tool_call_result=ToolCallResult(result=text, origin=call, error=False),
                meta={"tool_call": call, "pending_approval": True, "approval_id": approval_id},
            )
        )
    return chunks
