"""What a stored conversation needs before it is sent again: every tool call answered, and a bounded length.

A chat API rejects a conversation in which an assistant's tool call is not followed by its result. A stored
conversation can hold one: a run that stopped after the model asked for tools (a usage limit, a run paused for
approval that the user moved on from), or runs of one session that overlapped. :func:`repair` answers such
calls with an error result the model can read; :func:`trim` shortens history without cutting a tool call off
from its results. Both are pure: they build new lists and never change what is stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from haystack.dataclasses import ChatMessage, ChatRole, ToolCall

logger = logging.getLogger(__name__)

# Compared by identity: ChatMessage.is_from builds a lookup table on every call, too slow for long histories.
SYSTEM, ASSISTANT, TOOL = ChatRole.SYSTEM, ChatRole.ASSISTANT, ChatRole.TOOL

#: The result given to a stored tool call that has none (sent to the model as a tool error).
UNANSWERED_CALL_RESULT = (
    "No result was recorded for this tool call: the run that made it ended before the call completed "
    "(it was interrupted, stopped by a limit, or left waiting for an approval when the conversation moved "
    "on). Whether it took effect is unknown; check before calling it again."
)


def repair(messages: Sequence[ChatMessage], *, keep_pending: bool = False) -> list[ChatMessage]:
    """The conversation with every tool call followed by exactly one result, in call order.

    A call without a result gets :data:`UNANSWERED_CALL_RESULT` as an error result; a tool message that answers
    no call of the assistant message before it is left out (with a warning), as the API would reject it.

    :param messages: The stored conversation, oldest first.
    :param keep_pending: Leave the calls of the last assistant message unanswered when nothing but their
        results follows it: a run paused for approval is being resumed, and those calls are what it waits for.
    :returns: A new list; the messages themselves are shared, never changed.
    """
    repaired: list[ChatMessage] = []
    position = 0
    while position < len(messages):
        message = messages[position]
        position += 1
        if message.role is TOOL:
            _warn_dropped(message, "it follows no assistant message with tool calls")
            continue
        repaired.append(message)
        calls = message.tool_calls if message.role is ASSISTANT else []
        if not calls:
            continue
        results = []
        while position < len(messages) and messages[position].role is TOOL:
            results.append(messages[position])
            position += 1
        pending = keep_pending and position == len(messages)
        for call in calls:
            answer = next((result for result in results if _answers(result, call)), None)
            if answer is not None:
                results.remove(answer)
                repaired.append(answer)
            elif not pending:
                repaired.append(ChatMessage.from_tool(UNANSWERED_CALL_RESULT, origin=call, error=True))
        for result in results:
            _warn_dropped(result, "it answers no call of the assistant message before it (or repeats an answer)")
    return repaired


def trim(messages: Sequence[ChatMessage], max_messages: int | None) -> list[ChatMessage]:
    """The last ``max_messages`` messages, starting after a tool call's results rather than among them.

    A leading system message is always kept and not counted. The cut moves forward past tool messages, so the
    result can hold fewer than ``max_messages`` messages but never a result without its call.
    """
    if max_messages is None:
        return list(messages)
    head = list(messages[:1]) if messages and messages[0].role is SYSTEM else []
    body = messages[len(head) :]
    start = max(0, len(body) - max_messages)
    while start < len(body) and body[start].role is TOOL:  # results whose call is cut off (or was never loaded)
        start += 1
    if start:
        logger.debug("Session history trimmed to its last %d messages (of %d)", len(body) - start, len(body))
    return head + list(body[start:])


def repeats_history(history: Sequence[ChatMessage], new: Sequence[ChatMessage]) -> bool:
    """Whether ``new`` contains the last assistant message of ``history``: the whole conversation was passed
    again (e.g. a previous result's ``messages``) where only the new input belongs."""
    last_reply = next((m for m in reversed(history) if m.role is ASSISTANT), None)
    if last_reply is None:
        return False
    stored = _plain(last_reply)
    return any(message.role is ASSISTANT and _plain(message) == stored for message in new)


def _answers(result: ChatMessage, call: ToolCall) -> bool:
    origin = result.tool_call_result.origin if result.tool_call_result is not None else None
    if origin is None:
        return False
    if call.id is not None or origin.id is not None:
        return origin.id == call.id
    return origin.tool_name == call.tool_name


def _plain(message: ChatMessage) -> Any:
    """A message as the plain data it is stored as (tuples become lists, and so on), for comparison."""
    return json.loads(json.dumps(message.to_dict(), default=str))


def _warn_dropped(message: ChatMessage, reason: str) -> None:
    result = message.tool_call_result
    call_id = result.origin.id if result is not None else None
    logger.warning("A stored tool result (call id %r) is not sent to the model: %s", call_id, reason)
