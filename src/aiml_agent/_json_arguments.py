"""Checking a model's arguments against a tool's JSON schema (jsonschema), for tools with no validator of their own
(plain Haystack Tools, MCP tools): nothing reaches the tool when they are invalid.

Errors are :class:`~aiml_agent.tool_failure.FieldError` s, the shape the model-facing text is made from:
``field`` (``a.b[0]``), ``message``, ``type`` and ``input`` (absent for a missing field).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from aiml_agent._arguments import _path as field_path
from aiml_agent.tool_failure import FieldError


def make_validator(schema: dict[str, Any]) -> Validator | None:
    """A validator for ``schema`` (its ``$schema`` dialect, else 2020-12), or None when it is no valid schema."""
    kind = validator_for(schema, default=Draft202012Validator)
    try:
        kind.check_schema(schema)
    except SchemaError:
        return None
    return kind(schema)


def argument_errors(validator: Validator, arguments: dict[str, Any]) -> list[FieldError]:
    """One entry per bad field of ``arguments``, in field order; empty when they are valid."""
    errors: list[FieldError] = []
    for error in sorted(validator.iter_errors(arguments), key=lambda e: [str(part) for part in e.absolute_path]):
        where = list(error.absolute_path)
        instance = error.instance
        if error.validator == "required" and isinstance(instance, dict):
            errors.extend(
                FieldError(field=field_path((*where, name), "(arguments)"), message="required", type="missing")
                for name in _names(error.validator_value)
                if name not in instance
            )
        elif error.validator == "additionalProperties" and isinstance(instance, dict) and _closed(error.schema):
            known = list(error.schema.get("properties") or {})
            expected = ", ".join(known) or "no arguments"
            errors.extend(
                FieldError(
                    field=field_path((*where, name), "(arguments)"),
                    message=f"unexpected argument (allowed: {expected})",
                    type="extra_forbidden",
                    input=value,
                )
                for name, value in instance.items()
                if name not in known
            )
        else:
            field = field_path(tuple(where), "(arguments)")
            errors.append(FieldError(field=field, message=_message(error), type=str(error.validator), input=instance))
    return errors


def _names(value: Any) -> Sequence[str]:
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []


def _closed(schema: Any) -> bool:
    """An object schema that forbids every property it does not list (no pattern properties to consult)."""
    return (
        isinstance(schema, dict) and schema.get("additionalProperties") is False and not schema.get("patternProperties")
    )


def _message(error: ValidationError) -> str:
    """What was expected, in a few words (jsonschema's own message repeats the value the error line shows)."""
    expected = error.validator_value
    if error.validator == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return "expected " + " or ".join(str(kind) for kind in kinds)
    if error.validator == "enum" and isinstance(expected, list):
        return "expected one of " + ", ".join(json.dumps(value, ensure_ascii=False) for value in expected)
    if error.validator == "const":
        return f"expected {json.dumps(expected, ensure_ascii=False)}"
    return error.message
