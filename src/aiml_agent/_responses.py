"""Turn chat-completion answers (whole or streamed) into Haystack ChatMessages, as any gateway sends them.

What real servers behind AIMLAPI send, and what becomes of it:

- a tool call whose arguments are not valid JSON is kept (empty ``arguments``, the raw text and the parse
  error in ``ToolCall.extra``) instead of being dropped, so an agent can tell the model what went wrong;
- streamed tool-call deltas with a missing or repeated ``index`` (Gemini, Mistral, some gateways) are put
  together by call id, so two parallel calls are never fused into one;
- reasoning text (``reasoning_content``, ``reasoning``, ``reasoning_details``) becomes ``ReasoningContent``;
- finish reasons other than OpenAI's (``"eos"``, ``""``, none at all) are kept as sent in ``meta``;
- AIMLAPI's cost (``meta.usage`` in the body, else the ``x-aimlapi-credits-used`` / ``x-aimlapi-usd-spent``
  headers) lands in ``meta["cost"]``; the request's ``X-Client-Request-Id`` and the answer's ``x-inference-id``
  in ``meta["client_request_id"]`` / ``meta["inference_id"]``;
- an answer that is not JSON, a streamed event that is not JSON and an answer with no choice raise
  :class:`~aiml_agent.errors.AIMLAPIError` naming the server and what was wrong.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime
from inspect import isawaitable
from typing import Any

from haystack import logging
from haystack.dataclasses import (
    ChatMessage,
    ComponentInfo,
    ReasoningContent,
    StreamingCallbackT,
    StreamingChunk,
    SyncStreamingCallbackT,
    ToolCall,
    ToolCallDelta,
)

from aiml_agent.errors import AIMLAPIError

logger = logging.getLogger(__name__)

RAW_ARGUMENTS = "raw_arguments"
ARGUMENTS_ERROR = "arguments_error"
REASONING_DETAILS = "reasoning_details"

_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


# ---- pieces shared by whole and streamed answers -----------------------------------------------------------


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
    meta = _extra(response, "meta")
    if isinstance(meta, dict) and isinstance(meta.get("usage"), dict):
        return dict(meta["usage"])
    return None


def wire_meta(headers: Mapping[str, str] | None, client_request_id: str | None) -> dict[str, Any]:
    """What the HTTP exchange tells about a reply: request ids and the cost headers.

    :returns: ``client_request_id``, ``inference_id`` (when the server sent ``x-inference-id``) and
        ``header_cost`` (from ``x-aimlapi-credits-used`` / ``x-aimlapi-usd-spent``, when sent).
    """
    meta: dict[str, Any] = {}
    if client_request_id:
        meta["client_request_id"] = client_request_id
    headers = headers or {}
    inference_id = headers.get("x-inference-id")
    if inference_id:
        meta["inference_id"] = inference_id
    cost: dict[str, Any] = {}
    credits, usd = headers.get("x-aimlapi-credits-used"), headers.get("x-aimlapi-usd-spent")
    if credits:
        cost["credits_used"] = _number(credits)
    if usd:
        cost["usd_spent"] = _number(usd)
    if cost:
        meta["header_cost"] = cost
    return meta


def _with_wire(meta: dict[str, Any], wire: Mapping[str, Any] | None) -> dict[str, Any]:
    """``meta`` plus the exchange's ids; the header cost only when the body reported none."""
    if not wire:
        return meta
    for key in ("client_request_id", "inference_id"):
        if key in wire:
            meta[key] = wire[key]
    if "cost" not in meta and "header_cost" in wire:
        meta["cost"] = dict(wire["header_cost"])
    return meta


def check_finish_reason(reply: ChatMessage) -> None:
    """Log a reply cut short by the length limit or the content filter (the reply itself is kept)."""
    reason = reply.meta.get("finish_reason")
    if reason == "length":
        logger.warning(
            "The reply was cut at the length limit before it was finished; raise max_tokens / "
            "max_completion_tokens for longer answers."
        )
    elif reason == "content_filter":
        logger.warning("The reply was cut short by the content filter.")


# ---- whole answers -----------------------------------------------------------------------------------------


def completion_replies(completion: Any, *, base_url: str, wire: Mapping[str, Any] | None = None) -> list[ChatMessage]:
    """The replies of a whole (non-streamed) answer.

    :param completion: What the openai SDK parsed: a ``ChatCompletion``, or the text of a non-JSON answer.
    :param base_url: Named in errors.
    :param wire: See `wire_meta`.
    :raises AIMLAPIError: The answer is not a chat completion, or has no choice.
    """
    if isinstance(completion, (str, bytes)):
        text = completion.decode(errors="replace") if isinstance(completion, bytes) else completion
        raise AIMLAPIError(f"The answer from {base_url} is not JSON: {_excerpt(text)}", body=_excerpt(text))
    choices = getattr(completion, "choices", None)
    if not choices:
        raise AIMLAPIError(
            f"The server at {base_url} returned no choice (an answer with an empty 'choices' list): no reply to use."
        )
    return [completion_to_message(completion, choice, wire) for choice in choices]


def completion_to_message(completion: Any, choice: Any, wire: Mapping[str, Any] | None = None) -> ChatMessage:
    """Convert one choice of a (possibly parsed) ChatCompletion into an assistant ChatMessage.

    :param completion: The ``ChatCompletion`` or ``ParsedChatCompletion``.
    :param choice: One of its choices.
    :param wire: See `wire_meta`.
    """
    message = choice.message
    tool_calls = [
        parse_tool_call(tool_name=tc.function.name, raw_arguments=tc.function.arguments, call_id=_call_id(tc.id, i))
        for i, tc in enumerate(message.tool_calls or [])
        if getattr(tc, "type", "function") == "function" and getattr(tc, "function", None) is not None
    ]
    meta: dict[str, Any] = {
        "model": completion.model,
        "index": choice.index,
        "finish_reason": choice.finish_reason,
        "usage": _plain(completion.usage),
    }
    if choice.logprobs:
        meta["logprobs"] = _plain(choice.logprobs)
    if getattr(message, "refusal", None):
        meta["refusal"] = message.refusal
    cost = cost_of(completion)
    if cost is not None:
        meta["cost"] = cost
    text, details = reasoning_of(message)
    reasoning = _reasoning(text, details)
    return ChatMessage.from_assistant(
        text=message.content, tool_calls=tool_calls, reasoning=reasoning, meta=_with_wire(meta, wire)
    )


def reasoning_of(message: Any) -> tuple[str, list[Any]]:
    """The reasoning text of a message or a streamed delta, and its raw ``reasoning_details`` (if any).

    ``reasoning_content`` (DeepSeek, Qwen, GLM) or ``reasoning`` (OpenRouter, Groq) hold the text; when only
    ``reasoning_details`` (OpenRouter, Anthropic through gateways) has it, it is read from there.
    """
    details = _extra(message, REASONING_DETAILS)
    details = list(details) if isinstance(details, list) else []
    for name in ("reasoning_content", "reasoning"):
        value = _extra(message, name)
        if isinstance(value, str) and value:
            return value, details
    texts = [
        str(detail.get("text") or detail.get("summary") or "")
        for detail in details
        if isinstance(detail, dict) and isinstance(detail.get("text") or detail.get("summary"), str)
    ]
    return "".join(texts), details


def _reasoning(text: str, details: list[Any]) -> ReasoningContent | None:
    if not text and not details:
        return None
    return ReasoningContent(reasoning_text=text, extra={REASONING_DETAILS: details} if details else {})


# ---- streamed answers --------------------------------------------------------------------------------------


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
        """Convert one SDK chunk (keeping the results in `chunks`); usually one StreamingChunk, more when a delta
        carries reasoning, text and tool calls together. The last one carries the finish reason, usage and cost."""
        meta: dict[str, Any] = {"model": getattr(chunk, "model", None), "received_at": datetime.now().isoformat()}
        choices = getattr(chunk, "choices", None) or []
        choice = choices[0] if choices else None
        if choice is not None:
            meta.update(index=choice.index, finish_reason=choice.finish_reason)
        pieces = self._pieces(choice) if choice is not None else []
        if not pieces:
            pieces = [{"content": ""}]
        for piece in pieces:
            piece["meta"] = {**meta, **piece.get("meta", {})}
        last = pieces[-1]
        last["meta"]["usage"] = _plain(getattr(chunk, "usage", None))
        cost = cost_of(chunk)
        if cost is not None:
            last["meta"]["cost"] = cost
        if choice is not None and choice.finish_reason:
            last["finish_reason"] = _FINISH_REASONS.get(choice.finish_reason, "stop")
        converted = [StreamingChunk(component_info=self.info, **piece) for piece in pieces]
        self.chunks.extend(converted)
        return converted

    def _pieces(self, choice: Any) -> list[dict[str, Any]]:
        """The StreamingChunk arguments for what one choice's delta carries: reasoning, text, tool calls."""
        delta = choice.delta
        if delta is None:
            return []
        pieces: list[dict[str, Any]] = []
        reasoning = _reasoning(*reasoning_of(delta))
        if reasoning is not None:
            pieces.append({"content": "", "index": 0, "reasoning": reasoning})
        if delta.content:
            start, self._started_text = not self._started_text, True
            piece: dict[str, Any] = {"content": delta.content, "index": 0, "start": start}
            if choice.logprobs:
                piece["meta"] = {"logprobs": _plain(choice.logprobs)}
            pieces.append(piece)
        deltas = [self._resolve(raw) for raw in delta.tool_calls or []]
        if deltas:
            starts = any(d.tool_name for d in deltas)
            pieces.append({"content": "", "index": deltas[0].index, "tool_calls": deltas, "start": starts})
        return pieces

    def _resolve(self, raw: Any) -> ToolCallDelta:
        function = getattr(raw, "function", None)
        name = getattr(function, "name", None) or None
        arguments = getattr(function, "arguments", None) or None
        sent_id = getattr(raw, "id", None)
        call_id = sent_id or None  # an empty id identifies nothing
        raw_index = getattr(raw, "index", None)
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
        return ToolCallDelta(index=position, tool_name=new_name, arguments=arguments, id=sent_id)

    def _complete(self, position: int) -> bool:
        call = self._calls[position]
        return bool(call["name"]) and bool(call["arguments"])


def read_stream(
    stream: Any, callback: SyncStreamingCallbackT, info: ComponentInfo | None, base_url: str
) -> list[StreamingChunk]:
    """Read an openai ``Stream`` to the end, handing each converted chunk to `callback`; always closes it.

    :raises AIMLAPIError: A streamed event is not JSON.
    """
    assembler = StreamAssembler(info)
    try:
        for chunk in stream:
            for piece in assembler.add(chunk):
                callback(piece)
    except json.JSONDecodeError as error:
        raise _not_json_event(error, base_url) from None
    finally:
        stream.close()
    return assembler.chunks


async def read_stream_async(
    stream: Any, callback: StreamingCallbackT, info: ComponentInfo | None, base_url: str
) -> list[StreamingChunk]:
    """Async `read_stream` (the callback may be sync or async); closes the stream even when cancelled.

    A stream read to the end was already closed by the SDK, so closing it again does not suspend and needs no
    shield (a shield is a task, and an event-loop round, per model call); a broken-off one is closed shielded.
    """
    assembler = StreamAssembler(info)
    try:
        async for chunk in stream:
            for piece in assembler.add(chunk):
                outcome = callback(piece)
                if outcome is not None and isawaitable(outcome):
                    await outcome
    except json.JSONDecodeError as error:
        await asyncio.shield(stream.close())
        raise _not_json_event(error, base_url) from None
    except BaseException:
        await asyncio.shield(stream.close())
        raise
    await stream.close()
    return assembler.chunks


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
    _with_wire(message.meta, wire)
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
        parse_tool_call(tool_name=call["name"], raw_arguments=call["arguments"], call_id=_call_id(call["id"], index))
        for index, call in sorted(calls.items())
    ]

    def last(key: str) -> Any:
        return next((chunk.meta[key] for chunk in reversed(chunks) if chunk.meta.get(key) is not None), None)

    meta: dict[str, Any] = {
        "model": last("model"),
        "index": 0,
        "finish_reason": last("finish_reason") or None,
        "completion_start_time": chunks[0].meta.get("received_at") if chunks else None,
        "usage": last("usage"),
    }
    logprobs = [chunk.meta["logprobs"] for chunk in chunks if chunk.meta.get("logprobs")]
    if logprobs:
        meta["logprobs"] = logprobs
    cost = last("cost")
    if cost is not None:
        meta["cost"] = cost
    return ChatMessage.from_assistant(
        text=text or None, tool_calls=tool_calls, reasoning=_reasoning(reasoning_text, details), meta=meta
    )


# ---- helpers -----------------------------------------------------------------------------------------------


def _not_json_event(error: json.JSONDecodeError, base_url: str) -> AIMLAPIError:
    return AIMLAPIError(
        f"A streamed event from {base_url} is not JSON ({error.msg} at position {error.pos}): {_excerpt(error.doc)}",
        body=_excerpt(error.doc),
    )


def not_json_answer(error: json.JSONDecodeError, base_url: str) -> AIMLAPIError:
    """The error for a whole answer whose body is not JSON although it says so."""
    return AIMLAPIError(
        f"The answer from {base_url} is not JSON ({error.msg} at position {error.pos}): {_excerpt(error.doc)}",
        body=_excerpt(error.doc),
    )


def _call_id(sent: str | None, position: int) -> str:
    """The id a tool call is answered under: as sent (even empty, as Gemini sends it), else ``call_<position>``
    (a tool message must name a call id)."""
    return sent if sent is not None else f"call_{position}"


def _excerpt(text: str, limit: int = 200) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _extra(obj: Any, name: str) -> Any:
    """A field the SDK's types may not declare (kept in pydantic's ``model_extra``), or a declared one."""
    extra = getattr(obj, "model_extra", None)
    if isinstance(extra, dict) and name in extra:
        return extra[name]
    return getattr(obj, name, None)


def _plain(value: Any) -> Any:
    """SDK objects (usage, logprobs) as plain data; plain data as is."""
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _number(text: str) -> int | float | str:
    """A header's number: credits are integers, dollars a decimal string such as ``"0.001240000"``."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
