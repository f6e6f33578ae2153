"""Checkers of what each provider accepts, written from the providers' documents independently of the library.

- OpenAI strict ("Structured Outputs - supported schemas"): a closed object root; every object closed with all
  properties required; only the supported keywords, string formats and regex constructs; no ``default``;
  references resolvable and alone; at most 10 levels of object nesting below the root, 5000 properties,
  1000 enum values.
- Anthropic strict ("JSON Schema limitations"): the same minus numeric and string constraints, ``maxItems``,
  ``minItems`` other than 0/1, and recursive schemas; its own list of string formats.
- Gemini (a subset of OpenAPI 3.0): no ``additionalProperties``, ``$ref``/``$defs``, ``default``, ``title``,
  ``const``, ``examples``, exclusive bounds...; only ``enum`` and ``date-time`` string formats; every object with
  ``properties``; ``required`` only names that exist; one type per node (``nullable`` for null).
"""

from __future__ import annotations

import re
from typing import Any

OPENAI_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const",
    "description", "$ref", "$defs", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
}  # fmt: skip
OPENAI_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
ANTHROPIC_REJECTS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
                     "maxLength", "maxItems"}  # fmt: skip
ANTHROPIC_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
GEMINI_KEYWORDS = {
    "type", "format", "description", "nullable", "enum", "items", "properties", "required", "anyOf",
    "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern", "minProperties",
    "maxProperties",
}  # fmt: skip
GEMINI_FORBIDDEN = {"additionalProperties", "$ref", "$defs", "definitions", "default", "title", "$schema", "$id",
                    "examples", "discriminator", "propertyNames", "patternProperties", "exclusiveMinimum",
                    "exclusiveMaximum", "const", "oneOf", "allOf"}  # fmt: skip
_COMPLEX_REGEX = re.compile(r"\(\?[=!<>P]|\\[1-9bBk]")


def check_openai_strict(schema: dict[str, Any], *, anthropic: bool = False) -> None:
    """Raise AssertionError naming the path of the first rule a strict schema breaks."""
    assert schema.get("type") == "object", "root must be type object"
    assert "anyOf" not in schema, "root must not be anyOf"
    defs = schema.get("$defs", {})
    totals = {"properties": 0, "enum": 0}
    formats = ANTHROPIC_FORMATS if anthropic else OPENAI_FORMATS

    def walk(node: Any, path: str) -> None:
        assert isinstance(node, dict) and node, f"{path}: empty or non-object schema"
        unknown = set(node) - OPENAI_KEYWORDS - ({"$defs"} if path == "$" else set())
        assert not unknown, f"{path}: keywords strict mode rejects: {unknown}"
        if anthropic:
            assert not set(node) & ANTHROPIC_REJECTS, f"{path}: Anthropic rejects {set(node) & ANTHROPIC_REJECTS}"
            assert node.get("minItems", 0) in (0, 1), f"{path}: Anthropic takes minItems 0 or 1 only"
        if "$ref" in node:
            assert set(node) == {"$ref"}, f"{path}: $ref with sibling keys {set(node) - {'$ref'}}"
            assert node["$ref"] == "#" or node["$ref"].removeprefix("#/$defs/") in defs, f"{path}: dangling $ref"
            return
        assert {"type", "anyOf", "enum", "const"} & set(node), f"{path}: no type"
        if "format" in node:
            assert node["format"] in formats and "string" in types_list(node), f"{path}: format {node['format']}"
        if "pattern" in node:
            assert not _COMPLEX_REGEX.search(node["pattern"]), f"{path}: pattern {node['pattern']}"
        types = node.get("type")
        types = types if isinstance(types, list) else [types]
        if "enum" in node:
            totals["enum"] += len(node["enum"])
        for i, branch in enumerate(node.get("anyOf", [])):
            walk(branch, f"{path}.anyOf[{i}]")
        if "object" in types:
            assert node.get("additionalProperties") is False, f"{path}: object not closed"
            props = node.get("properties")
            assert isinstance(props, dict), f"{path}: object without properties"
            assert sorted(node.get("required", [])) == sorted(props), f"{path}: not every property required"
            totals["properties"] += len(props)
            for name, sub in props.items():
                walk(sub, f"{path}.properties.{name}")
        if "array" in types:
            assert "items" in node, f"{path}: array without items"
            walk(node["items"], f"{path}.items")

    walk({k: v for k, v in schema.items() if k != "$defs"}, "$")
    for name, sub in defs.items():
        walk(sub, f"$.$defs.{name}")
    assert totals["properties"] <= 5000 and totals["enum"] <= 1000, "over OpenAI's limits"
    assert object_nesting(schema) <= 11, "more than 10 levels of object nesting below the root"
    if anthropic:
        assert not is_recursive(schema), "Anthropic strict mode takes no recursive schema"


def check_anthropic_strict(schema: dict[str, Any]) -> None:
    check_openai_strict(schema, anthropic=True)


def check_gemini(schema: dict[str, Any], *, root_object: bool = True) -> None:
    """Raise AssertionError naming the path of the first thing Gemini's function declarations reject."""
    if root_object:
        assert schema.get("type") == "object", "root must be type object"

    def walk(node: Any, path: str) -> None:
        assert isinstance(node, dict), f"{path}: non-object schema"
        unknown = set(node) - GEMINI_KEYWORDS
        assert not unknown, f"{path}: keywords Gemini rejects: {unknown}"
        assert isinstance(node.get("type", ""), str), f"{path}: one type per node"
        if "format" in node and node.get("type") == "string":
            assert node["format"] in ("enum", "date-time"), f"{path}: format {node['format']}"
        if "enum" in node:
            assert all(isinstance(v, str) for v in node["enum"]), f"{path}: enum of non-strings"
        if "pattern" in node:
            assert not _COMPLEX_REGEX.search(node["pattern"]), f"{path}: pattern {node['pattern']}"
        if node.get("type") == "object":
            assert isinstance(node.get("properties"), dict), f"{path}: object without properties"
            assert set(node.get("required", [])) <= set(node["properties"]), f"{path}: required names a ghost"
        if node.get("type") == "array":
            assert "items" in node, f"{path}: array without items"
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.properties.{name}")
        if "items" in node:
            walk(node["items"], f"{path}.items")
        for i, branch in enumerate(node.get("anyOf", [])):
            walk(branch, f"{path}.anyOf[{i}]")

    walk(schema, "$")


def object_nesting(schema: dict[str, Any]) -> int:
    """The most objects nested in one another (root included), references followed but not recursion."""
    defs = schema.get("$defs", {})
    memo: dict[str, int] = {}

    def depth(node: Any, inside: frozenset[str]) -> int:
        if not isinstance(node, dict):
            return 0
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/$defs/")
            if name in inside or name not in defs:
                return 0
            if name not in memo:
                memo[name] = depth(defs[name], inside | {name})
            return memo[name]
        children = [*(node.get("properties") or {}).values(), node.get("items"), *node.get("anyOf", [])]
        below = max((depth(child, inside) for child in children), default=0)
        types = node.get("type")
        return below + (1 if types == "object" or (isinstance(types, list) and "object" in types) else 0)

    return depth(schema, frozenset())


def is_recursive(schema: dict[str, Any]) -> bool:
    """Whether a reference leads back into a definition it is inside (or to the root)."""
    defs = schema.get("$defs", {})

    def refs(node: Any) -> set[str]:
        if isinstance(node, dict):
            own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
            return own.union(*(refs(v) for k, v in node.items() if k != "$defs"))
        if isinstance(node, list):
            return set().union(*(refs(v) for v in node))
        return set()

    if "#" in refs(schema):
        return True
    edges = {name: {ref.removeprefix("#/$defs/") for ref in refs(body)} for name, body in defs.items()}
    state: dict[str, str] = {}

    def cyclic(name: str) -> bool:  # depth-first search: a grey node met again closes a cycle
        state[name] = "grey"
        for nxt in edges.get(name, ()):
            if state.get(nxt) == "grey" or (nxt not in state and cyclic(nxt)):
                return True
        state[name] = "black"
        return False

    return any(name not in state and cyclic(name) for name in defs)


def keyword_values(node: Any, key: str, *, names: bool = False) -> list[Any]:
    """Every value of the keyword ``key`` in any schema node (property and definition names are not keywords)."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and not names:
                found.append(v)
            found.extend(keyword_values(v, key, names=k in ("properties", "$defs", "definitions") and not names))
    elif isinstance(node, list):
        for v in node:
            found.extend(keyword_values(v, key))
    return found


def types_list(node: dict[str, Any]) -> list[Any]:
    types = node.get("type")
    return types if isinstance(types, list) else [types]
