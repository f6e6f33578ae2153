"""The library's errors. Every one derives from :class:`AIMLAgentError` and keeps a builtin base for old callers.

``except AIMLAgentError`` catches anything this library raises on purpose; ``except ValueError`` and the like
still work where they did.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from haystack.tools.errors import ToolInvocationError

    from aiml_agent.tool_failure import FieldError


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


if TYPE_CHECKING:

    class ToolArgumentsError(AIMLAgentError, ToolInvocationError):
        """The arguments a model gave a tool failed validation (see :func:`_tool_arguments_error`)."""

        errors: list[FieldError]

        def __init__(self, message: str, *, tool_name: str, errors: Sequence[FieldError] | None = None) -> None: ...


def _tool_arguments_error() -> type:
    """``ToolArgumentsError``, defined on first use: it derives from Haystack's ``ToolInvocationError``, and
    importing that loads all of ``haystack.tools`` (pydantic, jsonschema...), which ``import aiml_agent.errors``
    (and so ``from aiml_agent import Agent``) does not need to pay for."""
    from haystack.tools.errors import ToolInvocationError

    class ToolArgumentsError(AIMLAgentError, ToolInvocationError):
        """The arguments a model gave a tool failed validation; the message is written for the model to read.

        :param message: One line per bad field: where, what was expected, what came.
        :param tool_name: The tool that was called.
        :param errors: The structured errors (``FieldError``: field path, message, type, input) for programmatic
            use.
        """

        def __init__(self, message: str, *, tool_name: str, errors: Sequence[FieldError] | None = None) -> None:
            ToolInvocationError.__init__(self, message, tool_name=tool_name)
            self.errors: list[FieldError] = list(errors or [])

    ToolArgumentsError.__qualname__ = "ToolArgumentsError"
    return ToolArgumentsError


_DEFINING = threading.Lock()


def __getattr__(name: str) -> Any:
    if name != "ToolArgumentsError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _DEFINING:
        if "ToolArgumentsError" not in globals():
            globals()["ToolArgumentsError"] = _tool_arguments_error()
    return globals()["ToolArgumentsError"]


class ToolRetry(AIMLAgentError):
    """Raise inside a tool to send ``message`` to the model as the call's result, so it can try again.

    ``raise ToolRetry("Use an ISO date like 2026-01-31")``: the text goes to the model as it is (through the
    Agent's ``tool_error_formatter``) and counts as one failure towards the tool's ``retries``.

    :param message: Written for the model: what to change to make the call succeed.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ToolTimeoutError(AIMLAgentError, TimeoutError):
    """A tool call ran longer than its timeout (raised only with ``raise_on_tool_error=True``).

    :param tool_name: The tool that timed out.
    :param timeout: The limit it passed, in seconds.
    """

    def __init__(self, message: str, *, tool_name: str, timeout: float) -> None:
        super().__init__(message)
        self.tool_name = tool_name
        self.timeout = timeout


class ApprovalError(AIMLAgentError, ValueError):
    """Approvals that cannot apply: a decision for a call that is not waiting, or a decision of the wrong type."""


class AIMLAPIError(AIMLAgentError, RuntimeError):
    """A request to the AIMLAPI (or an OpenAI-compatible) endpoint failed, or its answer was unusable.

    The message carries the HTTP status, the server's own message, its request id when it sent one, and how
    many attempts were made. No API key is ever held, in the message, the attributes or a chained exception.

    :param status_code: The HTTP status of an error answer.
    :param server_message: The server's own words.
    :param request_id: The server's id of the failed request (``requestId`` / ``x-request-id``).
    :param body: The error answer's body (JSON data or text).
    :param attempts: How many times the request was sent (retries included); None when it was not counted.
    :param client_request_id: The ``X-Client-Request-Id`` the request carried: AIMLAPI's logs list every attempt
        (each may be billed) under it.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        server_message: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        attempts: int | None = None,
        client_request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.server_message = server_message
        self.request_id = request_id
        self.body = body
        self.attempts = attempts
        self.client_request_id = client_request_id


class ModelCapabilityError(AIMLAgentError, ValueError):
    """A request needs something the model does not take (e.g. tools for a model without tool calling).

    Raised before anything is sent; the message names the model, what it lacks and what to do.
    """


class MissingAPIKeyError(AIMLAgentError, ValueError):
    """No API key was configured; raised before any request is sent, naming the variable to set."""


class OutputValidationError(AIMLAgentError, ValueError):
    """The model's final answer did not match the Agent's ``output_type``, even after the allowed retries."""


class SessionStoreError(AIMLAgentError, RuntimeError):
    """A conversation store cannot be opened, read or written; the message names the store and what was wrong.

    :param message: What went wrong and, where it helps, what to do about it.
    :param path: The database file (or other location) of the store, when it has one.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class MCPConnectionError(AIMLAgentError, ConnectionError):
    """An MCP server could not be started or reached, or the connection to it was lost (``aiml_agent.mcp``).

    A tool call that raises it reaches the model as a tool error; the next call connects again.
    """


class MCPToolError(AIMLAgentError, RuntimeError):
    """An MCP server answered a tool call with an error: an ``isError`` result or a JSON-RPC error."""
