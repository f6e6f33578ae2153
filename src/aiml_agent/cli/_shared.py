"""What the commands share: the error for bad input, the parser's conventions, terminal styling, usage and
transcript text, and TARGET loading.

TARGET is a ``.py`` file or an importable module, optionally with ``:NAME``. Which of a module's objects are
its tools is decided by the rule ``Toolset.from_module`` follows (:mod:`aiml_agent._module_tools`): its Tool and
Toolset objects when it has any, else the public functions defined in it; ``TARGET:NAME`` picks one function,
Tool or Toolset.

Only the standard library is imported here: the parser is built from these pieces for ``aiml-agent --help``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TextIO

if TYPE_CHECKING:
    from haystack.dataclasses import ToolCall
    from haystack.tools import Tool

    from aiml_agent.agent import Agent

PROG = "aiml-agent"

TARGET_HELP = (
    "a .py file or an importable module (e.g. my_tools.py, mypkg.tools), optionally with :NAME to pick one "
    "object (e.g. my_tools.py:toolset). Its Tool and Toolset objects (@tool functions included) are the tools; "
    "a module with none offers every public function defined in it."
)


class CLIError(Exception):
    """Bad input or a failed step, reported as one line on stderr (the message names what was wrong)."""


# ---- the parser's conventions ------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def add_debug(parser: argparse.ArgumentParser, *, default: object = argparse.SUPPRESS) -> None:
    """``--debug`` on ``parser`` (every level accepts it; only the top level sets its default)."""
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show the full traceback when something fails"
    )


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def json_value(text: str) -> Any:
    """A JSON value given inline, or as ``@path`` to a file holding it; a :class:`CLIError` says what is wrong.

    :param text: ``'{"user_id": 42}'`` or ``@deps.json``.
    """
    where = "the value"
    if text.startswith("@"):
        path = Path(text[1:])
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CLIError(f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise CLIError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CLIError(
            f"{where} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno} "
            """(e.g. '{"user_id": 42}', or @file.json)"""
        ) from None


# ---- terminal text -----------------------------------------------------------------------------------------


class Style:
    """ANSI styling for a terminal; plain text when the stream is not a TTY or ``NO_COLOR`` is set."""

    _CODES: ClassVar[dict[str, str]] = {
        "bold": "1",
        "dim": "2",
        "red": "31",
        "green": "32",
        "yellow": "33",
        "blue": "34",
        "cyan": "36",
    }

    def __init__(self, stream: TextIO) -> None:
        is_tty = bool(getattr(stream, "isatty", lambda: False)())
        self.enabled = is_tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"

    def __call__(self, text: str, *names: str) -> str:
        """Wrap ``text`` in the named styles (e.g. ``style(text, "bold", "red")``) when enabled."""
        if not self.enabled or not names or not text:
            return text
        codes = ";".join(self._CODES[name] for name in names)
        return f"\x1b[{codes}m{text}\x1b[0m"


def number_text(value: object) -> str:
    """A number without exponent notation (AIMLAPI's ``usd_spent`` is often around 0.00002)."""
    if isinstance(value, float):
        return f"{value:.10f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def seconds_text(value: float) -> str:
    """A duration as ``250 ms`` under a second, else ``1.50 s``."""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def count_text(number: int, noun: str) -> str:
    """``1 run``, ``3 runs``."""
    return f"{number} {noun}{'s' if number != 1 else ''}"


def indent(text: str, prefix: str) -> str:
    """Indent every line of ``text`` (including empty ones) with ``prefix``."""
    return "\n".join(prefix + line if line else prefix.rstrip() for line in text.splitlines() or [""])


def usage_text(usage: Mapping[str, Any] | None, cost: Mapping[str, Any] | None = None) -> str:
    """Token usage and AIMLAPI cost as every command shows them; empty when there is neither.

    ``61 tokens (50 prompt + 11 completion) · cost 42 credits, $0.000021``
    """
    usage = usage or {}
    prompt, completion, total = (usage.get(f"{key}_tokens") for key in ("prompt", "completion", "total"))
    parts = []
    if prompt or completion or total:
        total = total if total is not None else (prompt or 0) + (completion or 0)
        split = prompt is not None or completion is not None
        parts.append(f"{total} tokens" + (f" ({prompt or 0} prompt + {completion or 0} completion)" if split else ""))
    shown = []
    for key, value in (cost or {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key == "credits_used":
            shown.append(f"{number_text(value)} credits")
        elif key == "usd_spent":
            shown.append(f"${number_text(value)}")
        else:
            shown.append(f"{key} {number_text(value)}")
    if shown:
        parts.append("cost " + ", ".join(shown))
    return " · ".join(parts)


# ---- transcripts (cassette show, sessions show) ------------------------------------------------------------

_ROLE_STYLE = {"system": "dim", "user": "green", "assistant": "blue", "tool": "yellow", "developer": "dim"}


def message_lines(message: Mapping[str, Any], style: Style) -> list[str]:
    """One chat message in OpenAI's format as transcript lines: ``  user: ...``, ``  assistant → f({...})``."""
    role = str(message.get("role", "?"))
    label = role
    if role == "tool" and message.get("tool_call_id"):
        label = f"tool [{message['tool_call_id']}]"
    elif message.get("name"):
        label = f"{role} ({message['name']})"
    lines = []
    text = content_text(message.get("content"))
    if text or not message.get("tool_calls"):
        lines.append(labelled(style(label, _ROLE_STYLE.get(role, "bold")), text or "(empty)"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {} if isinstance(call, dict) else {}
        arrow = style(f"{label} → ", _ROLE_STYLE.get(role, "bold"))
        arguments = arguments_text(function.get("arguments"))
        lines.append(f"  {arrow}{call_text(function.get('name'), arguments, call.get('id'))}")
    return lines


def content_text(content: Any) -> str:
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


def labelled(label: str, text: str) -> str:
    """``  label: first line`` with the text's other lines indented beneath it."""
    first, *rest = text.splitlines() or [""]
    return "\n".join([f"  {label}: {first}", *(indent("\n".join(rest), "      ").splitlines() if rest else [])])


def call_text(name: Any, arguments: str, call_id: Any = None) -> str:
    """``name({"a": 1})  [id]``, with the arguments as :func:`arguments_text` shows them."""
    return f"{name or '?'}({arguments})" + (f"  [{call_id}]" if call_id else "")


def tool_call_arguments(call: ToolCall) -> str:
    """A ToolCall's arguments as :func:`arguments_text` shows them; malformed ones as the model sent them."""
    raw = (call.extra or {}).get("raw_arguments")
    return f"<not valid JSON: {raw!r}>" if raw is not None else arguments_text(call.arguments)


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as one line of JSON, whether they came as a mapping or as (maybe malformed) text."""
    if not isinstance(arguments, str):
        return json.dumps(arguments, ensure_ascii=False, default=str)
    try:
        return json.dumps(json.loads(arguments), ensure_ascii=False) if arguments else ""
    except ValueError:
        return f"<not valid JSON: {arguments!r}>"


# ---- TARGET loading ----------------------------------------------------------------------------------------


@dataclass
class LoadedTools:
    """What a TARGET gave: its tools, and one line per function or tool that could not be a tool."""

    target: str
    tools: list[Tool] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def load_module(spec: str) -> ModuleType:
    """Import ``spec`` (a .py path or a module name); any failure becomes a one-line :class:`CLIError`."""
    path = Path(spec)
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        if not path.is_file():
            raise CLIError(f"no such file: {spec}")
        return _import_file(path)
    if path.is_dir() and not (path / "__init__.py").is_file():
        raise CLIError(f"{spec} is a directory, not a .py file or a package")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the current directory are importable
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        if error.name and (spec == error.name or spec.startswith(error.name + ".")):
            raise CLIError(f"no module named {spec!r} (and no file of that name)") from error
        raise CLIError(f"could not import {spec}: {one_line(error)}") from error
    except Exception as error:
        raise CLIError(f"could not import {spec}: {one_line(error)}") from error


def _import_file(path: Path) -> ModuleType:
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"_aiml_agent_target_{resolved.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot import {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic resolve annotations through sys.modules
    if str(resolved.parent) not in sys.path:  # once: main() may load targets many times in one process
        sys.path.insert(0, str(resolved.parent))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # a module may call sys.exit() at import time
        sys.modules.pop(name, None)
        raise CLIError(f"could not import {path}: {one_line(error)}") from error
    return module


def load_tools(target: str) -> LoadedTools:
    """Load TARGET and collect its tools; raises :class:`CLIError` when it has none."""
    module_spec, _, attribute = target.partition(":")
    if len(module_spec) == 1 and attribute and os.name == "nt":  # pragma: no cover - "C:\\path.py"
        module_spec, attribute = target, ""
    module = load_module(module_spec)
    if attribute and not hasattr(module, attribute):
        raise CLIError(f"{module_spec} has no attribute {attribute!r}")
    from aiml_agent._module_tools import module_tools

    try:
        found = module_tools(module, [attribute] if attribute else None)
    except TypeError as error:
        raise CLIError(f"{target} is not a function, Tool or Toolset") from error
    except ValueError as error:  # two different tools with one name
        raise CLIError(f"{target}: {error}") from error
    loaded = LoadedTools(target=target)
    loaded.failures = [f"{name}: cannot be a tool: {one_line(error)}" for name, error in found.failures]
    for tool in found.tools:
        try:
            tool.tool_spec  # noqa: B018 - tools may build their schema lazily: fail here, naming the tool
        except Exception as error:
            loaded.failures.append(f"{tool.name}: cannot be a tool: {one_line(error)}")
        else:
            loaded.tools.append(tool)
    if not loaded.tools and not loaded.failures:
        raise CLIError(f"no tools found in {module_spec}: define public functions, Tool or Toolset objects there")
    return loaded


def agent_tools(target: str) -> list[Tool]:
    """TARGET's tools for an agent run: a function that cannot be a tool is an error, not a tool left out."""
    loaded = load_tools(target)
    if loaded.failures:
        raise CLIError(
            f"{loaded.failures[0]} (make helpers private with a leading underscore, or pick tools with TARGET:NAME)"
        )
    return loaded.tools


def agent_for(args: argparse.Namespace, tools: list[Tool], **agent_kwargs: Any) -> Agent:
    """An Agent with ``tools`` and the options ``run`` and ``batch`` share (``--model``, ``--base-url``,
    ``--system``, ``--strict``, ``--max-steps``); ``agent_kwargs`` add to them."""
    from aiml_agent.agent import Agent
    from aiml_agent.generator import AIMLAPIChatGenerator

    generator_kwargs: dict[str, Any] = {"api_base_url": args.base_url} if args.base_url else {}
    if args.model:
        generator_kwargs["model"] = args.model
    agent_kwargs["system_prompt"] = args.system
    if args.max_steps is not None:
        agent_kwargs["max_steps"] = args.max_steps
    if args.strict:
        agent_kwargs["tools_strict"] = True
    return Agent(AIMLAPIChatGenerator(**generator_kwargs), tools, **agent_kwargs)


def one_line(error: BaseException) -> str:
    """``TypeName: message`` with the message's whitespace (newlines included) folded."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
