"""A small MCP server (written with the official ``mcp`` SDK) whose tools ``examples/mcp_agent.py`` gives an agent.

    python examples/mcp_weather_server.py               # over stdio: MCPToolset.stdio("python", [this file])
    python examples/mcp_weather_server.py --port 8000   # over streamable HTTP: http://127.0.0.1:8000/mcp

The weather is made up (a real server would call a weather API), so runs are deterministic.
"""

from __future__ import annotations

import argparse
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

server = MCPServer("weather", instructions="Made-up weather for a few European cities.", log_level="WARNING")

_CLIMATE = {"lisbon": (24.0, "sunny"), "paris": (18.0, "partly cloudy"), "oslo": (9.0, "light rain")}


class DayForecast(BaseModel):
    day: int = Field(description="0 is today")
    high_celsius: float
    sky: str


class Forecast(BaseModel):
    city: str
    days: list[DayForecast]


@server.tool()
def forecast(
    city: Annotated[str, Field(description="The city, e.g. 'Lisbon'")],
    days: Annotated[int, Field(ge=1, le=7, description="How many days, today included")] = 3,
) -> Forecast:
    """The weather forecast for a city, one entry per day."""
    high, sky = _CLIMATE.get(city.lower(), (20.0, "clear"))
    return Forecast(city=city, days=[DayForecast(day=d, high_celsius=high + d, sky=sky) for d in range(days)])


@server.tool()
def air_quality(city: Annotated[str, Field(description="The city")]) -> str:
    """The air quality index (AQI) of a city, with what it means."""
    return f"AQI in {city}: 31 (good)"


@contextmanager
def running_server(port: int = 0) -> Iterator[str]:
    """Serve over streamable HTTP on 127.0.0.1 (``port`` 0: any free one) in a background thread; yields the URL."""
    import uvicorn

    listening = socket.socket()
    listening.bind(("127.0.0.1", port))
    listening.listen()
    http = uvicorn.Server(uvicorn.Config(server.streamable_http_app(), log_level="warning"))
    thread = threading.Thread(target=http.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}/mcp"
    finally:
        http.should_exit = True
        thread.join(timeout=10)
        listening.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="serve streamable HTTP on this port (default: stdio)")
    options = parser.parse_args()
    if options.port is None:
        server.run()
        return
    with running_server(options.port) as url:
        print(f"MCP server at {url} (Ctrl-C stops it)")
        threading.Event().wait()


if __name__ == "__main__":
    main()
