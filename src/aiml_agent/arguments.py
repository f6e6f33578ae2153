"""Call time: validate a model's tool arguments and describe what is wrong in a few lines it can act on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from aiml_agent.signature import ArgumentsModel
from aiml_agent.strict import resolve_ref

#: The error message lists at most this many bad fields.
MAX_ERROR_LINES = 10


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
    schema = arguments_model.schema
    if schema.get("$defs") or schema.get("definitions"):  # nested objects exist only where there are definitions
        properties = schema["properties"]
        given = {k: drop_optional_nulls(v, properties[k], schema) if k in properties else v for k, v in given.items()}
    unknown = [name for name in given if name not in arguments_model.names]
    errors: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    try:
        values = arguments_model.validate({k: v for k, v in given.items() if k not in unknown})
    except ValidationError as error:
        errors.extend(errors_from_validation(error))
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


def drop_optional_nulls(value: Any, schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> Any:
    """A copy of ``value`` without ``null`` for object properties the (non-strict) schema does not require.

    Strict mode makes such properties nullable; dropping the ``null`` lets validation fill in the default.
    Inside a union (``Cat | Dog``) the branch the value was written for is the object whose properties
    (and ``const`` values, e.g. a discriminator) match it. ``root`` is the whole schema ``$ref`` s point into.
    """
    if depth > 32 or not isinstance(value, (dict, list)):
        return value
    schema = _resolve(schema, root)
    union = schema.get("anyOf", schema.get("oneOf"))
    if isinstance(union, list):
        branches = [_resolve(b, root) for b in union if isinstance(b, dict) and b.get("type") != "null"]
        branch = next((b for b in branches if len(branches) == 1 or _written_for(value, b)), None)
        return value if branch is None else drop_optional_nulls(value, branch, root, depth + 1)
    if isinstance(value, list):  # a list, or a tuple (``prefixItems``, then ``items`` for the rest)
        prefix, items = schema.get("prefixItems") or [], schema.get("items")
        shapes = [prefix[i] if i < len(prefix) else items for i in range(len(value))]
        return [drop_optional_nulls(v, s, root, depth + 1) if isinstance(s, dict) else v for v, s in zip(value, shapes)]
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return value
    required = set(schema.get("required", ()))
    return {
        key: drop_optional_nulls(item, properties[key], root, depth + 1) if key in properties else item
        for key, item in value.items()
        if not (item is None and key in properties and key not in required)
    }


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in schema:
        return schema
    return resolve_ref(schema["$ref"], root) or {}


def _written_for(value: Any, schema: dict[str, Any]) -> bool:
    """Whether ``value`` fits the object ``schema``: only its properties, the ``const`` ones equal."""
    properties = schema.get("properties")
    if not isinstance(value, dict) or not isinstance(properties, dict):
        return isinstance(value, list) and schema.get("type") == "array"
    return value.keys() <= properties.keys() and all(
        value.get(k) == p["const"] for k, p in properties.items() if isinstance(p, dict) and "const" in p
    )


def errors_from_validation(error: ValidationError, *, root: str = "(arguments)") -> list[dict[str, Any]]:
    """Pydantic's errors as one dict per bad field: ``field`` (``a.b[0]``, or ``root`` for the whole value),
    ``message``, ``type`` and ``input`` (absent for a missing field)."""
    errors: list[dict[str, Any]] = []
    for item in error.errors(include_url=False):
        entry: dict[str, Any] = {"field": _path(item["loc"], root), "message": item["msg"], "type": item["type"]}
        if item["type"] != "missing":
            entry["input"] = item.get("input")
        errors.append(entry)
    return errors


def _path(loc: tuple[Any, ...], root: str) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or root


def format_errors(tool_name: str, errors: list[dict[str, Any]]) -> str:
    """One short line per bad field: where, what was expected, what came. Written for a model to read.

    At most ``MAX_ERROR_LINES`` fields are listed (a list of 500 bad items would drown the message).
    """
    return f"Invalid arguments for tool '{tool_name}':\n{error_lines(errors)}"


def error_lines(errors: list[dict[str, Any]]) -> str:
    """The lines of :func:`format_errors` without its heading, for other messages (e.g. an invalid answer)."""
    lines = []
    for error in errors[:MAX_ERROR_LINES]:
        if error["type"] == "missing":
            lines.append(f"- {error['field']}: required, but missing")
        else:
            lines.append(f"- {error['field']}: {error['message']}; got {_short(error.get('input'))}")
    if len(errors) > MAX_ERROR_LINES:
        lines.append(f"- ... and {len(errors) - MAX_ERROR_LINES} more invalid fields")
    return "\n".join(lines)


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
