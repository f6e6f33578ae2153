"""What the MCP tests share: the demo server (tests/mcp_demo_server.py) started over stdio or HTTP, checks, and a
function tool to mix with MCP tools."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiml_agent.mcp import MCPToolset

DEMO_SERVER = Path(__file__).with_name("mcp_demo_server.py")


def local_time(city: str) -> str:
    """The local time in a city.

    :param city: The city.
    """
    return f"09:30 in {city}"


def stdio_toolset(*extra_args: str, **options: Any) -> MCPToolset:
    """The demo server as a stdio toolset (started on warm-up)."""
    return MCPToolset.stdio(sys.executable, [str(DEMO_SERVER), *extra_args], **options)


class HTTPServer:
    """The demo server over streamable HTTP in a subprocess, on a socket bound here (an ephemeral port, no race).

    ``with HTTPServer() as server: MCPToolset.http(server.url)``; :meth:`kill` stops it at once (a crash);
    ``HTTPServer(port=old.port)`` restarts it where it was.
    """

    def __init__(self, *extra_args: str, port: int = 0) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may take the same port
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen()
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        fd = self._socket.fileno()
        self.process = subprocess.Popen(
            [sys.executable, str(DEMO_SERVER), "--http-fd", str(fd), *extra_args], pass_fds=[fd]
        )
        self._socket.close()  # the child has its own copy: once it dies, connections are refused

    def __enter__(self) -> HTTPServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def process_gone(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` has exited (and been reaped) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def server_pid(toolset: MCPToolset) -> int:
    """The process id of the demo server behind ``toolset`` (asked through its ``pid`` tool)."""
    return int(json.loads(tool(toolset, "pid").invoke())["result"])


def tool(toolset: MCPToolset, name: str) -> Any:
    """The toolset's tool called ``name`` (as the model sees it)."""
    found = [item for item in toolset if item.name == name]
    assert found, f"no tool {name!r} in {[item.name for item in toolset]}"
    return found[0]
