"""Call time: validate a model's tool arguments and describe what is wrong in a few lines it can act on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from aiml_agent.signature import ArgumentsModel


def validate_arguments(
    arguments_model: ArgumentsModel, arguments: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate ``arguments`` (lax mode); ``None`` for a parameter with a default means "use the default".

    The same holds inside nested objects: strict mode makes every optional property nullable, so ``null``
    for a property that is not required (in a model, dataclass or TypedDict) is dropped before validation.

    :returns: The validated keyword arguments (only the ones given) and the errors, one dict per bad field
        with ``field``, ``message`` and ``input`` (``input`` absent for a missing argument).
    """
    given = {k: v for k, v in arguments.items() if not (v is None and k in arguments_model.defaults)}
    defs = arguments_model.schema.get("$defs")
    if defs:  # nested objects exist only where the schema has definitions
        properties = arguments_model.schema["properties"]
        given = {k: drop_optional_nulls(v, properties[k], defs) if k in properties else v for k, v in given.items()}
    unknown = [name for name in given if name not in arguments_model.names]
    errors: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    try:
        values = arguments_model.validate({k: v for k, v in given.items() if k not in unknown})
    except ValidationError as error:
        for item in error.errors(include_url=False):
            entry: dict[str, Any] = {"field": _path(item["loc"]), "message": item["msg"], "type": item["type"]}
            if item["type"] != "missing":
                entry["input"] = item.get("input")
            errors.append(entry)
    expected = ", ".join(arguments_model.names) or "no arguments"
    for name in unknown:
        errors.append(
            {
                "field": name,
                "message": f"unexpected argument (the tool takes: {expected})",
                "type": "extra_forbidden",
                "input": given[name],
            }
        )
    return values, errors


def drop_optional_nulls(value: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """A copy of ``value`` without ``null`` for object properties the (non-strict) schema does not require.

    Strict mode makes such properties nullable; dropping the ``null`` lets validation fill in the default.
    """
    if depth > 32 or not isinstance(value, (dict, list)):
        return value
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        schema = defs.get(ref[len("#/$defs/") :], {})
    branches = [b for b in schema.get("anyOf", []) if isinstance(b, dict) and b.get("type") != "null"]
    if len(branches) == 1:  # Optional[X]: look inside X
        return drop_optional_nulls(value, branches[0], defs, depth + 1)
    if isinstance(value, list):
        items = schema.get("items")
        return [drop_optional_nulls(v, items, defs, depth + 1) for v in value] if isinstance(items, dict) else value
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return value
    required = set(schema.get("required", ()))
    return {
        key: drop_optional_nulls(item, properties[key], defs, depth + 1) if key in properties else item
        for key, item in value.items()
        if not (item is None and key in properties and key not in required)
    }


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(arguments)"


def format_errors(tool_name: str, errors: list[dict[str, Any]]) -> str:
    """One short line per bad field: where, what was expected, what came. Written for a model to read."""
    lines = [f"Invalid arguments for tool '{tool_name}':"]
    for error in errors:
        if error["type"] == "missing":
            lines.append(f"- {error['field']}: required, but missing")
        else:
            lines.append(f"- {error['field']}: {error['message']}; got {_short(error.get('input'))}")
    return "\n".join(lines)


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
