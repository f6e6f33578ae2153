"""Turn chat-completion responses (whole or streamed) into Haystack ChatMessages, AIMLAPI-aware.

Two things differ from Haystack's own OpenAI converters, and are why this module exists:

- a tool call whose arguments are not valid JSON is kept (empty ``arguments``, the raw text and the parse
  error in ``ToolCall.extra``) instead of being dropped, so an agent can tell the model what went wrong;
- AIMLAPI's top-level ``meta.usage`` (``credits_used``, ``usd_spent``) lands in the reply's ``meta["cost"]``.
"""

from __future__ import annotations

import asyncio
import json
from inspect import isawaitable
from typing import Any

from haystack import logging
from haystack.components.generators.chat.openai import _convert_chat_completion_chunk_to_streaming_chunk
from haystack.components.generators.utils import _serialize_object
from haystack.dataclasses import (
    ChatMessage,
    ComponentInfo,
    ReasoningContent,
    StreamingCallbackT,
    StreamingChunk,
    SyncStreamingCallbackT,
    ToolCall,
)

from aiml_agent.errors import AIMLAPIError

logger = logging.getLogger(__name__)

RAW_ARGUMENTS = "raw_arguments"
ARGUMENTS_ERROR = "arguments_error"


def parse_tool_call(*, tool_name: str, raw_arguments: str | dict[str, Any] | None, call_id: str | None) -> ToolCall:
    """Build a ToolCall from the model's raw arguments, keeping it (with the raw text) when they are not JSON.

    :param tool_name: The function name the model called.
    :param raw_arguments: The arguments as the server sent them: a JSON string (usually), a dict or nothing.
    :param call_id: The tool call id, kept so the tool result can answer it.
    :returns: The ToolCall; malformed arguments give ``arguments={}`` and ``extra`` with ``raw_arguments`` and
        ``arguments_error``.
    """
    if isinstance(raw_arguments, dict):
        return ToolCall(tool_name=tool_name, arguments=raw_arguments, id=call_id)
    if not raw_arguments or not raw_arguments.strip():
        return ToolCall(tool_name=tool_name, arguments={}, id=call_id)
    error: str
    try:
        arguments = json.loads(raw_arguments)
    except json.JSONDecodeError as exc:
        error = f"arguments are not valid JSON: {exc}"
    else:
        if isinstance(arguments, dict):
            return ToolCall(tool_name=tool_name, arguments=arguments, id=call_id)
        error = f"arguments must be a JSON object, got {type(arguments).__name__}"
    logger.warning(
        "Tool call {call_id} to '{tool_name}' has malformed arguments ({error}); kept with empty arguments and the "
        "raw text in ToolCall.extra['raw_arguments']. Raw arguments: {raw}",
        call_id=call_id,
        tool_name=tool_name,
        error=error,
        raw=raw_arguments,
    )
    return ToolCall(
        tool_name=tool_name,
        arguments={},
        id=call_id,
        extra={RAW_ARGUMENTS: raw_arguments, ARGUMENTS_ERROR: error},
    )


def cost_of(response: Any) -> dict[str, Any] | None:
    """AIMLAPI's ``meta.usage`` (``credits_used``, ``usd_spent``) of a completion or chunk, if the server sent it.

    The openai SDK keeps fields it does not know in ``model_extra``, which is where AIMLAPI's ``meta`` lands.
    """
    extra = getattr(response, "model_extra", None) or {}
    meta = extra.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("usage"), dict):
        return dict(meta["usage"])
    return None


def completion_to_message(completion: Any, choice: Any) -> ChatMessage:
    """Convert one choice of a (possibly parsed) ChatCompletion into an assistant ChatMessage.

    :param completion: The ``ChatCompletion`` or ``ParsedChatCompletion``.
    :param choice: One of its choices.
    """
    message = choice.message
    tool_calls = [
        parse_tool_call(tool_name=tc.function.name, raw_arguments=tc.function.arguments, call_id=tc.id)
        for tc in message.tool_calls or []
        if getattr(tc, "type", "function") == "function" and getattr(tc, "function", None) is not None
    ]
    meta: dict[str, Any] = {
        "id": completion.id,
        "model": completion.model,
        "index": choice.index,
        "finish_reason": choice.finish_reason,
        "usage": _serialize_object(completion.usage),
    }
    if choice.logprobs:
        meta["logprobs"] = _serialize_object(choice.logprobs)
    if getattr(message, "refusal", None):
        meta["refusal"] = message.refusal
    cost = cost_of(completion)
    if cost is not None:
        meta["cost"] = cost
    return ChatMessage.from_assistant(text=message.content, tool_calls=tool_calls, meta=meta)


def chunks_to_message(chunks: list[StreamingChunk]) -> ChatMessage:
    """Join the streamed chunks of one reply into a ChatMessage (text, reasoning, tool calls, meta, cost).

    Tool-call fragments are joined by their ``index``; the id and name come from the first fragment that has them.
    """
    text = "".join(chunk.content for chunk in chunks)
    reasoning_parts = [chunk.reasoning.reasoning_text for chunk in chunks if chunk.reasoning]
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            if delta.id:
                call["id"] = delta.id
            if delta.tool_name:
                call["name"] += delta.tool_name
            if delta.arguments:
                call["arguments"] += delta.arguments
    tool_calls = [
        parse_tool_call(tool_name=call["name"], raw_arguments=call["arguments"], call_id=call["id"])
        for _, call in sorted(calls.items())
    ]

    def last(key: str) -> Any:
        return next((chunk.meta[key] for chunk in reversed(chunks) if chunk.meta.get(key) is not None), None)

    finish_reasons = [chunk.finish_reason for chunk in chunks if chunk.finish_reason]
    meta: dict[str, Any] = {
        "id": last("id"),
        "model": last("model"),
        "index": 0,
        "finish_reason": finish_reasons[-1] if finish_reasons else None,
        "completion_start_time": chunks[0].meta.get("received_at") if chunks else None,
        "usage": last("usage"),
    }
    logprobs = [chunk.meta["logprobs"] for chunk in chunks if chunk.meta.get("logprobs")]
    if logprobs:
        meta["logprobs"] = logprobs
    cost = last("cost")
    if cost is not None:
        meta["cost"] = cost
    reasoning = ReasoningContent(reasoning_text="".join(reasoning_parts)) if reasoning_parts else None
    return ChatMessage.from_assistant(text=text or None, tool_calls=tool_calls, reasoning=reasoning, meta=meta)


def read_stream(stream: Any, callback: SyncStreamingCallbackT, info: ComponentInfo) -> list[StreamingChunk]:
    """Read an openai ``Stream`` to the end, handing each converted chunk to `callback`; always closes it."""
    chunks: list[StreamingChunk] = []
    append = chunks.append
    try:
        for chunk in stream:
            converted = to_streaming_chunk(chunk, chunks, info)
            append(converted)
            callback(converted)
    finally:
        stream.close()
    return chunks


async def read_stream_async(stream: Any, callback: StreamingCallbackT, info: ComponentInfo) -> list[StreamingChunk]:
    """Async `read_stream` (the callback may be sync or async); closes the stream even when cancelled.

    A stream read to the end was already closed by the SDK, so closing it again does not suspend and needs no
    shield (a shield is a task, and an event-loop round, per model call); a broken-off one is closed shielded.
    """
    chunks: list[StreamingChunk] = []
    append = chunks.append
    try:
        async for chunk in stream:
            converted = to_streaming_chunk(chunk, chunks, info)
            append(converted)
            outcome = callback(converted)
            if outcome is not None and isawaitable(outcome):
                await outcome
    except BaseException:
        await asyncio.shield(stream.close())
        raise
    await stream.close()
    return chunks


def stream_to_message(chunks: list[StreamingChunk], base_url: str) -> ChatMessage:
    """The reply of a finished stream; AIMLAPIError when it ended without a ``finish_reason`` (cut off)."""
    if not any(chunk.finish_reason for chunk in chunks):
        raise AIMLAPIError(
            f"The stream from {base_url} ended after {len(chunks)} chunks without a finish_reason: "
            "the reply is incomplete."
        )
    return chunks_to_message(chunks)


def to_streaming_chunk(chunk: Any, previous: list[StreamingChunk], info: ComponentInfo | None) -> StreamingChunk:
    """Haystack's chunk conversion, plus AIMLAPI's cost when this chunk carries the top-level ``meta``."""
    converted = _convert_chat_completion_chunk_to_streaming_chunk(
        chunk=chunk, previous_chunks=previous, component_info=info
    )
    if getattr(chunk, "id", None):
        converted.meta["id"] = chunk.id
    cost = cost_of(chunk)
    if cost is not None:
        converted.meta["cost"] = cost
    return converted
