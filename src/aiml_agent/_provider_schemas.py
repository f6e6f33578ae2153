"""STAND-IN: a minimal version of the provider schema dialects, replaced by the real module at merge.

The real ``aiml_agent._provider_schemas`` (written on another branch) keeps these two signatures and the same
guarantees; this one does just enough for request shaping to be built and tested against it:

- ``"openai"``: strict gives :func:`~aiml_agent.strict.to_strict_schema`; non-strict gives a copy.
- ``"google"``: ``additionalProperties``, ``default``, ``title`` and ``$schema`` removed, ``$ref``/``$defs``
  inlined (strict or not: Gemini has no strict mode).
- ``"anthropic"``: strict gives ``to_strict_schema`` minus the keywords Anthropic's strict mode rejects
  (numeric and string constraints), moved into the description; non-strict gives a copy.

The input is never mutated.
"""

from __future__ import annotations

from typing import Any, Literal

from aiml_agent._schema import copy_json, resolve_ref
from aiml_agent.strict import to_strict_schema

Dialect = Literal["openai", "google", "anthropic"]

_GOOGLE_DROPPED = frozenset({"additionalProperties", "default", "title", "$schema"})
_ANTHROPIC_STRICT_MOVED = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
)
_MAX_INLINE_DEPTH = 32  # a recursive schema cannot be inlined: deeper references become an untyped value
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def tool_parameters_for(
    parameters: dict[str, Any], *, dialect: Dialect, strict: bool, tool_name: str | None = None
) -> dict[str, Any]:
    """A tool's ``parameters`` as the dialect's models accept them (a new dict).

    :param parameters: The tool's JSON schema (root: an object).
    :param dialect: Whose rules apply.
    :param strict: Whether the tool is sent in strict mode.
    :param tool_name: Named in errors.
    :raises StrictSchemaError: ``strict`` and the schema has no strict form.
    """
    return _shaped(parameters, dialect=dialect, strict=strict, name=tool_name)


def response_schema_for(
    schema: dict[str, Any], *, dialect: Dialect, strict: bool, name: str | None = None
) -> dict[str, Any]:
    """A ``response_format`` JSON schema as the dialect's models accept it (a new dict).

    :param schema: The answer's JSON schema (root: an object).
    :param dialect: Whose rules apply.
    :param strict: Whether the response format is strict.
    :param name: Named in errors.
    :raises StrictSchemaError: ``strict`` and the schema has no strict form.
    """
    return _shaped(schema, dialect=dialect, strict=strict, name=name)


def _shaped(schema: dict[str, Any], *, dialect: Dialect, strict: bool, name: str | None) -> dict[str, Any]:
    if dialect == "google":
        return _google(schema, schema, 0)
    if not strict:
        return copy_json(schema)
    converted = to_strict_schema(schema, tool_name=name)
    if dialect == "anthropic":
        _move_constraints(converted)
    return converted


def _google(node: Any, root: dict[str, Any], depth: int) -> Any:
    """``node`` with Gemini's rejected keywords removed and local ``$ref``s inlined."""
    if isinstance(node, list):
        return [_google(item, root, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = resolve_ref(node["$ref"], root)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if target is None or depth >= _MAX_INLINE_DEPTH:
            return _google({k: v for k, v in siblings.items()}, root, depth)
        return _google({**target, **siblings}, root, depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _GOOGLE_DROPPED or key in ("$defs", "definitions"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {prop: _google(sub, root, depth) for prop, sub in value.items()}
        elif key in _SCHEMA_LISTS or key in _SCHEMA_VALUES:
            out[key] = _google(value, root, depth)
        else:
            out[key] = copy_json(value)
    return out


def _move_constraints(node: Any) -> None:
    """Move Anthropic strict mode's rejected constraints of every schema node into its description, in place."""
    if isinstance(node, list):
        for item in node:
            _move_constraints(item)
        return
    if not isinstance(node, dict):
        return
    moved = [f"{key}: {node.pop(key)}" for key in _ANTHROPIC_STRICT_MOVED if key in node]
    if moved:
        text = node.get("description", "")
        node["description"] = (f"{text} " if text else "") + f"({', '.join(moved)})"
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            for sub in value.values():
                _move_constraints(sub)
        elif key in _SCHEMA_LISTS or key in _SCHEMA_VALUES:
            _move_constraints(value)
