"""The chat request: the arguments of ``chat.completions.create``, shaped by the model's profile.

What a model receives depends on its :class:`~aiml_agent.profiles.ModelProfile`: tool parameters and response
schemas in its schema dialect (strict only where it has a strict mode), no ``parallel_tool_calls`` for a model
that does not take it, the system prompt folded into the first user message for a model without a system role,
and a response schema as an instruction for a model without ``response_format``. Everything is built on copies:
a Tool's own ``parameters`` never change. Converted schemas are cached, since this runs on every model request.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from aiml_agent._provider_schemas import Dialect, response_schema_for, tool_parameters_for
from aiml_agent._schema import copy_json
from aiml_agent.profiles import ModelProfile

if TYPE_CHECKING:
    from haystack.dataclasses import ChatMessage
    from haystack.tools import Tool
    from pydantic import BaseModel

logger = logging.getLogger(__name__)

#: AIMLAPI accepts at most this many tools in one request.
MAX_TOOLS = 128
#: How many converted schemas are kept (least recently used ones are dropped first).
CACHE_SIZE = 256
#: The request header AIMLAPI stores and lists each request under in its logs.
CLIENT_REQUEST_ID_HEADER = "X-Client-Request-Id"
#: What a request is shaped by when no profile is given: OpenAI's rules.
OPENAI_PROFILE = ModelProfile()

# (id(schema), dialect, strict) -> (schema, fingerprint, converted). Holding the schema dict itself keeps its id
# from being reused by another dict while the entry lives; the fingerprint catches in-place edits.
_cache: OrderedDict[tuple[int, str, bool], tuple[dict[str, Any], str, dict[str, Any]]] = OrderedDict()
_cache_lock = threading.Lock()
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def new_client_request_id() -> str:
    """A fresh ``X-Client-Request-Id``: 1-128 characters of ``A-Za-z0-9._:-`` (AIMLAPI drops any other value)."""
    return f"aiml-agent-{uuid.uuid4().hex}"


def chat_arguments(
    *,
    model: str,
    messages: list[ChatMessage],
    generation_kwargs: dict[str, Any],
    tools: list[Tool],
    strict: bool,
    profile: ModelProfile,
    stream: bool,
    headers: dict[str, Any],
    known_parameters: Collection[str],
) -> dict[str, Any]:
    """The ``chat.completions.create`` arguments for one request.

    :param model: The model id.
    :param messages: The conversation.
    :param generation_kwargs: Request parameters; ``extra_headers`` and ``extra_body`` are merged in, parameters
        the SDK does not know go into ``extra_body`` (sent in the body as they are).
    :param tools: The tools offered (flattened); ``[]`` offers none.
    :param strict: Whether the request asks for strict tools.
    :param profile: What the model accepts.
    :param stream: Whether the answer streams (with usage in the last event).
    :param headers: Request headers (an ``X-Client-Request-Id`` is added unless one is given).
    :param known_parameters: The parameter names ``chat.completions.create`` takes.
    :raises ModelCapabilityError: Tools for a model without tool calling.
    :raises StrictSchemaError: A tool sent strict has a schema strict mode cannot express.
    """
    kwargs = dict(generation_kwargs)
    kwargs.pop("stream", None)
    if stream and kwargs.get("n", 1) != 1:
        raise ValueError("Cannot stream multiple responses, please set n=1.")
    request_headers = {**headers, **(kwargs.pop("extra_headers", None) or {})}
    if not any(name.lower() == CLIENT_REQUEST_ID_HEADER.lower() for name in request_headers):
        request_headers[CLIENT_REQUEST_ID_HEADER] = new_client_request_id()
    instruction = None
    if "response_format" in kwargs:
        kwargs["response_format"], instruction = response_format_param(kwargs["response_format"], profile)
        if kwargs["response_format"] is None:
            del kwargs["response_format"]
    if "parallel_tool_calls" in kwargs and not profile.supports_parallel_tool_calls:
        kwargs.pop("parallel_tool_calls")
        _note_once(profile, "parallel", "does not take parallel_tool_calls: the parameter is not sent")
    extra_body = dict(kwargs.pop("extra_body", None) or {})
    for key in [k for k in kwargs if k not in known_parameters]:
        extra_body[key] = kwargs.pop(key)
    args: dict[str, Any] = {
        "model": model,
        "messages": chat_messages(messages, profile, instruction),
        **kwargs,
        "stream": stream,
        "extra_headers": request_headers,
    }
    if stream:
        args.setdefault("stream_options", {"include_usage": True})
    if extra_body:
        args["extra_body"] = extra_body
    if tools:
        args["tools"] = tool_definitions(tools, strict, profile)
    return args


def chat_messages(messages: list[ChatMessage], profile: ModelProfile, instruction: str | None = None) -> list[dict]:
    """The messages in OpenAI's format; ``instruction`` joins the system prompt, which a model without a system
    role gets at the start of the first user message instead."""
    converted = [message.to_openai_dict_format() for message in messages]
    if instruction:
        first = converted[0] if converted else None
        if first is not None and first.get("role") == "system" and isinstance(first.get("content"), str):
            converted[0] = {**first, "content": f"{first['content']}\n\n{instruction}"}
        else:
            converted.insert(0, {"role": "system", "content": instruction})
    if profile.supports_system_role or not any(m.get("role") in ("system", "developer") for m in converted):
        return converted
    return _fold_system(converted)


def _fold_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """System (and developer) messages joined and put before the first user message's content."""
    system = "\n\n".join(_text_of(m) for m in messages if m.get("role") in ("system", "developer"))
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    for position, message in enumerate(rest):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            folded: Any = [{"type": "text", "text": system}, *content]
        else:
            folded = f"{system}\n\n{content}" if content else system
        rest[position] = {**message, "content": folded}
        return rest
    return [{"role": "user", "content": system}, *rest]


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def tool_definitions(tools: list[Tool], strict: bool, profile: ModelProfile | None = None) -> list[dict[str, Any]]:
    """Build the ``tools`` field of a chat completion request for the model ``profile`` describes.

    A tool is sent strict when the request is strict and the tool is not marked ``strict=False``, or when
    the tool itself is marked ``strict=True`` (its author asked for it, whatever the request says) — and the
    model has a strict mode: otherwise it is sent non-strict and one warning per model says so. A strict
    tool carries ``"strict": true`` and its parameters made strict in the model's dialect; a non-strict one
    has no ``strict`` key at all (some OpenAI-compatible servers reject ``false``/``null``). A schema that
    cannot be strict by OpenAI's rules raises; one that only the model's dialect cannot make strict is sent
    non-strict, with the reason logged. The tools' own ``parameters`` are never modified.

    :param tools: The tools to send (already flattened from toolsets).
    :param strict: Whether the request asks for strict function calling.
    :param profile: What the model accepts; None means OpenAI's rules.
    :returns: One ``{"type": "function", "function": {...}}`` entry per tool.
    :raises ModelCapabilityError: Tools for a model without tool calling (nothing is sent).
    :raises ValueError: More than ``MAX_TOOLS`` tools, or two tools with the same name.
    :raises StrictSchemaError: A tool sent strict has a schema strict mode cannot express; raised before
        anything is sent, naming the tool and the parameter.
    """
    profile = profile or OPENAI_PROFILE
    if tools and not profile.supports_tools:
        from aiml_agent.errors import ModelCapabilityError

        raise ModelCapabilityError(
            f"Model '{_model_name(profile)}' does not support tool calling ({_source_text(profile)}), but "
            f"{len(tools)} tool(s) were given: {', '.join(t.name for t in tools)}. Nothing was sent. Pick a model "
            "with tools ('aiml-agent models --tools'), or pass profile=ModelProfile(...) if the catalogue is wrong."
        )
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
        wants_strict = own is True or (strict and own is not False)
        if wants_strict and not profile.supports_strict_tools:
            _note_once(profile, "strict", "has no strict mode: tools are sent with non-strict schemas")
            wants_strict = False
        parameters = _strict_for(spec["parameters"], profile.schema_dialect, tool.name) if wants_strict else None
        if parameters is not None:
            function["parameters"] = parameters
            function["strict"] = True
        else:
            function["parameters"] = _shaped(spec["parameters"], profile.schema_dialect, False, tool.name)
        definitions.append({"type": "function", "function": function})
    return definitions


def response_format_param(response_format: Any, profile: ModelProfile | None = None) -> tuple[Any, str | None]:
    """The ``response_format`` to send, and an instruction for the system prompt when it cannot be sent.

    A pydantic model class asks for a strict ``json_schema`` answer of its schema; a ``json_schema`` dict keeps
    its ``strict`` choice. The schema is shaped in the model's dialect (strict only where the model has a
    strict mode, else one warning per model). A model without ``response_format`` gets the request as an
    instruction instead (the Agent validates the answer either way).

    :returns: ``(response_format or None, instruction or None)``.
    """
    profile = profile or OPENAI_PROFILE
    from pydantic import BaseModel

    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        name, schema, strict = response_format.__name__, response_format.model_json_schema(), True
        description = None
    elif isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        if not isinstance(spec.get("schema"), dict):
            return response_format, None
        name, schema, strict = spec.get("name") or "answer", spec["schema"], bool(spec.get("strict"))
        description = spec.get("description")
    elif (
        isinstance(response_format, dict)
        and response_format.get("type") == "json_object"
        and not profile.supports_response_format
    ):
        _note_once(profile, "format", "does not take response_format: JSON is asked for in the prompt")
        return None, "Answer with a single JSON object and nothing else."
    else:
        return response_format, None
    if not profile.supports_response_format:
        _note_once(profile, "format", "does not take response_format: the answer schema is sent as an instruction")
        return None, (
            f"Answer with a single JSON object and nothing else. It must match this JSON schema ({name}):\n"
            + json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
        )
    if strict and not profile.supports_strict_tools:
        _note_once(profile, "strict-format", "has no strict mode: the response format is sent non-strict")
        strict = False
    shaped = _strict_for(schema, profile.schema_dialect, name, response=True) if strict else None
    spec_out: dict[str, Any] = {"name": name}
    if description:
        spec_out["description"] = description
    if shaped is not None:
        spec_out.update(strict=True, schema=shaped)
    else:
        spec_out["schema"] = _shaped(schema, profile.schema_dialect, False, name, response=True)
    return {"type": "json_schema", "json_schema": spec_out}, None


def response_format_for(model: type[BaseModel], profile: ModelProfile | None = None) -> dict[str, Any]:
    """The ``json_schema`` response format asking for an answer shaped like ``model`` (strict by OpenAI's rules
    when no profile is given).

    Optional fields come back as ``null``; :func:`aiml_agent._schema.drop_optional_nulls` maps them back
    to their defaults before validation.
    """
    param, _ = response_format_param(model, profile or OPENAI_PROFILE)
    return dict(param)


def _strict_for(
    schema: dict[str, Any], dialect: Dialect, name: str, *, response: bool = False
) -> dict[str, Any] | None:
    """``schema`` made strict in ``dialect``; None when only the dialect cannot make it strict (reason logged).

    :raises StrictSchemaError: The schema cannot be strict by OpenAI's rules (whatever the model).
    """
    from aiml_agent.errors import StrictSchemaError

    openai_strict = _shaped(schema, "openai", True, name, response=response)
    if dialect == "openai":
        return openai_strict
    try:
        return _shaped(schema, dialect, True, name, response=response)
    except StrictSchemaError as error:
        logger.warning("'%s' is sent non-strict: the %s schema dialect cannot make it strict: %s", name, dialect, error)
        return None


def _shaped(schema: dict[str, Any], dialect: Dialect, strict: bool, name: str, *, response: bool = False) -> dict:
    """``schema`` converted for ``dialect``, once per schema dict and handed out as a fresh copy.

    Entries are keyed on the dict's identity and checked against its ``repr``: exact for JSON data (key order,
    ``1`` vs ``1.0`` vs ``True``) and several times cheaper than converting, so a schema edited in place
    between requests is converted again. The copy keeps callers (and the SDK) from changing the cache.
    """
    fingerprint = repr(schema)
    key = (id(schema), dialect, strict)
    with _cache_lock:
        entry = _cache.get(key)
        if entry is not None and entry[0] is schema and entry[1] == fingerprint:
            _cache.move_to_end(key)
            return copy_json(entry[2])
    if response:  # outside the lock: may raise, may be slow
        converted = response_schema_for(schema, dialect=dialect, strict=strict, name=name)
    else:
        converted = tool_parameters_for(schema, dialect=dialect, strict=strict, tool_name=name)
    with _cache_lock:
        _cache[key] = (schema, fingerprint, converted)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return copy_json(converted)


def _note_once(profile: ModelProfile, what: str, text: str) -> None:
    """Warn once per process and model about a request feature the model does not take."""
    key = (_model_name(profile), what)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning("Model '%s' %s (%s).", key[0], text, _source_text(profile))


def _model_name(profile: ModelProfile) -> str:
    return profile.model or f"(custom {profile.family} profile)"


def _source_text(profile: ModelProfile) -> str:
    return {
        "catalogue": "per AIMLAPI's model catalogue",
        "family rules": f"per the {profile.family} family's rules",
        "openai rules": "per OpenAI's rules",
    }.get(profile.source, "per its ModelProfile")
