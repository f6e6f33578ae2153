"""Read a vcrpy cassette of chat completion traffic into requests and reassembled replies.

Two layouts are understood: stock vcrpy (request body a JSON string, response ``body: {string: ...}``) and
aiml-agent's readable one (JSON bodies stored as YAML mappings, SSE streams as text blocks). Streamed replies
are put back together: text deltas joined, tool-call fragments merged by index, usage from the last chunk.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aiml_agent.cli.common import CLIError


@dataclass
class ToolCallText:
    """One tool call of a reply: its id, the tool's name and the raw argument text."""

    id: str | None
    name: str | None
    arguments: str


@dataclass
class ReplyText:
    """What the server answered to one request."""

    status: int | None = None
    model: str | None = None
    text: str = ""
    refusal: str = ""
    tool_calls: list[ToolCallText] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    error: str | None = None
    raw: str | None = None  # a body that was neither JSON nor SSE


@dataclass
class Exchange:
    """One recorded interaction: the request (parsed JSON body when it is JSON) and the reply."""

    number: int
    method: str
    uri: str
    body: dict[str, Any] | None
    body_text: str | None
    reply: ReplyText


class _Loader(yaml.SafeLoader):
    """Safe YAML loading that tolerates the python/* tags old vcrpy cassettes carry, executing nothing."""


_HARMLESS_TAGS = ("str", "unicode", "tuple", "bytes", "object/new:_io.BytesIO")


def _construct_any(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if suffix not in _HARMLESS_TAGS:  # e.g. python/object/apply: refused, never executed
        raise yaml.constructor.ConstructorError(None, None, f"refusing the YAML tag {node.tag!r}", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _construct_any)


def read_cassette(path: str | Path) -> list[Exchange]:
    """Parse the cassette at ``path``; raises :class:`CLIError` naming what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"no such file: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except UnicodeDecodeError as error:
        raise CLIError(f"{path} is not a text file: {error.reason}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise CLIError(f"{path} is not valid YAML{where}: {problem}") from error
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CLIError(f"{path} is not a vcrpy cassette: no 'interactions' list at the top level")
    return [_exchange(path, number, item) for number, item in enumerate(data["interactions"], start=1)]


def _exchange(path: Path, number: int, item: Any) -> Exchange:
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        raise CLIError(f"{path}: interaction {number} has no request")
    if not isinstance(item.get("response"), dict):
        raise CLIError(f"{path}: interaction {number} has no response")
    request, response = item["request"], item["response"]
    body_value = _body_value(request.get("body"), request.get("headers"))
    body = body_value if isinstance(body_value, dict) else None
    body_text = None if body is not None or body_value is None else str(body_value)
    status = response.get("status")
    code = status.get("code") if isinstance(status, dict) else status
    reply = _reply(_body_value(response.get("body"), response.get("headers")))
    reply.status = int(code) if isinstance(code, (int, str)) and str(code).isdigit() else None
    if reply.status is not None and reply.status >= 400 and reply.error is None:
        reply.error = reply.raw or "(no message)"
    return Exchange(number, str(request.get("method", "?")), str(request.get("uri", "?")), body, body_text, reply)


def _body_value(body: Any, headers: Any) -> Any:
    """A body as JSON (dict/list), SSE text, other text, or None, whichever layout stored it."""
    if isinstance(body, dict):
        for key in ("string", "json", "parsed_body", "text"):
            if key in body:
                return _body_value(body[key], headers)
        return body if body else None
    if isinstance(body, list):
        return body
    if isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        body = raw.decode("utf-8", errors="replace")
    if body is None or body == "":
        return None
    text = str(body)
    if _is_sse(text):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _is_sse(text: str) -> bool:
    head = text.lstrip()[:16]
    return head.startswith(("data:", "event:", ":"))


def _reply(value: Any) -> ReplyText:
    if isinstance(value, str) and _is_sse(value):
        return _reply_from_stream(value)
    if isinstance(value, dict):
        return _reply_from_json(value)
    return ReplyText(raw=None if value is None else str(value) if isinstance(value, str) else json.dumps(value))


def _reply_from_json(body: dict[str, Any]) -> ReplyText:
    reply = ReplyText(model=body.get("model"), usage=body.get("usage"), cost=_cost(body))
    reply.error = _error_text(body)
    choices = body.get("choices") or []
    first = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = first.get("message") or {}
    reply.finish_reason = first.get("finish_reason")
    reply.text = _content_text(message.get("content"))
    reply.refusal = message.get("refusal") or ""
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        reply.tool_calls.append(ToolCallText(call.get("id"), function.get("name"), function.get("arguments") or ""))
    return reply


def _reply_from_stream(text: str) -> ReplyText:
    reply = ReplyText()
    calls: dict[int, ToolCallText] = {}
    parts: list[str] = []
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == "[DONE]":
            continue
        try:
            chunk = json.loads(payload)
        except ValueError:
            reply.error = f"unreadable stream chunk: {payload[:80]}"
            continue
        if not isinstance(chunk, dict):
            continue
        reply.model = reply.model or chunk.get("model")
        reply.usage = chunk.get("usage") or reply.usage
        reply.cost = _cost(chunk) or reply.cost
        reply.error = _error_text(chunk) or reply.error
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            parts.append(_content_text(delta.get("content")))
            reply.refusal += delta.get("refusal") or ""
            reply.finish_reason = choice.get("finish_reason") or reply.finish_reason
            for fragment in delta.get("tool_calls") or []:
                index = fragment.get("index", len(calls))
                function = fragment.get("function") or {}
                call = calls.setdefault(index, ToolCallText(None, None, ""))
                call.id = call.id or fragment.get("id")
                call.name = call.name or function.get("name")
                call.arguments += function.get("arguments") or ""
    reply.text = "".join(parts)
    reply.tool_calls = [calls[index] for index in sorted(calls)]
    return reply


def _cost(body: dict[str, Any]) -> dict[str, Any] | None:
    meta = body.get("meta")
    usage = meta.get("usage") if isinstance(meta, dict) else None
    return usage if isinstance(usage, dict) and usage else None


def _error_text(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str):
        return error
    if "choices" not in body and isinstance(body.get("message"), str):  # AIMLAPI's flat error body
        return body["message"]
    return None


def _content_text(content: Any) -> str:
    """Message content as text: a string, or a list of parts (text joined, other parts named)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict):
                kind = part.get("type", "?")
                texts.append(str(part.get("text", "")) if kind == "text" else f"[{kind}]")
            else:
                texts.append(str(part))
        return "\n".join(texts)
    return json.dumps(content, ensure_ascii=False)


def message_text(message: dict[str, Any]) -> str:
    """The text content of a request message (parts joined)."""
    return _content_text(message.get("content"))
