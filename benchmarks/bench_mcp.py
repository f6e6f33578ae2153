"""Figure 9 — one MCP tool call over stdio: what ``MCPToolset`` adds to the official SDK's own client.

The server is ``examples/mcp_weather_server.py`` (official SDK), one process per contender. Contenders, run
interleaved in one event loop:

- the floor: the SDK's ``mcp.Client.call_tool``, opened in this loop (no argument check, no text conversion);
- the same client opened on a loop in another thread, called through ``run_coroutine_threadsafe``: what any
  design pays that lets sync code and other loops share one session (the thread hop, nothing else);
- ``MCPTool.invoke_async``: arguments checked against the schema, the call made on the toolset's own loop
  thread, the result turned into text;
- ``MCPTool.invoke``: the same from sync code (it blocks this loop while it waits, as a sync caller does).

Goal: ``invoke_async`` <= 1.15x the bare thread hop (second row): the checks, the connection bookkeeping and
the text conversion add little to what sharing one session costs. The ratio to the floor is reported: it is
the thread hop (an OS wake-up of another thread each way), large on a loaded machine, small on an idle one.

    python benchmarks/bench_mcp.py [--quick] [--reps N]
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _harness import Stats, Table, emit, goal_note, interleaved_on_loop, parse_args, reps_for

SERVER = Path(__file__).resolve().parents[1] / "examples" / "mcp_weather_server.py"
ARGUMENTS = {"city": "Lisbon", "days": 2}
GOAL = 1.15
FLOOR, HOP = "floor (mcp SDK Client)", "SDK Client on a loop thread"


def main(argv: list[str] | None = None) -> list[Table]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=300, quick=5)
    stats = asyncio.run(_measure(reps, warmup))
    table = Table("One MCP tool call over stdio (forecast, structured result)", stats, baseline=FLOOR)
    versus_hop = Table("", stats, baseline=HOP)
    table.notes.append(goal_note(versus_hop, "MCPTool.invoke_async", GOAL, "MCPTool.invoke_async vs the thread hop"))
    emit([table], args)
    return [table]


async def _measure(reps: int, warmup: int) -> list[Stats]:
    from mcp import Client, StdioServerParameters

    from aiml_agent.mcp import MCPToolset

    server = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    toolset = MCPToolset.stdio(sys.executable, [str(SERVER)], tool_filter=["forecast"])
    await toolset.warm_up_async()
    tool = toolset.tools[0]
    try:
        async with Client(server) as client, _client_on_another_loop(server) as (remote, loop):

            async def floor() -> Any:
                return await client.call_tool("forecast", ARGUMENTS)

            async def hop() -> Any:
                call = remote.call_tool("forecast", ARGUMENTS)
                return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, loop))

            async def ours_async() -> Any:
                return await tool.invoke_async(**ARGUMENTS)

            async def ours_sync() -> Any:
                return tool.invoke(**ARGUMENTS)

            contenders = {
                FLOOR: floor,
                HOP: hop,
                "MCPTool.invoke_async": ours_async,
                "MCPTool.invoke (sync)": ours_sync,
            }
            return await interleaved_on_loop(contenders, reps=reps, warmup=warmup)
    finally:
        await toolset.close_async()


@asynccontextmanager
async def _client_on_another_loop(server: Any) -> AsyncIterator[tuple[Any, asyncio.AbstractEventLoop]]:
    """An SDK client held open on a loop running in another thread."""
    from mcp import Client

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    client = Client(server)
    opened, stop = threading.Event(), asyncio.Event()

    async def hold() -> None:
        async with client:
            opened.set()
            await stop.wait()

    held = asyncio.run_coroutine_threadsafe(hold(), loop)
    await asyncio.to_thread(opened.wait, 60)
    try:
        yield client, loop
    finally:
        loop.call_soon_threadsafe(stop.set)
        await asyncio.wrap_future(held)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


if __name__ == "__main__":
    main()
