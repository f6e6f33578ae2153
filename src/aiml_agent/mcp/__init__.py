"""MCP servers as toolsets: the tools of Model Context Protocol servers, used by an Agent like function tools.

```python
from aiml_agent.mcp import MCPToolset

with MCPToolset.stdio("python", ["weather_server.py"], prefix="wx_") as weather:
    result = Agent(tools=[weather, get_time]).run("Weather in Paris tomorrow?")
```

Needs the official MCP SDK: ``pip install 'aiml-agent[mcp]'``.
"""

from __future__ import annotations

try:
    import mcp as _sdk  # noqa: F401 - fail here, with the fix, rather than deep inside a connection
except ImportError as error:  # pragma: no cover - the [dev] environment has it
    raise ImportError("aiml_agent.mcp needs the MCP SDK: pip install 'aiml-agent[mcp]'") from error

from aiml_agent.errors import MCPConnectionError, MCPToolError
from aiml_agent.mcp.tool import MCPTool
from aiml_agent.mcp.toolset import MCPToolset, ToolFilter

__all__ = ["MCPConnectionError", "MCPTool", "MCPToolError", "MCPToolset", "ToolFilter"]
