"""``--mcp-stdio COMMAND`` / ``--mcp-http URL``: the tools of MCP servers, connected for as long as a command needs."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from aiml_agent.cli.common import CLIError
from aiml_agent.cli.target import LoadedTools

if TYPE_CHECKING:
    from aiml_agent.mcp import MCPToolset


@contextmanager
def mcp_tools(stdio_commands: Sequence[str], http_urls: Sequence[str]) -> Iterator[LoadedTools]:
    """Connect to each server, list its tools, and stop the servers (close the sessions) on exit.

    :raises CLIError: The MCP extra is missing, a command is empty, or a server cannot be started or reached.
    """
    try:
        from aiml_agent.mcp import MCPToolset
    except ImportError as error:
        raise CLIError(f"{error} (needed by --mcp-stdio / --mcp-http)") from error
    from aiml_agent.errors import MCPConnectionError

    toolsets: list[tuple[str, MCPToolset]] = []
    for command in stdio_commands:
        words = shlex.split(command)
        if not words:
            raise CLIError('--mcp-stdio needs the command that starts the server, e.g. "python server.py"')
        toolsets.append((command, MCPToolset.stdio(words[0], words[1:])))
    for url in http_urls:
        try:
            toolsets.append((url, MCPToolset.http(url)))
        except ValueError as error:
            raise CLIError(f"--mcp-http: {error}") from error
    loaded = LoadedTools(target=", ".join(label for label, _ in toolsets))
    with ExitStack() as stack:
        for label, toolset in toolsets:
            stack.callback(toolset.close)
            try:
                toolset.warm_up()
            except (MCPConnectionError, ValueError) as error:
                raise CLIError(f"{label}: {error}") from error
            loaded.tools.extend(toolset)
        yield loaded
