"""Strict function calling: turn any tool's JSON schema into one OpenAI strict mode accepts.

Strict mode takes a subset of JSON Schema (OpenAI "Structured Outputs - supported schemas"): the root is an
object, every object is closed and lists all its properties in ``required``, optional values are written as
a union with null, and only a few validation keywords are allowed. ``to_strict_schema`` rewrites a schema
into that subset without touching its input, and raises ``StrictSchemaError`` (JSON path, tool, parameter)
for shapes that have no strict equivalent. The request fields built from it live in :mod:`aiml_agent._request`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiml_agent._schema import copy_json, pointer_parts, resolve_ref

if TYPE_CHECKING:  # converting a schema needs no Haystack import (aiml_agent.errors loads it: imported on failure)
    from aiml_agent.errors import StrictSchemaError

#: OpenAI's documented strict-mode limits.
MAX_PROPERTIES = 5000
MAX_NESTING = 10
MAX_ENUM_VALUES = 1000
MAX_TOTAL_STRING_LENGTH = 120_000
LARGE_ENUM = 250
MAX_LARGE_ENUM_STRING_LENGTH = 15_000

# Keywords strict mode accepts; every other keyword is dropped (annotations) or moved into the description.
_SUPPORTED = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const",
    "description", "$ref", "$defs", "definitions",
    "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minItems", "maxItems",
})  # fmt: skip
# Annotations with no meaning for the model (or handled separately): removed without a trace.
_DROPPED = frozenset({"title", "default", "$schema", "$id", "$comment", "discriminator", "readOnly", "writeOnly"})
_NULL: dict[str, Any] = {"type": "null"}


def to_strict_schema(schema: dict[str, Any], *, tool_name: str | None = None) -> dict[str, Any]:
    """Return a copy of ``schema`` that OpenAI strict function calling accepts; the input is never mutated.

    Every object is closed with all properties required; properties that were optional become nullable
    (``null`` then means "use the default"); ``default`` and ``title`` are removed; ``oneOf`` becomes
    ``anyOf``; a single-element ``allOf`` and a ``$ref`` with sibling keys are inlined; ``$defs`` are
    converted too. Keywords strict mode does not take (``minLength``, ``uniqueItems``, ...) are moved into
    the description text rather than dropped.

    :param schema: A JSON schema whose root is an object, e.g. a tool's ``parameters``.
    :param tool_name: Named in errors.
    :raises StrictSchemaError: Free-form objects (``dict[str, X]``, open or property-less objects), arrays
        without ``items``, schemas without a type (``Any``), a non-object root or root ``anyOf``, several
        ``allOf`` branches, unresolvable ``$ref``, or a schema over OpenAI's limits.
    """
    return _Converter(copy_json(schema), tool_name).run()  # work on a copy: the result shares nothing


class _Converter:
    """One conversion: walks the schema, converting ``$defs`` entries when first referenced."""

    def __init__(self, root: dict[str, Any], tool_name: str | None) -> None:
        self.root = root
        self.tool_name = tool_name
        self.defs_key = "$defs" if "$defs" in root else "definitions"
        self.source_defs: dict[str, Any] = root.get(self.defs_key) or {}
        self.defs: dict[str, Any] = {}
        self.properties = 0
        self.enum_values = 0
        self.string_length = 0
        self.inlining: set[str] = set()

    def fail(self, reason: str, path: str, parameter: str | None) -> StrictSchemaError:
        from aiml_agent.errors import StrictSchemaError

        return StrictSchemaError(reason, path=path, tool_name=self.tool_name, parameter=parameter)

    def run(self) -> dict[str, Any]:
        if not isinstance(self.root, dict):
            raise self.fail("the parameters schema must be a JSON object", "$", None)
        root = {k: v for k, v in self.root.items() if k not in ("$defs", "definitions")}
        if "anyOf" in root or "oneOf" in root:
            raise self.fail("the root cannot be a union (anyOf/oneOf); it must be one object", "$", None)
        if "$ref" in root:  # a model's schema given as a reference: the root itself must be spelled out
            _, target = self.resolve(root.pop("$ref"), "$", None)
            root = {**target, **root}
        if "allOf" not in root:
            root.setdefault("type", "object")  # a root with no type at all is a parameter list
            root.setdefault("properties", {})  # a tool without parameters
        result = self.convert(root, "$", None, 0)
        if result.get("type") != "object":
            raise self.fail(f"the root must be of type 'object', not {result.get('type')!r}", "$", None)
        for name in self.source_defs:  # definitions no property referenced are still kept valid
            self.convert_def(name, None)
        if self.defs:
            result[self.defs_key] = {name: self.defs[name] for name in self.source_defs}
        if self.string_length > MAX_TOTAL_STRING_LENGTH:
            raise self.fail(
                f"property names, definition names and enum values total {self.string_length} characters; "
                f"strict mode allows {MAX_TOTAL_STRING_LENGTH}", "$", None)  # fmt: skip
        return result

    def convert_def(self, name: str, parameter: str | None) -> None:
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: a recursive definition refers to itself
            self.string_length += len(name)
            self.defs[name] = self.convert(self.source_defs[name], f"$.{self.defs_key}.{name}", parameter, 0)

    def resolve(self, ref: str, path: str, parameter: str | None) -> tuple[str, dict[str, Any]]:
        """The definition name and schema a ``$ref`` points to; only entries of the root's definitions count."""
        target = resolve_ref(ref, self.root)
        name = (pointer_parts(ref) or [""])[-1]
        if self.source_defs.get(name) is target and target is not None:  # not some other node of the schema
            return name, target
        where = f"#/{self.defs_key}/..."
        raise self.fail(f"cannot resolve $ref {ref!r} (only local {where} definitions are supported)", path, parameter)

    def convert(self, node: Any, path: str, parameter: str | None, depth: int) -> dict[str, Any]:
        """Convert one schema node found at ``path``; ``depth`` counts the objects around it."""
        if not isinstance(node, dict) or not node:
            raise self.fail("a value without a type (Any) cannot be strict; give it a concrete type", path, parameter)
        node = dict(node)
        if "$ref" in node:
            name, target = self.resolve(node["$ref"], path, parameter)
            siblings = {k: v for k, v in node.items() if k != "$ref" and _meaningful(k, v)}
            if not siblings:  # only annotations strict mode drops anyway: keep the reference
                self.convert_def(name, parameter)
                return {"$ref": node["$ref"]}
            if name in self.inlining:
                raise self.fail(f"$ref {node['$ref']!r} with sibling keys refers back to itself", path, parameter)
            self.inlining.add(name)
            try:  # strict mode rejects keys beside $ref: inline the definition
                return self.convert({**target, **siblings}, path, parameter, depth)
            finally:
                self.inlining.discard(name)
        if "allOf" in node:
            parts = node.pop("allOf")
            if not isinstance(parts, list) or len(parts) != 1:
                raise self.fail("allOf with several schemas is not supported by strict mode", path, parameter)
            return self.convert({**parts[0], **node}, path, parameter, depth)
        if "oneOf" in node:
            if "anyOf" in node:
                raise self.fail("a schema with both oneOf and anyOf is not supported", path, parameter)
            node["anyOf"] = node.pop("oneOf")
        if "prefixItems" in node or isinstance(node.get("items"), list):
            self.tuple_to_array(node, path, parameter)

        result = {key: value for key, value in node.items() if key in _SUPPORTED}
        moved = [_describe(k, v) for k, v in node.items() if k not in _SUPPORTED and _meaningful(k, v)]

        types = result.get("type")
        type_list = types if isinstance(types, list) else [types]
        if types is None and ("properties" in result or "items" in result):
            result["type"] = "object" if "properties" in result else "array"
            type_list = [result["type"]]
        structural = ("type", "anyOf", "enum", "const", "$ref")
        if not any(k in result for k in structural):
            raise self.fail("a value without a type (Any) cannot be strict; give it a concrete type", path, parameter)
        if "anyOf" in result:
            result["anyOf"] = [
                self.convert(branch, f"{path}.anyOf[{i}]", parameter, depth) for i, branch in enumerate(result["anyOf"])
            ]
        if "enum" in result:
            self.count_enum(result["enum"], path, parameter)
        if isinstance(result.get("const"), str):
            self.string_length += len(result["const"])
        if "object" in type_list:
            self.close_object(result, path, parameter, depth + 1)
        if "array" in type_list:
            if "items" not in result:
                reason = "an array without 'items' (a bare list) cannot be strict; type its items"
                raise self.fail(reason, path, parameter)
            result["items"] = self.convert(result["items"], f"{path}.items", parameter, depth)
        if moved:
            text = result.get("description", "")
            result["description"] = f"{text} ({', '.join(moved)})" if text else ", ".join(moved)
        return result

    def close_object(self, result: dict[str, Any], path: str, parameter: str | None, depth: int) -> None:
        """Make an object closed with every property required; formerly optional ones become nullable."""
        if depth > MAX_NESTING:
            reason = f"objects are nested {depth} levels deep; strict mode allows {MAX_NESTING}"
            raise self.fail(reason, path, parameter)
        extra = result.get("additionalProperties")
        if extra not in (None, False):
            raise self.fail(
                "an object with additionalProperties (a free-form dict such as dict[str, X]) cannot be strict; "
                "use a model with named fields", path, parameter)  # fmt: skip
        if "properties" not in result:
            if extra is not False:  # an explicitly closed object without properties is just an empty one
                raise self.fail("an object without 'properties' (a free-form dict) cannot be strict", path, parameter)
            result["properties"] = {}
        required = set(result.get("required", []))
        properties = {}
        for name, prop in result["properties"].items():
            prop_path = f"{path}.properties.{name}"
            param = parameter if parameter is not None or path != "$" else name
            converted = self.convert(prop, prop_path, param, depth)
            properties[name] = converted if name in required else _nullable(converted)
            self.string_length += len(name)
        self.properties += len(properties)
        if self.properties > MAX_PROPERTIES:
            raise self.fail(f"more than {MAX_PROPERTIES} object properties in total", path, parameter)
        result["properties"] = properties
        result["required"] = list(properties)
        result["additionalProperties"] = False

    def tuple_to_array(self, node: dict[str, Any], path: str, parameter: str | None) -> None:
        """Strict mode has no positional items: a tuple becomes an array of the union of its item types."""
        prefix = node.pop("prefixItems", None) or []
        items = node.pop("items", None)
        if isinstance(items, list):
            prefix, items = items, None
        shapes: list[Any] = []
        for shape in [*prefix, *([items] if isinstance(items, dict) else [])]:
            if shape not in shapes:
                shapes.append(shape)
        if shapes:
            node["items"] = shapes[0] if len(shapes) == 1 else {"anyOf": shapes}
        if prefix:
            order = f"items in order: {', '.join(_short_type(item) for item in prefix)}"
            node["description"] = f"{node['description']} ({order})" if node.get("description") else order

    def count_enum(self, values: list[Any], path: str, parameter: str | None) -> None:
        self.enum_values += len(values)
        if self.enum_values > MAX_ENUM_VALUES:
            raise self.fail(f"more than {MAX_ENUM_VALUES} enum values in total", path, parameter)
        strings = sum(len(v) for v in values if isinstance(v, str))
        self.string_length += strings
        if len(values) > LARGE_ENUM and strings > MAX_LARGE_ENUM_STRING_LENGTH:
            raise self.fail(
                f"an enum of more than {LARGE_ENUM} values may total at most {MAX_LARGE_ENUM_STRING_LENGTH} "
                f"characters, this one has {strings}", path, parameter)  # fmt: skip


def _meaningful(key: str, value: Any) -> bool:
    """Whether a keyword survives conversion (``title``, ``default: null`` and the like do not)."""
    return key not in _DROPPED or (key == "default" and value is not None)


def _describe(key: str, value: Any) -> str:
    """A keyword strict mode does not take, as text for the description: ``minLength: 3``."""
    return f"{key}: {value if isinstance(value, str) and key != 'default' else json.dumps(value, default=str)}"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Let ``schema`` also accept null, without wrapping what already does."""
    if _accepts_null(schema):
        return schema
    types = schema.get("type")
    simple = {"string", "number", "integer", "boolean"}
    type_list = types if isinstance(types, list) else [types]
    if set(type_list) <= simple and not any(k in schema for k in ("anyOf", "enum", "const", "$ref")):
        return {**schema, "type": [*type_list, "null"]}
    if "anyOf" in schema and not any(k in schema for k in ("type", "enum", "const", "$ref")):
        return {**schema, "anyOf": [*schema["anyOf"], dict(_NULL)]}
    inner = {k: v for k, v in schema.items() if k != "description"}
    wrapped: dict[str, Any] = {"anyOf": [inner, dict(_NULL)]}
    if "description" in schema:
        wrapped["description"] = schema["description"]
    return wrapped


def _accepts_null(schema: dict[str, Any]) -> bool:
    types = schema.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types and "enum" not in schema):
        return True
    if "enum" in schema and None in schema["enum"]:
        return True
    return any(isinstance(b, dict) and _accepts_null(b) for b in schema.get("anyOf", []))


def _short_type(schema: Any) -> str:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return str(schema["$ref"]).rsplit("/", 1)[-1]
        if "type" in schema:
            return "|".join(schema["type"]) if isinstance(schema["type"], list) else str(schema["type"])
    return "any"
