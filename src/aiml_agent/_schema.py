"""JSON-schema helpers shared by the schema dialects, tool building, argument validation and the CLI.

Plain functions over JSON data (dicts and lists): local ``$ref`` resolution, copying (a schema's copy with every
reference pointing from its root), title removal and the mapping of strict mode's ``null`` back to "not given".
No Haystack or pydantic import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

#: Nested dicts and lists a schema may have; deeper input is refused (never a ``RecursionError``).
MAX_JSON_DEPTH = 100

#: Keywords whose value is one schema.
SCHEMA_KEYWORDS = frozenset({
    "items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
    "unevaluatedProperties", "unevaluatedItems", "additionalItems", "contentSchema",
})  # fmt: skip
#: Keywords whose value is a list of schemas (``items`` too, in its draft-07 tuple form).
SCHEMA_LIST_KEYWORDS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems", "items"})
#: Keywords whose value maps names to schemas (the names are not keywords).
SCHEMA_MAP_KEYWORDS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def resolve_ref(ref: Any, root: Any) -> dict[str, Any] | None:
    """The schema a local ``$ref`` points to inside ``root``, or None when it points nowhere (or elsewhere).

    ``ref`` is a JSON pointer in a URI fragment: ``#/$defs/Address``, ``#/definitions/Address``, or any other
    ``#/...`` path; ``~1``/``~0`` and percent escapes are decoded. Remote references are not followed.
    """
    parts = pointer_parts(ref)
    if parts is None:
        return None
    node = root
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if isinstance(node, dict) else None


def pointer_parts(ref: Any) -> list[str] | None:
    """The decoded segments of a local ``#/...`` reference; None for anything else."""
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return None
    return [part.replace("~1", "/").replace("~0", "~") for part in unquote(ref[2:]).split("/")]


def escape(segment: str) -> str:
    """One JSON-pointer segment as written in a ``$ref`` (``~``, ``/`` and ``%`` escaped)."""
    return segment.replace("~", "~0").replace("/", "~1").replace("%", "%25")


def copy_json(value: Any) -> Any:
    """Deep copy of JSON data (faster than copy.deepcopy for plain dicts and lists)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def copy_schema(schema: dict[str, Any], too_deep: Callable[[str], Exception]) -> dict[str, Any]:
    """A deep copy of ``schema`` in which every ``$ref`` is a JSON pointer from the copy's root.

    References resolve against the schema resource they appear in (the nearest ``$id``), to a resource's
    ``$id``, a JSON pointer inside it, or an ``$anchor``; one that points outside the schema is left as it is
    (an error when it is followed). Input nested deeper than :data:`MAX_JSON_DEPTH` raises ``too_deep(path)``
    before Python's recursion limit is near.
    """
    resources: list[bool] = []
    try:
        root: dict[str, Any] = _copy_bounded(schema, 0, resources)
    except _TooDeep as error:
        raise too_deep("$" + "".join(reversed(error.parts))) from None
    if resources:
        _point_refs_from_root(root)
    return root


class _TooDeep(Exception):
    def __init__(self) -> None:
        self.parts: list[str] = []  # the path, innermost first


def _copy_bounded(value: Any, depth: int, resources: list[bool]) -> Any:
    """``copy_json`` that refuses more than :data:`MAX_JSON_DEPTH` levels; notes ``$id``/``$anchor`` seen."""
    if isinstance(value, dict):
        if depth > MAX_JSON_DEPTH:
            raise _TooDeep
        if not resources and ("$id" in value or "$anchor" in value):
            resources.append(True)
        copied = {}
        for key, item in value.items():
            try:
                copied[key] = (
                    _copy_bounded(item, depth + 1, resources) if isinstance(item, (dict, list, tuple)) else item
                )
            except _TooDeep as error:
                error.parts.append(f".{key}")
                raise
        return copied
    if depth > MAX_JSON_DEPTH:
        raise _TooDeep
    items = []
    for index, item in enumerate(value):
        try:
            items.append(_copy_bounded(item, depth + 1, resources) if isinstance(item, (dict, list, tuple)) else item)
        except _TooDeep as error:
            error.parts.append(f"[{index}]")
            raise
    return items


def _point_refs_from_root(root: dict[str, Any]) -> None:
    """Rewrite, in place, every ``$ref`` that resolves inside ``root`` as a JSON pointer from ``root``."""
    root_id = root.get("$id")
    root_base = urldefrag(root_id)[0] if isinstance(root_id, str) else ""
    resources: dict[str, str] = {root_base: ""}
    anchors: dict[str, str] = {}
    refs: list[tuple[dict[str, Any], str]] = []
    stack: list[tuple[Any, str, str]] = [(root, root_base, "")]
    while stack:
        node, base, pointer = stack.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("$id"), str):
            base = urldefrag(urljoin(base, node["$id"]))[0]
            resources.setdefault(base, pointer)
        if isinstance(node.get("$anchor"), str):
            anchors.setdefault(f"{base}#{node['$anchor']}", pointer)
        if isinstance(node.get("$ref"), str):
            refs.append((node, base))
        for segments, sub in subschemas(node):
            stack.append((sub, base, pointer + "".join("/" + escape(str(s)) for s in segments)))
    for node, base in refs:
        absolute = urljoin(base, node["$ref"]) if base else node["$ref"]
        uri, fragment = urldefrag(absolute)
        if uri in resources and (not fragment or fragment.startswith("/")):
            node["$ref"] = "#" + resources[uri] + fragment
        elif absolute in anchors:
            node["$ref"] = "#" + anchors[absolute]


def subschemas(node: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """The schemas directly inside ``node``, each with the pointer segments leading to it.

    Only schema positions count: values of ``default``, ``enum``, ``const``, ``examples`` and other keywords
    are data, even when they hold a dict with a ``title`` or ``$ref`` key.
    """
    for key, value in node.items():
        if key in SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            for name, sub in value.items():
                yield (key, name), sub
        elif key in SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            for index, sub in enumerate(value):
                yield (key, index), sub
        elif key in SCHEMA_KEYWORDS and isinstance(value, dict):
            yield (key,), value


def remove_titles(schema: Any) -> None:
    """Delete every ``title`` keyword in place; property names and data values (examples...) are left alone."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("title"), str):
            del node["title"]
        stack.extend(sub for _, sub in subschemas(node))


def drop_optional_nulls(value: Any, schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> Any:
    """A copy of ``value`` without ``null`` for object properties the (non-strict) schema does not require.

    Strict mode makes such properties nullable; dropping the ``null`` lets validation fill in the default.
    Inside a union (``Cat | Dog``) the branch the value was written for is the object whose properties
    (and ``const`` values, e.g. a discriminator) match it. ``root`` is the whole schema ``$ref`` s point into.
    """
    if depth > 32 or not isinstance(value, (dict, list)):
        return value
    schema = _resolve_local(schema, root)
    union = schema.get("anyOf", schema.get("oneOf"))
    if isinstance(union, list):
        branches = [_resolve_local(b, root) for b in union if isinstance(b, dict) and b.get("type") != "null"]
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


def _resolve_local(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
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
