"""How many model requests a batch has in flight: a fixed number, or one that adapts (AIMD).

Adaptive: a slow start (the limit grows by one per success, so it doubles every round trip) until the first
sign of overload, which halves it (the slow start may have overshot up to twice); from then on additive
increase (one more per round trip: ``1/limit`` per success) and multiplicative decrease (``x0.9``) on a 429, a
5xx, a timeout or a broken connection. Two rules keep it steady: the limit grows only while it is used up (an
idle limit says nothing about the server), and one overload cuts it once — refusals of requests sent before
the cut are the same overload, not a new one. AIMLAPI sends no ``Retry-After``, so refusals are the only
signal there is.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

AUTO_INITIAL = 8
AUTO_MINIMUM = 1
AUTO_MAXIMUM = 256
DECREASE = 0.9
SLOW_START_DECREASE = 0.5


class Gate:
    """An asyncio semaphore whose capacity is read from a function each time a place is asked for."""

    def __init__(self, capacity: Callable[[], int]) -> None:
        self._capacity = capacity
        self.taken = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.closed = False

    async def acquire(self) -> bool:
        """Wait for a free place and take it; False (nothing taken) once the gate is closed."""
        while not self.closed and self.taken >= self._capacity():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                else:
                    self.wake()  # it was woken for a place it will not take: pass that on
                raise
        if self.closed:
            return False
        self.taken += 1
        return True

    def release(self) -> None:
        self.taken -= 1
        self.wake()

    def wake(self) -> None:
        """Let waiters re-check (after a release, or when the capacity grew)."""
        free = len(self._waiters) if self.closed else self._capacity() - self.taken
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def close(self) -> None:
        """Turn every waiter (and later caller) away."""
        self.closed = True
        self.wake()


@dataclass(frozen=True)
class Ticket:
    """A request's place: the decrease epoch it was sent in, and whether it used up the limit."""

    epoch: int
    saturated: bool


class RequestLimit:
    """The model requests a batch may have in flight.

    :param concurrency: ``"auto"`` to adapt, or a fixed number.
    """

    def __init__(self, concurrency: int | str) -> None:
        self.adaptive = concurrency == "auto"
        self._limit = float(AUTO_INITIAL if self.adaptive else int(concurrency))
        self._slow_start = self.adaptive
        self._epoch = 0
        self._gate = Gate(lambda: self.limit)
        self.last_success = time.monotonic()
        self.overloads = 0

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return max(AUTO_MINIMUM, math.floor(self._limit))

    @property
    def in_flight(self) -> int:
        return self._gate.taken

    async def acquire(self) -> Ticket | None:
        """Wait for a place for one request; None once the batch stopped."""
        if not await self._gate.acquire():
            return None
        return Ticket(self._epoch, self._gate.taken >= self.limit)

    def succeeded(self, ticket: Ticket) -> None:
        self.last_success = time.monotonic()
        if self.adaptive and ticket.saturated:
            self._limit = min(AUTO_MAXIMUM, self._limit + (1.0 if self._slow_start else 1.0 / self._limit))
        self._gate.release()

    def overloaded(self, ticket: Ticket) -> None:
        """The request was refused for overload (429, 5xx, timeout): cut the limit, once per overload."""
        self.overloads += 1
        if self.adaptive and ticket.epoch == self._epoch:
            cut = SLOW_START_DECREASE if self._slow_start else DECREASE  # slow start overshoots up to twice
            self._limit = max(float(AUTO_MINIMUM), self._limit * cut)
            self._slow_start = False
            self._epoch += 1
        self._gate.release()

    def released(self) -> None:
        """The request ended in a way that says nothing about load."""
        self._gate.release()

    def close(self) -> None:
        self._gate.close()
