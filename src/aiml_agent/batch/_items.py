"""Running items: one agent run per input, as many at once as the batch's window allows.

:class:`ItemRunner` is shared by the local executor and by each Ray worker: it holds the agent (a copy whose
chat generator is a :class:`~aiml_agent.batch._retrying.RetryingGenerator`), the request limit, and the window
of items in flight. With a fixed concurrency N the window is N items (each has at most one request in flight);
with ``"auto"`` it is twice the current request limit, so that items running tools or backing off do not leave
the model idle.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, cast

from aiml_agent.batch._inputs import Input
from aiml_agent.batch._limiter import Gate, RequestLimit
from aiml_agent.batch._retrying import ItemCalls, RetryingGenerator, StopBatch, current_item
from aiml_agent.batch.result import BatchItem

if TYPE_CHECKING:
    from haystack.components.generators.chat.types import ChatGenerator

    from aiml_agent.agent import Agent


class ItemRunner:
    """Runs items with one agent.

    :param agent: The batch's agent (left untouched: a shallow copy gets the retrying generator).
    :param concurrency: ``"auto"`` or a fixed number.
    :param max_attempts: Attempts of a model call failing with a 5xx, a timeout or a network error.
    """

    def __init__(self, agent: Agent, concurrency: int | str, max_attempts: int) -> None:
        self.limit = RequestLimit(concurrency)
        self.agent = copy.copy(agent)
        retrying = RetryingGenerator(agent.chat_generator, self.limit, max_attempts)
        self.agent.chat_generator = cast("ChatGenerator", retrying)  # duck-typed: run/run_async like the wrapped one
        self.agent.warm_up()  # once, before items run concurrently (Toolsets that connect, e.g. MCP)
        fixed = None if self.limit.adaptive else self.limit.limit
        self.window = Gate(lambda: fixed or 2 * self.limit.limit)
        self._tasks: set[asyncio.Task[object]] = set()

    async def run(self, item: Input) -> BatchItem:
        """Run one input to its outcome; an error of the run becomes an error item.

        :raises StopBatch: When the batch must stop (its checkpoint keeps what finished).
        """
        started = time.perf_counter()
        if item.problem is not None:
            return BatchItem(item.id, item.index, "error", error=f"invalid input: {item.problem}")
        calls = ItemCalls()
        current_item.set(calls)  # each item runs in its own task, hence its own context
        task = asyncio.current_task()
        assert task is not None and item.messages is not None
        self._tasks.add(task)
        try:
            result = await self.agent.run_async(item.messages, deps=item.deps)
        except StopBatch:
            raise
        except Exception as error:
            return BatchItem(
                item.id,
                item.index,
                "error",
                usage=calls.usage,
                error=f"{type(error).__name__}: {' '.join(str(error).split())}",
                retries=calls.retries,
                duration=time.perf_counter() - started,
            )
        finally:
            self._tasks.discard(task)
        return BatchItem(
            item.id,
            item.index,
            "ok",
            text=result["last_message"].text,
            output=result.get("output"),
            exit_reason=result["exit_reason"],
            usage=result["usage"],
            retries=calls.retries,
            duration=time.perf_counter() - started,
        )

    def close(self) -> None:
        """Stop: cancel the items running, turn away those waiting for a place (none of them is recorded)."""
        self.window.close()
        self.limit.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()


class Recorder(Protocol):
    """Where outcomes go (the batch's checkpoint, totals and progress), and whether the batch stopped."""

    @property
    def is_stopped(self) -> bool: ...

    def record(self, item: BatchItem) -> None: ...

    def stop(self, reason: str, message: str) -> None: ...


async def run_items(inputs: Iterator[Input], runner: ItemRunner, recorder: Recorder) -> None:
    """Pull inputs one at a time while the window has room; record each outcome as it comes.

    At most the window's size of inputs is held at once. On a :class:`StopBatch` (or cancellation) the items
    in flight are cancelled, not recorded: a rerun runs them. An error in recording (a full disk) stops
    everything and is raised.
    """
    running: set[asyncio.Task[None]] = set()
    failures: list[BaseException] = []

    def halt() -> None:
        runner.close()
        for task in running:
            if task is not asyncio.current_task():
                task.cancel()

    async def one(item: Input) -> None:
        try:
            try:
                outcome = await runner.run(item)
            finally:
                runner.window.release()
            recorder.record(outcome)
        except StopBatch as stop:
            recorder.stop(stop.reason, stop.message)
            halt()
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            failures.append(error)
            halt()

    try:
        for item in inputs:
            if recorder.is_stopped or failures or not await runner.window.acquire():
                break
            task = asyncio.create_task(one(item))  # its own context: the item's ItemCalls stay its own
            running.add(task)
            task.add_done_callback(running.discard)
        while running:
            await asyncio.wait(running)
    except BaseException:
        halt()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    if failures:
        raise failures[0]
