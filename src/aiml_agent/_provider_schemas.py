"""Tool and response schemas as each provider family behind AIMLAPI accepts them.

Three dialects, each a small rule set over the one walk of :mod:`aiml_agent._schema_walker`:

- ``openai``: strict → :func:`aiml_agent.strict.to_strict_schema`; non-strict → an unchanged copy.
- ``anthropic``: strict → the OpenAI strict schema without what Anthropic's strict mode rejects (numeric and
  string length constraints, ``maxItems``, ``minItems`` other than 0/1, formats outside
  :data:`ANTHROPIC_FORMATS`, patterns outside the simple regex subset), moved into descriptions; a recursive
  schema raises (send the tool non-strict instead). Non-strict → an unchanged copy.
- ``google`` (Gemini; its OpenAI-compatible layer has no strict mode, so ``strict`` is ignored): a subset of
  OpenAPI 3.0. No ``additionalProperties``, ``$ref``/``$defs`` (spelled out; a recursive schema is spelled out
  :data:`GEMINI_RECURSION_DEPTH` levels deep, then described), ``default``, ``title``, ``examples``,
  ``exclusiveMinimum``... (their information moves into descriptions); ``const`` becomes a one-value ``enum``,
  enums of non-strings and string formats other than ``enum``/``date-time`` are described; a union with null
  becomes ``nullable``; every object has ``properties`` (empty for a tool without parameters).

Every function returns a new dict and never mutates its input; errors are
:class:`~aiml_agent.errors.StrictSchemaError` naming the tool, the parameter and the JSON path.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from aiml_agent._regex_subset import unsupported_regex
from aiml_agent._schema import copy_json
from aiml_agent._schema_walker import Action, SchemaWalker, add_to_description, describe, short_type, types_of
from aiml_agent.strict import OpenAIStrictSchema, to_strict_schema

Dialect = Literal["openai", "google", "anthropic"]

#: String formats Anthropic's strict mode accepts.
ANTHROPIC_FORMATS = frozenset({
    "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid",
})  # fmt: skip
#: Formats Gemini accepts, by type.
GEMINI_FORMATS: dict[str, frozenset[str]] = {
    "string": frozenset({"enum", "date-time"}),
    "integer": frozenset({"int32", "int64"}),
    "number": frozenset({"float", "double"}),
}
#: How many times a recursive definition is spelled out inside itself for Gemini before it is only described.
GEMINI_RECURSION_DEPTH = 3


def tool_parameters_for(
    parameters: dict[str, Any], *, dialect: Dialect, strict: bool, tool_name: str | None = None
) -> dict[str, Any]:
    """A tool's parameters schema as the provider family accepts it; never mutates the input.

    :param parameters: The tool's JSON schema (an object).
    :param dialect: The provider family's schema dialect.
    :param strict: Whether the tool is sent strict (ignored for ``google``, which has no strict mode).
    :param tool_name: Named in errors.
    :raises StrictSchemaError: The schema cannot be expressed in the dialect (naming tool, parameter and path).
    """
    return _convert(parameters, dialect, strict, tool_name, object_root=True)


def response_schema_for(
    schema: dict[str, Any], *, dialect: Dialect, strict: bool, name: str | None = None
) -> dict[str, Any]:
    """The JSON schema of a structured-output response_format (the `schema` inside json_schema) for the family.

    :param schema: The answer's JSON schema (e.g. a pydantic model's ``model_json_schema()``).
    :param dialect: The provider family's schema dialect.
    :param strict: Whether the response format is strict (ignored for ``google``).
    :param name: The response format's name, used in errors.
    :raises StrictSchemaError: The schema cannot be expressed in the dialect.
    """
    return _convert(schema, dialect, strict, name, object_root=False)


def _convert(schema: dict[str, Any], dialect: Dialect, strict: bool, name: str | None, object_root: bool) -> Any:
    if dialect not in get_args(Dialect):
        raise ValueError(f"unknown schema dialect {dialect!r}; expected one of {', '.join(get_args(Dialect))}")
    if dialect == "google":
        return GeminiSchema(schema, tool_name=name, object_root=object_root).run()
    if not strict:
        return copy_json(schema)
    if dialect == "anthropic":
        return AnthropicStrictSchema(schema, tool_name=name).run()
    return to_strict_schema(schema, tool_name=name)


class AnthropicStrictSchema(OpenAIStrictSchema):
    """Anthropic strict mode: OpenAI's strict rules without the constraints it rejects, and no recursion."""

    keep: ClassVar[frozenset[str]] = OpenAIStrictSchema.keep - {
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "maxItems",
    }  # fmt: skip
    formats: ClassVar[frozenset[str]] = ANTHROPIC_FORMATS

    def keyword(self, key: str, value: Any, node: dict[str, Any]) -> Action:
        if key == "minItems":
            return "keep" if value in (0, 1) and not isinstance(value, bool) else "describe"
        return super().keyword(key, value, node)

    def on_recursive_ref(self, ref: str, path: str, parameter: str | None) -> None:
        reason = f"a recursive schema ($ref {ref!r} inside itself) is not supported by Anthropic strict mode"
        raise self.fail(f"{reason}; send the tool non-strict", path, parameter)

    def finish_root(self, result: dict[str, Any]) -> dict[str, Any]:
        if result.get("type") != "object":
            raise self.fail(f"the root must be of type 'object', not {result.get('type')!r}", "$", None)
        return result


class GeminiSchema(SchemaWalker):
    """Gemini's function-declaration schema: a subset of OpenAPI 3.0, with no references."""

    keep: ClassVar[frozenset[str]] = frozenset({
        "type", "format", "description", "nullable", "enum", "const", "items", "properties", "required", "anyOf",
        "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern", "minProperties",
        "maxProperties",
    })  # fmt: skip
    inline_refs: ClassVar[bool] = True

    def __init__(self, schema: Any, *, tool_name: str | None = None, object_root: bool = True) -> None:
        super().__init__(schema, tool_name=tool_name)
        self.object_root = object_root

    def keyword(self, key: str, value: Any, node: dict[str, Any]) -> Action:
        if key == "format":
            known = any(value in GEMINI_FORMATS.get(kind, ()) for kind in types_of(node))
            return "keep" if known else "describe"
        if key == "pattern":
            return "keep" if isinstance(value, str) and unsupported_regex(value) is None else "describe"
        if key == "additionalProperties":
            return "describe" if isinstance(value, dict) and value else "drop"
        return super().keyword(key, value, node)

    def describe(self, key: str, value: Any) -> str:
        if key == "additionalProperties":
            return f"any property names, each value {short_type(value)}"
        return describe(key, value)

    def prepare_root(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        if not self.object_root:
            return node
        if "anyOf" in node or "oneOf" in node:
            raise self.fail("the root cannot be a union (anyOf/oneOf); it must be one object", path, None)
        return {**node, "type": node.get("type", "object")}

    def on_recursion(
        self, ref: str, target: dict[str, Any], siblings: dict[str, Any], path: str, parameter: str | None, depth: int
    ) -> dict[str, Any] | None:
        if self.inlining.count(ref) < GEMINI_RECURSION_DEPTH:
            return None
        what = "the whole schema" if ref == "#" else short_type({"$ref": ref})
        note = (
            f"{what} again, as described above (nesting deeper than {GEMINI_RECURSION_DEPTH} levels is not spelled out)"
        )
        cut: dict[str, Any] = {"description": add_to_description(siblings.get("description"), note)}
        if "object" in types_of(target):
            cut["type"] = "object"
        return cut

    def finish(self, result: dict[str, Any], path: str, parameter: str | None) -> dict[str, Any]:
        moved: list[str] = []
        if "const" in result:
            result["enum"] = [result.pop("const")]
        if "enum" in result:
            values = result.pop("enum")
            if None in values:
                result["nullable"] = True
                values = [value for value in values if value is not None]
            if values and all(isinstance(value, str) for value in values):
                result["enum"] = values
                result.setdefault("type", "string")
            elif values:
                moved.append(describe("enum" if len(values) > 1 else "const", values if len(values) > 1 else values[0]))
                kind = _json_type(values)
                if kind and "type" not in result:
                    result["type"] = kind
        kinds = result.get("type")
        if isinstance(kinds, list):
            if "null" in kinds:
                result["nullable"] = True
            rest = [kind for kind in kinds if kind != "null"]
            result.pop("type")
            if len(rest) == 1:
                result["type"] = rest[0]
            elif rest:
                result["anyOf"] = [*result.get("anyOf", []), *({"type": kind} for kind in rest)]
        if "anyOf" in result:
            result = _without_null_branches(result)
        if result.get("type") == "object":
            result.setdefault("properties", {})
            required = [name for name in result.get("required") or [] if name in result["properties"]]
            result.pop("required", None)
            if required:
                result["required"] = required
        if result.get("type") == "array":
            result.setdefault("items", {})
        if moved:
            result["description"] = add_to_description(result.get("description"), ", ".join(moved))
        return result

    def finish_root(self, result: dict[str, Any]) -> dict[str, Any]:
        if self.object_root and result.get("type") != "object":
            raise self.fail(f"the root must be of type 'object', not {result.get('type')!r}", "$", None)
        return result


def _without_null_branches(result: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {"type": "null"}]`` as Gemini writes it: ``X`` with ``nullable: true``."""
    branches = [b for b in result["anyOf"] if not (b.get("type") == "null" and set(b) <= {"type", "description"})]
    if len(branches) == len(result["anyOf"]):
        return result
    rest = {k: v for k, v in result.items() if k != "anyOf"}
    rest["nullable"] = True
    if len(branches) != 1:
        return {**rest, "anyOf": branches} if branches else rest
    branch = branches[0]
    merged = {**branch, **rest}
    if branch.get("description") and rest.get("description"):
        merged["description"] = f"{rest['description']} ({branch['description']})"
    return merged


def _json_type(values: list[Any]) -> str | None:
    """The one JSON type of enum values Gemini cannot take as an enum (None when they mix types)."""
    kinds = {
        "boolean" if isinstance(v, bool) else "integer" if isinstance(v, int) else type(v).__name__ for v in values
    }
    if kinds <= {"integer", "float"}:
        return "integer" if kinds == {"integer"} else "number"
    named = {"boolean": "boolean", "dict": "object", "list": "array", "str": "string"}
    return named.get(kinds.pop()) if len(kinds) == 1 else None
