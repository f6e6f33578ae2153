"""Figure 3 — parallel tools: one model turn asks for 8 sync tools (0.2 s each), or 16 async ones.

The whole run (two model calls + the tools) is compared with one tool's time: a loop that runs all calls
of a turn at once takes about 1x; one that runs 4 at a time (Haystack's default ``tool_concurrency_limit``)
takes 2x for 8 tools and 4x for 16. Goal: aiml_agent <= 1.5x.

    python benchmarks/bench_parallel_tools.py [--quick] [--reps N]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import (
    NOT_INSTALLED,
    Stats,
    Table,
    emit,
    in_order,
    interleaved,
    parse_args,
    reps_for,
    scripted_server,
    verdict_line,
)
from contenders import aiml_agent_ready, aimlapi_haystack_installed, make_aiml_agent, make_haystack

GOAL = 1.5


def tools_for(seconds: float) -> tuple[Callable[..., str], Callable[..., Awaitable[str]]]:
    """A blocking and an async tool that each take ``seconds``."""

    def slow_sync(i: int) -> str:
        """Look something up (blocking, takes a while).

        :param i: Which item.
        """
        time.sleep(seconds)
        return f"item {i}"

    async def slow_async(i: int) -> str:
        """Look something up (async, takes a while).

        :param i: Which item.
        """
        await asyncio.sleep(seconds)
        return f"item {i}"

    return slow_sync, slow_async


def _on(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[Any]]) -> Callable[[], Any]:
    """Run an async contender on a loop of its own (its HTTP client's pool stays bound to that loop)."""
    return lambda: loop.run_until_complete(make())


def contenders(
    url: str, function: Callable[..., Any], is_async: bool
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The runs to time (name -> callable), those that cannot run (name -> why), and notes."""
    out: dict[str, Any] = {}
    missing: dict[str, str] = {}
    notes: list[str] = []
    loop = asyncio.new_event_loop()
    if aiml_agent_ready():
        from aiml_agent import create_tool

        run, run_async = make_aiml_agent(url, False, tools=[create_tool(function)])
        out["aiml_agent run()"] = run
        out["aiml_agent run_async()"] = _on(loop, run_async)
    else:
        missing["aiml_agent run()"] = missing["aiml_agent run_async()"] = "not importable"
    if is_async:
        notes.append("haystack Agent.run() cannot call async-only tools (Tool.invoke raises): run_async only")
    if not aimlapi_haystack_installed():
        for name in haystack_names(is_async):
            missing[name] = NOT_INSTALLED
        return out, missing, notes
    from haystack.tools import create_tool_from_function

    run, run_async = make_haystack(url, False, tools=[create_tool_from_function(function)])
    if not is_async:
        out["haystack run() (4 at once)"] = run
    out["haystack run_async() (4 at once)"] = _on(loop, run_async)
    return out, missing, notes


def haystack_names(is_async: bool) -> list[str]:
    return (
        ["haystack run_async() (4 at once)"]
        if is_async
        else ["haystack run() (4 at once)", "haystack run_async() (4 at once)"]
    )


def main(argv: list[str] | None = None) -> list[Table]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=10, quick=1)
    seconds = 0.02 if args.quick else 0.2
    slow_sync, slow_async = tools_for(seconds)
    tables = []
    for count, function, is_async in ((8, slow_sync, False), (16, slow_async, True)):
        with scripted_server(f"parallel-{count}-{function.__name__}") as url:
            runs, missing, notes = contenders(url, function, is_async)
            names = ["aiml_agent run()", "aiml_agent run_async()", *haystack_names(is_async)]
            stats: list[Stats] = in_order(names, interleaved(runs, reps=reps, warmup=warmup), missing)
        kind = "async" if is_async else "sync"
        table = Table(
            f"Parallel tools: {count} {kind} tools of {seconds:g} s in one turn (whole run)",
            stats,
            baseline=seconds * 1000,
            baseline_label="x one tool",
            notes=notes,
        )
        goals = [
            verdict_line(f"{name} vs one tool", ratio, GOAL, verdict=not args.quick)
            for name in ("aiml_agent run()", "aiml_agent run_async()")
            if (ratio := table.ratio(name)) is not None
        ]
        table.notes[:0] = goals
        tables.append(table)
    return emit(tables, args)


if __name__ == "__main__":
    main()
