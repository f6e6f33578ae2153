"""Deep merge of two JSON schemas that must both hold: a ``$ref`` and its sibling keys, or ``allOf`` branches.

The merge is the intersection where JSON Schema defines one: ``properties`` merged name by name, ``required``
united, types intersected (``integer`` within ``number``), ``enum`` values intersected, the tighter of two bounds
kept. Annotations (``description``, ``default``, ``examples``...) come from the second schema, which is the
more specific one (the property beside the ``$ref``). Two values nothing can satisfy together raise
:class:`SchemaConflict`; two sub-schemas holding references are combined as ``allOf`` and merged when the
walker reaches them.
"""

from __future__ import annotations

import json
from typing import Any

_ANNOTATIONS = frozenset({
    "description", "title", "default", "examples", "example", "$comment", "deprecated", "readOnly", "writeOnly",
    "$schema", "$id", "$anchor", "discriminator",
})  # fmt: skip
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")
_BOUND_PAIRS = (("minimum", "maximum"), ("minLength", "maxLength"), ("minItems", "maxItems"),
                ("minProperties", "maxProperties"))  # fmt: skip
_SUB_SCHEMAS = ("items", "additionalProperties", "propertyNames", "contains", "not")


class SchemaConflict(ValueError):
    """Two schemas that must both hold cannot: ``reason`` says which keyword, ``where`` the place inside them."""

    def __init__(self, reason: str, where: str = "") -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{reason} (at {where})" if where else reason)


def merge_schemas(base: dict[str, Any], override: dict[str, Any], where: str = "") -> dict[str, Any]:
    """A new schema that holds exactly when both ``base`` and ``override`` hold (annotations: ``override``'s)."""
    merged = dict(base)
    for key, value in override.items():
        if key not in merged or merged[key] == value or key in _ANNOTATIONS:
            merged[key] = value
        else:
            merged[key] = _merge_keyword(key, merged[key], value, where)
    _check_consistent(merged, where)
    return merged


def _merge_keyword(key: str, first: Any, second: Any, where: str) -> Any:
    if key in ("properties", "patternProperties", "$defs", "definitions") and _both(first, second, dict):
        inner = f"{where}.{key}" if where else key
        return {**first, **{name: _merge_sub(first[name], sub, f"{inner}.{name}") if name in first else sub
                            for name, sub in second.items()}}  # fmt: skip
    if key == "required" and _both(first, second, list):
        return [*first, *(name for name in second if name not in first)]
    if key == "type":
        return _merge_types(first, second, where)
    if key == "enum" and _both(first, second, list):
        common = [value for value in first if value in second]
        if not common:
            raise SchemaConflict(f"the enums {_text(first)} and {_text(second)} have no value in common", where)
        return common
    if key in _LOWER_BOUNDS and _both(first, second, (int, float)):
        return max(first, second)
    if key in _UPPER_BOUNDS and _both(first, second, (int, float)):
        return min(first, second)
    if key == "uniqueItems":
        return bool(first or second)
    if key == "multipleOf" and _both(first, second, (int, float)) and first and second:
        larger, smaller = max(first, second), min(first, second)
        if (larger / smaller).is_integer():
            return larger
    if key == "additionalProperties" and (first is False or second is False):
        return False
    if key in ("additionalProperties", "items") and (first is True or second is True):
        return second if first is True else first
    if key in _SUB_SCHEMAS and _both(first, second, dict):
        return _merge_sub(first, second, f"{where}.{key}" if where else key)
    raise SchemaConflict(f"'{key}' is {_text(first)} in one schema and {_text(second)} in the other", where)


def _merge_sub(first: Any, second: Any, where: str) -> Any:
    """Merge two sub-schemas; ones holding references are combined as ``allOf`` for the walker to resolve."""
    if not _both(first, second, dict):
        raise SchemaConflict(f"cannot combine {_text(first)} with {_text(second)}", where)
    if any(key in schema for schema in (first, second) for key in ("$ref", "allOf")):
        return {"allOf": [first, second]}
    return merge_schemas(first, second, where)


def _merge_types(first: Any, second: Any, where: str) -> Any:
    first_types = first if isinstance(first, list) else [first]
    second_types = second if isinstance(second, list) else [second]
    common = [t for t in first_types if t in second_types or (t == "integer" and "number" in second_types)]
    common += [t for t in second_types if t == "integer" and "number" in first_types and t not in common]
    if not common:
        raise SchemaConflict(f"'type' is {_text(first)} in one schema and {_text(second)} in the other", where)
    return common[0] if len(common) == 1 else common


def _check_consistent(schema: dict[str, Any], where: str) -> None:
    for low, high in _BOUND_PAIRS:
        low_value, high_value = schema.get(low), schema.get(high)
        if _both(low_value, high_value, (int, float)) and low_value > high_value:  # type: ignore[operator]
            raise SchemaConflict(f"no value satisfies both {low} {schema[low]} and {high} {schema[high]}", where)
    if "const" in schema and isinstance(schema.get("enum"), list) and schema["const"] not in schema["enum"]:
        raise SchemaConflict(f"const {_text(schema['const'])} is not one of the enum {_text(schema['enum'])}", where)


def _both(first: Any, second: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(first, kind) and isinstance(second, kind)


def _text(value: Any) -> str:
    return json.dumps(value, default=str)
