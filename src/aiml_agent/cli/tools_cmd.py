"""``aiml-agent tools TARGET [--model M] [--exercise N]``: show each tool as the model will see it, and warn about
missing docs.

With ``--model`` the tools are built exactly as a request to that model carries them (its profile decides the
schema dialect and whether strict mode applies); without it, by OpenAI's rules. ``--exercise N`` then calls
each tool N times with arguments its schema allows (:func:`aiml_agent.testing.exercise_tools`).

``--mcp-stdio COMMAND`` / ``--mcp-http URL`` add the tools of MCP servers (with or without a TARGET).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiml_agent.cli.common import CLIError, Style, indent
from aiml_agent.cli.schema_text import has_description, parameter_lines
from aiml_agent.cli.target import LoadedTools, load_tools


def execute(args: argparse.Namespace) -> int:
    """Print the tools of ``args.target``; 1 when a tool cannot be built (or be strict), or warnings with --check."""
    with _loaded(args) as loaded:
        return _show(args, loaded)


@contextmanager
def _loaded(args: argparse.Namespace) -> Iterator[LoadedTools]:
    """The tools of TARGET and of the MCP servers given (their sessions closed when done)."""
    servers = bool(args.mcp_stdio or args.mcp_http)
    if args.target is None and not servers:
        raise CLIError("give a TARGET (a .py file or a module), or an MCP server with --mcp-stdio or --mcp-http")
    loaded = load_tools(args.target) if args.target is not None else LoadedTools(target="")
    if not servers:
        yield loaded
        return
    from aiml_agent.cli.mcp_target import mcp_tools

    with mcp_tools(args.mcp_stdio, args.mcp_http) as served:
        loaded.tools.extend(served.tools)
        loaded.target = ", ".join(part for part in (loaded.target, served.target) if part)
        yield loaded


def _show(args: argparse.Namespace, loaded: LoadedTools) -> int:
    profile = _profile(args.model)
    definitions, errors = _definitions(loaded, strict=args.strict, profile=profile)
    warnings = _warnings(loaded)
    out, err = sys.stdout, sys.stderr
    style = Style(out)
    if profile is not None and not args.json:
        out.write(style(_profile_line(args.model, profile, strict=args.strict), "dim") + "\n\n")

    if args.json:
        sent = [definition for definition in definitions.values() if definition is not None]
        out.write(json.dumps(sent, indent=2, ensure_ascii=False) + "\n")
    else:
        for number, tool in enumerate(loaded.tools):
            if number:
                out.write("\n")
            out.write(_describe(tool, definitions.get(tool.name), errors.get(tool.name), style))
        if loaded.tools:
            out.write("\n")
        count = len(loaded.tools)
        target = loaded.target + (f", as {args.model} receives them" if args.model else "")
        out.write(style(f"{count} tool{'s' if count != 1 else ''} from {target}", "dim") + "\n")
    out.flush()

    label = "error" if args.check else "warning"
    for line in warnings:
        err.write(f"{label}: {line}\n")
    for line in loaded.failures:
        err.write(f"error: {line}\n")
    for name, message in errors.items():
        err.write(f"error: {name}: {message}\n")
    if warnings and args.check:
        err.write(f"aiml-agent: {len(warnings)} warning(s) treated as errors (--check)\n")
    crashed = _exercise(loaded, args) if getattr(args, "exercise", None) is not None else False
    return 1 if loaded.failures or errors or (warnings and args.check) or crashed else 0


def _exercise(loaded: LoadedTools, args: argparse.Namespace) -> bool:
    """Call the tools as a model may (see `exercise_tools`), print the report; True when a call failed."""
    from aiml_agent.testing.exercise import exercise_tools

    if args.exercise < 1:
        raise CLIError(f"--exercise needs a number of calls of at least 1, got {args.exercise}")
    if not loaded.tools:
        return False
    try:
        report = exercise_tools(loaded.tools, examples=args.exercise, seed=args.seed, strict=args.strict)
    except ImportError as error:
        raise CLIError(str(error)) from None
    sys.stdout.write("\n" + str(report) + "\n")
    return not report.ok


def _profile(model: str | None) -> Any:
    if not model:
        return None
    from aiml_agent.profiles import profile_for

    return profile_for(model)


def _profile_line(model: str, profile: Any, *, strict: bool) -> str:
    """Which rules the tools below follow for ``model``."""
    source = {"catalogue": "AIMLAPI's catalogue", "family rules": f"{profile.family} family rules"}.get(
        profile.source, "OpenAI's rules (an unknown model)"
    )
    line = f"As {model} receives them ({source}): family {profile.family}, schema dialect {profile.schema_dialect}"
    if strict and not profile.supports_strict_tools:
        line += "; it has no strict mode, so --strict sends non-strict schemas"
    return line + "."


def _definitions(
    loaded: LoadedTools, *, strict: bool, profile: Any = None
) -> tuple[dict[str, dict[str, Any] | None], dict[str, str]]:
    """The exact request JSON per tool, and for each tool that cannot be sent, why (e.g. not strict-able)."""
    from aiml_agent._request import tool_definitions
    from aiml_agent.errors import ModelCapabilityError, StrictSchemaError

    try:
        sent = tool_definitions(loaded.tools, strict, profile)
        return {tool.name: definition for tool, definition in zip(loaded.tools, sent)}, {}
    except StrictSchemaError:
        pass  # find out which tools: build them one by one
    except ModelCapabilityError as error:
        raise CLIError(str(error)) from error
    except ValueError as error:  # too many tools, duplicate names: the request as a whole is wrong
        raise CLIError(f"{loaded.target}: {error}") from error
    definitions: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, str] = {}
    for tool in loaded.tools:
        try:
            definitions[tool.name] = tool_definitions([tool], strict, profile)[0]
        except StrictSchemaError as error:
            definitions[tool.name] = None
            errors[tool.name] = f"cannot be strict: {error}"
    return definitions, errors


def _describe(tool: Any, definition: dict[str, Any] | None, error: str | None, style: Style) -> str:
    function = (definition or {}).get("function", {})
    is_strict = bool(function.get("strict"))
    title = style(tool.name, "bold") + ("  " + style("[strict]", "cyan") if is_strict else "")
    lines = [title]
    description = (tool.description or "").strip()
    lines.append(indent(description, "  ") if description else "  " + style("(no description)", "yellow"))
    if error is not None:
        lines.append("  " + style(error, "red"))
        schema = tool.parameters
    else:
        schema = function.get("parameters", tool.parameters)
    reason = getattr(tool, "non_strict_reason", None)  # e.g. an MCP tool whose schema has no strict form
    if reason and definition is not None and not is_strict:
        lines.append("  " + style(f"sent non-strict: {reason}", "yellow"))
    params = parameter_lines(schema or {}, indent="    ")
    lines.append("  parameters:" if params else "  parameters: none")
    lines.extend(params)
    controls = _controls_text(tool)
    if controls:
        lines.append("  controls: " + style(controls, "yellow"))
    return "\n".join(lines) + "\n"


def _controls_text(tool: Any) -> str:
    """``timeout 10 s, retries 2, output cut at 20000 chars, needs approval (rule over_limit)``, or empty."""
    from aiml_agent.tool_controls import controls_of

    controls = controls_of(tool)
    parts = []
    if controls.timeout is not None:
        parts.append(f"timeout {controls.timeout:g} s")
    if controls.retries is not None:
        parts.append(f"retries {controls.retries}")
    if controls.max_output_chars is not None:
        parts.append(f"output cut at {controls.max_output_chars} chars")
    rule = controls.requires_approval
    if rule is True:
        parts.append("needs approval")
    elif callable(rule):
        parts.append(f"needs approval when {getattr(rule, '__name__', 'its rule')}(arguments) says so")
    return ", ".join(parts)


def _warnings(loaded: LoadedTools) -> list[str]:
    """Missing docstrings and parameter descriptions: the model sees nothing there."""
    found: list[str] = []
    from aiml_agent.tools import FunctionTool

    for tool in loaded.tools:
        if not (tool.description or "").strip():
            from_docstring = isinstance(tool, FunctionTool) and not inspect.getdoc(tool.function or tool.async_function)
            if from_docstring:
                found.append(f"{tool.name}: function has no docstring (the model gets no description of it)")
            else:
                found.append(f"{tool.name}: tool has no description")
        schema = tool.parameters or {}
        for name, prop in (schema.get("properties") or {}).items():
            if not has_description(prop, schema):
                found.append(f"{tool.name}: parameter '{name}' has no description")
    return found
