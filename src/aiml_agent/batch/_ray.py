"""``executor="ray"``: the batch's items run on Ray workers; this process keeps the checkpoint and the order.

The agent goes to each worker as ``Agent.to_dict()`` and comes back to life there with ``Agent.from_dict()``:
its key must come from an environment variable the workers have (``Secret.from_env_var``), and its tools from
modules the workers can import. So that this holds on one machine without set-up, each worker gets this
process's ``sys.path`` and loads the modules the agent's definition names (a tools file the CLI loaded by
path included); the user's modules among them are put on Haystack's deserialization allowlist there, since they
come from the live agent, not from untrusted data (this package's and Haystack's own entries stay as they are).

Each worker (an async Ray actor, one per CPU of the cluster) runs the chunks of inputs it is sent with the same
:class:`~aiml_agent.batch._items.ItemRunner` as the local executor: its own request limit (``"auto"`` adapts in
each worker, and AIMD flows sharing a server converge to fair shares) or its share of a fixed concurrency.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import math
import re
import sys
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from aiml_agent.batch._inputs import Input
from aiml_agent.batch.result import BatchItem

if TYPE_CHECKING:
    from aiml_agent.agent import Agent
    from aiml_agent.batch._items import ItemRunner
    from aiml_agent.batch._run import Batch

CHUNK_SIZE = 32
CHUNKS_PER_WORKER = 4  # chunks in flight per worker: its window stays full while results travel
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_ALLOWED_ALREADY = frozenset({"aiml_agent", "haystack"})  # they put on the allowlist what of them may load


async def run_on_ray(
    agent: Agent, pending: Iterator[Input], batch: Batch, concurrency: int | str, max_attempts: int
) -> None:
    """Run the pending inputs on Ray workers, recording each outcome in ``batch`` as its chunk comes back."""
    ray = _import_ray()
    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS when set, else a local Ray
    spec = agent_spec(agent)
    count = max(1, int(ray.available_resources().get("CPU", 1)))
    share = concurrency if concurrency == "auto" else max(1, math.ceil(int(concurrency) / count))
    worker_class = ray.remote(num_cpus=1)(BatchWorker)
    workers = [worker_class.remote(spec, share, max_attempts) for _ in range(count)]
    batch.describe_concurrency = lambda: f"{concurrency} on {count} Ray workers"
    in_flight: dict[asyncio.Future[Any], int] = {}
    load = [0] * count
    chunks = _chunks(pending, CHUNK_SIZE)
    try:
        exhausted = told = False
        while True:
            while not exhausted and not batch.is_stopped and min(load) < CHUNKS_PER_WORKER:
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                    break
                worker = load.index(min(load))
                in_flight[asyncio.wrap_future(workers[worker].run.remote(chunk).future())] = worker
                load[worker] += 1
            if not in_flight:
                break
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                load[in_flight.pop(future)] -= 1
                _take(future.result(), batch)
            if batch.is_stopped and not told:  # tell the workers once; their chunks come back with what finished
                told = True
                for worker_handle in workers:
                    worker_handle.stop.remote()
    except BaseException:
        for worker_handle in workers:  # the workers return what finished; keep it, then go
            worker_handle.stop.remote()
        if in_flight:
            done, _ = await asyncio.wait(in_flight, timeout=10)
            for future in done:
                if not future.cancelled() and future.exception() is None:
                    _take(future.result(), batch)
        raise
    finally:
        for worker_handle in workers:
            ray.kill(worker_handle)


def _take(outcome: dict[str, Any], batch: Batch) -> None:
    for item in outcome["items"]:
        batch.record(item)
    if outcome["stop"] is not None:
        batch.stop(*outcome["stop"])


def _chunks(inputs: Iterator[Input], size: int) -> Iterator[list[Input]]:
    while chunk := list(islice(inputs, size)):
        yield chunk


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("executor='ray' needs Ray: pip install 'aiml-agent[ray]'") from None
    return ray


# -- the agent, for the workers ------------------------------------------------------------------------


def agent_spec(agent: Agent) -> dict[str, Any]:
    """What a worker needs to rebuild ``agent``: its dict, the modules that dict names, and ``sys.path``."""
    try:
        data = agent.to_dict()
    except Exception as error:
        raise ValueError(
            f"executor='ray' sends the agent to the workers with Agent.to_dict(), which failed: {error} "
            "(give the key as Secret.from_env_var(...), a variable the workers have, and tools as functions "
            "of importable modules)"
        ) from error
    modules = _named_modules(data)
    if "__main__" in modules:
        raise ValueError(
            "executor='ray': the agent uses something defined in the script being run (__main__), which Ray "
            "workers cannot import; move the tools (and output types) to a module and import them from there"
        )
    files = {name: getattr(sys.modules[name], "__file__", None) for name in modules}
    return {"agent": data, "modules": files, "sys_path": [entry for entry in sys.path if entry]}


def _named_modules(data: Any) -> set[str]:
    """The loaded modules whose names start the dotted paths (classes, functions) found in ``data``."""
    found: set[str] = set()
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, str) and _DOTTED.match(value):
            parts = value.split(".")
            for end in range(len(parts), 0, -1):
                name = ".".join(parts[:end])
                if name in sys.modules:
                    found.add(name)
                    break
    return found


def _prepare_imports(spec: dict[str, Any]) -> None:
    """On a worker: the driver's import path, its modules (loaded from their files when not importable here)."""
    from haystack.core.serialization import allow_deserialization_module

    sys.path.extend(entry for entry in spec["sys_path"] if entry not in sys.path)
    for name, file in spec["modules"].items():
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError:
                if file is None:
                    raise
                module_spec = importlib.util.spec_from_file_location(name, file)
                if module_spec is None or module_spec.loader is None:
                    raise
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[name] = module
                module_spec.loader.exec_module(module)
        if name.partition(".")[0] not in _ALLOWED_ALREADY:  # never widen the allowlist over these packages
            allow_deserialization_module(name)


class BatchWorker:
    """A Ray actor (made with ``ray.remote`` when used): rebuilds the agent once, then runs chunks of inputs.

    :param spec: From :func:`agent_spec`.
    :param concurrency: This worker's ``"auto"`` or fixed concurrency.
    :param max_attempts: As in ``run_batch``.
    """

    def __init__(self, spec: dict[str, Any], concurrency: int | str, max_attempts: int) -> None:
        from aiml_agent.agent import Agent

        _prepare_imports(spec)
        self._agent = Agent.from_dict(spec["agent"])
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._runner: ItemRunner | None = None
        self._stop: tuple[str, str] | None = None
        self._stopped = False

    async def run(self, inputs: list[Input]) -> dict[str, Any]:
        """Run a chunk; returns its finished items and, when the batch must stop, why."""
        from aiml_agent.batch._items import ItemRunner, run_items

        if self._runner is None:  # made here: its locks belong to the actor's event loop
            self._runner = ItemRunner(self._agent, self._concurrency, self._max_attempts)
        chunk = _Chunk(self)
        if not self._stopped:
            await run_items(iter(inputs), self._runner, chunk)
        return {"items": chunk.items, "stop": self._stop}

    async def stop(self) -> None:
        """Finish no more items: chunks in flight return what they finished."""
        self._stopped = True
        if self._runner is not None:
            self._runner.close()


class _Chunk:
    """Collects a chunk's outcomes on a worker (the driver records them)."""

    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker
        self.items: list[BatchItem] = []

    @property
    def is_stopped(self) -> bool:
        return self.worker._stopped

    def record(self, item: BatchItem) -> None:
        self.items.append(item)

    def stop(self, reason: str, message: str) -> None:
        if self.worker._stop is None:
            self.worker._stop = (reason, message)
        self.worker._stopped = True
