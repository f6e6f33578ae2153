"""The library's errors. Every one derives from :class:`AIMLAgentError` and keeps a builtin base for old callers.

``except AIMLAgentError`` catches anything this library raises on purpose; ``except ValueError`` and the like
still work where they did.
"""

from __future__ import annotations

from typing import Any

from haystack.tools.errors import ToolInvocationError


class AIMLAgentError(Exception):
    """Base class of every error aiml-agent raises on purpose."""


class StrictSchemaError(AIMLAgentError, ValueError):
    """A JSON schema cannot be made acceptable to OpenAI strict function calling.

    :param reason: Why it cannot be made strict.
    :param path: JSON path of the offending node, e.g. ``$.properties.filters``.
    :param tool_name: The tool whose parameters were converted, when known.
    :param parameter: The top-level parameter the path falls under, when known.
    """

    def __init__(
        self, reason: str, *, path: str = "$", tool_name: str | None = None, parameter: str | None = None
    ) -> None:
        self.reason = reason
        self.path = path
        self.tool_name = tool_name
        self.parameter = parameter
        where = f"tool '{tool_name}', " if tool_name else ""
        where += f"parameter '{parameter}', " if parameter else ""
        super().__init__(f"{where}at {path}: {reason}")


class ToolDefinitionError(AIMLAgentError, TypeError):
    """A function cannot become a tool: the message names the function and the parameter."""


class ToolArgumentsError(AIMLAgentError, ToolInvocationError):
    """The arguments a model gave a tool failed validation; the message is written for the model to read.

    :param message: One line per bad field: where, what was expected, what came.
    :param tool_name: The tool that was called.
    :param errors: The structured errors (field path, message, input) for programmatic use.
    """

    def __init__(self, message: str, *, tool_name: str, errors: list[dict[str, Any]] | None = None) -> None:
        ToolInvocationError.__init__(self, message, tool_name=tool_name)
        self.errors = errors or []


class AIMLAPIError(AIMLAgentError, RuntimeError):
    """A request to the AIMLAPI (or an OpenAI-compatible) endpoint failed.

    The message carries the HTTP status, the server's own message and its request id when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        server_message: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.server_message = server_message
        self.request_id = request_id
        self.body = body


class MissingAPIKeyError(AIMLAgentError, ValueError):
    """No API key was configured; raised before any request is sent, naming the variable to set."""


class OutputValidationError(AIMLAgentError, ValueError):
    """The model's final answer did not match the Agent's ``output_type``, even after the allowed retries."""


class MCPConnectionError(AIMLAgentError, ConnectionError):
    """An MCP server could not be started or reached, or the connection to it was lost (``aiml_agent.mcp``).

    A tool call that raises it reaches the model as a tool error; the next call connects again.
    """


class MCPToolError(AIMLAgentError, RuntimeError):
    """An MCP server answered a tool call with an error: an ``isError`` result or a JSON-RPC error."""
