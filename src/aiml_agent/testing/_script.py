"""One script of model answers, shared by `ScriptedServer` (over HTTP) and `ScriptedChatGenerator` (in process).

What a script is (`Reply` and `ToolCallReply` items, strings, or a function of the request body), the order its
replies are handed out in, the ids they get (``call_N``, ``inf-N``) and the answers built from them: a whole
chat completion, the server-sent events of a streamed one, or an AIMLAPI error body, exactly as AIMLAPI would
send them. Both scripted models go through this module, so a script means the same to each of them.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Literal

__all__ = [
    "CHAT_PATH",
    "Answer",
    "Reply",
    "Script",
    "ScriptExhausted",
    "ScriptItem",
    "ScriptItemError",
    "ScriptPlayer",
    "ToolCallReply",
    "encoded_content",
    "error_body",
    "phrase",
    "script_from_data",
    "script_to_data",
]

CHAT_PATH = "/v1/chat/completions"
_FINGERPRINT = "fp_scripted"


@dataclass
class ToolCallReply:
    """One tool call in a scripted reply.

    :param name: The function name the "model" calls.
    :param arguments: A dict (sent as JSON) or a raw string, sent as is (e.g. ``'{"tz": '`` to simulate
        malformed JSON from the model).
    :param id: The call id; ``None`` gives ``"call_N"``, numbered per scripted model (server or generator) in
        the order calls are sent (``""`` is sent as is, as Gemini does).
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """The arguments string as it goes on the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Reply:
    """One scripted answer.

    :param text: The assistant's text (``None``: no content).
    :param tool_calls: Tool calls, sent with indexes 0, 1, ... in this order.
    :param finish_reason: Defaults to ``"tool_calls"`` when there are tool calls, else ``"stop"``.
    :param usage: Token usage sent as is; ``None`` gives deterministic counts: prompt tokens are the
        whitespace-separated words of the request's messages, completion tokens the words of the reply's
        text plus its tool calls' names and argument strings.
    :param cost: AIMLAPI cost (e.g. ``{"credits_used": 42, "usd_spent": 0.000021}``), sent as top-level
        ``"meta": {"usage": cost}`` (in a stream, on the last chunk before ``[DONE]``).
    :param model: The model named in the answer; defaults to the request's ``model``.
    :param status: HTTP status. A status >= 400 without `body` answers AIMLAPI's flat error body.
    :param body: A raw body sent as is with `status`: JSON (e.g. OpenAI's ``{"error": {...}}`` shape), or a
        str / bytes sent as plain text (e.g. a proxy's error page).
    :param error_message: The ``message`` of the AIMLAPI flat error body (see `Reply.error`).
    :param request_id: ``requestId`` of the error body; ``None`` gives a fresh uuid.
    :param delay: Seconds to wait before answering.
    :param chunk_delay: Seconds to wait between server-sent events of a streamed answer.
    :param cut_after: For a streamed answer: close the connection after this many events, without
        ``[DONE]`` and without ending the chunked body, so the client sees a broken stream.
    :param headers: Extra response headers (e.g. ``{"retry-after": "0"}``).
    :param cost_in: Where `cost` goes: ``"body"`` (``meta.usage``), ``"headers"`` (``x-aimlapi-credits-used`` /
        ``x-aimlapi-usd-spent``, as AIMLAPI sends it on whole answers) or ``"both"``.
    :param reasoning: Reasoning text, sent before the answer in the message's (or the deltas') `reasoning_field`.
    :param reasoning_field: ``"reasoning_content"`` (DeepSeek, Qwen), ``"reasoning"`` (OpenRouter, Groq) or
        ``"reasoning_details"`` (a list of ``{"type": "reasoning.text", "text": ...}``).
    :param tool_call_index: How streamed tool-call deltas are numbered: ``"sequential"`` (OpenAI: 0, 1, ...),
        ``"repeated"`` (every call ``0``), ``"missing"`` (no ``index``) or ``"whole"`` (no ``index``, each call
        in one delta, as Gemini sends them).
    :param events: For a streamed answer: these raw SSE ``data:`` payloads instead of the scripted reply's.
    :param content_type: The content type of a raw `body` (default: JSON for data, text for str / bytes).
    :param inference_id: The ``x-inference-id`` header; ``None`` gives ``"inf-N"``, numbered per scripted model
        in the order answers are sent (so that recording an unchanged run again gives the same file).
    """

    text: str | None = None
    tool_calls: list[ToolCallReply] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    model: str | None = None
    status: int = 200
    body: Any = None
    error_message: str | None = None
    request_id: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cost_in: Literal["body", "headers", "both"] = "body"
    reasoning: str | None = None
    reasoning_field: Literal["reasoning_content", "reasoning", "reasoning_details"] = "reasoning_content"
    tool_call_index: Literal["sequential", "repeated", "missing", "whole"] = "sequential"
    events: list[str] | None = None
    content_type: str | None = None
    inference_id: str | None = None

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """An AIMLAPI error: ``{"message", "path", "requestId", "statusCode", "timestamp"}`` with `status`.

        :param status: The HTTP status (e.g. 429, 500).
        :param message: The body's ``message``.
        :param request_id: The body's ``requestId``; ``None`` gives a fresh uuid.
        :param headers: Extra response headers (e.g. ``{"retry-after": "1"}``).
        :param delay: Seconds to wait before answering.
        """
        return cls(
            status=status, error_message=message, request_id=request_id, headers=dict(headers or {}), delay=delay
        )

    @classmethod
    def problem(
        cls,
        status: int,
        message: str,
        *,
        title: str | None = None,
        request_id: str | None = None,
        error_name: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """An AIMLAPI problem+json error: ``{"title", "status", "instance", "message", "requestId", "timestamp",
        "error": {"name", "message"}}`` sent as ``application/problem+json``.

        :param status: The HTTP status.
        :param message: The ``message`` (and ``error.message``).
        :param title: The ``title``; defaults to the status's reason phrase.
        :param request_id: ``requestId``; ``None`` gives a fresh uuid.
        :param error_name: ``error.name``; defaults to the phrase as an exception name ("BadRequestException").
        :param headers: Extra response headers.
        """
        reason = phrase(status) or f"HTTP {status}"
        request_id = request_id or str(uuid.uuid4())
        body = {
            "title": title or reason,
            "status": status,
            "instance": CHAT_PATH,
            "message": message,
            "requestId": request_id,
            "timestamp": _timestamp(),
            "error": {"name": error_name or reason.replace(" ", "") + "Exception", "message": message},
        }
        return cls(
            status=status,
            body=body,
            content_type="application/problem+json; charset=utf-8",
            headers={"x-request-id": request_id, **(headers or {})},
        )


ScriptItem = Reply | str
Script = Sequence[ScriptItem] | Callable[[dict[str, Any]], ScriptItem]


class ScriptExhausted(Exception):
    """A list script has no reply left for a request (the message names the request's number)."""


class ScriptItemError(TypeError):
    """A script item (or what a script function returned) is neither a `Reply` nor a string."""


@dataclass
class Answer:
    """What a scripted model answers one chat request with, before it is put on a wire.

    :param status: The HTTP status.
    :param headers: The answer's own headers (``x-inference-id``, the echoed ``x-client-request-id``, cost
        headers, the reply's extra headers); the transport adds its framing ones (content type, length).
    :param content: For a whole answer: JSON data, or a str / bytes sent as text.
    :param content_type: The content type of `content`; ``None`` lets the transport pick JSON or text.
    :param events: For a streamed answer: the SSE ``data:`` payloads, ending with ``[DONE]``.
    """

    status: int
    headers: dict[str, str]
    content: Any = None
    content_type: str | None = None
    events: list[str] | None = None


class ScriptPlayer:
    """Hands out a script's replies in order and builds the answers to send for them; thread-safe.

    :param script: Replies taken in order (`Reply` objects or strings), or a function of the request body
        returning one; ``None`` is an empty list (see `add`).
    :param owner: Who plays the script, named in its errors (``"ScriptedServer"``).
    :param model: The model named in answers when neither the reply nor the request names one.
    :raises TypeError: `script` is a single reply instead of a list.
    """

    def __init__(self, script: Script | None, *, owner: str, model: str) -> None:
        self.owner = owner
        self.model = model
        self._function: Callable[[dict[str, Any]], ScriptItem] | None = None
        self._replies: deque[ScriptItem] = deque()
        if callable(script):
            self._function = script
        elif script is not None:
            if isinstance(script, (str, Reply)):
                raise TypeError(f"{owner}(script) takes a list of replies or a function, not one reply")
            self._replies.extend(script)
        self._lock = threading.Lock()
        self._served = 0
        self._call_counter = 0
        self._inference_counter = 0

    def __getstate__(self) -> dict[str, Any]:
        """What a copy takes: everything but the lock (a copy plays on from where this one is, on its own)."""
        with self._lock:
            return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def served(self) -> int:
        """Replies taken from the script so far."""
        with self._lock:
            return self._served

    @property
    def remaining(self) -> int:
        """Replies left in a list script (0 for a function script)."""
        with self._lock:
            return len(self._replies)

    def add(self, replies: Sequence[ScriptItem]) -> None:
        """Append replies to a list script."""
        if self._function is not None:
            raise TypeError(f"{self.owner}.add() needs a list script; this one answers with a function")
        with self._lock:
            self._replies.extend(replies)

    def next_item(self, number: int) -> ScriptItem | None:
        """Take the item for request `number` (1 for the first): the next one of a list script, ``None`` for a
        function script (ask `reply_for`, outside any lock: the function may be slow).

        :raises ScriptExhausted: A list script has no item left.
        """
        with self._lock:
            if self._function is None:
                if not self._replies:
                    raise ScriptExhausted(
                        f"{self.owner} script exhausted: no reply left for request #{number} "
                        f"({self._served} requests served)"
                    )
                item: ScriptItem | None = self._replies.popleft()
            else:
                item = None
            self._served += 1
        return item

    def reply_for(self, item: ScriptItem | None, body: dict[str, Any]) -> Reply:
        """The `Reply` for an item taken by `next_item`: a string is a text reply; ``None`` asks the script
        function with the request body (whatever it raises propagates).

        :raises ScriptItemError: The item is neither a `Reply` nor a string.
        """
        if item is None:
            assert self._function is not None
            item = self._function(body)
        if isinstance(item, str):
            return Reply(text=item)
        if not isinstance(item, Reply):
            raise ScriptItemError(f"{self.owner} script item must be a Reply or str, got {item!r}")
        return item

    def answer(self, reply: Reply, body: dict[str, Any], request_headers: Mapping[str, str], path: str) -> Answer:
        """What to send for `reply` to the chat request `body` (with lower-case `request_headers`, at `path`)."""
        headers = {"x-inference-id": reply.inference_id or self._next_inference_id()}
        if "x-client-request-id" in request_headers:
            headers["x-client-request-id"] = request_headers["x-client-request-id"]
        headers.update(reply.headers)
        if reply.status >= 400 or reply.body is not None:
            content = (
                reply.body
                if reply.body is not None
                else error_body(
                    reply.status,
                    reply.error_message or phrase(reply.status) or f"HTTP {reply.status}",
                    path,
                    reply.request_id,
                )
            )
            return Answer(reply.status, headers, content, reply.content_type)
        if body.get("stream"):
            events = reply.events if reply.events is not None else list(self.events(body, reply))
            return Answer(200, headers, events=events)
        if reply.cost is not None and reply.cost_in in ("headers", "both"):
            headers.update(_cost_headers(reply.cost))
        return Answer(200, headers, self.completion(body, reply))

    def _next_inference_id(self) -> str:
        with self._lock:
            self._inference_counter += 1
            return f"inf-{self._inference_counter}"

    def _call_ids(self, reply: Reply) -> list[str]:
        with self._lock:
            ids = []
            for call in reply.tool_calls:
                if call.id is None:
                    self._call_counter += 1
                ids.append(call.id if call.id is not None else f"call_{self._call_counter}")
            return ids

    def _base(self, body: dict[str, Any], reply: Reply, obj: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": obj,
            "created": int(time.time()),
            "model": reply.model or body.get("model") or self.model,
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
        }

    def completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """The whole (non-streamed) chat completion for `reply`."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
        if reply.reasoning is not None:
            message[reply.reasoning_field] = _reasoning_value(reply, reply.reasoning)
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                for call_id, c in zip(self._call_ids(reply), reply.tool_calls)
            ]
        result = self._base(body, reply, "chat.completion")
        result["choices"] = [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"),
            }
        ]
        result["usage"] = reply.usage if reply.usage is not None else _default_usage(body, reply)
        if reply.cost is not None and reply.cost_in in ("body", "both"):
            result["meta"] = {"usage": reply.cost}
        return result

    def events(self, body: dict[str, Any], reply: Reply) -> Iterator[str]:
        """The SSE data payloads of a streamed reply, ending with ``[DONE]``."""
        base = self._base(body, reply, "chat.completion.chunk")
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        chunks: list[dict[str, Any]] = []

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            chunks.append({**base, "choices": [choice], **({"usage": None} if include_usage else {})})

        chunk({"role": "assistant", "content": "" if reply.text is not None else None, "refusal": None})
        for piece in _text_pieces(reply.reasoning or ""):
            chunk({reply.reasoning_field: _reasoning_value(reply, piece)})
        for piece in _text_pieces(reply.text or ""):
            chunk({"content": piece})
        for delta in _tool_call_deltas(reply, self._call_ids(reply)):
            chunk({"tool_calls": [delta]})
        chunk({}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"))
        if include_usage:
            usage = reply.usage if reply.usage is not None else _default_usage(body, reply)
            chunks.append({**base, "choices": [], "usage": usage})
        if reply.cost is not None:
            chunks[-1]["meta"] = {"usage": reply.cost}  # a stream has no headers after its start: always in the body
        for item in chunks:
            yield json.dumps(item)
        yield "[DONE]"


def encoded_content(content: Any) -> tuple[bytes, str]:
    """A whole answer's body as bytes, with its default content type: JSON data as JSON; a str / bytes as text
    (e.g. a proxy's HTML error page)."""
    if isinstance(content, (str, bytes)):
        return (content.encode() if isinstance(content, str) else content), "text/plain; charset=utf-8"
    return json.dumps(content).encode(), "application/json"


def script_to_data(script: Script | None) -> Any:
    """A script as JSON-friendly data: a list of strings and reply dicts (the fields that differ from their
    defaults), or ``{"function": "<import path>"}`` for a function script.

    :raises TypeError: A list item is neither a `Reply` nor a string.
    """
    if script is None:
        return None
    if callable(script):
        from haystack.utils import serialize_callable

        return {"function": serialize_callable(script)}
    return [_item_to_data(item) for item in script]


def script_from_data(data: Any) -> Script | None:
    """The script `script_to_data` wrote (a function loads through Haystack's deserialization allowlist)."""
    if data is None:
        return None
    if isinstance(data, dict):
        from aiml_agent._haystack import load_callable

        function: Callable[[dict[str, Any]], ScriptItem] = load_callable(data["function"], what="the script function")
        return function
    return [item if isinstance(item, str) else _reply_from_data(item) for item in data]


def _item_to_data(item: ScriptItem) -> str | dict[str, Any]:
    if isinstance(item, str):
        return item
    if not isinstance(item, Reply):
        raise TypeError(f"A script item must be a Reply or str, got {item!r}")
    defaults = Reply()
    data = {f.name: value for f in fields(Reply) if (value := getattr(item, f.name)) != getattr(defaults, f.name)}
    if item.tool_calls:
        data["tool_calls"] = [asdict(call) for call in item.tool_calls]
    return data


def _reply_from_data(data: dict[str, Any]) -> Reply:
    calls = [ToolCallReply(**call) for call in data.get("tool_calls") or []]
    return Reply(**{**data, "tool_calls": calls})


def error_body(status: int, message: str, path: str, request_id: str | None = None) -> dict[str, Any]:
    """AIMLAPI's flat error body: ``{"message", "path", "requestId", "statusCode", "timestamp"}``."""
    return {
        "message": message,
        "path": path,
        "requestId": request_id or str(uuid.uuid4()),
        "statusCode": status,
        "timestamp": _timestamp(),
    }


def _words(value: Any) -> int:
    """Whitespace-separated words in message content (a string or a list of text parts)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(part.get("text") if isinstance(part, dict) else part) for part in value)
    return 0


def _default_usage(body: dict[str, Any], reply: Reply) -> dict[str, int]:
    messages: list[Any] = body["messages"] if isinstance(body.get("messages"), list) else []
    prompt = sum(_words(m.get("content")) for m in messages if isinstance(m, dict))
    completion = _words(reply.text) + sum(1 + len(c.arguments_json.split()) for c in reply.tool_calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _text_pieces(text: str) -> list[str]:
    """Split text into word-sized deltas (each keeps its leading whitespace); they join back to `text`."""
    return re.findall(r"\s*\S+|\s+", text)


def _argument_pieces(arguments: str) -> list[str]:
    """Split an arguments string into 2+ token-like fragments, as OpenAI streams them."""
    pieces = re.findall(r"\w+|\s+|[^\w\s]+", arguments)
    if len(pieces) == 1 and len(arguments) > 1:
        half = len(arguments) // 2
        pieces = [arguments[:half], arguments[half:]]
    return pieces


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cost_headers(cost: dict[str, Any]) -> dict[str, str]:
    """AIMLAPI's cost headers: credits an integer, dollars a decimal string such as ``0.001240000``."""
    headers = {}
    if cost.get("credits_used") is not None:
        headers["x-aimlapi-credits-used"] = str(cost["credits_used"])
    if cost.get("usd_spent") is not None:
        headers["x-aimlapi-usd-spent"] = f"{float(cost['usd_spent']):.9f}"
    return headers


def phrase(status: int) -> str:
    """The HTTP reason phrase ("" for a non-standard status such as 599)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _reasoning_value(reply: Reply, text: str) -> Any:
    """Reasoning text as `reply.reasoning_field` carries it (a list of detail objects for ``reasoning_details``)."""
    if reply.reasoning_field == "reasoning_details":
        return [{"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}]
    return text


def _tool_call_deltas(reply: Reply, call_ids: list[str]) -> Iterator[dict[str, Any]]:
    """The streamed tool-call deltas of a reply, numbered as `Reply.tool_call_index` says."""
    for position, (call_id, call) in enumerate(zip(call_ids, reply.tool_calls)):
        mode = reply.tool_call_index
        index = {"index": position} if mode == "sequential" else {"index": 0} if mode == "repeated" else {}
        head = {**index, "id": call_id, "type": "function"}
        if mode == "whole":
            yield {**head, "function": {"name": call.name, "arguments": call.arguments_json}}
            continue
        yield {**head, "function": {"name": call.name, "arguments": ""}}
        for piece in _argument_pieces(call.arguments_json):
            yield {**index, "function": {"arguments": piece}}
