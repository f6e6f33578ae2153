"""Executing one model turn's tool calls concurrently and turning every failure into text the model can act on.

Sync tools run in a thread pool, async tools as asyncio tasks, all at once up to a concurrency limit; results
come back in call order. From sync code the batch runs on a fresh event loop (in a worker thread when the
caller is itself inside a running loop). Each invocation sees its own ``RunContext``.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
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
        sync_calls = sum(1 for call in tool_calls if self._needs_thread(call))
        executor = ThreadPoolExecutor(max_workers=min(self.concurrency, sync_calls)) if sync_calls else None
        try:
            records = await asyncio.gather(*(self._run_one(call, semaphore, executor) for call in tool_calls))
        finally:
            if executor is not None:
                executor.shutdown(wait=False)
        if self.raise_on_error:
            for record in records:
                if record.error:
                    raise record.exception or ToolInvocationError(record.result, tool_name=record.tool_name)
        return list(records)

    def run(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Run all calls concurrently from sync code (async tools included)."""
        return run_blocking(lambda: self.run_async(tool_calls))

    def _needs_thread(self, tool_call: ToolCall) -> bool:
        tool = self.tools.get(tool_call.tool_name)
        return tool is not None and tool.async_function is None and not _is_malformed(tool_call)

    async def _run_one(
        self, tool_call: ToolCall, semaphore: asyncio.Semaphore, executor: ThreadPoolExecutor | None
    ) -> ToolCallRecord:
        name = tool_call.tool_name
        tool = self.tools.get(name)
        if tool is None:
            message = unknown_tool_message(name, list(self.tools))
            return ToolCallRecord(tool_call, message, True, exception=ToolInvocationError(message, tool_name=name))
        if _is_malformed(tool_call):
            message = malformed_arguments_message(tool_call)
            return ToolCallRecord(tool_call, message, True, exception=ToolInvocationError(message, tool_name=name))
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
                duration = time.perf_counter() - started
                return ToolCallRecord(tool_call, exception_message(name, exc), True, duration, exc)
            duration = time.perf_counter() - started
        from aiml_agent.tools import result_to_text

        return ToolCallRecord(tool_call, result_to_text(value), False, duration)


def run_blocking(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also when called from inside a running event loop.

    Inside a running loop the coroutine gets its own loop in a worker thread (with the caller's context
    variables), since the caller's loop is blocked by the sync call.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    caller_context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiml-agent-tools") as worker:
        return worker.submit(caller_context.run, lambda: asyncio.run(make_coroutine())).result()


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
