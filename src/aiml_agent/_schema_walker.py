"""One walk over a JSON schema, shared by every provider dialect (OpenAI strict, Anthropic strict, Gemini).

A dialect is a small subclass of :class:`SchemaWalker`: the keywords it keeps (``keep``), the annotations it
drops without a trace (``silent``; every other keyword moves into the description text, so no constraint is
lost silently), per-keyword exceptions (``keyword``) and what it does to a finished node (``finish``), to the
root and to a recursive reference. The walker does the rest the same way for all of them:

- the input is copied first (it is never mutated, and the result shares nothing with it); nesting deeper than
  :data:`MAX_JSON_DEPTH` is an error naming the path, never a ``RecursionError``;
- ``$ref`` is resolved against the schema resource it appears in (``$id``, ``$anchor``, draft-07
  ``definitions`` as well as ``$defs``); a plain reference stays a reference into the result's ``$defs``
  (only definitions actually referenced are kept), a reference with sibling keys is deeply merged with its
  target (see :mod:`aiml_agent._schema_merge`), and so is every branch of ``allOf``;
- when inlining references would make the result larger than :data:`MAX_NODES` nodes, the walk starts again
  sharing each (reference, siblings) pair as one definition instead, which keeps the size linear;
- ``oneOf`` becomes ``anyOf``, tuples become arrays, ``properties``/``items`` imply their type, and keywords
  that do not apply to the node's type (``properties`` on a string) are removed;
- every error is a :class:`~aiml_agent.errors.StrictSchemaError` naming the tool, the parameter and the path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from aiml_agent._schema import MAX_JSON_DEPTH, copy_json, copy_schema, escape, pointer_parts, resolve_ref
from aiml_agent._schema_merge import SchemaConflict, merge_schemas

if TYPE_CHECKING:  # the walk needs no Haystack import (aiml_agent.errors loads it: imported on failure)
    from aiml_agent.errors import StrictSchemaError

#: Schema levels one walk follows, through inlined references.
MAX_DEPTH = 64
#: Schema nodes in one result.
MAX_NODES = 20_000
#: References and ``allOf`` leading one to another before a schema is reached.
MAX_REF_CHAIN = 32

#: Annotations with no information for the model; removed in every dialect.
ANNOTATIONS = frozenset({
    "title", "$schema", "$id", "$anchor", "$dynamicAnchor", "$vocabulary", "$comment", "$defs", "definitions",
    "discriminator", "readOnly", "writeOnly",
})  # fmt: skip
_FOR_TYPES: dict[str, frozenset[str]] = {
    "object": frozenset({
        "properties", "required", "additionalProperties", "patternProperties", "propertyNames", "minProperties",
        "maxProperties", "dependentRequired", "dependentSchemas", "unevaluatedProperties",
    }),
    "array": frozenset({
        "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains",
        "unevaluatedItems", "additionalItems",
    }),
    "string": frozenset({"minLength", "maxLength", "pattern", "contentEncoding", "contentMediaType", "contentSchema"}),
    "number": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
}  # fmt: skip
_TYPE_OF_KEYWORD = {keyword: kind for kind, keywords in _FOR_TYPES.items() for keyword in keywords}
_CHILDREN = frozenset({"properties", "items", "anyOf"})  # the sub-schemas the walk rewrites
JSON_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})

Action = Literal["keep", "drop", "describe"]


class _InlinedTooMuch(Exception):
    """Inlining references made the result too large: walk again sharing them as definitions."""


class SchemaWalker:
    """Rewrites one JSON schema into a provider's dialect; subclasses hold the dialect's rules.

    :param schema: The JSON schema (a tool's ``parameters`` or a response format's schema).
    :param tool_name: Named in errors.
    """

    #: Keywords kept as they are (their sub-schemas rewritten too).
    keep: ClassVar[frozenset[str]] = frozenset()
    #: Keywords removed without a trace (every other one not kept moves into the description).
    silent: ClassVar[frozenset[str]] = ANNOTATIONS
    #: Spell out every ``$ref`` (the dialect has no references).
    inline_refs: ClassVar[bool] = False

    def __init__(self, schema: Any, *, tool_name: str | None = None) -> None:
        self.source = schema
        self.tool_name = tool_name
        self.share_refs = False  # set when inlining references made the result too large

    # ----------------------------------------------------------------------------------------------
    # The dialect's rules (overridden by subclasses).
    # ----------------------------------------------------------------------------------------------
    def keyword(self, key: str, value: Any, node: dict[str, Any]) -> Action:
        """What becomes of one keyword of ``node``: kept, dropped, or described in the description text."""
        if key in self.keep:
            return "keep"
        if key in self.silent or (key == "default" and value is None):
            return "drop"
        return "describe"

    def describe(self, key: str, value: Any) -> str:
        """A keyword moved out of the schema, as text for the description."""
        return describe(key, value)

    def prepare_root(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        """The root node, references and ``allOf`` already merged in, before it is rewritten."""
        return node

    def finish(self, result: dict[str, Any], path: str, parameter: str | None) -> dict[str, Any]:
        """The dialect's last word on one rewritten node (its children are already rewritten)."""
        return result

    def finish_root(self, result: dict[str, Any]) -> dict[str, Any]:
        """The whole result, ``$defs`` included."""
        return result

    def on_recursion(
        self, ref: str, target: dict[str, Any], siblings: dict[str, Any], path: str, parameter: str | None, depth: int
    ) -> dict[str, Any] | None:
        """A reference with siblings met again inside its own inlining: the node to use, or None to inline again.

        By default the (reference, siblings) pair becomes a shared definition, which ends the recursion.
        """
        return {"$ref": self.variant(ref, target, siblings, path, parameter, depth)}

    def on_recursive_ref(self, ref: str, path: str, parameter: str | None) -> None:
        """A reference kept in the result points back to a definition it is inside (a recursive schema)."""

    # ----------------------------------------------------------------------------------------------
    # The walk.
    # ----------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """The rewritten schema (a new dict), or :class:`StrictSchemaError`."""
        if not isinstance(self.source, dict):
            raise self.fail(f"the schema must be a JSON object, not {_kind(self.source)}", "$", None)
        self.root: dict[str, Any] = copy_schema(
            self.source,
            lambda path: self.fail(f"the schema is nested more than {MAX_JSON_DEPTH} levels deep", path, None),
        )
        try:
            return self._walk()
        except _InlinedTooMuch:
            self.share_refs = True
            return self._walk()

    def _walk(self) -> dict[str, Any]:
        self.defs: dict[str, dict[str, Any]] = {}
        self.def_names: dict[str, str] = {}  # reference (or reference + siblings) -> name in the result's $defs
        self.in_progress: set[str] = set()
        self.inlining: list[str] = ["#"]  # references being spelled out around the current node (the root too)
        self.nodes = 0
        self.inlined_siblings = False
        result = self.visit(self.root, "$", None, 0, root=True)
        if self.defs:
            result["$defs"] = self.defs
        return self.finish_root(result)

    def fail(self, reason: str, path: str, parameter: str | None) -> StrictSchemaError:
        from aiml_agent.errors import StrictSchemaError

        return StrictSchemaError(reason, path=path, tool_name=self.tool_name, parameter=parameter)

    def visit(self, node: Any, path: str, parameter: str | None, depth: int, *, root: bool = False) -> dict[str, Any]:
        """Rewrite the schema ``node`` found at ``path`` (``depth``: schema levels walked to get there)."""
        if depth > MAX_DEPTH:
            raise self.fail(f"the schema is nested more than {MAX_DEPTH} levels deep", path, parameter)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.inlined_siblings and not self.share_refs:
                raise _InlinedTooMuch
            raise self.fail(f"the rewritten schema would have more than {MAX_NODES} nodes", path, parameter)
        if node is True:
            node = {}
        if not isinstance(node, dict):
            raise self.fail(f"a schema must be a JSON object, not {_kind(node)}", path, parameter)
        inlined = len(self.inlining)
        try:
            expanded = self.expand(node, path, parameter, depth, force=root)
            if "$ref" in expanded:  # kept as a reference
                return expanded
            if root:
                expanded = self.prepare_root(expanded, path)
            return self.build(expanded, path, parameter, depth, root)
        finally:
            del self.inlining[inlined:]

    def expand(
        self, node: dict[str, Any], path: str, parameter: str | None, depth: int, *, force: bool = False
    ) -> dict[str, Any]:
        """``node`` with its ``$ref`` and ``allOf`` merged in, or ``{"$ref": ...}`` for a reference kept as one.

        ``force``: spell the reference out even where the dialect would keep it (the root, ``allOf`` branches).
        """
        chain: set[str] = set()  # references followed here with no schema between them
        for _ in range(MAX_REF_CHAIN + 1):
            if "$ref" in node:
                ref = node["$ref"]
                if ref in chain:
                    raise self.fail(f"$ref {ref!r} refers back to itself with no schema in between", path, parameter)
                chain.add(ref)
                target = self.target(ref, path, parameter)
                siblings = {k: v for k, v in node.items() if k != "$ref" and self.meaningful(k, v)}
                if not (siblings or force or self.inline_refs):
                    if "$ref" in target and not any(self.meaningful(k, v) for k, v in target.items() if k != "$ref"):
                        node = target  # an alias of another reference: refer to what it stands for
                        continue
                    return {"$ref": self.reference(ref, target, path, parameter, depth)}
                if ref in self.inlining:
                    instead = self.on_recursion(ref, target, siblings, path, parameter, depth)
                    if instead is not None:
                        return instead
                elif siblings and self.share_refs and not (force or self.inline_refs):
                    return {"$ref": self.variant(ref, target, siblings, path, parameter, depth)}
                self.inlining.append(ref)
                self.inlined_siblings |= bool(siblings) and not self.inline_refs
                node = self.merge(target, siblings, path, parameter)
            elif "allOf" in node:
                parts = node["allOf"]
                if not isinstance(parts, list) or not parts:
                    raise self.fail("'allOf' must be a non-empty list of schemas", path, parameter)
                merged: dict[str, Any] = {}
                for index, part in enumerate(parts):
                    if part is True:
                        continue
                    where = f"{path}.allOf[{index}]"
                    if not isinstance(part, dict):
                        raise self.fail(f"a schema must be a JSON object, not {_kind(part)}", where, parameter)
                    part = self.expand(part, where, parameter, depth, force=True)
                    if "$ref" in part:
                        raise self.fail("an allOf branch refers back to a schema that contains it", path, parameter)
                    merged = self.merge(merged, part, path, parameter)
                node = self.merge(merged, {k: v for k, v in node.items() if k != "allOf"}, path, parameter)
            else:
                return node
        raise self.fail(f"more than {MAX_REF_CHAIN} $ref and allOf lead one to another", path, parameter)

    def build(self, node: dict[str, Any], path: str, parameter: str | None, depth: int, root: bool) -> dict[str, Any]:
        """Rewrite one node whose references are merged in: its keywords, then its sub-schemas."""
        node = self.normalise(node, path, parameter)
        result: dict[str, Any] = {}
        moved: list[str] = []
        for key, value in node.items():
            action = self.keyword(key, value, node)
            if action == "keep":
                result[key] = value if key in _CHILDREN else copy_json(value)
            elif action == "describe":
                moved.append(self.describe(key, value))
        if "properties" in result:
            result["properties"] = {
                name: self.visit(sub, f"{path}.properties.{name}", name if root else parameter, depth + 1)
                for name, sub in node["properties"].items()
            }
        if "items" in result:
            result["items"] = self.visit(node["items"], f"{path}.items", parameter, depth + 1)
        if "anyOf" in result:
            if not result["anyOf"]:
                raise self.fail("'anyOf' must not be empty", path, parameter)
            result["anyOf"] = [
                self.visit(branch, f"{path}.anyOf[{i}]", parameter, depth + 1) for i, branch in enumerate(node["anyOf"])
            ]
        if moved:
            result["description"] = add_to_description(result.get("description"), ", ".join(moved))
        return self.finish(result, path, parameter)

    def normalise(self, node: dict[str, Any], path: str, parameter: str | None) -> dict[str, Any]:
        """What every dialect wants: no null-valued keywords, ``anyOf`` for ``oneOf``, arrays for tuples, a type
        where ``properties``/``items`` imply one, and no keyword that does not apply to the node's type."""
        node = {k: v for k, v in node.items() if v is not None or k in ("const", "default")}
        for key, kind in (("enum", list), ("required", list), ("properties", dict), ("anyOf", list)):
            if key in node and not isinstance(node[key], kind):
                raise self.fail(f"'{key}' must be {_kind(kind())}, not {_kind(node[key])}", path, parameter)
        if "oneOf" in node:
            if "anyOf" in node:
                raise self.fail("a schema with both oneOf and anyOf is not supported", path, parameter)
            node["anyOf"] = node.pop("oneOf")
        if "prefixItems" in node or isinstance(node.get("items"), list):
            tuple_to_array(node)
        kinds = node.get("type")
        implied = "object" if "properties" in node else "array" if "items" in node else None
        if kinds is None and implied and not any(k in node for k in ("anyOf", "enum", "const")):
            node["type"] = kinds = implied
        type_list = kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []
        for kind in type_list:
            if not isinstance(kind, str) or kind not in JSON_TYPES:
                reason = f"unknown type {kind!r} (JSON Schema types: {', '.join(sorted(JSON_TYPES))})"
                raise self.fail(reason, path, parameter)
        if type_list:
            applies = {"number" if kind == "integer" else kind for kind in type_list}
            node = {k: v for k, v in node.items() if k not in _TYPE_OF_KEYWORD or _TYPE_OF_KEYWORD[k] in applies}
        return node

    def target(self, ref: Any, path: str, parameter: str | None) -> dict[str, Any]:
        """The schema a (loaded, so root-relative) ``$ref`` points to."""
        found = self.root if ref == "#" else resolve_ref(ref, self.root)
        if found is None:
            reason = f"cannot resolve $ref {ref!r} (only references inside this schema are supported)"
            raise self.fail(reason, path, parameter)
        return found

    def reference(self, ref: str, target: dict[str, Any], path: str, parameter: str | None, depth: int) -> str:
        """The result's reference for ``ref``; its target is rewritten into ``$defs`` when first met."""
        if ref == "#":
            self.on_recursive_ref(ref, path, parameter)
            return "#"
        name = self.def_names.get(ref)
        if name is None:
            name = self.def_names[ref] = self.new_def_name(ref)
            self.define(name, target, location(ref), parameter, depth)
        elif name in self.in_progress:
            self.on_recursive_ref(ref, path, parameter)
        return "#/$defs/" + escape(name)

    def variant(
        self, ref: str, target: dict[str, Any], siblings: dict[str, Any], path: str, parameter: str | None, depth: int
    ) -> str:
        """A reference to one shared definition for ``ref`` merged with ``siblings`` (made when first needed)."""
        key = f"{ref} {json.dumps(siblings, sort_keys=True, default=str)}"
        name = self.def_names.get(key)
        if name is None:
            name = self.def_names[key] = self.new_def_name(ref)
            self.inlining.append(ref)
            self.define(name, self.merge(target, siblings, path, parameter), path, parameter, depth)
        elif name in self.in_progress:
            self.on_recursive_ref(ref, path, parameter)
        return "#/$defs/" + escape(name)

    def define(self, name: str, schema: dict[str, Any], path: str, parameter: str | None, depth: int) -> None:
        self.defs[name] = {}  # placeholder: keeps the order of first use; a recursive schema refers to it
        self.in_progress.add(name)
        try:
            self.defs[name] = self.visit(schema, path, parameter, depth + 1)
        finally:
            self.in_progress.discard(name)

    def new_def_name(self, ref: str) -> str:
        base = (pointer_parts(ref) or ["schema"])[-1] or "schema"
        taken = set(self.def_names.values())
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}_{number}"
        return name

    def merge(self, base: dict[str, Any], override: dict[str, Any], path: str, parameter: str | None) -> dict[str, Any]:
        try:
            return merge_schemas(base, override)
        except SchemaConflict as conflict:
            where = f" (at {conflict.where})" if conflict.where else ""
            raise self.fail(f"conflicting schemas: {conflict.reason}{where}", path, parameter) from None

    def meaningful(self, key: str, value: Any) -> bool:
        """Whether a key beside ``$ref`` changes anything (``title`` or ``default: null`` do not)."""
        return key not in self.silent and not (key == "default" and value is None)


# --------------------------------------------------------------------------------------------------
# Small helpers the dialects share.
# --------------------------------------------------------------------------------------------------
def describe(key: str, value: Any) -> str:
    """A keyword moved out of the schema, as description text: ``minLength: 3``, ``format: uri``."""
    text = value if isinstance(value, str) and key != "default" else json.dumps(value, default=str)
    return f"{key}: {text}"


def add_to_description(description: Any, text: str) -> str:
    return f"{description} ({text})" if description else text


def tuple_to_array(node: dict[str, Any]) -> None:
    """Positional items (``prefixItems``, draft-07 ``items: [...]``) become an array of the union of their types."""
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
        order = f"items in order: {', '.join(short_type(item) for item in prefix)}"
        node["description"] = add_to_description(node.get("description"), order)


def types_of(node: dict[str, Any]) -> list[str]:
    kinds = node.get("type")
    return kinds if isinstance(kinds, list) else [kinds] if isinstance(kinds, str) else []


def location(ref: str) -> str:
    """The path of a root-relative reference's target, as errors write it: ``$.$defs.Address``."""
    parts = pointer_parts(ref) or []
    path = "$"
    for previous, part in zip(["", *parts], parts):
        path += f"[{part}]" if part.isdigit() and previous in ("anyOf", "oneOf", "allOf", "prefixItems") else f".{part}"
    return path


def short_type(schema: Any) -> str:
    """A schema's type in a word or two: ``integer``, ``string|null``, ``Address`` for a reference."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return str(schema["$ref"]).rsplit("/", 1)[-1]
        if "type" in schema:
            return "|".join(schema["type"]) if isinstance(schema["type"], list) else str(schema["type"])
    return "any"


def _kind(value: Any) -> str:
    """What a JSON value is, for errors: ``a list``, ``an object``, ``null``."""
    kinds = {list: "a list", dict: "an object", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)
