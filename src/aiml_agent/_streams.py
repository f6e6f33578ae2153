"""Streamed chat-completion answers: chunks to Haystack StreamingChunks, and the reply they add up to.

- streamed tool-call deltas with a missing or repeated ``index`` (Gemini, Mistral, some gateways) are put
  together by call id, so two parallel calls are never fused into one;
- reasoning deltas (``reasoning_content``, ``reasoning``, ``reasoning_details``) become ``ReasoningContent``;
- finish reasons other than OpenAI's (``"eos"``, none until the last chunk) end a stream as well as ``"stop"``;
- a streamed event that is not JSON, and a stream that ends without a finish reason, raise
  :class:`~aiml_agent.errors.AIMLAPIError` naming the server.

The chunks are real ``StreamingChunk``s (and ``ToolCallDelta``s), built without going through their
``__init__``: Haystack wraps its dataclasses' ``__init__`` and ``__setattr__`` to warn about mutation, which
makes each chunk cost several times what it holds. The assembler builds only consistent chunks (one of
text, tool calls or reasoning; an index with the last two), which is all ``__post_init__`` checks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from inspect import isawaitable
from typing import Any

from haystack.dataclasses import (
    ChatMessage,
    ComponentInfo,
    StreamingCallbackT,
    StreamingChunk,
    SyncStreamingCallbackT,
    ToolCallDelta,
)

from aiml_agent._responses import (
    REASONING_DETAILS,
    call_id_of,
    content_text,
    cost_of,
    excerpt,
    parse_tool_call,
    reasoning_content,
    reasoning_of,
    with_wire,
)
from aiml_agent.errors import AIMLAPIError

_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def dataclass_builder(cls: type[Any]) -> Callable[..., Any]:
    """A function making instances of the (non-frozen, non-slotted) dataclass ``cls`` from keyword fields,
    with the defaults of the fields left out, without calling ``__init__`` or ``__post_init__``."""
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for item in dataclasses.fields(cls):
        if item.default is not dataclasses.MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            factories[item.name] = item.default_factory
    new = object.__new__

    def build(**values: Any) -> Any:
        instance = new(cls)
        state = instance.__dict__
        state.update(defaults)
        for name, factory in factories.items():
            if name not in values:
                state[name] = factory()
        state.update(values)
        return instance

    return build


new_chunk: Callable[..., StreamingChunk] = dataclass_builder(StreamingChunk)
new_tool_call_delta: Callable[..., ToolCallDelta] = dataclass_builder(ToolCallDelta)


class StreamAssembler:
    """Converts one stream's chunks into StreamingChunks, resolving every tool-call delta to its call.

    A delta belongs to the call with its id; a delta with a new id starts a new call even when its ``index``
    repeats one already seen; a delta without an id continues the call its ``index`` last meant, or the latest
    call when it has no ``index`` either. A delta that names a function when the call it would continue is
    already complete (name and arguments) starts a new one: Gemini sends whole calls with empty or repeated ids
    and no index. The StreamingChunks carry these resolved indexes, so a callback sees consistent ones too.
    """

    def __init__(self, info: ComponentInfo | None) -> None:
        self.info = info
        self.chunks: list[StreamingChunk] = []
        self._calls: list[dict[str, Any]] = []  # per resolved index: {"id", "name", "arguments"}
        self._by_id: dict[str, int] = {}
        self._by_raw_index: dict[int, int] = {}
        self._started_text = False

    def add(self, chunk: Any) -> list[StreamingChunk]:
        """Convert one streamed chunk (its JSON data), keeping the results in `chunks`; usually one StreamingChunk,
        more when a delta carries reasoning, text and tool calls together. The last one carries the finish
        reason, usage and cost."""
        if not isinstance(chunk, dict):
            chunk = {}
        meta: dict[str, Any] = {"model": chunk.get("model"), "received_at": datetime.now().isoformat()}
        if chunk.get("id"):
            meta["id"] = chunk["id"]
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        finish_reason = None
        if choice is not None:
            finish_reason = choice.get("finish_reason")
            meta["index"] = choice.get("index", 0)
            meta["finish_reason"] = finish_reason
        pieces = self._pieces(choice) if choice is not None else []
        if not pieces:
            pieces = [{"content": ""}]
        for piece in pieces:
            piece["meta"] = {**meta, **piece["meta"]} if "meta" in piece else dict(meta)
        last = pieces[-1]
        delta = choice.get("delta") if choice is not None else None
        if isinstance(delta, dict) and isinstance(delta.get("refusal"), str) and delta["refusal"]:
            last["meta"]["refusal"] = delta["refusal"]  # joined into the reply's meta["refusal"]
        last["meta"]["usage"] = chunk.get("usage")
        cost = cost_of(chunk)
        if cost is not None:
            last["meta"]["cost"] = cost
        if finish_reason:
            last["finish_reason"] = _FINISH_REASONS.get(finish_reason, "stop")
        info = self.info
        converted = [new_chunk(component_info=info, **piece) for piece in pieces]
        self.chunks.extend(converted)
        return converted

    def _pieces(self, choice: dict[str, Any]) -> list[dict[str, Any]]:
        """The StreamingChunk arguments for what one choice's delta carries: reasoning, text, tool calls."""
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return []
        pieces: list[dict[str, Any]] = []
        if "reasoning_content" in delta or "reasoning" in delta or REASONING_DETAILS in delta:
            reasoning = reasoning_content(*reasoning_of(delta))
            if reasoning is not None:
                pieces.append({"content": "", "index": 0, "reasoning": reasoning})
        content = delta.get("content")
        if content:
            text = content if isinstance(content, str) else content_text(content) or ""
            start, self._started_text = not self._started_text, True
            piece: dict[str, Any] = {"content": text, "index": 0, "start": start}
            if choice.get("logprobs"):
                piece["meta"] = {"logprobs": choice["logprobs"]}
            pieces.append(piece)
        raw_calls = delta.get("tool_calls")
        if raw_calls:
            deltas = [self._resolve(raw) for raw in raw_calls if isinstance(raw, dict)]
            if deltas:
                starts = any(d.tool_name for d in deltas)
                pieces.append({"content": "", "index": deltas[0].index, "tool_calls": deltas, "start": starts})
        return pieces

    def _resolve(self, raw: dict[str, Any]) -> ToolCallDelta:
        function = raw.get("function")
        if not isinstance(function, dict):
            function = {}
        name = function.get("name") or None
        arguments = function.get("arguments") or None
        sent_id = raw.get("id")
        call_id = sent_id or None  # an empty id identifies nothing
        raw_index = raw.get("index")
        raw_index = raw_index if isinstance(raw_index, int) else None
        position: int | None = None
        if call_id is not None:
            position = self._by_id.get(call_id)
        elif raw_index is not None and raw_index in self._by_raw_index:
            position = self._by_raw_index[raw_index]
        elif self._calls and not name:
            position = len(self._calls) - 1
        if position is not None and name and self._complete(position):
            position = None  # a named delta after a complete call is a new call: Gemini's ids are empty or repeated
        if position is None:
            position = len(self._calls)
            self._calls.append({"id": call_id, "name": None, "arguments": ""})
            if call_id is not None:
                self._by_id[call_id] = position
        if raw_index is not None:
            self._by_raw_index[raw_index] = position
        call = self._calls[position]
        new_name = name if name and not call["name"] else None
        if new_name:
            call["name"] = name
        if arguments:
            call["arguments"] += arguments
        return new_tool_call_delta(index=position, tool_name=new_name, arguments=arguments, id=sent_id)

    def _complete(self, position: int) -> bool:
        call = self._calls[position]
        return bool(call["name"]) and bool(call["arguments"])


def read_stream(
    events: Iterator[Any], callback: SyncStreamingCallbackT, info: ComponentInfo | None, base_url: str
) -> list[StreamingChunk]:
    """Read a stream's events (their JSON data, see :func:`aiml_agent._wire.events`) to the end, handing each
    converted chunk to `callback`; the events are always closed (and with them the response).

    :raises AIMLAPIError: A streamed event is not JSON.
    """
    assembler = StreamAssembler(info)
    try:
        for chunk in events:
            for piece in assembler.add(chunk):
                callback(piece)
    except json.JSONDecodeError as error:
        raise _not_json_event(error, base_url) from None
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    return assembler.chunks


async def read_stream_async(
    events: AsyncIterator[Any], callback: StreamingCallbackT, info: ComponentInfo | None, base_url: str
) -> list[StreamingChunk]:
    """Async `read_stream` (the callback may be sync or async); closes the events even when cancelled.

    Events read to the end are already closed, so closing them again does not suspend and needs no shield (a
    shield is a task, and an event-loop round, per model call); broken-off ones are closed shielded.
    """
    assembler = StreamAssembler(info)
    try:
        async for chunk in events:
            for piece in assembler.add(chunk):
                outcome = callback(piece)
                if outcome is not None and isawaitable(outcome):
                    await outcome
    except json.JSONDecodeError as error:
        await _close(events)
        raise _not_json_event(error, base_url) from None
    except BaseException:
        await _close(events)
        raise
    await _close(events, shielded=False)
    return assembler.chunks


async def _close(events: AsyncIterator[Any], *, shielded: bool = True) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await (asyncio.shield(close()) if shielded else close())


def stream_to_message(
    chunks: list[StreamingChunk], base_url: str, wire: Mapping[str, Any] | None = None
) -> ChatMessage:
    """The reply of a finished stream; AIMLAPIError when it ended without a ``finish_reason`` (cut off)."""
    if not any(chunk.meta.get("finish_reason") for chunk in chunks):
        raise AIMLAPIError(
            f"The stream from {base_url} ended after {len(chunks)} chunks without a finish_reason: "
            "the reply is incomplete."
        )
    message = chunks_to_message(chunks)
    with_wire(message.meta, wire)
    return message


def chunks_to_message(chunks: list[StreamingChunk]) -> ChatMessage:
    """Join the streamed chunks of one reply into a ChatMessage (text, reasoning, tool calls, meta, cost).

    Tool-call fragments are joined by their (resolved) ``index``; each call keeps the first id and name it got
    (a call the server gave no id at all gets ``call_<index>``, so that its result can answer it).
    """
    text = "".join(chunk.content for chunk in chunks)
    reasoning_text = "".join(chunk.reasoning.reasoning_text for chunk in chunks if chunk.reasoning)
    details = [d for chunk in chunks if chunk.reasoning for d in chunk.reasoning.extra.get(REASONING_DETAILS, [])]
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            if delta.id is not None and not call["id"]:
                call["id"] = delta.id
            if delta.tool_name and not call["name"]:
                call["name"] = delta.tool_name
            if delta.arguments:
                call["arguments"] += delta.arguments
    tool_calls = [
        parse_tool_call(tool_name=call["name"], raw_arguments=call["arguments"], call_id=call_id_of(call["id"], index))
        for index, call in sorted(calls.items())
    ]

    def last(key: str) -> Any:
        return next((chunk.meta[key] for chunk in reversed(chunks) if chunk.meta.get(key) is not None), None)

    meta: dict[str, Any] = {
        "id": last("id"),
        "model": last("model"),
        "index": 0,
        "finish_reason": last("finish_reason") or None,
        "completion_start_time": chunks[0].meta.get("received_at") if chunks else None,
        "usage": last("usage"),
    }
    logprobs = [chunk.meta["logprobs"] for chunk in chunks if chunk.meta.get("logprobs")]
    if logprobs:
        meta["logprobs"] = logprobs
    refusal = "".join(chunk.meta.get("refusal") or "" for chunk in chunks)
    if refusal:
        meta["refusal"] = refusal  # as a whole answer's message.refusal lands
    cost = last("cost")
    if cost is not None:
        meta["cost"] = cost
    return ChatMessage.from_assistant(
        text=text or None, tool_calls=tool_calls, reasoning=reasoning_content(reasoning_text, details), meta=meta
    )


def _not_json_event(error: json.JSONDecodeError, base_url: str) -> AIMLAPIError:
    return AIMLAPIError(
        f"A streamed event from {base_url} is not JSON ({error.msg} at position {error.pos}): {excerpt(error.doc)}",
        body=excerpt(error.doc),
    )
