"""Call time: validate a model's tool arguments and list what is wrong, field by field (worded by
:mod:`aiml_agent.tool_failure`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from aiml_agent._schema import drop_optional_nulls
from aiml_agent._signature import ArgumentsModel
from aiml_agent.tool_failure import FieldError


def validate_arguments(
    arguments_model: ArgumentsModel, arguments: Mapping[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
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
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    try:
        values = arguments_model.validate({k: v for k, v in given.items() if k not in unknown})
    except ValidationError as error:
        errors.extend(errors_from_validation(error))
    expected = ", ".join(arguments_model.names) or "no arguments"
    errors.extend(
        FieldError(
            field=name,
            message=f"unexpected argument (the tool takes: {expected})",
            type="extra_forbidden",
            input=given[name],
        )
        for name in unknown
    )
    return values, errors


def errors_from_validation(error: ValidationError, *, root: str = "(arguments)") -> list[FieldError]:
    """Pydantic's errors as one dict per bad field: ``field`` (``a.b[0]``, or ``root`` for the whole value),
    ``message``, ``type`` and ``input`` (absent for a missing field)."""
    errors: list[FieldError] = []
    for item in error.errors(include_url=False):
        entry = FieldError(field=_path(item["loc"], root), message=item["msg"], type=item["type"])
        if item["type"] != "missing":
            entry["input"] = item.get("input")
        errors.append(entry)
    return errors


def _path(loc: tuple[Any, ...], root: str) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or root
