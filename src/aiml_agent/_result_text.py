"""A tool's return value as the text of its tool message: deterministic, total, and cut to a length limit.

Deterministic: the same value gives the same text in every process (never a memory address, sets sorted), so
a recorded test's next request is the same and its cassette replays. Total: every value becomes text or a
:class:`ResultTextError` saying why not (a reference cycle, a ``__str__`` that raises), which the tool runner
turns into a tool failure instead of a crashed run.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

#: Values nested deeper than this are refused by the walk over non-JSON values (a result that deep is a bug,
#: not data for a model); plain dicts and lists of JSON values go to ``json`` as they are.
MAX_DEPTH = 100
#: At most this many items are read from an iterator or a lazy sequence (a generator may never end).
MAX_ITEMS = 10_000

_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


class ResultTextError(Exception):
    """A tool's return value cannot become text; the message says where and why."""


def result_to_text(value: Any) -> str:
    """Turn a tool's return value into the text of a tool message.

    ``str`` as is. Anything else becomes JSON data, sent as JSON (or as the bare string when the data is one):
    ``None`` -> ``null``; numbers as JSON (NaN and infinities -> ``null``); pydantic models, dataclasses,
    mappings -> objects; lists, tuples, iterators -> arrays; sets -> sorted arrays (null, booleans, numbers,
    strings, then the rest); enums ->
    their value; datetimes, dates and times -> ISO 8601; UUIDs, paths, Decimals -> strings; bytes -> UTF-8 text
    when valid, else ``"<N bytes>"``; other objects -> their public attributes, or ``str()`` without any memory
    address when they have none.

    :raises ResultTextError: The value holds a reference cycle, is nested deeper than ``MAX_DEPTH``, or its
        ``str()`` raised.
    """
    if isinstance(value, str):
        return value
    if type(value) in (dict, list, tuple):  # plain JSON data: the C encoder, same output as the walk below
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            pass
    try:
        data = _Converter().convert(value, "$", 0)
        return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, allow_nan=False)
    except ResultTextError:
        raise
    except Exception as error:
        raise ResultTextError(f"{type(error).__name__}: {error}") from error


class _Converter:
    """One walk over a value, remembering the containers on the current path to detect cycles."""

    def __init__(self) -> None:
        self.active: set[int] = set()

    def convert(self, value: Any, path: str, depth: int) -> Any:
        if isinstance(value, enum.Enum):
            return self.convert(value.value, path, depth)
        if value is None or isinstance(value, (str, bool)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else None
        scalar = _scalar(value)
        if scalar is not _NOT_SCALAR:
            return scalar
        if depth >= MAX_DEPTH:
            raise ResultTextError(f"the result is nested deeper than {MAX_DEPTH} levels at {path}")
        marker = id(value)
        if marker in self.active:
            raise ResultTextError(f"the result contains a reference cycle at {path}")
        self.active.add(marker)
        try:
            return self._container(value, path, depth + 1)
        finally:
            self.active.discard(marker)

    def _container(self, value: Any, path: str, depth: int) -> Any:
        if isinstance(value, BaseModel):
            return self.convert(value.model_dump(), path, depth)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._object({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, path, depth)
        if isinstance(value, Mapping):
            return self._object(value, path, depth)
        if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a namedtuple: its field names matter
            return self._object(value._asdict(), path, depth)
        if isinstance(value, (list, tuple)):
            return [self.convert(item, f"{path}[{i}]", depth) for i, item in enumerate(value)]
        if isinstance(value, (set, frozenset)):
            items = [self.convert(item, f"{path}[]", depth) for item in value]
            return sorted(items, key=_sort_key)
        if isinstance(value, (Iterator, Sequence)):
            items = []
            for i, item in enumerate(value):
                if i == MAX_ITEMS:
                    items.append(f"... (not read past {MAX_ITEMS} items)")
                    break
                items.append(self.convert(item, f"{path}[{i}]", depth))
            return items
        attributes = _public_attributes(value)
        if attributes:
            return self._object(attributes, path, depth)
        return _ADDRESS.sub("", str(value))

    def _object(self, mapping: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, item in mapping.items():
            name = self.convert(key, f"{path}.<key>", depth)
            name = name if isinstance(name, str) else json.dumps(name, ensure_ascii=False)
            result[name] = self.convert(item, f"{path}.{name}", depth)
        return result


_NOT_SCALAR = object()


def _scalar(value: Any) -> Any:
    """The JSON form of a value with a fixed text form (dates, UUIDs, bytes, ...), or ``_NOT_SCALAR``."""
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return to_jsonable_python(value)  # ISO 8601 duration, e.g. "P1DT2H"
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, (uuid.UUID, PurePath)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(raw)} bytes>"
    if isinstance(value, complex):
        return str(value)
    return _NOT_SCALAR


def _public_attributes(value: Any) -> dict[str, Any]:
    """The instance attributes (``__dict__`` and ``__slots__``) whose names do not start with ``_``."""
    attributes = {k: v for k, v in getattr(value, "__dict__", {}).items() if not k.startswith("_")}
    for klass in type(value).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if not name.startswith("_") and hasattr(value, name):
                attributes.setdefault(name, getattr(value, name))
    return attributes


def _sort_key(item: Any) -> tuple[int, Any]:
    """Order of converted set items, whatever their mix: null, booleans, numbers, strings, then the rest."""
    if item is None:
        return 0, 0
    if isinstance(item, bool):
        return 1, item
    if isinstance(item, (int, float)):
        return 2, item
    if isinstance(item, str):
        return 3, item
    return 4, json.dumps(item, ensure_ascii=False, sort_keys=True)


def truncate_text(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to at most ``limit`` characters: its head and tail around a marker saying how much was cut.

    :returns: The text to send, and how many characters were cut (0 when it fit).
    """
    if len(text) <= limit:
        return text, 0
    keep = max(0, limit - len(_cut_marker(len(text), len(text))))  # the marker is never longer than that one
    cut = len(text) - keep
    head = (keep + 1) // 2
    tail = keep - head
    return text[:head] + _cut_marker(cut, len(text)) + (text[-tail:] if tail else ""), cut


def _cut_marker(cut: int, total: int) -> str:
    return f"\n[... {cut} of {total} characters cut ...]\n"
