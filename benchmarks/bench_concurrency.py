"""Figure 9 — concurrency: N agent runs at once (``run_async``, 1 tool call + answer each), 50 ms model latency.

A sweep over N = 1, 10, 100, 500 concurrent runs: N workers each do the same number of runs back to back,
after one untimed round that opens the connections. Every contender runs in a child process of its own
(imports done, so its memory and CPU are its own; the scripted server is another process). Reported per
contender: throughput (runs/s, and x the SDK loop's), latency of a run (p50, p99, p99/p50), CPU per run, peak
resident memory, and the TCP connections it opened (counted by the server). The limit row is the same loop
on bare asyncio streams: the most this machine and server allow.

Goals at N=500: aiml_agent.Agent's throughput >= 1.5x the SDK loop's, and its p99 <= 1.5x its p50.

A full run (not ``--quick``) adds the measurement behind the generator's HTTP transport: the same bare chat
loop at N=500 through httpx2 with httpcore2's pool (the SDK's default limits, and every connection kept), through
httpx2 with an aiohttp transport (the SDK's ``DefaultAioHttpClient``, when aiohttp is installed), through
httpx2 with aiml_agent's pool, through aiohttp alone, and on bare asyncio.

    python benchmarks/bench_concurrency.py [--quick] [--no-transports] [--markdown] [--n 1,10,100,500]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import (
    HERE,
    NOT_INSTALLED,
    Grid,
    PeakRSS,
    emit,
    installed,
    rss_bytes,
    scripted_server,
    server_stats,
    verdict_line,
)

LATENCY = 0.05
THROUGHPUT_GOAL = 1.5
TAIL_GOAL = 1.5
LIMIT, FLOOR, OURS = "limit (bare asyncio loop)", "floor (openai SDK loop)", "aiml_agent.Agent"
HAYSTACK, PYDANTIC_AI, OPENAI_AGENTS = "haystack Agent + aimlapi-haystack", "pydantic-ai Agent", "openai-agents Runner"
CONTENDERS = (LIMIT, FLOOR, OURS, HAYSTACK, PYDANTIC_AI, OPENAI_AGENTS)
QUICK_CONTENDERS = (LIMIT, FLOOR, OURS)
TRANSPORTS = (
    "httpx2 + httpcore2 pool (1000 max, 100 kept: the SDK's default)",
    "httpx2 + httpcore2 pool (1000 max, 1000 kept)",
    "httpx2 + aiohttp transport (the SDK's DefaultAioHttpClient)",
    "httpx2 + aiml_agent pool (1000 max, 1000 kept)",
    "aiohttp alone (1000 max)",
    "bare asyncio streams (the limit)",
)


def runs_per_worker(n: int, quick: bool) -> int:
    if quick:
        return 3
    return {1: 40, 10: 20, 100: 6}.get(n, 4)


# -- in the child ---------------------------------------------------------------------------------------------


def _contender(name: str, url: str) -> Callable[[], Awaitable[Any]] | None:
    """The async run of contender ``name`` (None when it is not installed)."""
    import contenders as c

    if name in TRANSPORTS:
        return _transport_loop(name, url)
    makers: dict[str, Callable[..., Any]] = {
        LIMIT: c.make_limit,
        FLOOR: c.make_floor,
        OURS: c.make_aiml_agent,
        HAYSTACK: c.make_haystack,
        PYDANTIC_AI: c.make_pydantic_ai,
        OPENAI_AGENTS: c.make_openai_agents,
    }
    if name == HAYSTACK and not c.aimlapi_haystack_installed():
        return None
    pair = makers[name](url, False)
    return None if pair is None else pair[1]


def _transport_loop(name: str, url: str) -> Callable[[], Awaitable[Any]] | None:
    """The bare chat loop (own JSON, no SDK) sending through the HTTP client ``name`` describes."""
    import contenders as c

    if name == TRANSPORTS[-1]:
        return c.make_limit(url, False)[1]
    body_of = c._bare_body
    tools = c._openai_tools({"get_weather": c.get_weather})
    target = url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {c.API_KEY}", "Content-Type": "application/json"}
    if name.startswith("aiohttp"):
        if not installed("aiohttp"):
            return None
        import aiohttp

        session: Any = None

        async def send_aiohttp(messages: list[dict[str, Any]]) -> dict[str, Any]:
            nonlocal session
            session = session or aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
            async with session.post(target, data=body_of(messages, tools, False), headers=headers) as response:
                return json.loads(await response.read())  # type: ignore[no-any-return]

        return _chat_loop(send_aiohttp)
    import httpx2

    if "aiohttp transport" in name:
        if not installed("aiohttp"):
            return None
        from openai import DefaultAioHttpClient

        client: Any = DefaultAioHttpClient(limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=1000))
    elif "aiml_agent pool" in name:
        from aiml_agent._http import default_http_client

        client = default_http_client(url, 600.0, async_client=True)
    else:
        kept = 100 if "100 kept" in name else 1000
        client = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=kept))

    async def send_httpx(messages: list[dict[str, Any]]) -> dict[str, Any]:
        response = await client.post(target, content=body_of(messages, tools, False), headers=headers)
        return json.loads(response.content)  # type: ignore[no-any-return]

    return _chat_loop(send_httpx)


def _chat_loop(send: Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]) -> Callable[[], Awaitable[str]]:
    import contenders as c

    async def run() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": c.PROMPT}]
        while True:
            text, calls = c._bare_answer(await send(messages))
            if not calls:
                return text
            messages.append({"role": "assistant", "content": text or None, "tool_calls": calls})
            for call in calls:
                result = c.get_weather(**json.loads(call["function"]["arguments"]))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})

    return run


def child(name: str, url: str, n: int, per_worker: int) -> dict[str, Any]:
    """Measure one contender at concurrency ``n`` in this (fresh) process."""
    sys.path.insert(0, str(HERE))
    run = _contender(name, url)
    if run is None:
        return {"missing": NOT_INSTALLED}
    latencies: list[float] = []

    async def worker(count: int, record: bool) -> None:
        for _ in range(count):
            start = time.perf_counter()
            await run()
            if record:
                latencies.append(time.perf_counter() - start)

    async def main() -> dict[str, Any]:
        await asyncio.gather(*(worker(1, False) for _ in range(n)))  # opens the connections; lazy imports
        gc.collect()
        before = rss_bytes()
        sampler = PeakRSS(0.01)
        sampler.start()
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(per_worker, True) for _ in range(n)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = sampler.stop()
        cpu -= sampler.cpu_seconds
        ordered = sorted(latencies)
        runs = len(ordered)
        return {
            "runs": runs,
            "throughput": runs / wall,
            "p50": statistics.median(ordered),
            "p99": ordered[min(runs - 1, round(0.99 * (runs - 1)))],
            "cpu_per_run": cpu / runs,
            "rss_before": before,
            "rss_peak": peak,
        }

    return asyncio.run(main())


# -- in the parent --------------------------------------------------------------------------------------------


def measure(name: str, url: str, n: int, per_worker: int) -> dict[str, Any]:
    """Run contender ``name`` at concurrency ``n`` in a child process; add the connections the server counted."""
    server_stats(url, reset=True)
    argv = [sys.executable, str(HERE / "bench_concurrency.py"), "--child", name, url, str(n), str(per_worker)]
    env = {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False", "PYTHONPATH": str(HERE)}
    out = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        return {"missing": f"failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["connections"] = server_stats(url)["connections"]
    return result


def grid(title: str, results: dict[str, dict[str, Any]], baseline: str, notes: list[str]) -> Grid:
    base = results.get(baseline, {}).get("throughput")
    rows = []
    for name, r in results.items():
        if "missing" in r:
            rows.append([name, r["missing"], "-", "-", "-", "-", "-", "-", "-"])
            continue
        ratio = f"{r['throughput'] / base:.2f}x" if base else "-"
        rows.append(
            [
                name,
                f"{r['throughput']:.0f}",
                ratio,
                f"{1000 * r['p50']:.0f}",
                f"{1000 * r['p99']:.0f}",
                f"{r['p99'] / r['p50']:.2f}",
                f"{1000 * r['cpu_per_run']:.2f}",
                f"{r['rss_peak'] / 2**20:.0f}",
                str(r["connections"]),
            ]
        )
    headers = ["contender", "runs/s", f"x {baseline.split(' (')[0]}", "p50 ms", "p99 ms", "p99/p50"]
    return Grid(title, [*headers, "CPU ms/run", "peak RSS MB", "connections"], rows, notes)


def main(argv: list[str] | None = None) -> list[Grid]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 1, 10 and three contenders: checks it works")
    parser.add_argument("--no-transports", action="store_true", help="skip the HTTP transport comparison")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--n", default=None, help="comma-separated concurrency levels (default 1,10,100,500)")
    parser.add_argument("--child", nargs=4, metavar=("NAME", "URL", "N", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, url, n, per_worker = args.child
        print(json.dumps(child(name, url, int(n), int(per_worker))))
        return []
    levels = [int(x) for x in (args.n or ("1,10" if args.quick else "1,10,100,500")).split(",")]
    names = QUICK_CONTENDERS if args.quick else CONTENDERS
    grids: list[Grid] = []
    with scripted_server("loop", latency=LATENCY) as url:
        for n in levels:
            per_worker = runs_per_worker(n, args.quick)
            results = {name: measure(name, url, n, per_worker) for name in names}
            notes = [
                f"{n} workers x {per_worker} runs each (after one untimed round); model latency {LATENCY * 1000:g} ms"
            ]
            if args.quick:
                notes.append("haystack, pydantic-ai, openai-agents: skipped in --quick")
            if n >= 500:
                notes += _goals(results, verdict=not args.quick)
            grids.append(
                grid(f"Concurrency: {n} concurrent run_async, 1 tool call + answer each", results, FLOOR, notes)
            )
        if not args.no_transports and not args.quick:
            n = 500
            results = {name: measure(name, url, n, runs_per_worker(n, False)) for name in TRANSPORTS}
            notes = [
                "the same bare chat loop (own JSON, no SDK) through each HTTP client; 500 workers x 4 runs",
                "httpcore2's pool walks all its connections on each request; aiml_agent's takes an idle one in O(1)",
            ]
            grids.append(grid("HTTP transports at 500 concurrent chat loops", results, TRANSPORTS[0], notes))
    return emit(grids, argparse.Namespace(markdown=args.markdown))


def _goals(results: dict[str, dict[str, Any]], *, verdict: bool) -> list[str]:
    ours, floor = results.get(OURS, {}), results.get(FLOOR, {})
    ratio = ours["throughput"] / floor["throughput"] if "throughput" in ours and "throughput" in floor else None
    tail = ours["p99"] / ours["p50"] if "p99" in ours else None
    lines = [
        verdict_text_min(f"{OURS} throughput vs floor", ratio, THROUGHPUT_GOAL, verdict=verdict),
        verdict_line(f"{OURS} p99 / p50", tail, TAIL_GOAL, verdict=verdict),
    ]
    limit = results.get(LIMIT, {}).get("throughput")
    if limit and "throughput" in ours:
        lines.append(f"{OURS} reaches {ours['throughput'] / limit:.2f}x the limit's throughput")
    return lines


def verdict_text_min(what: str, value: float | None, goal: float, *, verdict: bool) -> str:
    """Like ``verdict_line``, for a goal that is a minimum."""
    if value is None:
        return f"goal {what} >= {goal:g}x: not measured"
    if not verdict:
        return f"goal {what} >= {goal:g}x: {value:.2f}x (quick run: no verdict)"
    return f"goal {what} >= {goal:g}x: {value:.2f}x, {'met' if value >= goal else 'MISSED'}"


if __name__ == "__main__":
    main()
