"""The batch's request limit (AIMD) and its gate, step by step; the retry backoff."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from aiml_agent.batch import _limiter
from aiml_agent.batch._limiter import AUTO_INITIAL, DECREASE, Gate, RequestLimit, Ticket
from aiml_agent.batch._retrying import BACKOFF_BASE, BACKOFF_CAP, backoff


async def fill(limit: RequestLimit) -> list[Ticket]:
    """Take every free place (only the request that takes the last one used the limit up)."""
    tickets = []
    while limit.in_flight < limit.limit:
        ticket = await limit.acquire()
        assert ticket is not None
        tickets.append(ticket)
    return tickets


async def steady(limit: RequestLimit, tickets: list[Ticket], successes: int) -> list[Ticket]:
    """The oldest request succeeds and the freed places are taken again at once, ``successes`` times."""
    queue = deque(tickets)
    for _ in range(successes):
        limit.succeeded(queue.popleft())
        queue.extend(await fill(limit))
    return list(queue)


async def test_a_fixed_limit_never_moves() -> None:
    limit = RequestLimit(5)
    tickets = await fill(limit)
    limit.overloaded(tickets[0])
    await steady(limit, tickets[1:], 20)
    assert limit.limit == 5 and not limit.adaptive


async def test_slow_start_then_one_cut_per_overload_then_additive_increase() -> None:
    limit = RequestLimit("auto")
    assert limit.limit == AUTO_INITIAL
    tickets = await fill(limit)
    assert tickets[-1].saturated and not any(ticket.saturated for ticket in tickets[:-1])
    limit.succeeded(tickets[0])  # sent while places were free: says nothing about the server, no growth
    assert limit.limit == AUTO_INITIAL
    tickets = await steady(limit, tickets[1:], 2 * AUTO_INITIAL)  # slow start: one more per saturated success
    assert limit.limit > AUTO_INITIAL + 4

    grown = limit.limit
    limit.overloaded(tickets[0])  # the first refusal ends the slow start, which may have overshot twice: halved
    assert limit.limit == grown // 2
    limit.overloaded(tickets[1])  # sent before the cut: the same overload, not a second cut
    assert limit.limit == grown // 2
    for _ in tickets[2:]:
        limit.released()

    tickets = await fill(limit)
    before = limit.limit
    limit.overloaded(tickets[0])  # a new overload after the slow start: x0.9 (of a limit between before and +1)
    cut = limit.limit
    assert int(before * DECREASE) <= cut <= int((before + 1) * DECREASE)
    for _ in tickets[1:]:
        limit.released()
    await steady(limit, await fill(limit), 4 * cut)  # additive: one more place per round of `limit` successes
    assert cut + 2 <= limit.limit <= cut + 4


async def test_the_limit_stays_within_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    limit = RequestLimit("auto")
    for _ in range(40):  # overload after overload, each in a new epoch
        ticket = await limit.acquire()
        assert ticket is not None
        limit.overloaded(ticket)
    assert limit.limit == 1
    ticket = await limit.acquire()
    assert ticket is not None
    limit.succeeded(ticket)
    ticket = await limit.acquire()  # one request at a time no longer uses the limit up: no growth
    assert ticket is not None
    limit.succeeded(ticket)
    assert limit.limit == 2
    monkeypatch.setattr(_limiter, "AUTO_MAXIMUM", 5)
    await steady(limit, await fill(limit), 100)
    assert limit.limit == 5


async def test_the_gate_waits_for_a_place_and_turns_everyone_away_once_closed() -> None:
    capacity = 2
    gate = Gate(lambda: capacity)
    assert await gate.acquire() and await gate.acquire()
    waiting = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    gate.release()
    assert await asyncio.wait_for(waiting, 1) is True and gate.taken == 2

    capacity = 3  # the capacity is read again: growing it lets a waiter in once woken
    grown = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.wake()
    assert await asyncio.wait_for(grown, 1) is True and gate.taken == 3

    late = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.01)
    gate.close()
    assert await asyncio.wait_for(late, 1) is False
    assert await gate.acquire() is False and gate.taken == 3


async def test_a_cancelled_waiter_passes_its_place_on() -> None:
    gate = Gate(lambda: 1)
    assert await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.01)
    gate.release()  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it can take the place
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) is True


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    for attempt in (1, 2, 3):
        delays = [backoff(attempt) for _ in range(50)]
        full = BACKOFF_BASE * 2 ** (attempt - 1)
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(set(delays)) > 1
    assert all(BACKOFF_CAP / 2 <= backoff(30) <= BACKOFF_CAP for _ in range(20))
