"""Turn chat-completion answers into Haystack ChatMessages, as any gateway sends them (streams: :mod:`._streams`).

What real servers behind AIMLAPI send, and what becomes of it:

- a tool call whose arguments are not valid JSON is kept (empty ``arguments``, the raw text and the parse
  error in ``ToolCall.extra``) instead of being dropped, so an agent can tell the model what went wrong;
- reasoning text (``reasoning_content``, ``reasoning``, ``reasoning_details``) becomes ``ReasoningContent``;
- finish reasons other than OpenAI's (``"eos"``, ``""``, none at all) are kept as sent in ``meta``;
- AIMLAPI's cost (``meta.usage`` in the body, else the ``x-aimlapi-credits-used`` / ``x-aimlapi-usd-spent``
  headers) lands in ``meta["cost"]``; the request's ``X-Client-Request-Id`` and the answer's ``x-inference-id``
  in ``meta["client_request_id"]`` / ``meta["inference_id"]``;
- an answer that is not JSON and an answer with no choice raise :class:`~aiml_agent.errors.AIMLAPIError`
  naming the server and what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from haystack import logging
from haystack.dataclasses import (
    ChatMessage,
    ReasoningContent,
    ToolCall,
)

from aiml_agent.errors import AIMLAPIError

logger = logging.getLogger(__name__)

RAW_ARGUMENTS = "raw_arguments"
ARGUMENTS_ERROR = "arguments_error"
REASONING_DETAILS = "reasoning_details"


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


def cost_of(data: Any) -> dict[str, Any] | None:
    """AIMLAPI's ``meta.usage`` (``credits_used``, ``usd_spent``) of an answer or a streamed chunk, if sent."""
    meta = data.get("meta") if isinstance(data, dict) else None
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


def with_wire(meta: dict[str, Any], wire: Mapping[str, Any] | None) -> dict[str, Any]:
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

    :param completion: The answer's JSON data.
    :param base_url: Named in errors.
    :param wire: See `wire_meta`.
    :raises AIMLAPIError: The answer is not a chat completion, or has no choice.
    """
    if not isinstance(completion, dict):
        text = excerpt(json.dumps(completion))
        raise AIMLAPIError(f"The answer from {base_url} is not a chat completion: {text}", body=completion)
    choices = completion.get("choices")
    if not choices or not isinstance(choices, list):
        error = completion.get("error")
        said = f": {excerpt(json.dumps(error))}" if error else ""
        raise AIMLAPIError(
            f"The server at {base_url} returned no choice (an answer with an empty 'choices' list){said}: "
            "no reply to use.",
            body=completion,
        )
    return [completion_to_message(completion, choice, wire) for choice in choices if isinstance(choice, dict)]


def completion_to_message(
    completion: dict[str, Any], choice: dict[str, Any], wire: Mapping[str, Any] | None = None
) -> ChatMessage:
    """Convert one choice of a ChatCompletion (its JSON data) into an assistant ChatMessage.

    :param completion: The answer.
    :param choice: One of its choices.
    :param wire: See `wire_meta`.
    """
    message = choice.get("message") or {}
    tool_calls = [
        parse_tool_call(
            tool_name=call["function"].get("name") or "",
            raw_arguments=call["function"].get("arguments"),
            call_id=call_id_of(call.get("id"), i),
        )
        for i, call in enumerate(message.get("tool_calls") or [])
        if isinstance(call, dict)
        and call.get("type", "function") == "function"
        and isinstance(call.get("function"), dict)
    ]
    meta: dict[str, Any] = {
        "id": completion.get("id"),
        "model": completion.get("model"),
        "index": choice.get("index"),
        "finish_reason": choice.get("finish_reason"),
        "usage": completion.get("usage"),
    }
    if choice.get("logprobs"):
        meta["logprobs"] = choice["logprobs"]
    if message.get("refusal"):
        meta["refusal"] = message["refusal"]
    cost = cost_of(completion)
    if cost is not None:
        meta["cost"] = cost
    text, details = reasoning_of(message)
    reasoning = reasoning_content(text, details)
    return ChatMessage.from_assistant(
        text=content_text(message.get("content")),
        tool_calls=tool_calls,
        reasoning=reasoning,
        meta=with_wire(meta, wire),
    )


def content_text(content: Any) -> str | None:
    """A message's content as text: a string as is, a list of content parts (some gateways) joined."""
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict)) or None
    return content if isinstance(content, str) else None


def reasoning_of(message: dict[str, Any]) -> tuple[str, list[Any]]:
    """The reasoning text of a message or a streamed delta, and its raw ``reasoning_details`` (if any).

    ``reasoning_content`` (DeepSeek, Qwen, GLM) or ``reasoning`` (OpenRouter, Groq) hold the text; when only
    ``reasoning_details`` (OpenRouter, Anthropic through gateways) has it, it is read from there.
    """
    details = message.get(REASONING_DETAILS)
    details = list(details) if isinstance(details, list) else []
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value, details
    texts = [
        str(detail.get("text") or detail.get("summary") or "")
        for detail in details
        if isinstance(detail, dict) and isinstance(detail.get("text") or detail.get("summary"), str)
    ]
    return "".join(texts), details


def reasoning_content(text: str, details: list[Any]) -> ReasoningContent | None:
    """Haystack's ReasoningContent for reasoning text and raw details (None when there is neither)."""
    if not text and not details:
        return None
    return ReasoningContent(reasoning_text=text, extra={REASONING_DETAILS: details} if details else {})


# ---- helpers -----------------------------------------------------------------------------------------------


def not_json_answer(error: json.JSONDecodeError, base_url: str) -> AIMLAPIError:
    """The error for a whole answer whose body is not JSON although it says so."""
    return AIMLAPIError(
        f"The answer from {base_url} is not JSON ({error.msg} at position {error.pos}): {excerpt(error.doc)}",
        body=excerpt(error.doc),
    )


def call_id_of(sent: str | None, position: int) -> str:
    """The id a tool call is answered under: as sent (even empty, as Gemini sends it), else ``call_<position>``
    (a tool message must name a call id)."""
    return sent if sent is not None else f"call_{position}"


def excerpt(text: str, limit: int = 200) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _number(text: str) -> int | float | str:
    """A header's number: credits are integers, dollars a decimal string such as ``"0.001240000"``."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
