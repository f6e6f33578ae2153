"""Human approval of tool calls: what waits (:class:`PendingToolCall`), the decisions (``True``, ``False``,
:class:`Deny`, :class:`Edit`), and how a run finds the calls still waiting in plain messages.

A run that stops with ``exit_reason="approval_required"`` keeps nothing outside its messages: the calls that
wait are the tool calls of the last assistant message that have no tool result after it. So a paused run can
be resumed from its messages alone, in another process, after ``ChatMessage.to_dict``/``from_dict``::

    result = agent.run("Refund order A-1")
    saved = [m.to_dict() for m in result["messages"]]            # a database, a web request later ...
    messages = [ChatMessage.from_dict(m) for m in saved]
    agent.run(messages, approvals={result["pending"][0].id: Edit({"order_id": "A-1", "amount": 100})})
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from haystack.dataclasses import ChatMessage, ToolCall
    from haystack.tools import Tool

    from aiml_agent.tool_failure import FieldError

__all__ = [
    "ApprovalDecision",
    "ApprovalHandler",
    "Deny",
    "Edit",
    "PendingToolCall",
    "check_arguments",
    "unanswered_tool_calls",
]


@dataclass(frozen=True)
class PendingToolCall:
    """A tool call waiting for a person's decision.

    :param id: The key to decide it by in ``approvals={id: ...}`` (the model's call id, or ``"#<position>"``
        in its reply when the model gave none).
    :param tool_name: The tool the model wants to call.
    :param arguments: The arguments the model gave.
    """

    id: str
    tool_name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``id``, ``tool_name``, ``arguments``."""
        return {"id": self.id, "tool_name": self.tool_name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingToolCall:
        """Rebuild from :meth:`to_dict` output."""
        return cls(id=data["id"], tool_name=data["tool_name"], arguments=dict(data.get("arguments") or {}))


@dataclass(frozen=True)
class Deny:
    """Do not run the call; the model gets ``reason`` as the call's result (through the tool error formatter).

    :param reason: Why, written for the model (e.g. "Refunds over 100 EUR need a manager").
    """

    reason: str | None = None


@dataclass(frozen=True)
class Edit:
    """Run the call with these arguments instead of the model's; they are validated like the model's.

    :param arguments: All the arguments of the call (they replace the model's, they are not merged).
    """

    arguments: dict[str, Any]


ApprovalDecision = bool | Deny | Edit
"""``True`` runs the call, ``False`` or ``Deny(...)`` does not, ``Edit({...})`` runs it with other arguments."""

ApprovalHandler = Callable[[PendingToolCall], ApprovalDecision | Awaitable[ApprovalDecision]]
"""Asked once per waiting call during a run (sync, or async under ``run_async``); returns its decision."""


def call_key(tool_call: ToolCall, position: int) -> str:
    """The id a call is approved by: the model's call id, or its position in the reply when it has none."""
    return tool_call.id or f"#{position}"


def open_turn(messages: Sequence[ChatMessage]) -> tuple[int, list[int]] | None:
    """The last assistant message with tool calls, if only tool results follow it, and its unanswered calls.

    :returns: ``(index of that message, positions of its calls that have no result yet)``, or None when the
        conversation does not end with such a turn (or every call of it has its result).
    """
    if not messages or messages[-1].role.value not in ("assistant", "tool"):
        return None  # the common case, a new question: nothing to look through
    index = len(messages) - 1
    while index >= 0 and messages[index].tool_call_result is not None:
        index -= 1
    if index < 0 or not messages[index].is_from("assistant") or not messages[index].tool_calls:
        return None
    answered = [m.tool_call_result.origin for m in messages[index + 1 :] if m.tool_call_result is not None]
    answered_ids = {origin.id for origin in answered if origin.id}
    waiting = [
        position
        for position, call in enumerate(messages[index].tool_calls)
        if not ((call.id and call.id in answered_ids) or (not call.id and call in answered))
    ]
    return (index, waiting) if waiting else None


def unanswered_tool_calls(messages: Sequence[ChatMessage]) -> list[ToolCall]:
    """The tool calls of the conversation's last turn that have no tool result yet (what a resumed run answers).

    Only a conversation that ends with an assistant message with tool calls, followed by nothing but tool
    results, has any.
    """
    found = open_turn(messages)
    if found is None:
        return []
    index, positions = found
    calls = messages[index].tool_calls
    return [calls[position] for position in positions]


def check_arguments(tool: Tool, arguments: dict[str, Any]) -> list[FieldError]:
    """The invalid fields of ``arguments`` for ``tool`` (empty when they are valid), checked without calling it.

    A tool with a ``check_arguments(arguments)`` method (FunctionTool: its pydantic validator) checks them
    itself; any other Haystack Tool is checked against its JSON schema ``parameters``.
    """
    own_check = getattr(tool, "check_arguments", None)
    if callable(own_check):
        return list(own_check(arguments))
    from aiml_agent._json_arguments import argument_errors, make_validator

    validator = make_validator(tool.parameters or {"type": "object"})
    return argument_errors(validator, arguments) if validator is not None else []


def edited_arguments_note(arguments: dict[str, Any]) -> str:
    """The line put before the result of an edited call, so the model knows what actually ran."""
    shown = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
    return f"Note: the user changed the arguments of this call before it ran, to {shown}. Result:\n"
