"""``aiml-agent tools TARGET``: show each tool as the model will see it, warn about missing docs, and optionally
call the tools as a model may.

With ``--model`` the tools are built exactly as a request to that model carries them (its profile decides the
schema dialect and whether strict mode applies); without it, by OpenAI's rules. ``--exercise N`` then calls
each tool N times with arguments its schema allows (:func:`aiml_agent.testing.exercise_tools`).
``--mcp-stdio COMMAND`` / ``--mcp-http URL`` add the tools of MCP servers (with or without a TARGET).
"""

from __future__ import annotations

import argparse
import inspect
import json
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from aiml_agent._schema import resolve_ref
from aiml_agent.cli._shared import TARGET_HELP, CLIError, LoadedTools, Style, add_debug, indent, load_tools

if TYPE_CHECKING:
    from aiml_agent.mcp import MCPToolset


def add_parser(commands: Any) -> None:
    """Add ``tools`` to the command line's subparsers."""
    tools = commands.add_parser(
        "tools",
        help="show the tools a module or an MCP server defines, as the model will see them",
        description="Show every tool TARGET (and each MCP server given) defines as the model will see it: "
        "name, description and parameters with types and descriptions. Warns about undocumented functions "
        "and parameters.",
    )
    tools.add_argument("target", metavar="TARGET", nargs="?", help=TARGET_HELP)
    tools.add_argument(
        "--mcp-stdio",
        metavar="COMMAND",
        action="append",
        default=[],
        help='the tools of the MCP server this command starts, e.g. "python server.py" (repeatable)',
    )
    tools.add_argument(
        "--mcp-http",
        metavar="URL",
        action="append",
        default=[],
        help="the tools of the MCP server at this streamable HTTP URL (repeatable)",
    )
    tools.add_argument(
        "--strict",
        action="store_true",
        help="show the tools as strict function calling sends them (or why one cannot be strict)",
    )
    tools.add_argument(
        "--model",
        metavar="M",
        help="show the tools exactly as model M receives them (its schema dialect, strict only where it has a "
        "strict mode); default: OpenAI's rules",
    )
    tools.add_argument("--json", action="store_true", help="print the exact JSON sent in the request's 'tools' field")
    tools.add_argument("--check", action="store_true", help="exit with status 1 when there are warnings (for CI)")
    tools.add_argument(
        "--exercise",
        type=int,
        metavar="N",
        help="then call every tool with N argument sets its schema allows (with --strict: the strict schema, nulls "
        "included) and list the calls that crashed it; exit status 1 when one did (needs Hypothesis)",
    )
    tools.add_argument("--seed", type=int, default=0, help="the seed --exercise draws arguments with (default: 0)")
    add_debug(tools)


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
    with ExitStack() as servers_open:
        if servers:
            servers_open.enter_context(_mcp_tools(loaded, args.mcp_stdio, args.mcp_http))
        yield loaded


@contextmanager
def _mcp_tools(loaded: LoadedTools, stdio_commands: Sequence[str], http_urls: Sequence[str]) -> Iterator[None]:
    """Connect to each server and add its tools to ``loaded``; stop the servers (close the sessions) on exit.

    :raises CLIError: The MCP extra is missing, a command is empty, or a server cannot be started or reached.
    """
    try:
        from aiml_agent.mcp import MCPToolset
    except ImportError as error:
        raise CLIError(f"{error} (needed by --mcp-stdio / --mcp-http)") from error
    from aiml_agent.errors import MCPConnectionError

    toolsets: list[tuple[str, MCPToolset]] = []
    for command in stdio_commands:
        words = shlex.split(command)
        if not words:
            raise CLIError('--mcp-stdio needs the command that starts the server, e.g. "python server.py"')
        toolsets.append((command, MCPToolset.stdio(words[0], words[1:])))
    for url in http_urls:
        try:
            toolsets.append((url, MCPToolset.http(url)))
        except ValueError as error:
            raise CLIError(f"--mcp-http: {error}") from error
    loaded.target = ", ".join(part for part in (loaded.target, *(label for label, _ in toolsets)) if part)
    with ExitStack() as stack:
        for label, toolset in toolsets:
            stack.callback(toolset.close)
            try:
                toolset.warm_up()
            except (MCPConnectionError, ValueError) as error:
                raise CLIError(f"{label}: {error}") from error
            loaded.tools.extend(toolset)
        yield


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


# ---- a schema as readable lines ---------------------------------------------------------------------------

_CONSTRAINTS = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "pattern", "format", "minItems", "maxItems", "uniqueItems",
)  # fmt: skip
_MAX_DEPTH = 6


def parameter_lines(schema: dict[str, Any], indent: str = "    ") -> list[str]:
    """One line per parameter (nested object fields indented below their parent)."""
    return _object_lines(schema, schema, indent, depth=0, seen=frozenset())


def type_text(schema: Any, depth: int = 0) -> str:
    """A compact type: ``string``, ``list[integer]``, ``"a" | "b"``, ``Address | null``, ``dict[str, number]``.

    A ``$ref`` is shown by the name of what it points to, not expanded.
    """
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            joiner = " & " if key == "allOf" else " | "
            return joiner.join(type_text(option, depth + 1) for option in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(type_text({**schema, "type": one}, depth + 1) for one in kind)
    if kind == "array":
        items = schema.get("items")
        return f"list[{type_text(items, depth + 1)}]" if items else "list"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not schema.get("properties"):
            return f"dict[str, {type_text(extra, depth + 1)}]"
        return "object"
    return str(kind) if kind else "any"


def _object_lines(
    schema: dict[str, Any], root: dict[str, Any], indent: str, *, depth: int, seen: frozenset[str]
) -> list[str]:
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    lines: list[str] = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        notes = [type_text(prop)]
        notes.append("required" if name in required else "optional")
        if "default" in prop:
            notes.append(f"default {json.dumps(prop['default'])}")
        notes.extend(f"{key} {json.dumps(prop[key])}" for key in _CONSTRAINTS if key in prop)
        description = " ".join(str(prop.get("description") or _ref_description(prop, root)).split())
        line = f"{indent}{name} ({', '.join(notes)})"
        lines.append(f"{line}  {description}" if description else line)
        nested, ref = _nested_object(prop, root)
        if nested is not None and depth < _MAX_DEPTH and (ref is None or ref not in seen):
            inner_seen = seen | {ref} if ref else seen
            lines.extend(_object_lines(nested, root, indent + "  ", depth=depth + 1, seen=inner_seen))
    return lines


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """What a ``$ref`` node points to in ``root`` (and the ref), or the node itself when it is no reference."""
    ref = schema.get("$ref")
    target = resolve_ref(ref, root)
    return (target, ref) if target is not None else (schema, None)


def _nested_object(schema: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The object schema whose fields should be listed under this property (through $ref, unions, lists)."""
    candidates = [schema]
    for key in ("anyOf", "oneOf"):
        candidates.extend(option for option in schema.get(key, []) if isinstance(option, dict))
    for candidate in candidates:
        if candidate.get("type") == "array" and isinstance(candidate.get("items"), dict):
            candidate = candidate["items"]
        resolved, ref = _resolve(candidate, root)
        if resolved.get("properties"):
            return resolved, ref
    return None, None


def _ref_description(schema: dict[str, Any], root: dict[str, Any]) -> str:
    resolved, _ = _resolve(schema, root)
    return str(resolved.get("description") or "") if resolved is not schema else ""


def has_description(schema: Any, root: dict[str, Any]) -> bool:
    """Whether a parameter's schema (or the model it refers to in ``root``, the whole schema) has a description."""
    if not isinstance(schema, dict):
        return False
    return bool(schema.get("description") or _ref_description(schema, root))
