"""Strict function calling: turn any tool's JSON schema into one OpenAI strict mode accepts.

Strict mode takes a subset of JSON Schema (OpenAI "Structured Outputs - supported schemas"): the root is an
object, every object is closed and lists all its properties in ``required``, optional values are written as
a union with null, and only a few validation keywords (and string formats, and regex constructs) are allowed.
``to_strict_schema`` rewrites a schema into that subset without touching its input, and raises
``StrictSchemaError`` (JSON path, tool, parameter) for shapes that have no strict equivalent. The walk itself
(references, ``allOf``, copying, limits on size and depth) is :mod:`aiml_agent._schema_walker`; this module
holds OpenAI's rules. The request fields built from it live in :mod:`aiml_agent._request`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiml_agent._regex_subset import unsupported_regex
from aiml_agent._schema import pointer_parts
from aiml_agent._schema_walker import Action, SchemaWalker, types_of

#: OpenAI's documented strict-mode limits.
MAX_PROPERTIES = 5000
#: Levels of object nesting below the root.
MAX_NESTING = 10
MAX_ENUM_VALUES = 1000
MAX_TOTAL_STRING_LENGTH = 120_000
LARGE_ENUM = 250
MAX_LARGE_ENUM_STRING_LENGTH = 15_000

#: String formats OpenAI strict mode accepts; any other ``format`` moves into the description.
OPENAI_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
_NULL: dict[str, Any] = {"type": "null"}


def to_strict_schema(schema: dict[str, Any], *, tool_name: str | None = None) -> dict[str, Any]:
    """Return a copy of ``schema`` that OpenAI strict function calling accepts; the input is never mutated.

    Every object is closed with all properties required; properties that were optional become nullable
    (``null`` then means "use the default"); ``default`` and ``title`` are removed; ``oneOf`` becomes
    ``anyOf``; a ``$ref`` with sibling keys and every ``allOf`` branch are merged deeply into their node;
    plain ``$ref`` s stay references and only the definitions they use are kept (draft-07 ``definitions``
    become ``$defs``). Keywords strict mode does not take (``minLength``, ``uniqueItems``, a ``format`` outside
    :data:`OPENAI_FORMATS`, a ``pattern`` with lookaround or backreferences, ...) move into the description
    text rather than being dropped.

    :param schema: A JSON schema whose root is an object, e.g. a tool's ``parameters``.
    :param tool_name: Named in errors.
    :raises StrictSchemaError: Free-form objects (``dict[str, X]``, open or property-less objects), arrays
        without ``items``, schemas without a type (``Any``), a non-object root or root ``anyOf``, schemas that
        conflict (a ``$ref`` and siblings of different types), unresolvable ``$ref``, a schema over OpenAI's
        limits, or one nested or inlined beyond the walker's bounds.
    """
    return OpenAIStrictSchema(schema, tool_name=tool_name).run()


class OpenAIStrictSchema(SchemaWalker):
    """OpenAI strict mode's rules over the shared walk."""

    keep: ClassVar[frozenset[str]] = frozenset({
        "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const",
        "description", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "multipleOf", "minItems", "maxItems", "nullable",
    })  # fmt: skip
    formats: ClassVar[frozenset[str]] = OPENAI_FORMATS

    def keyword(self, key: str, value: Any, node: dict[str, Any]) -> Action:
        if key == "format":
            return "keep" if value in self.formats and "string" in types_of(node) else "describe"
        if key == "pattern":
            return "keep" if isinstance(value, str) and unsupported_regex(value) is None else "describe"
        if key == "nullable" and not isinstance(value, bool):
            return "describe"
        return super().keyword(key, value, node)

    def prepare_root(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        if "anyOf" in node or "oneOf" in node:
            raise self.fail("the root cannot be a union (anyOf/oneOf); it must be one object", path, None)
        node = dict(node)
        node.setdefault("type", "object")  # no type: a parameter list
        node.setdefault("properties", {})  # no properties: a tool without parameters
        return node

    def finish(self, result: dict[str, Any], path: str, parameter: str | None) -> dict[str, Any]:
        if result.pop("nullable", False) is True:  # OpenAPI's spelling of "or null"
            result = nullable(result)
        if not any(k in result for k in ("type", "anyOf", "enum", "const")):
            raise self.fail("a value without a type (Any) cannot be strict; give it a concrete type", path, parameter)
        kinds = types_of(result)
        if "object" in kinds:
            self.close_object(result, path, parameter)
        if "array" in kinds and "items" not in result:
            reason = "an array without 'items' (a bare list) cannot be strict; type its items"
            raise self.fail(reason, path, parameter)
        return result

    def finish_root(self, result: dict[str, Any]) -> dict[str, Any]:
        if result.get("type") != "object":
            raise self.fail(f"the root must be of type 'object', not {result.get('type')!r}", "$", None)
        check_limits(result, self)
        return result

    def close_object(self, result: dict[str, Any], path: str, parameter: str | None) -> None:
        """Make an object closed with every property required; formerly optional ones become nullable."""
        extra = result.get("additionalProperties")
        if extra not in (None, False):
            raise self.fail(
                "an object with additionalProperties (a free-form dict such as dict[str, X]) cannot be strict; "
                "use a model with named fields", path, parameter)  # fmt: skip
        if "properties" not in result:
            if extra is not False:  # an explicitly closed object without properties is just an empty one
                raise self.fail("an object without 'properties' (a free-form dict) cannot be strict", path, parameter)
            result["properties"] = {}
        required = set(result.get("required") or [])
        result["properties"] = {
            name: sub if name in required else nullable(sub) for name, sub in result["properties"].items()
        }
        result["required"] = list(result["properties"])
        result["additionalProperties"] = False


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
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
    if "const" in schema and schema["const"] is None:
        return True
    return any(isinstance(b, dict) and _accepts_null(b) for b in schema.get("anyOf", []))


def check_limits(schema: dict[str, Any], walker: SchemaWalker) -> None:
    """Raise when a strict schema exceeds OpenAI's limits (nesting counted through references)."""
    defs: dict[str, Any] = schema.get("$defs") or {}
    first_parameter: dict[str, str | None] = {}
    checked: set[tuple[str, int]] = set()  # a definition entered at one level is checked once

    def nesting(node: Any, path: str, parameter: str | None, level: int, inside: frozenset[str]) -> None:
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = (pointer_parts(ref) or [""])[-1]
            if ref != "#" and name in defs and name not in inside and (name, level) not in checked:
                checked.add((name, level))
                first_parameter.setdefault(name, parameter)
                nesting(defs[name], f"$.$defs.{name}", parameter, level, inside | {name})
            return
        if "object" in types_of(node):
            level += 1
            if level > MAX_NESTING + 1:
                reason = (
                    f"objects are nested more than {MAX_NESTING} levels below the root (the most strict mode allows)"
                )
                raise walker.fail(reason, path, parameter)
        for name, sub in (node.get("properties") or {}).items():
            nesting(sub, f"{path}.properties.{name}", name if path == "$" else parameter, level, inside)
        nesting(node.get("items"), f"{path}.items", parameter, level, inside)
        for index, branch in enumerate(node.get("anyOf") or []):
            nesting(branch, f"{path}.anyOf[{index}]", parameter, level, inside)

    nesting({k: v for k, v in schema.items() if k != "$defs"}, "$", None, 0, frozenset())
    totals = {"properties": 0, "enum": 0, "chars": sum(len(name) for name in defs)}

    def count(node: Any, path: str, parameter: str | None) -> None:
        if not isinstance(node, dict):
            return
        properties = node.get("properties") or {}
        totals["properties"] += len(properties)
        totals["chars"] += sum(len(name) for name in properties)
        if totals["properties"] > MAX_PROPERTIES:
            raise walker.fail(f"more than {MAX_PROPERTIES} object properties in total", path, parameter)
        values = node.get("enum")
        if isinstance(values, list):
            totals["enum"] += len(values)
            if totals["enum"] > MAX_ENUM_VALUES:
                raise walker.fail(f"more than {MAX_ENUM_VALUES} enum values in total", path, parameter)
            strings = sum(len(v) for v in values if isinstance(v, str))
            totals["chars"] += strings
            if len(values) > LARGE_ENUM and strings > MAX_LARGE_ENUM_STRING_LENGTH:
                raise walker.fail(
                    f"an enum of more than {LARGE_ENUM} values may total at most {MAX_LARGE_ENUM_STRING_LENGTH} "
                    f"characters, this one has {strings}", path, parameter)  # fmt: skip
        if isinstance(node.get("const"), str):
            totals["chars"] += len(node["const"])
        for name, sub in properties.items():
            count(sub, f"{path}.properties.{name}", name if path == "$" else parameter)
        count(node.get("items"), f"{path}.items", parameter)
        for index, branch in enumerate(node.get("anyOf") or []):
            count(branch, f"{path}.anyOf[{index}]", parameter)

    count({k: v for k, v in schema.items() if k != "$defs"}, "$", None)
    for name, definition in defs.items():
        count(definition, f"$.$defs.{name}", first_parameter.get(name))
    if totals["chars"] > MAX_TOTAL_STRING_LENGTH:
        raise walker.fail(
            f"property names, definition names and enum values total {totals['chars']} characters; "
            f"strict mode allows {MAX_TOTAL_STRING_LENGTH}", "$", None)  # fmt: skip
