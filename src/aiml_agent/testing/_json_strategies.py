"""Hypothesis strategies for the JSON values a JSON schema allows: what a model may send as tool arguments.

Covers what tool schemas use (pydantic's output, strict-mode rewrites, hand-written Haystack schemas):
``type`` (one or a list), ``enum``, ``const``, ``anyOf`` / ``oneOf`` / ``allOf``, ``$ref`` into ``$defs`` (also
recursive), ``nullable``; strings with ``minLength`` / ``maxLength``, ``pattern`` and the common ``format``\\ s
(date, date-time, time, duration, uuid, email, uri, ipv4/ipv6); numbers with bounds (exclusive too) and
``multipleOf``; arrays with ``items`` / ``prefixItems``, size bounds and ``uniqueItems``; objects with
``properties`` / ``required`` / ``additionalProperties``. A keyword it does not know is ignored (the value may
then break it). Only JSON values come out: no NaN or infinity, no surrogate characters.

Hypothesis is imported by the caller (it is an optional dependency): this module is imported only once it is.
"""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta, timezone
from typing import Any

from hypothesis import strategies as st

_JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
#: Any JSON value (small): for schemas that say nothing about their values.
ANY_JSON: st.SearchStrategy[Any] = st.recursive(
    _JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8,
)
#: Longest list / map drawn when a schema sets no bound: enough to find size bugs, cheap to call with.
_DEFAULT_MAX_ITEMS = 8

_OFFSETS = st.integers(-23 * 60, 23 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "date": st.dates().map(lambda d: d.isoformat()),
    "date-time": st.datetimes(timezones=_OFFSETS).map(lambda d: d.isoformat()),
    "time": st.times().map(lambda t: t.isoformat()),
    "duration": st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)).map(
        lambda d: f"P{d.days}DT{d.seconds}.{d.microseconds:06d}S"
    ),
    "uuid": st.uuids().map(str),
    "email": st.emails(),
    "ipv4": st.ip_addresses(v=4).map(str),
    "ipv6": st.ip_addresses(v=6).map(str),
}


def arguments_strategy(parameters: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The argument dicts a tool's ``parameters`` schema allows (no arguments at all when it lists none)."""
    if "properties" not in parameters:
        return st.just({})
    return _Builder(parameters).build(parameters)


class _Builder:
    """Builds the strategy of one schema; ``$ref`` s resolve against `root`, each once (recursion allowed)."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, st.SearchStrategy[Any]] = {}

    def build(self, schema: Any) -> st.SearchStrategy[Any]:
        if schema is True or schema == {} or not isinstance(schema, dict):
            return st.nothing() if schema is False else ANY_JSON
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"]) if schema["enum"] else st.nothing()
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                rest = {k: v for k, v in schema.items() if k != key}
                return st.one_of([self.build({**rest, **self._resolved(option)}) for option in schema[key]])
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged.update(self._resolved(part))
            return self.build(merged)
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self.build({**schema, "type": one}) for one in kind])
        if schema.get("nullable") is True:
            return st.none() | self.build({k: v for k, v in schema.items() if k != "nullable"})
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else None
        builders = {
            "null": lambda _: st.none(),
            "boolean": lambda _: st.booleans(),
            "integer": _integers,
            "number": _numbers,
            "string": _strings,
            "array": self._array,
            "object": self._object,
        }
        build = builders.get(kind) if isinstance(kind, str) else None
        return build(schema) if build is not None else ANY_JSON

    def _resolved(self, schema: Any) -> Any:
        """A ``$ref`` 's target (for merging into siblings), anything else as it is."""
        if isinstance(schema, dict) and "$ref" in schema:
            return self._target(schema["$ref"])
        return schema

    def _target(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}  # a remote schema: unknown values
        node: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        return node if node is not None else {}

    def _ref(self, ref: str) -> st.SearchStrategy[Any]:
        if ref not in self.refs:
            self.refs[ref] = st.deferred(lambda: self.build(self._target(ref)))
        return self.refs[ref]

    def _array(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        min_size = int(schema.get("minItems", 0))
        max_size = int(schema["maxItems"]) if "maxItems" in schema else min_size + _DEFAULT_MAX_ITEMS
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return st.tuples(*(self.build(item) for item in prefix)).map(list)
        unique = (lambda value: json.dumps(value, sort_keys=True)) if schema.get("uniqueItems") else None
        items = self.build(schema.get("items", True))
        return st.lists(items, min_size=min_size, max_size=max_size, unique_by=unique)

    def _object(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        extra = schema.get("additionalProperties")
        if "properties" not in schema:
            values = self.build(extra) if isinstance(extra, dict) else ANY_JSON
            if extra is False:
                return st.just({})
            min_size = int(schema.get("minProperties", 0))
            max_size = int(schema.get("maxProperties", min_size + _DEFAULT_MAX_ITEMS))
            return st.dictionaries(st.text(max_size=12), values, min_size=min_size, max_size=max_size)
        properties: dict[str, Any] = schema["properties"]
        required = set(schema.get("required") or [])
        fixed = st.fixed_dictionaries(
            {name: self.build(sub) for name, sub in properties.items() if name in required},
            optional={name: self.build(sub) for name, sub in properties.items() if name not in required},
        ).map(lambda drawn: {name: drawn[name] for name in properties if name in drawn})  # in the schema's order
        if not isinstance(extra, dict):
            return fixed  # extra keys only where the schema describes them
        other_keys = st.text(max_size=12).filter(lambda key: key not in properties)
        extras = st.dictionaries(other_keys, self.build(extra), max_size=3)
        return st.tuples(fixed, extras).map(lambda pair: {**pair[1], **pair[0]})


def _bounds(schema: dict[str, Any]) -> tuple[float | None, float | None, bool, bool]:
    """``(minimum, maximum, exclude_min, exclude_max)``; ``exclusiveMinimum`` as a number (draft 6+) or a flag."""
    low, high = schema.get("minimum"), schema.get("maximum")
    exclude_low = exclude_high = False
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(exclusive_low, (int, float)) and not isinstance(exclusive_low, bool):
        low, exclude_low = exclusive_low, True
    elif exclusive_low is True:
        exclude_low = True
    if isinstance(exclusive_high, (int, float)) and not isinstance(exclusive_high, bool):
        high, exclude_high = exclusive_high, True
    elif exclusive_high is True:
        exclude_high = True
    return low, high, exclude_low, exclude_high


def _integer_range(schema: dict[str, Any]) -> tuple[int | None, int | None]:
    low, high, exclude_low, exclude_high = _bounds(schema)
    first = None if low is None else (math.floor(low) + 1 if exclude_low or low != math.floor(low) else int(low))
    last = None if high is None else (math.ceil(high) - 1 if exclude_high or high != math.ceil(high) else int(high))
    return first, last


def _integers(schema: dict[str, Any]) -> st.SearchStrategy[int]:
    first, last = _integer_range(schema)
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0:
        low = None if first is None else -(-first // step)
        high = None if last is None else last // step
        return st.integers(low, high).map(lambda n: n * step)
    return st.integers(first, last)


def _numbers(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step > 0:
        low, high, _, _ = _bounds(schema)
        first = None if low is None else math.ceil(low / step)
        last = None if high is None else math.floor(high / step)
        return st.integers(first, last).map(lambda n: n * step)
    low, high, exclude_low, exclude_high = _bounds(schema)
    floats = st.floats(
        low, high, allow_nan=False, allow_infinity=False, exclude_min=exclude_low, exclude_max=exclude_high
    )
    first, last = _integer_range(schema)
    return floats | st.integers(first, last)  # a model sends 3 as well as 3.0 for a number


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    min_size = int(schema.get("minLength", 0))
    max_size = int(schema["maxLength"]) if "maxLength" in schema else None
    pattern, fmt = schema.get("pattern"), schema.get("format")
    base: st.SearchStrategy[str] | None = None
    if isinstance(pattern, str):
        try:
            base = st.from_regex(ecma_pattern(pattern))  # JSON schema patterns match anywhere in the string
        except re.error:
            base = None
    if base is None and isinstance(fmt, str):
        base = _urls() if fmt in ("uri", "url") else _FORMATS.get(fmt)
    if base is None:
        return st.text(min_size=min_size, max_size=max_size)
    return base.filter(lambda text: len(text) >= min_size and (max_size is None or len(text) <= max_size))


def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """A JSON schema ``pattern`` (an ECMAScript regex) compiled so that Python's ``re`` matches the same strings,
    or fewer: ``\\d``, ``\\w`` and ``\\s`` ASCII only, and ``$`` only at the very end (Python's also matches before
    a final newline, which would draw ``"ABC-123\\n"`` for ``^[A-Z]{3}-\\d{3}$``)."""
    converted, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        converted.append(char)
    return re.compile("".join(converted), re.ASCII)


def _urls() -> st.SearchStrategy[str]:
    from hypothesis.provisional import urls

    return urls()
