"""A fast path for the common tool signature: only str/int/float/bool, Literal, Optional and lists of those.

For such parameters the JSON schema and the pydantic-core validator are written directly, the same ones
pydantic would produce (a test compares them), skipping pydantic's model class creation and its JSON
schema walk, which together cost most of a tool's build time. Anything else returns ``None`` and goes
through :func:`aiml_agent._signature.build_arguments_model`'s pydantic model.
"""

from __future__ import annotations

import inspect
import math
import types
from collections.abc import Iterable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic_core import CoreSchema, SchemaValidator, core_schema

_PRIMITIVES: dict[Any, tuple[str, Any]] = {
    str: ("string", core_schema.str_schema),
    int: ("integer", core_schema.int_schema),
    float: ("number", core_schema.float_schema),
    bool: ("boolean", core_schema.bool_schema),
}
_LITERAL_TYPES = {str: "string", int: "integer", bool: "boolean"}


def simple_arguments(
    params: Iterable[inspect.Parameter],
) -> tuple[dict[str, Any], SchemaValidator] | None:
    """JSON schema and validator of ``params`` if every one is simple, else None.

    The validator takes the arguments dict and returns a dict of the validated arguments that were given
    (absent optional ones stay absent, so the function's own defaults apply).
    """
    properties: dict[str, Any] = {}
    fields: dict[str, core_schema.TypedDictField] = {}
    required: list[str] = []
    for param in params:
        simple = _simple(param.annotation)
        if simple is None:
            return None
        json_schema, core = simple
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        elif _plain_json(param.default):
            json_schema = {**json_schema, "default": param.default}
        else:
            return None
        properties[param.name] = json_schema
        fields[param.name] = core_schema.typed_dict_field(core, required=param.default is inspect.Parameter.empty)
    schema: dict[str, Any] = {"properties": properties}
    if required:
        schema["required"] = required
    schema["type"] = "object"
    validator = SchemaValidator(core_schema.typed_dict_schema(fields, extra_behavior="ignore"))
    return schema, validator


def _plain_json(value: Any) -> bool:
    return value is None or type(value) in (str, bool, int) or (type(value) is float and math.isfinite(value))


def _simple(annotation: Any) -> tuple[dict[str, Any], CoreSchema] | None:
    """(JSON schema, core schema) of a simple annotation, as pydantic writes them; None if not simple."""
    primitive = _PRIMITIVES.get(annotation)
    if primitive is not None:
        return {"type": primitive[0]}, primitive[1]()
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        # plain text descriptions only: Field(...) may carry constraints or validators, pydantic's job
        return _simple(args[0]) if all(isinstance(item, str) for item in args[1:]) else None
    if origin is Literal:
        kinds = {type(value) for value in args}
        if len(kinds) != 1 or next(iter(kinds)) not in _LITERAL_TYPES:
            return None
        values = list(args)
        key: dict[str, Any] = {"const": values[0]} if len(values) == 1 else {"enum": values}
        return {**key, "type": _LITERAL_TYPES[next(iter(kinds))]}, core_schema.literal_schema(values)
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = _simple(args[0] if args[1] is type(None) else args[1])
        if inner is None:
            return None
        return {"anyOf": [inner[0], {"type": "null"}]}, core_schema.nullable_schema(inner[1])
    if origin is list and len(args) == 1:
        item = _simple(args[0])
        if item is None:
            return None
        return {"items": item[0], "type": "array"}, core_schema.list_schema(item[1])
    return None
