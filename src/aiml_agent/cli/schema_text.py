"""Render a tool's JSON schema as short readable lines: ``name (type, required)  description``."""

from __future__ import annotations

import json
from typing import Any

from aiml_agent._schema import resolve_ref

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
