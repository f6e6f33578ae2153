"""``MCPTool``: one tool of an MCP server as a Haystack Tool, with the guarantees of a function tool.

Before a call reaches the server, the model's arguments are checked against the tool's input schema (a bad
call goes back to the model, naming each bad field) and a ``null`` for a parameter the schema does not require
is left out, so the server applies its own default (strict mode makes such parameters nullable). Every failure
of the call itself -- an ``isError`` result, a JSON-RPC error, a timeout, a crashed server, a lost
connection -- is raised as a ``ToolInvocationError`` whose cause says what happened, which the Agent hands to
the model as the tool's result.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from haystack.core.errors import DeserializationError, SerializationError
from haystack.tools import Tool
from haystack.tools.errors import ToolInvocationError
from mcp import MCPError

from aiml_agent._json_arguments import argument_errors, make_validator
from aiml_agent._schema import drop_optional_nulls
from aiml_agent.errors import MCPToolError, ToolArgumentsError, ToolTimeoutError
from aiml_agent.mcp._results import error_text, result_text
from aiml_agent.tool_failure import FieldError, invalid_arguments_text

if TYPE_CHECKING:
    from mcp.types import CallToolResult

    from aiml_agent.mcp._connection import MCPConnection

__all__ = ["MCPTool"]

logger = logging.getLogger(__name__)


class MCPTool(Tool):
    """A tool an MCP server offers, called through its toolset's connection. Made by ``MCPToolset``.

    :param name: The name the model sees (the toolset's prefix included).
    :param server_name: The tool's name on the server.
    :param description: What the model reads about the tool.
    :param parameters: The tool's input schema, as the server gave it (never modified).
    :param connection: The toolset's connection to the server.
    :param strict: ``None`` follows the request's ``tools_strict``; ``False`` keeps the tool non-strict (its
        schema has no strict form).
    :param non_strict_reason: Why the tool cannot be strict, when it cannot.
    """

    # Tool is a dataclass whose __post_init__ validates the schema; the server's schema is checked (once) here.
    def __init__(
        self,
        *,
        name: str,
        server_name: str,
        description: str,
        parameters: dict[str, Any],
        connection: MCPConnection,
        strict: bool | None = None,
        non_strict_reason: str | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.function = self._call
        self.async_function = self._call_async
        self.outputs_to_string = None
        self.inputs_from_state = None
        self.outputs_to_state = None
        self.strict = strict
        self.server_name = server_name
        self.non_strict_reason = non_strict_reason
        self._connection = connection
        self._validator = make_validator(parameters)
        if self._validator is None:
            logger.warning(
                "MCP tool %r has an input schema that is not valid JSON Schema: its arguments are sent unchecked", name
            )

    def prepare_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as sent to the server: ``null`` for a non-required parameter left out, then checked.

        :raises ToolArgumentsError: They do not match the input schema (one line per bad field).
        """
        prepared = drop_optional_nulls(dict(arguments), self.parameters, self.parameters)
        errors = self._errors(prepared)
        if errors:
            raise ToolArgumentsError(invalid_arguments_text(self.name, errors), tool_name=self.name, errors=errors)
        return prepared

    def check_arguments(self, arguments: dict[str, Any]) -> list[FieldError]:
        """The invalid fields of ``arguments`` (empty when valid), without calling the server (used for approvals)."""
        return self._errors(drop_optional_nulls(dict(arguments), self.parameters, self.parameters))

    def _errors(self, prepared: dict[str, Any]) -> list[FieldError]:
        return argument_errors(self._validator, prepared) if self._validator is not None else []

    def invoke(self, **kwargs: Any) -> str:
        """Check the arguments and call the tool on the server, from sync code on any thread.

        :returns: The result as text (see :func:`aiml_agent.mcp._results.result_text`).
        :raises ToolArgumentsError: Invalid arguments; the server was not called.
        :raises ToolInvocationError: The call failed; ``__cause__`` says how.
        """
        return self._call(**kwargs)

    async def invoke_async(self, **kwargs: Any) -> str:
        """:meth:`invoke` for async code, on any event loop."""
        return await self._call_async(**kwargs)

    def _call(self, **kwargs: Any) -> str:
        arguments = self.prepare_arguments(kwargs)
        try:
            result = self._connection.call_tool(self.server_name, arguments)
        except Exception as error:
            raise self._failure(error)  # noqa: B904 - the cause is set: what the model is told
        return self._text(result)

    async def _call_async(self, **kwargs: Any) -> str:
        arguments = self.prepare_arguments(kwargs)
        try:
            result = await self._connection.call_tool_async(self.server_name, arguments)
        except Exception as error:
            raise self._failure(error)  # noqa: B904 - the cause is set: what the model is told
        return self._text(result)

    def _text(self, result: CallToolResult) -> str:
        if result.is_error:
            cause = MCPToolError(error_text(result))
            failure = ToolInvocationError(f"MCP tool '{self.name}' reported an error: {cause}", tool_name=self.name)
            failure.__cause__ = cause
            raise failure
        return result_text(result)

    def _failure(self, error: Exception) -> ToolInvocationError:
        """The error a failed call raises; its ``__cause__`` (what the model is told) says what happened.

        A JSON-RPC error from the server becomes an :class:`MCPToolError` naming its code; no answer within the
        toolset's ``timeout`` a :class:`ToolTimeoutError` (the model is told the call timed out).
        """
        cause: Exception = error
        if isinstance(error, MCPError):
            cause = MCPToolError(f"the server answered with JSON-RPC error {error.code}: {error.message}")
            cause.__cause__ = error
        elif isinstance(error, TimeoutError) and self._connection.timeout is not None:  # reported as a timeout
            cause = ToolTimeoutError(str(error), tool_name=self.name, timeout=self._connection.timeout)
            cause.__cause__ = error
        failure = ToolInvocationError(
            f"MCP tool '{self.name}' failed: {type(cause).__name__}: {cause}", tool_name=self.name
        )
        failure.__cause__ = cause
        return failure

    def to_dict(self) -> dict[str, Any]:
        """MCP tools are serialized with their toolset (its connection settings), never one by one."""
        raise SerializationError(
            f"Tool '{self.name}' comes from an MCP server: serialize its MCPToolset instead (pass the toolset, "
            "not its tools, to the Agent)."
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MCPTool:
        """MCP tools are rebuilt by their toolset when it connects, never from data of their own."""
        raise DeserializationError(
            "An MCPTool cannot be loaded on its own: load its MCPToolset (its tools are listed when it connects)."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, server_name={self.server_name!r}, strict={self.strict!r})"
