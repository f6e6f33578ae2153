"""``aiml-agent cassette show FILE``: a recorded cassette as a transcript a reviewer can read.

The file is read by the serializer replays use (:class:`aiml_agent.testing.cassettes.ReadableYAMLSerializer`:
its format checks, safe YAML, aiml-agent's readable layout and stock vcrpy's), and every answer is parsed as the
generator parses it (:mod:`aiml_agent._responses`, streams reassembled by :mod:`aiml_agent._streams`), so the
transcript shows the replies, tool calls, tokens and cost an agent replaying the cassette gets.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiml_agent.cli._shared import (
    CLIError,
    Style,
    add_debug,
    call_text,
    count_text,
    labelled,
    message_lines,
    tool_call_arguments,
    usage_text,
)

if TYPE_CHECKING:
    from haystack.dataclasses import ChatMessage

_SETTINGS = ("tool_choice", "parallel_tool_calls", "temperature", "max_tokens", "max_completion_tokens")


def add_parser(commands: Any) -> None:
    """Add ``cassette`` and its action ``show`` to the command line's subparsers."""
    cassette = commands.add_parser(
        "cassette",
        help="work with recorded cassettes",
        description="Work with vcrpy cassettes recorded by tests and examples.",
    )
    actions = cassette.add_subparsers(dest="cassette_command", metavar="ACTION", parser_class=type(cassette))
    actions.required = True
    show = actions.add_parser(
        "show",
        help="print a cassette as a readable transcript",
        description="Print a cassette as a transcript: each request's messages by role, the tools offered, "
        "the model's reply and tool calls (streams reassembled) and the tokens used.",
    )
    show.add_argument("file", metavar="FILE", help="a vcrpy YAML cassette")
    show.add_argument(
        "--full", action="store_true", help="repeat every request's whole conversation (default: only new messages)"
    )
    add_debug(show)
    add_debug(cassette)


def execute(args: argparse.Namespace) -> int:
    """Print the cassette ``args.file`` as a transcript (``show`` is the only action)."""
    exchanges = read_cassette(args.file)
    out = sys.stdout
    out.write(render(exchanges, args.file, full=args.full, style=Style(out)))
    out.flush()
    return 0


# ---- reading -----------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One recorded interaction: the request (its JSON body when it is JSON) and what came back.

    :param reply: The answer as the generator reads it; None when it is no chat completion (an error, other data).
    :param error: The server's error message (an error status, or an error event in a stream).
    :param raw: The answer's text when it is no chat completion.
    """

    number: int
    method: str
    uri: str
    body: dict[str, Any] | None
    body_text: str | None
    status: int
    reply: ChatMessage | None = None
    error: str | None = None
    raw: str | None = None


def read_cassette(path: str | Path) -> list[Exchange]:
    """Read the cassette at ``path``; a :class:`CLIError` names the file and what is wrong with it."""
    from aiml_agent.testing.cassettes import CassetteFormatError, ReadableYAMLSerializer

    path = Path(path)
    if not path.is_file():
        raise CLIError(f"no such file: {path}")
    try:
        data = ReadableYAMLSerializer.deserialize(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CLIError(str(CassetteFormatError("not UTF-8 text", path=path))) from None
    except CassetteFormatError as error:
        raise CLIError(str(CassetteFormatError(error.problem, path=path))) from None
    return [_exchange(number, item) for number, item in enumerate(data["interactions"], start=1)]


def _exchange(number: int, interaction: dict[str, Any]) -> Exchange:
    request, response = interaction["request"], interaction["response"]
    request_text = _text(request["body"])
    try:
        parsed = json.loads(request_text) if request_text else None
    except ValueError:
        parsed = None
    body = parsed if isinstance(parsed, dict) else None
    exchange = Exchange(
        number,
        request["method"],
        request["uri"],
        body,
        None if body is not None else request_text,
        response["status"]["code"],
    )
    headers = {
        str(key).lower(): value[0] if isinstance(value, list) else value for key, value in response["headers"].items()
    }
    _read_answer(exchange, _text(response["body"].get("string")) or "", headers)
    return exchange


def _text(body: Any) -> str | None:
    """A stored body as text (bytes decoded, gzip unpacked), or None."""
    if isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
        body = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8", errors="replace")
    return body if isinstance(body, str) else None


def _read_answer(exchange: Exchange, text: str, headers: Mapping[str, Any]) -> None:
    """Fill in the exchange's reply (or error, or raw text) from the answer's text."""
    from aiml_agent._openai_errors import server_words
    from aiml_agent._responses import wire_meta

    wire = wire_meta(headers, None)
    if text.lstrip().startswith(("data:", "event:", ":")):
        _read_stream(exchange, text, wire)
        return
    try:
        value = json.loads(text) if text else None
    except ValueError:
        value = None
    if isinstance(value, dict) and value.get("choices") and exchange.status < 400:
        try:
            exchange.reply = _completion(value, wire)
            return
        except (AttributeError, TypeError, ValueError):  # not shaped like a chat completion: shown as it is
            pass
    if isinstance(value, dict) and "choices" not in value:
        exchange.error = server_words(value)[0]
    if exchange.status >= 400 and exchange.error is None:
        exchange.error = text or "(no message)"
    exchange.raw = text or None


def _completion(value: dict[str, Any], wire: Mapping[str, Any]) -> ChatMessage:
    from aiml_agent._responses import completion_to_message

    return completion_to_message(value, value["choices"][0], wire)


def _read_stream(exchange: Exchange, text: str, wire: Mapping[str, Any]) -> None:
    """A streamed answer, put together as the generator does (tool-call fragments, usage, cost)."""
    from aiml_agent._openai_errors import server_words
    from aiml_agent._responses import with_wire
    from aiml_agent._streams import StreamAssembler, chunks_to_message

    assembler = StreamAssembler(None)
    for line in text.splitlines():
        payload = line[5:].strip() if line.startswith("data:") else ""
        if not payload or payload == "[DONE]":
            continue
        try:
            chunk = json.loads(payload)
        except ValueError:
            exchange.error = f"unreadable stream chunk: {payload[:80]}"
            continue
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):  # the usage an error event may carry still counts
            exchange.error = server_words(chunk)[0]
            chunk = {key: value for key, value in chunk.items() if key != "error"}
        if "choices" not in chunk and "usage" not in chunk:  # not a chat completion chunk (e.g. MCP's JSON-RPC)
            continue
        try:
            assembler.add(chunk)
        except (AttributeError, TypeError, ValueError):
            exchange.error = f"unreadable stream chunk: {payload[:80]}"
    if assembler.chunks:
        exchange.reply = chunks_to_message(assembler.chunks)
        with_wire(exchange.reply.meta, wire)
    elif exchange.error is None:
        exchange.raw = text


# ---- the transcript ----------------------------------------------------------------------------------------


def render(exchanges: list[Exchange], name: str, *, full: bool = False, style: Style | None = None) -> str:
    """The whole transcript as text (plain unless ``style`` is enabled)."""
    from aiml_agent.run_result import Usage

    style = style or Style(sys.stdout)
    lines = [style(f"cassette {name}: {count_text(len(exchanges), 'interaction')}", "bold")]
    previous: list[Any] = []
    previous_tools: tuple[list[Any], int] | None = None
    totals = Usage()
    for exchange in exchanges:
        lines.append("")
        lines.extend(_request_lines(exchange, previous, previous_tools, full=full, style=style))
        lines.extend(_reply_lines(exchange, style))
        body = exchange.body or {}
        if isinstance(body.get("messages"), list):
            previous = body["messages"]
        if body.get("tools") and (previous_tools is None or previous_tools[0] != body["tools"]):
            previous_tools = (body["tools"], exchange.number)
        if exchange.reply is not None:
            totals += Usage.of_reply(exchange.reply.meta)
    if exchanges:
        spent = usage_text(totals.to_dict(), totals.cost)
        summary = f"total: {count_text(len(exchanges), 'request')}" + (f" · {spent}" if spent else "")
        lines += ["", style(summary, "bold")]
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
    settings.extend(f"{key} {json.dumps(body[key])}" for key in _SETTINGS if key in body)
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
        if start == len(messages):
            lines.append(style(f"  (the same {count_text(start, 'message')} as the request before)", "dim"))
        else:
            lines.append(style(f"  … {count_text(start, 'earlier message')}, as in the request before", "dim"))
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


def _reply_lines(exchange: Exchange, style: Style) -> list[str]:
    reply = exchange.reply
    meta: dict[str, Any] = reply.meta if reply is not None else {}
    notes = [f"HTTP {exchange.status}"]
    if meta.get("model"):
        notes.append(str(meta["model"]))
    if meta.get("finish_reason"):
        notes.append(f"finish {meta['finish_reason']}")
    lines = [style(f"── reply {exchange.number}", "bold") + f"  ({', '.join(notes)})"]
    if exchange.error:
        lines.append(labelled(style("error", "red"), exchange.error))
    if reply is not None and reply.text:
        lines.append(labelled(style("assistant", "blue"), reply.text))
    if meta.get("refusal"):
        lines.append(labelled(style("refusal", "red"), str(meta["refusal"])))
    arrow = "  " + style("assistant → ", "blue")
    calls = reply.tool_calls if reply is not None else []
    lines.extend(arrow + call_text(call.tool_name, tool_call_arguments(call), call.id) for call in calls)
    if exchange.raw and not exchange.error:
        lines.append(labelled("body", exchange.raw[:500]))
    if len(lines) == 1:
        lines.append("  (no content)")
    spent = usage_text(meta.get("usage"), meta.get("cost"))
    if spent:
        lines.append("  " + style(spent, "dim"))
    return lines


def _response_format(value: dict[str, Any]) -> str:
    schema = value.get("json_schema")
    if isinstance(schema, dict) and schema.get("name"):
        return f"{value.get('type')} ({schema['name']})"
    return str(value.get("type", "?"))
