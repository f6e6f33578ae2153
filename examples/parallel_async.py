"""Parallel async tools: one model turn asks for three lookups; ``Agent.run_async`` runs them concurrently.

Each tool waits ~0.3 s (standing in for an HTTP call); run one after another they would take ~0.9 s, run
together the whole step takes about as long as the slowest one. The step timings show it.

    python examples/parallel_async.py     # no key: replays cassettes/examples/parallel_async.yaml
    AIMLAPI_API_KEY=... python examples/parallel_async.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import asyncio
import json

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session

from aiml_agent import Agent, AIMLAPIChatGenerator, tool

LATENCY = 0.3  # seconds each "remote service" takes to answer


@tool
async def fetch_weather(city: str) -> dict[str, object]:
    """Get the weather forecast for a city.

    Args:
        city: The destination city.
    """
    await asyncio.sleep(LATENCY)
    return {"city": city, "forecast": "sunny", "high_c": 24}


@tool
async def fetch_flights(origin: str, destination: str) -> list[dict[str, object]]:
    """Find direct flights between two cities.

    Args:
        origin: The departure city.
        destination: The arrival city.
    """
    await asyncio.sleep(LATENCY)
    return [{"from": origin, "to": destination, "departs": "09:40", "price_eur": 89}]


@tool
async def fetch_hotels(city: str, nights: int) -> list[dict[str, object]]:
    """Find hotels with free rooms.

    Args:
        city: The city to stay in.
        nights: How many nights.
    """
    await asyncio.sleep(LATENCY)
    return [{"name": "Casa do Rio", "city": city, "per_night_eur": 95, "total_eur": 95 * nights}]


async def main() -> None:
    request = (
        "I'm flying from Berlin to Lisbon for 3 nights. How's the weather, and what flight and hotel do you suggest?"
    )
    with example_session("parallel_async") as api_base_url:
        agent = Agent(
            AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
            tools=[fetch_weather, fetch_flights, fetch_hotels],
        )
        result = await agent.run_async(request)

    print(f"You: {request}\n")
    for step in result["steps"]:
        print(f"step {step.index}: model call {step.model_duration:.2f} s", end="")
        if not step.tool_calls:
            print(" (the answer)")
            continue
        each = sum(call.duration for call in step.tool_calls)
        print(
            f", then {len(step.tool_calls)} tool calls in {step.tools_duration:.2f} s (one after another: {each:.2f} s)"
        )
        for call in step.tool_calls:
            print(f"    {call.tool_name}({json.dumps(call.arguments)}) took {call.duration:.2f} s")
        if len(step.tool_calls) > 1:
            verdict = "concurrently" if step.tools_duration < each * 0.8 else "NOT concurrently"
            print(f"    -> the tool calls ran {verdict}")
    print(f"\nAssistant: {result['last_message'].text}")


if __name__ == "__main__":
    asyncio.run(main())
