"""An agent using the tools of an MCP server next to a function tool.

``examples/mcp_weather_server.py`` is a small MCP server written with the official ``mcp`` SDK; ``MCPToolset``
gives its tools to the agent over streamable HTTP, prefixed ``wx_`` so they cannot clash with other tools. The
model's arguments are checked against each tool's input schema before the server is called, and the server's
structured answers reach the model as JSON.

    python examples/mcp_agent.py          # no key: replays cassettes/examples/mcp_agent.yaml -- the model's
                                          # answers and the MCP server's, from one file; no server is started
    AIMLAPI_API_KEY=... python examples/mcp_agent.py   # live: starts the weather server here, asks AIMLAPI
    python examples/mcp_agent.py --record              # re-record (the server runs for it)

Over stdio instead: ``MCPToolset.stdio("python", ["examples/mcp_weather_server.py"])`` starts the server as a
subprocess (stdio traffic is not HTTP, so a cassette cannot hold it: a stdio server runs in every run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session, replaying
from mcp_weather_server import running_server

from aiml_agent import Agent, AIMLAPIChatGenerator, tool
from aiml_agent.mcp import MCPToolset

#: Where the server was when the cassette was recorded; a replay matches requests on path and body only.
REPLAY_URL = "http://127.0.0.1:8931/mcp"


@tool
def local_time(city: str) -> str:
    """The local time in a city.

    Args:
        city: The city name.
    """
    return f"It is 14:05 in {city}."  # a real app would look it up


@contextmanager
def weather_server_url() -> Iterator[str]:
    """The weather server's URL: started here for live and recording runs, not needed for a replay."""
    if replaying():
        print("[replay: the MCP server's answers come from the same cassette; no server is started]")
        yield REPLAY_URL
        return
    with running_server() as url:
        yield url


def main() -> None:
    question = "I'm in Lisbon for the next two days: what's the weather, and what time is it there?"
    with (
        example_session("mcp_agent") as api_base_url,
        weather_server_url() as mcp_url,
        # closed before the session ends: a recording keeps the end of the MCP session too
        MCPToolset.http(mcp_url, prefix="wx_", tool_filter=["forecast", "air_quality"], timeout=20) as weather,
    ):
        agent = Agent(
            AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
            tools=[weather, local_time],
            system_prompt="You are a concise travel assistant. Use the tools for facts.",
        )
        print("tools from the MCP server:", ", ".join(item.name for item in weather))
        result = agent.run(question)

    print(f"\nYou: {question}\n")
    for step in result["steps"]:
        for call in step.tool_calls:
            print(f"  tool {call.tool_name}({json.dumps(call.arguments)}) -> {call.result}")
    print(f"\nAssistant: {result['last_message'].text}\n")
    usage = result["usage"]
    print(f"{usage.requests} model calls, {usage.total_tokens} tokens, exit reason: {result['exit_reason']}")


if __name__ == "__main__":
    main()
