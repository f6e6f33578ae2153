"""Retrying a model request: which failures are worth another attempt, how long to wait, how many were made.

The openai SDK's own retries are switched off (``max_retries=0`` on the client) so that every error can say how
many attempts were made, and so that a refused connection can fail at once where waiting cannot help (the
command line). Retried: timeouts, broken connections and HTTP 408, 409, 429 and 5xx, unless the server says
``x-should-retry: false``. Never retried: other 4xx, among them 401 (bad key) and 403 (AIMLAPI: out of credits).
Waits grow 0.5 s, 1 s, 2 s ... up to 8 s, less a random quarter so that parallel clients spread out; a
``retry-after-ms`` / ``retry-after`` header of up to 60 s is honoured instead. Every attempt of one call carries
the same ``X-Client-Request-Id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import openai

T = TypeVar("T")

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
RETRIED_STATUSES = frozenset({408, 409, 429})

_refused_is_final: ContextVar[bool] = ContextVar("aiml_agent_refused_is_final", default=False)


@dataclass
class Attempts:
    """How many times one call's request was sent so far."""

    count: int = 0


@contextlib.contextmanager
def refused_connections_fail_fast() -> Iterator[None]:
    """Within this block (this thread or task and what it starts), a refused connection is not retried.

    For the command line: nothing listens at the address, so the user hears it at once instead of after the
    retries' waits. Elsewhere a refused connection is retried (a server being restarted refuses for a moment).
    """
    token = _refused_is_final.set(True)
    try:
        yield
    finally:
        _refused_is_final.reset(token)


def call_with_retries(send: Callable[[], T], max_retries: int, attempts: Attempts) -> T:
    """``send()``, again after a wait while it fails in a way worth retrying, at most ``max_retries`` times more.

    :param send: Sends the request once.
    :param max_retries: Retries after the first attempt.
    :param attempts: Counts the attempts made (read it when the last one raised).
    """
    while True:
        attempts.count += 1
        try:
            return send()
        except openai.APIError as error:
            if attempts.count > max_retries or not worth_retrying(error):
                raise
            wait = delay(attempts.count, error)
        time.sleep(wait)


async def call_with_retries_async(send: Callable[[], Awaitable[T]], max_retries: int, attempts: Attempts) -> T:
    """Async `call_with_retries`."""
    while True:
        attempts.count += 1
        try:
            return await send()
        except openai.APIError as error:
            if attempts.count > max_retries or not worth_retrying(error):
                raise
            wait = delay(attempts.count, error)
        await asyncio.sleep(wait)


def worth_retrying(error: BaseException) -> bool:
    """Whether another attempt may succeed where this one failed."""
    if isinstance(error, openai.APIStatusError):
        verdict = error.response.headers.get("x-should-retry")
        if verdict in ("true", "false"):
            return verdict == "true"
        return error.status_code in RETRIED_STATUSES or error.status_code >= 500
    if isinstance(error, openai.APITimeoutError):
        return True
    if isinstance(error, openai.APIConnectionError):
        return not (_refused_is_final.get() and is_refused(error))
    return False


def is_refused(error: BaseException) -> bool:
    """Whether a connection error is a refused connection (nothing listens at that address)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or "refused" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


def delay(attempt: int, error: BaseException) -> float:
    """Seconds to wait before the retry that follows attempt number ``attempt``."""
    response = getattr(error, "response", None)
    asked = _retry_after(response.headers) if response is not None else None
    if asked is not None:
        return asked
    backoff = min(INITIAL_DELAY * 2 ** (attempt - 1), MAX_DELAY)
    return backoff * (1 - 0.25 * random.random())


def _retry_after(headers: Any) -> float | None:
    """The wait a ``retry-after-ms`` or ``retry-after`` header asks for, if it is between 0 and 60 s."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) * scale
        except ValueError:
            try:
                seconds = parsedate_to_datetime(raw).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        if 0 <= seconds <= MAX_RETRY_AFTER:
            return seconds
    return None
