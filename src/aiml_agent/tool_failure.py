"""What the model is told when a tool call fails: the failure as data, and the one function that words it.

Every failed call (the tool raised, its arguments were invalid or not JSON, there is no such tool, it timed out,
it raised ``ToolRetry``, a person denied it, its result could not become text) and an answer that does not
match the Agent's ``output_type`` is described by a :class:`ToolFailure`. :func:`format_tool_failure` turns
it into the text the model reads; ``Agent(tool_error_formatter=...)`` replaces that function::

    def terse(failure: ToolFailure) -> str:
        if failure.kind == "invalid_arguments":
            return "Bad arguments: " + ", ".join(error["field"] for error in failure.field_errors)
        return format_tool_failure(failure)   # the default wording for every other kind
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict

__all__ = [
    "MAX_ERROR_LINES",
    "FailureKind",
    "FieldError",
    "ToolErrorFormatter",
    "ToolFailure",
    "field_error_lines",
    "format_tool_failure",
    "invalid_arguments_text",
]

#: A failure message lists at most this many bad fields (a list of 500 bad items would drown it).
MAX_ERROR_LINES = 10

FailureKind = Literal[
    "exception",  # the tool raised
    "invalid_arguments",  # the arguments did not validate (field_errors says which)
    "malformed_arguments",  # the arguments were not valid JSON (raw_arguments holds the text)
    "unknown_tool",  # no tool of that name (available_tools lists the ones there are)
    "timeout",  # the call ran longer than its timeout
    "retry",  # the tool raised ToolRetry (detail is its message, written for the model)
    "denied",  # a person (or the approval handler) said no; detail is the reason given, if any
    "invalid_result",  # the tool ran, but its return value could not become text
    "invalid_output",  # the final answer did not match the Agent's output_type (tool_name is None)
]


class FieldError(TypedDict):
    """One invalid field: where (``address.zip``, ``items[2]``, ``(arguments)`` for the whole value), what is
    wrong, pydantic's (or jsonschema's) error type, and the value that came (absent when it was missing)."""

    field: str
    message: str
    type: str
    input: NotRequired[Any]


@dataclass(frozen=True, kw_only=True)
class ToolFailure:
    """A failed tool call (or an invalid final answer) as data, for the formatter and the step record.

    :param kind: What went wrong (see :data:`FailureKind`).
    :param tool_name: The tool the model called; None for ``invalid_output``.
    :param call_id: The id of the model's tool call, when it had one.
    :param detail: Free text of the failure: the exception's message, the ``ToolRetry`` text, the reason of a
        denial, the JSON parser's error, why a result could not become text.
    :param exception_type: The class name of the exception behind ``exception``/``invalid_result`` failures.
    :param field_errors: The invalid fields of ``invalid_arguments`` and ``invalid_output`` failures.
    :param available_tools: For ``unknown_tool``: the names the model may call, sorted.
    :param raw_arguments: For ``malformed_arguments``: the text the model sent instead of a JSON object.
    :param timeout: For ``timeout``: the limit in seconds.
    :param output_type: For ``invalid_output``: the name of the expected answer schema.
    :param exception: The exception behind the failure, for the caller (never sent to the model as it is).
    """

    kind: FailureKind
    tool_name: str | None = None
    call_id: str | None = None
    detail: str = ""
    exception_type: str | None = None
    field_errors: tuple[FieldError, ...] = ()
    available_tools: tuple[str, ...] = ()
    raw_arguments: str | None = None
    timeout: float | None = None
    output_type: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_exception(cls, exc: BaseException, *, tool_name: str, call_id: str | None = None) -> ToolFailure:
        """The failure an exception raised by a tool call stands for.

        ``ToolArgumentsError`` is ``invalid_arguments``; ``ToolRetry`` (raised by the tool, also when wrapped
        in Haystack's ``ToolInvocationError``) is ``retry``; ``ToolTimeoutError`` is ``timeout``; anything else
        is ``exception`` and names the tool's own exception, not the wrapper.
        """
        from haystack.tools.errors import ToolInvocationError

        from aiml_agent.errors import ToolArgumentsError, ToolRetry, ToolTimeoutError

        if isinstance(exc, ToolArgumentsError):
            return cls(
                kind="invalid_arguments",
                tool_name=tool_name,
                call_id=call_id,
                field_errors=tuple(exc.errors),
                exception=exc,
            )
        cause = exc.__cause__ if isinstance(exc, ToolInvocationError) and exc.__cause__ is not None else exc
        if isinstance(cause, ToolRetry):
            return cls(kind="retry", tool_name=tool_name, call_id=call_id, detail=cause.message, exception=exc)
        if isinstance(cause, ToolTimeoutError):
            return cls(kind="timeout", tool_name=tool_name, call_id=call_id, timeout=cause.timeout, exception=exc)
        return cls(
            kind="exception",
            tool_name=tool_name,
            call_id=call_id,
            detail=str(cause),
            exception_type=type(cause).__name__,
            exception=exc,
        )

    @property
    def counts_against_retries(self) -> bool:
        """Whether this failure uses up one of the tool's ``retries`` (a denial or an unknown name does not)."""
        return self.kind not in ("unknown_tool", "denied", "invalid_output")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly data: the fields that are set, the exception as its ``repr``."""
        data: dict[str, Any] = {"kind": self.kind, "tool_name": self.tool_name, "call_id": self.call_id}
        optional: dict[str, Any] = {
            "detail": self.detail,
            "exception_type": self.exception_type,
            "field_errors": [dict(error) for error in self.field_errors],
            "available_tools": list(self.available_tools),
            "raw_arguments": self.raw_arguments,
            "timeout": self.timeout,
            "output_type": self.output_type,
            "exception": repr(self.exception) if self.exception is not None else None,
        }
        data.update({key: value for key, value in optional.items() if value not in (None, "", [])})
        return data


ToolErrorFormatter = Callable[[ToolFailure], str]
"""Turns a :class:`ToolFailure` into the text the model gets (``Agent(tool_error_formatter=...)``)."""


def format_tool_failure(failure: ToolFailure) -> str:
    """The default text for each kind of failure: what happened, and what the model can do about it."""
    name = failure.tool_name
    kind = failure.kind
    if kind == "exception":
        return f"Error: tool '{name}' failed: {failure.exception_type or 'Exception'}: {failure.detail}"
    if kind == "invalid_arguments":
        text = invalid_arguments_text(name or "", failure.field_errors)
        return f"Error: {text}\nFix these arguments and call the tool again."
    if kind == "malformed_arguments":
        reason = f" Parser error: {failure.detail}." if failure.detail else ""
        return (
            f"Error: the arguments for tool '{name}' were not valid JSON. "
            f"Raw arguments received: {failure.raw_arguments or ''!r}.{reason} "
            "Call the tool again with the arguments as one valid JSON object."
        )
    if kind == "unknown_tool":
        listed = ", ".join(failure.available_tools) or "(none)"
        return f"Error: there is no tool named '{name}'. Available tools: {listed}. Call one of these instead."
    if kind == "timeout":
        return f"Error: tool '{name}' timed out after {_seconds(failure.timeout)} and gave no result."
    if kind == "retry":
        return failure.detail
    if kind == "denied":
        reason = f" Reason: {failure.detail}" if failure.detail else ""
        return f"Error: the call to tool '{name}' was not approved, so it did not run.{reason}"
    if kind == "invalid_result":
        return (
            f"Error: tool '{name}' ran, but its result could not be turned into text "
            f"({failure.exception_type or 'error'}: {failure.detail})."
        )
    if kind == "invalid_output":
        return (
            f"Your answer did not match the required {failure.output_type} schema:\n"
            f"{field_error_lines(failure.field_errors)}\n"
            "Answer again with only a JSON object that matches the schema."
        )
    return f"Error: tool '{name}' failed: {failure.detail}"  # a kind added by a newer version


def invalid_arguments_text(tool_name: str, errors: Sequence[FieldError]) -> str:
    """``Invalid arguments for tool 'x':`` and one line per bad field (the text of ``ToolArgumentsError``)."""
    return f"Invalid arguments for tool '{tool_name}':\n{field_error_lines(errors)}"


def field_error_lines(errors: Sequence[FieldError]) -> str:
    """One short line per bad field (where, what was expected, what came), at most ``MAX_ERROR_LINES``."""
    lines = []
    for error in errors[:MAX_ERROR_LINES]:
        if error["type"] == "missing":
            lines.append(f"- {error['field']}: required, but missing")
        else:
            lines.append(f"- {error['field']}: {error['message']}; got {_short(error.get('input'))}")
    if len(errors) > MAX_ERROR_LINES:
        lines.append(f"- ... and {len(errors) - MAX_ERROR_LINES} more invalid fields")
    return "\n".join(lines)


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _seconds(value: float | None) -> str:
    return f"{value:g} s" if value is not None else "its time limit"
