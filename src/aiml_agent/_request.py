"""The schema-bearing fields of a chat request: ``tools`` and a strict ``response_format``.

``tool_definitions`` runs on every model request, so each tool's converted strict schema is cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aiml_agent._schema import copy_json
from aiml_agent.strict import to_strict_schema

if TYPE_CHECKING:
    from haystack.tools import Tool
    from pydantic import BaseModel

#: AIMLAPI accepts at most this many tools in one request.
MAX_TOOLS = 128
#: How many tools' converted schemas are kept (least recently used ones are dropped first).
CACHE_SIZE = 256
# id(parameters) -> (parameters, fingerprint, strict schema). Holding the parameters dict itself keeps its id
# from being reused by another dict while the entry lives; the fingerprint catches in-place edits.
_cache: OrderedDict[int, tuple[dict[str, Any], str, dict[str, Any]]] = OrderedDict()
_cache_lock = threading.Lock()


def tool_definitions(tools: list[Tool], strict: bool) -> list[dict[str, Any]]:
    """Build the ``tools`` field of a chat completion request.

    A tool is sent strict when the request is strict and the tool is not marked ``strict=False``, or when
    the tool itself is marked ``strict=True`` (its author asked for it, whatever the request says). A strict
    tool carries ``"strict": true`` and ``to_strict_schema(parameters)``; a non-strict one has no ``strict``
    key at all (some OpenAI-compatible servers reject ``false``/``null``). The tools' own ``parameters`` are
    never modified.

    :param tools: The tools to send (already flattened from toolsets).
    :param strict: Whether the request asks for strict function calling.
    :returns: One ``{"type": "function", "function": {...}}`` entry per tool.
    :raises ValueError: More than ``MAX_TOOLS`` tools, or two tools with the same name.
    :raises StrictSchemaError: A tool sent strict has a schema strict mode cannot express; raised before
        anything is sent, naming the tool and the parameter.
    """
    if len(tools) > MAX_TOOLS:
        raise ValueError(f"AIMLAPI accepts at most {MAX_TOOLS} tools per request, got {len(tools)}.")
    names = [t.name for t in tools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"Duplicate tool names: {', '.join(duplicates)}.")
    definitions = []
    for tool in tools:
        own = getattr(tool, "strict", None)
        spec = tool.tool_spec
        function: dict[str, Any] = {"name": spec["name"], "description": spec["description"]}
        if own is True or (strict and own is not False):
            function["parameters"] = _strict_parameters(spec["parameters"], tool.name)
            function["strict"] = True
        else:
            function["parameters"] = copy_json(spec["parameters"])
        definitions.append({"type": "function", "function": function})
    return definitions


def _strict_parameters(parameters: dict[str, Any], tool_name: str) -> dict[str, Any]:
    """``to_strict_schema(parameters)``, converted once per parameters dict and handed out as a fresh copy.

    Entries are keyed on the dict's identity and checked against its ``repr``: exact for JSON data (key order,
    ``1`` vs ``1.0`` vs ``True``) and several times cheaper than converting, so a schema edited in place
    between requests is converted again. The copy keeps callers (and the SDK) from changing the cache.
    """
    fingerprint = repr(parameters)
    key = id(parameters)
    with _cache_lock:
        entry = _cache.get(key)
        if entry is not None and entry[0] is parameters and entry[1] == fingerprint:
            _cache.move_to_end(key)
            return copy_json(entry[2])
    converted = to_strict_schema(parameters, tool_name=tool_name)  # outside the lock: may raise, may be slow
    with _cache_lock:
        _cache[key] = (parameters, fingerprint, converted)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return copy_json(converted)


def response_format_for(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAI's strict ``json_schema`` response format asking for an answer shaped like ``model``.

    Optional fields come back as ``null``; :func:`aiml_agent._schema.drop_optional_nulls` maps them back
    to their defaults before validation.
    """
    schema = to_strict_schema(model.model_json_schema(), tool_name=model.__name__)
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "strict": True, "schema": schema}}
