"""``aiml-agent cassette show FILE``: a recorded cassette as a transcript a reviewer can read."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import urlsplit

from aiml_agent.cli.cassette_read import Exchange, ReplyText, message_text, read_cassette
from aiml_agent.cli.common import CLIError, Style, indent, usage_text
from aiml_agent.run_result import Usage

_ROLE_STYLE = {"system": "dim", "user": "green", "assistant": "blue", "tool": "yellow", "developer": "dim"}


def execute(args: argparse.Namespace) -> int:
    """Dispatch ``cassette ACTION`` (only ``show`` for now)."""
    if args.cassette_command != "show":  # pragma: no cover - argparse only accepts known actions
        raise CLIError(f"unknown cassette action: {args.cassette_command}")
    exchanges = read_cassette(args.file)
    out = sys.stdout
    out.write(render(exchanges, args.file, full=args.full, style=Style(out)))
    out.flush()
    return 0


def render(exchanges: list[Exchange], name: str, *, full: bool = False, style: Style | None = None) -> str:
    """The whole transcript as text (plain unless ``style`` is enabled)."""
    style = style or Style(sys.stdout)
    count = len(exchanges)
    lines = [style(f"cassette {name}: {count} interaction{'s' if count != 1 else ''}", "bold")]
    previous: list[Any] = []
    previous_tools: tuple[list[Any], int] | None = None
    totals = Usage()
    for exchange in exchanges:
        lines.append("")
        lines.extend(_request_lines(exchange, previous, previous_tools, full=full, style=style))
        lines.extend(_reply_lines(exchange.number, exchange.reply, style))
        body = exchange.body or {}
        if isinstance(body.get("messages"), list):
            previous = body["messages"]
        if body.get("tools") and (previous_tools is None or previous_tools[0] != body["tools"]):
            previous_tools = (body["tools"], exchange.number)
        totals += Usage.of_reply({"usage": exchange.reply.usage, "cost": exchange.reply.cost})
    if count:
        lines.append("")
        spent = usage_text(totals.to_dict(), totals.cost)
        summary = f"total: {count} request{'s' if count != 1 else ''}" + (f" · {spent}" if spent else "")
        lines.append(style(summary, "bold"))
    return "\n".join(lines) + "\n"


def _request_lines(
    exchange: Exchange,
    previous: list[Any],
    previous_tools: tuple[list[Any], int] | None,
    *,
    full: bool,
    style: Style,
) -> list[str]:
    body = exchange.body or {}
    path = urlsplit(exchange.uri).path or exchange.uri
    header = f"── request {exchange.number}: {exchange.method} {path}"
    settings = [f"model {body['model']}"] if body.get("model") else []
    if body.get("stream"):
        settings.append("streamed")
    keys = ("tool_choice", "parallel_tool_calls", "temperature", "max_tokens", "max_completion_tokens")
    settings.extend(f"{key} {json.dumps(body[key])}" for key in keys if key in body)
    if isinstance(body.get("response_format"), dict):
        settings.append(f"response_format {_response_format(body['response_format'])}")
    lines = [style(header + ("  (" + ", ".join(settings) + ")" if settings else ""), "bold")]
    if exchange.body is None:
        text = exchange.body_text
        lines.append("  body: " + (text[:500] if text else "(empty)"))
        return lines
    lines.extend(_tools_lines(body.get("tools"), previous_tools))
    messages: list[Any] = body["messages"] if isinstance(body.get("messages"), list) else []
    start = 0
    if not full and previous and messages[: len(previous)] == previous:
        start = len(previous)
        plural = "s" if start != 1 else ""
        if start == len(messages):
            lines.append(style(f"  (the same {start} message{plural} as the request before)", "dim"))
        else:
            lines.append(style(f"  … {start} earlier message{plural}, as in the request before", "dim"))
    for message in messages[start:]:
        lines.extend(message_lines(message if isinstance(message, dict) else {"content": message}, style))
    return lines


def _tools_lines(tools: Any, previous_tools: tuple[list[Any], int] | None) -> list[str]:
    if not isinstance(tools, list) or not tools:
        return []
    if previous_tools is not None and previous_tools[0] == tools:
        return [f"  tools: the same {len(tools)} as request {previous_tools[1]}"]
    names = []
    for entry in tools:
        function = entry.get("function", entry) if isinstance(entry, dict) else {}
        name = str(function.get("name", "?"))
        names.append(name + (" [strict]" if function.get("strict") else ""))
    return [f"  tools ({len(names)}): " + ", ".join(names)]


def message_lines(message: dict[str, Any], style: Style) -> list[str]:
    """One chat message in OpenAI's format as transcript lines (``aiml-agent sessions show`` uses it too)."""
    role = str(message.get("role", "?"))
    label = role
    if role == "tool" and message.get("tool_call_id"):
        label = f"tool [{message['tool_call_id']}]"
    elif message.get("name"):
        label = f"{role} ({message['name']})"
    lines = []
    text = message_text(message)
    if text or not message.get("tool_calls"):
        lines.append(_labelled(style(label, _ROLE_STYLE.get(role, "bold")), text or "(empty)"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {} if isinstance(call, dict) else {}
        arrow = style(f"{label} → ", _ROLE_STYLE.get(role, "bold"))
        lines.append(f"  {arrow}{_call(function.get('name'), function.get('arguments'), call.get('id'))}")
    return lines


def _reply_lines(number: int, reply: ReplyText, style: Style) -> list[str]:
    notes = [f"HTTP {reply.status}"] if reply.status is not None else []
    if reply.model:
        notes.append(reply.model)
    if reply.finish_reason:
        notes.append(f"finish {reply.finish_reason}")
    lines = [style(f"── reply {number}", "bold") + (f"  ({', '.join(notes)})" if notes else "")]
    if reply.error:
        lines.append("  " + style(f"error: {reply.error}", "red"))
    if reply.text:
        lines.append(_labelled(style("assistant", "blue"), reply.text))
    if reply.refusal:
        lines.append(_labelled(style("refusal", "red"), reply.refusal))
    lines.extend("  " + style("assistant → ", "blue") + _call(c.name, c.arguments, c.id) for c in reply.tool_calls)
    if reply.raw and not reply.error:
        lines.append(_labelled("body", reply.raw[:500]))
    if not (reply.error or reply.text or reply.refusal or reply.tool_calls or reply.raw):
        lines.append("  (no content)")
    spent = usage_text(reply.usage, reply.cost)
    if spent:
        lines.append("  " + style(spent, "dim"))
    return lines


def _labelled(label: str, text: str) -> str:
    first, *rest = text.splitlines() or [""]
    return "\n".join([f"  {label}: {first}", *(indent("\n".join(rest), "      ").splitlines() if rest else [])])


def _call(name: Any, arguments: Any, call_id: Any) -> str:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    try:
        args = json.dumps(json.loads(args), ensure_ascii=False) if args else ""
    except ValueError:
        args = f"<not valid JSON: {args!r}>"
    return f"{name or '?'}({args})" + (f"  [{call_id}]" if call_id else "")


def _response_format(value: dict[str, Any]) -> str:
    schema = value.get("json_schema")
    if isinstance(schema, dict) and schema.get("name"):
        return f"{value.get('type')} ({schema['name']})"
    return str(value.get("type", "?"))
