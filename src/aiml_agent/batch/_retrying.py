"""Model calls in a batch: each waits for a place under the request limit, and is sent again when refused.

The batch, not the openai SDK, retries: an ``AIMLAPIChatGenerator`` runs here with ``max_retries=0``, so that
every 429, 5xx and timeout reaches the limit (which adapts to them) instead of being retried blindly inside the
SDK. Only the model call that was refused is sent again: earlier steps of the agent run, and their tools, are not
repeated. Outcomes:

- 429: back off and send again; a rate limit never fails an item. Only when no request of the batch has gone
  through for ``RATE_LIMIT_PATIENCE`` seconds does the batch stop (``"rate_limited"``), to be resumed later.
- 5xx, 408, 409, a timeout, a broken connection or stream: back off and send again, at most ``max_attempts``
  attempts in all; then the item fails with the last error.
- 403 (out of credits), 401 and a missing key: the batch stops — every other item would fail the same way.
- anything else (400, 404, a schema error, ...): the item fails; retrying would not help.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiml_agent.batch._limiter import RequestLimit
from aiml_agent.errors import AIMLAPIError, MissingAPIKeyError
from aiml_agent.run_result import Usage

BACKOFF_BASE = 0.2  # seconds before the first retry of a request (then doubling), with jitter
BACKOFF_CAP = 20.0
RATE_LIMIT_PATIENCE = 600.0  # seconds of nothing but 429s before the batch stops
_TRANSIENT_STATUS = frozenset({408, 409})


class StopBatch(Exception):
    """An error that would fail every remaining item the same way: the batch stops, its checkpoint intact.

    :param reason: ``"out_of_credits"``, ``"unauthorized"`` or ``"rate_limited"``.
    :param message: The error in words.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class ItemCalls:
    """What the model calls of the current item spent and how often they were sent again."""

    usage: Usage = field(default_factory=Usage)
    retries: int = 0


current_item: contextvars.ContextVar[ItemCalls] = contextvars.ContextVar("aiml_agent_batch_item")


def stop_reason(error: BaseException) -> str | None:
    """The batch-stopping reason for ``error``, if it is one."""
    if isinstance(error, MissingAPIKeyError):
        return "unauthorized"
    if isinstance(error, AIMLAPIError):
        return {403: "out_of_credits", 401: "unauthorized"}.get(error.status_code or 0)
    return None


def is_rate_limit(error: BaseException) -> bool:
    return isinstance(error, AIMLAPIError) and error.status_code == 429


def is_transient(error: BaseException) -> bool:
    """An overload or a network failure: worth sending again (timeouts and broken streams carry no status)."""
    if not isinstance(error, AIMLAPIError):
        return False
    status = error.status_code
    return status is None or status >= 500 or status in _TRANSIENT_STATUS


def backoff(attempt: int) -> float:
    """Seconds to wait before sending a request again for the ``attempt``-th time (1, 2, ...)."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def without_sdk_retries(generator: Any) -> Any:
    """A copy of an AIMLAPIChatGenerator that does not retry by itself; any other generator as it is."""
    from aiml_agent.generator import AIMLAPIChatGenerator

    if isinstance(generator, AIMLAPIChatGenerator) and generator.max_retries != 0:
        generator = copy.copy(generator)  # its own clients, made with the new setting
        generator.max_retries = 0
    return generator


class RetryingGenerator:
    """Stands in for an agent's chat generator in a batch (see the module docstring).

    :param generator: The agent's generator (async: ``run_async``).
    :param limit: The batch's request limit.
    :param max_attempts: Attempts of one model call that fails with a 5xx, a timeout or a network error.
    """

    def __init__(self, generator: Any, limit: RequestLimit, max_attempts: int) -> None:
        self.generator = without_sdk_retries(generator)
        self.limit = limit
        self.max_attempts = max_attempts

    def warm_up(self) -> None:
        """Nothing to do: the async client is made on first use, in the batch's event loop."""

    async def run_async(self, **kwargs: Any) -> dict[str, Any]:
        calls = current_item.get(None) or ItemCalls()
        failures = refusals = 0
        while True:
            ticket = await self.limit.acquire()
            if ticket is None:  # the batch stopped meanwhile
                raise asyncio.CancelledError
            try:
                result = await self.generator.run_async(**kwargs)
            except Exception as error:
                if is_rate_limit(error) or is_transient(error):
                    self.limit.overloaded(ticket)
                else:
                    self.limit.released()
                    reason = stop_reason(error)
                    if reason is not None:
                        raise StopBatch(reason, " ".join(str(error).split())) from error
                    raise
                if is_rate_limit(error):
                    refusals += 1
                    if time.monotonic() - self.limit.last_success > RATE_LIMIT_PATIENCE:
                        raise StopBatch(
                            "rate_limited",
                            f"only 429 (Too Many Requests) answers for {RATE_LIMIT_PATIENCE:g} s: {error}",
                        ) from error
                    wait = backoff(refusals)
                else:
                    failures += 1
                    if failures >= self.max_attempts:
                        raise
                    wait = backoff(failures)
                calls.retries += 1
                await asyncio.sleep(wait)
                continue
            self.limit.succeeded(ticket)
            for reply in result.get("replies", []):
                calls.usage += Usage.of_reply(reply.meta)
            return result

    def run(self, **kwargs: Any) -> dict[str, Any]:
        raise TypeError("a batch runs its agent asynchronously: RetryingGenerator.run_async only")
