"""``run_batch`` / ``run_batch_async``: check the arguments, resume from the checkpoint, run, sum up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aiml_agent.batch._checkpoint import Checkpoint
from aiml_agent.batch._inputs import BatchInputs, Input, count_inputs, iter_inputs
from aiml_agent.batch._progress import Progress, progress_bar
from aiml_agent.batch.result import BatchInterrupted, BatchItem, BatchResult, BatchTotals, StopReason

if TYPE_CHECKING:
    import os

    from aiml_agent.agent import Agent

DEFAULT_MAX_ATTEMPTS = 5
Executor = Literal["local", "ray"]


def run_batch(
    agent: Agent,
    inputs: BatchInputs,
    concurrency: int | Literal["auto"] = "auto",
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    executor: Executor = "local",
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    keep_items: bool = True,
    retry_errors: bool = False,
) -> BatchResult:
    """Run ``agent`` once for every input, many at a time, and return every outcome in input order.

    ```python
    result = run_batch(agent, "questions.jsonl", checkpoint="answers.jsonl")
    print(result.totals.ok, result.totals.error, result.totals.usage)
    for item in result.items:
        print(item.id, item.status, item.text or item.error)
    ```

    A rate limit (429) never fails an item: the request waits and goes again, and ``"auto"`` concurrency backs
    off. A failed item is recorded and the batch goes on. An out-of-credits 403 (or a 401) stops the batch
    (``result.stopped``); rerunning with the same checkpoint runs only what has no outcome yet. Ctrl-C raises
    :class:`~aiml_agent.batch.BatchInterrupted`, carrying what finished. Inside a running event loop (a
    notebook), use ``await run_batch_async(...)``: this sync form would run the batch in a helper thread,
    which Ctrl-C cannot stop.

    :param agent: The :class:`~aiml_agent.Agent` to run; it is not changed (a copy gets the batch's retrying
        model calls, see :mod:`aiml_agent.batch`).
    :param inputs: An iterable of prompts (str), conversations (lists of ChatMessage or of message dicts) or
        dicts ``{"id", "prompt" or "messages", "deps"}``; or the path of a JSONL file with one of those a line.
        Read one at a time, never all at once.
    :param concurrency: ``"auto"`` adapts the number of model requests in flight to the server (additive
        increase, multiplicative decrease on 429, 5xx and timeouts); a number fixes the items run at once.
    :param checkpoint: A JSONL file: each outcome is appended (and flushed) as soon as it is known; ids it
        already holds are not run again.
    :param progress: Show a progress bar on stderr when it is a terminal.
    :param executor: ``"local"`` (this event loop) or ``"ray"`` (Ray workers; ``pip install 'aiml-agent[ray]'``).
    :param max_attempts: Attempts of a model call failing with a 5xx, a timeout or a network error before the
        item fails (429s do not count: a rate limit never fails an item).
    :param keep_items: Keep every item in ``result.items``. For huge inputs pass False (with a checkpoint):
        memory then stays bounded, and the items are in the checkpoint.
    :param retry_errors: Run again the ids whose outcome in the checkpoint is an error.
    :raises BatchInterrupted: On Ctrl-C (a KeyboardInterrupt), with the finished items.
    """
    from aiml_agent._sync import run_blocking

    batch = Batch(agent, inputs, concurrency, checkpoint, progress, executor, max_attempts, keep_items, retry_errors)
    try:
        run_blocking(batch.run)
    except KeyboardInterrupt:
        raise BatchInterrupted(batch.result(interrupted=True)) from None
    return batch.result()


async def run_batch_async(
    agent: Agent,
    inputs: BatchInputs,
    concurrency: int | Literal["auto"] = "auto",
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    executor: Executor = "local",
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    keep_items: bool = True,
    retry_errors: bool = False,
) -> BatchResult:
    """:func:`run_batch` in the running event loop (same parameters and result).

    Cancelling it cancels the items in flight; those finished are in the checkpoint.
    """
    batch = Batch(agent, inputs, concurrency, checkpoint, progress, executor, max_attempts, keep_items, retry_errors)
    await batch.run()
    return batch.result()


class Batch:
    """One batch run: its settings, the outcomes recorded so far, and why it stopped (if it did)."""

    def __init__(
        self,
        agent: Agent,
        inputs: BatchInputs,
        concurrency: int | str,
        checkpoint: str | os.PathLike[str] | None,
        progress: bool,
        executor: str,
        max_attempts: int,
        keep_items: bool,
        retry_errors: bool,
    ) -> None:
        from aiml_agent.agent import Agent

        if not isinstance(agent, Agent):
            raise TypeError(f"run_batch needs an aiml_agent.Agent, got {type(agent).__name__}")
        if concurrency != "auto" and (isinstance(concurrency, bool) or not isinstance(concurrency, int)):
            raise ValueError(f"concurrency must be 'auto' or a whole number, got {concurrency!r}")
        if isinstance(concurrency, int) and concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if executor not in ("local", "ray"):
            raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.agent = agent
        self.inputs = inputs
        self._input_items = iter_inputs(inputs)  # now: a missing file or a wrong type fails before anything starts
        self.concurrency = concurrency
        self.executor = executor
        self.max_attempts = max_attempts
        self.keep_items = keep_items
        self.show_progress = progress
        self.checkpoint = Checkpoint(checkpoint) if checkpoint is not None else None
        self.finished = (
            self.checkpoint.finished(keep_items=keep_items, retry_errors=retry_errors) if self.checkpoint else {}
        )
        self.totals = BatchTotals()
        self.kept: dict[int, BatchItem] = {}
        self.stopped: StopReason | None = None
        self.stop_message: str | None = None
        self.describe_concurrency = lambda: str(concurrency)
        self._progress: Progress | None = None
        self._started = time.perf_counter()

    # -- running ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        self._started = time.perf_counter()
        if self.checkpoint is not None:
            self.checkpoint.open()
        self._progress = progress_bar(
            self.show_progress, lambda: count_inputs(self.inputs), lambda: self.describe_concurrency()
        )
        try:
            pending = self.pending(self._input_items)
            if self.executor == "ray":
                from aiml_agent.batch._ray import run_on_ray

                await run_on_ray(self.agent, pending, self, self.concurrency, self.max_attempts)
            else:
                await self._run_local(pending)
        finally:
            self.totals.wall_time = time.perf_counter() - self._started
            if self.checkpoint is not None:
                self.checkpoint.close()
            if self._progress is not None:
                self._progress.close()

    async def _run_local(self, pending: Iterator[Input]) -> None:
        from aiml_agent.batch._items import ItemRunner, run_items

        runner = ItemRunner(self.agent, self.concurrency, self.max_attempts)
        if runner.limit.adaptive:
            self.describe_concurrency = lambda: f"auto {runner.limit.limit}"
        await run_items(pending, runner, self)

    def pending(self, inputs: Iterator[Input]) -> Iterator[Input]:
        """The inputs that still need a run; those with an outcome in the checkpoint are counted in as they go."""
        for item in inputs:
            if item.id not in self.finished:
                yield item
                continue
            earlier = self.finished[item.id]
            self.totals.add(earlier, resumed=True)
            if self.keep_items:
                earlier.index = item.index
                earlier.output = self._typed_output(earlier.output)
                self.kept[item.index] = earlier

    def _typed_output(self, output: Any) -> Any:
        output_type = getattr(self.agent, "output_type", None)
        if output_type is None or not isinstance(output, dict):
            return output
        try:
            return output_type.model_validate(output)
        except ValueError:
            return output

    # -- recording (called by the executors) -----------------------------------------------------------

    @property
    def is_stopped(self) -> bool:
        return self.stopped is not None

    def record(self, item: BatchItem) -> None:
        """Write one outcome to the checkpoint, count it, keep it, show it."""
        if self.checkpoint is not None:
            self.checkpoint.write(item)
        self.totals.add(item)
        if self.keep_items:
            self.kept[item.index] = item
        if self._progress is not None:
            self._progress.update(self.totals)

    def stop(self, reason: str, message: str) -> None:
        if self.stopped is None:
            self.stopped = reason  # type: ignore[assignment]
            self.stop_message = message

    def result(self, *, interrupted: bool = False) -> BatchResult:
        if interrupted and self.stopped is None:
            self.stop("interrupted", "interrupted (Ctrl-C)")
        if not self.totals.wall_time:
            self.totals.wall_time = time.perf_counter() - self._started
        return BatchResult(
            items=[self.kept[index] for index in sorted(self.kept)],
            totals=self.totals,
            stopped=self.stopped,
            stop_message=self.stop_message,
            checkpoint=Path(self.checkpoint.path) if self.checkpoint else None,
        )
