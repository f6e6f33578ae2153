"""A small MCP server (official SDK) the MCP tests start: over stdio, or over streamable HTTP on a socket.

    python tests/mcp_demo_server.py                      # stdio
    python tests/mcp_demo_server.py --http-fd FD         # streamable HTTP on an already bound, listening socket
    python tests/mcp_demo_server.py --http-fd FD --legacy   # ... refusing the 2026 protocol, as 1.x servers do
    python tests/mcp_demo_server.py --clash              # one more tool, whose name clashes with 'time.now'
    python tests/mcp_demo_server.py --pid-file PATH      # write the process id there (to check it is gone later)

``--legacy`` answers requests of the stateless 2026 protocol with 400, the way servers built on the 1.x SDK
do, so the client falls back to the initialize handshake: sessions (``mcp-session-id``), SSE answers and a
``DELETE`` when the session ends -- the traffic real servers produce today.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
from typing import Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel

server = MCPServer("demo", log_level="WARNING")
CALLS: list[dict[str, Any]] = []  # the calls that reached the server, for the tests to check

# A 1x1 PNG
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


class Forecast(BaseModel):
    city: str
    days: int
    unit: str
    temperatures: list[float]


@server.tool()
def add(a: int, b: int = 2) -> int:
    """Add two whole numbers."""
    CALLS.append({"tool": "add", "a": a, "b": b})
    return a + b


@server.tool()
def forecast(city: str, days: int = 1, unit: Literal["celsius", "fahrenheit"] = "celsius") -> Forecast:
    """The temperature forecast for a city, one value per day."""
    if city.lower() == "atlantis":
        raise ToolError(f"unknown city {city!r}: try a real one")
    base = 18.0 if unit == "celsius" else 64.4
    return Forecast(city=city, days=days, unit=unit, temperatures=[base + day for day in range(days)])


@server.tool()
def echo(text: str | None = "default text", times: int = 1) -> str:
    """Repeat the text; shows which arguments arrived."""
    CALLS.append({"tool": "echo", "text": text, "times": times})
    return json.dumps({"text": text, "times": times})


@server.tool()
def fail(message: str) -> str:
    """Always fails with the given message."""
    raise ToolError(message)


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds} s"


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def tag(labels: dict[str, str]) -> str:
    """Free-form labels: a schema strict mode cannot express."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


@server.tool()
def history() -> list[dict[str, Any]]:
    """The calls of add and echo that reached the server so far."""
    return CALLS


@server.tool()
def env_var(name: str) -> str:
    """An environment variable of the server process ('' when unset)."""
    return os.environ.get(name, "")


@server.tool()
def header(name: str, ctx: Context) -> str:
    """A header of the HTTP request that carried this call ('' when unset or over stdio)."""
    request = ctx.request_context.request
    return request.headers.get(name, "") if request is not None and hasattr(request, "headers") else ""


@server.tool(name="time.now")
def time_now() -> str:
    """A fixed time (a tool whose name has a dot)."""
    return "12:00"


@server.tool(structured_output=False)
def picture() -> list[Any]:
    """A caption and a one-pixel image."""
    return ["A single red pixel.", Image(data=PIXEL, format="png")]


def legacy_only(app: Any) -> Any:
    """Refuse requests of the stateless 2026 protocol with 400, as servers on the 1.x SDK do."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            version = dict(scope["headers"]).get(b"mcp-protocol-version", b"").decode()
            if version and version not in HANDSHAKE_PROTOCOL_VERSIONS:
                body = json.dumps(
                    {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Unsupported protocol version"}}
                ).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http-fd", type=int, help="serve streamable HTTP on this listening socket")
    parser.add_argument("--legacy", action="store_true", help="refuse the 2026 protocol (HTTP only)")
    parser.add_argument("--clash", action="store_true", help="add a tool 'time_now' next to 'time.now'")
    parser.add_argument("--pid-file", help="write the server's process id to this file")
    options = parser.parse_args()
    if options.pid_file:
        with open(options.pid_file, "w", encoding="utf-8") as file:
            file.write(str(os.getpid()))
    if options.clash:
        server.add_tool(time_now, name="time_now")
    if options.http_fd is None:
        server.run()
        return
    import uvicorn

    app = server.streamable_http_app()
    if options.legacy:
        app = legacy_only(app)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=options.http_fd)])


if __name__ == "__main__":
    main()
