"""OpenTelemetry traces of agent runs, model calls and tool calls, with the GenAI semantic conventions.

``aiml_agent.instrument()`` installs an observer (see :mod:`aiml_agent._observe`) that turns each hook into a span
of the global tracer provider (or the one given):

- ``invoke_agent`` for an ``Agent.run`` / ``run_async``, with the run's summed tokens, AIMLAPI cost and exit reason;
- ``chat {model}`` for each chat completion request, with the request parameters, the response id, model and
  finish reasons, the tokens, AIMLAPI's cost (``aimlapi.cost.usd``, ``aimlapi.cost.credits``) and the request ids
  (``aimlapi.client_request_id``, ``aimlapi.inference_id``);
- ``execute_tool {name}`` for each tool call, with an error status, ``error.type`` (the exception's class, or the
  kind of failure: ``timeout``, ``invalid_arguments``, ``unknown_tool``...) when it failed.

Spans nest through OpenTelemetry's context, which follows asyncio tasks and the worker threads tools run on, so
concurrent runs give separate traces and a run inside a Haystack Pipeline traced by Haystack's OpenTelemetry
tracer sits under the pipeline's span. Messages, tool arguments and results are recorded only with
``capture_content=True``, with API keys from the environment replaced by ``REDACTED``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from aiml_agent import _observe
from aiml_agent._secrets import REDACTED, environment_secrets, longest_first
from aiml_agent.run_result import reported_number

if TYPE_CHECKING:
    from haystack.dataclasses import ChatMessage, ToolCall
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from aiml_agent.run_result import ToolCallRecord

__all__ = ["instrument", "is_instrumented", "span_line", "uninstrument"]

PROVIDER = "aimlapi"
_SHOWN = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "aimlapi.cost.usd", "gen_ai.tool.call.id")
# Request parameters recorded on chat spans: the name in the request body -> the GenAI attribute.
_REQUEST_PARAMETERS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "stop": "gen_ai.request.stop_sequences",
}


def instrument(*, capture_content: bool = False, tracer_provider: TracerProvider | None = None) -> None:
    """Trace every agent run, model call and tool call from now on (calling it again replaces the settings).

    :param capture_content: Also record messages, tool arguments and tool results (API keys found in the
        environment are replaced by ``REDACTED``). Off by default: content may hold personal data.
    :param tracer_provider: The provider to take the tracer from; the global one by default (set it with
        ``opentelemetry.trace.set_tracer_provider``).
    """
    from aiml_agent import __version__

    tracer = trace.get_tracer("aiml_agent", __version__, tracer_provider=tracer_provider)
    _observe.observer = _SpanObserver(tracer, capture_content=capture_content)


def span_line(span: ReadableSpan) -> str:
    """One span as one line (name, duration, tokens, cost, tool call id, error): a compact ``ConsoleSpanExporter``
    ``formatter`` for reading a run in a terminal."""
    attributes = span.attributes or {}
    milliseconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    shown = {key: attributes[key] for key in _SHOWN if key in attributes}
    details = " ".join(
        f"{key.rsplit('.', 2)[-2] + '.' + key.rsplit('.', 1)[-1]}={value}" for key, value in shown.items()
    )
    error = f" ERROR {attributes.get('error.type', '')}".rstrip() if not span.status.is_ok else ""
    return f"span {span.name:<40} {milliseconds:8.1f} ms {details}{error}\n"


def uninstrument() -> None:
    """Stop tracing: the hooks go back to costing nothing."""
    _observe.observer = None


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return isinstance(_observe.observer, _SpanObserver)


class _SpanScope:
    """The span of one hook; ``finish`` sets the attributes of what happened."""

    def __init__(self, span: Span, observer: _SpanObserver, kind: str) -> None:
        self.span = span
        self.observer = observer
        self.kind = kind

    def finish(self, outcome: Any) -> None:
        if self.kind == "run":
            self.observer.finish_run(self.span, outcome)
        elif self.kind == "chat":
            self.observer.finish_chat(self.span, outcome)
        else:
            self.observer.finish_tool(self.span, outcome)


class _SpanObserver:
    """Implements the ``_observe`` hooks with OpenTelemetry spans."""

    def __init__(self, tracer: Tracer, *, capture_content: bool) -> None:
        self.tracer = tracer
        self.capture_content = capture_content

    @contextmanager
    def _span(self, name: str, kind: SpanKind, attributes: dict[str, Any], scope_kind: str) -> Iterator[_SpanScope]:
        # Exceptions are recorded here (with error.type), not by the SDK's defaults, to follow the conventions.
        with self.tracer.start_as_current_span(
            name, kind=kind, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield _SpanScope(span, self, scope_kind)
            except BaseException as error:
                _set_error(span, error)
                raise

    # ---- hooks --------------------------------------------------------------------------------------------

    def agent_run(self, agent: Any, messages: list[ChatMessage]) -> Any:
        attributes: dict[str, Any] = {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": PROVIDER}
        name = getattr(agent, "__component_name__", None)
        if isinstance(name, str):
            attributes["gen_ai.agent.name"] = name
        model = getattr(getattr(agent, "chat_generator", None), "model", None)
        if isinstance(model, str):
            attributes["gen_ai.request.model"] = model
        if self.capture_content:
            attributes["gen_ai.input.messages"] = self._json([_message(m) for m in messages])
        span_name = f"invoke_agent {name}" if isinstance(name, str) else "invoke_agent"
        return self._span(span_name, SpanKind.INTERNAL, attributes, "run")

    def model_call(self, model: str, base_url: str, request: dict[str, Any], *, streaming: bool) -> Any:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.request.model": model,
            "gen_ai.request.stream": streaming,
        }
        address = urlsplit(base_url)
        if address.hostname:
            attributes["server.address"] = address.hostname
        if address.port:
            attributes["server.port"] = address.port
        parameters = {**request, **(request.get("extra_body") or {})}
        for key, attribute in _REQUEST_PARAMETERS.items():
            value = parameters.get(key)
            if (isinstance(value, (int, float, str)) and not isinstance(value, bool)) or (
                key == "stop" and isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                attributes[attribute] = value
        tools = request.get("tools") or []
        if tools:
            attributes["gen_ai.request.tool_names"] = [t.get("function", {}).get("name", "") for t in tools]
        if self.capture_content:
            attributes["gen_ai.input.messages"] = self._json(request.get("messages") or [])
        return self._span(f"chat {model}", SpanKind.CLIENT, attributes, "chat")

    def tool_call(self, tool_call: ToolCall, description: str | None) -> Any:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool_call.tool_name,
            "gen_ai.tool.type": "function",
        }
        if tool_call.id:
            attributes["gen_ai.tool.call.id"] = tool_call.id
        if description:
            attributes["gen_ai.tool.description"] = description
        if self.capture_content:
            attributes["gen_ai.tool.call.arguments"] = self._json(tool_call.arguments)
        return self._span(f"execute_tool {tool_call.tool_name}", SpanKind.INTERNAL, attributes, "tool")

    # ---- outcomes -----------------------------------------------------------------------------------------

    def finish_run(self, span: Span, result: Mapping[str, Any]) -> None:
        usage = result.get("usage")
        if usage is not None:
            _set_usage(span, usage.prompt_tokens, usage.completion_tokens, usage.credits_used, usage.usd_spent)
            span.set_attribute("aiml_agent.requests", usage.requests)
        span.set_attribute("aiml_agent.exit_reason", str(result.get("exit_reason")))
        span.set_attribute("aiml_agent.steps", len(result.get("steps") or []))
        if self.capture_content:
            last = result.get("last_message")
            if last is not None:
                span.set_attribute("gen_ai.output.messages", self._json([_message(last)]))

    def finish_chat(self, span: Span, replies: Sequence[ChatMessage]) -> None:
        if not replies:
            return
        meta = replies[0].meta
        _set_if(span, "gen_ai.response.id", meta.get("id"))
        _set_if(span, "gen_ai.response.model", meta.get("model"))
        reasons = [str(r.meta.get("finish_reason")) for r in replies if r.meta.get("finish_reason")]
        if reasons:
            span.set_attribute("gen_ai.response.finish_reasons", reasons)
        raw_tokens, raw_cost = meta.get("usage"), meta.get("cost")
        tokens: Mapping[str, Any] = raw_tokens if isinstance(raw_tokens, Mapping) else {}
        cost: Mapping[str, Any] = raw_cost if isinstance(raw_cost, Mapping) else {}
        _set_usage(
            span,
            tokens.get("prompt_tokens"),
            tokens.get("completion_tokens"),
            cost.get("credits_used"),
            cost.get("usd_spent"),
        )
        _set_if(span, "aimlapi.client_request_id", meta.get("client_request_id"))
        _set_if(span, "aimlapi.inference_id", meta.get("inference_id"))
        if self.capture_content:
            span.set_attribute("gen_ai.output.messages", self._json([_message(r) for r in replies]))

    def finish_tool(self, span: Span, record: ToolCallRecord) -> None:
        failure = record.failure
        if failure is not None:  # the exception's class when it raised, else the kind of failure ("timeout", ...)
            span.set_attribute("error.type", failure.exception_type or failure.kind)
            span.set_attribute("aiml_agent.tool.failure", failure.kind)
            span.set_status(Status(StatusCode.ERROR, _short(record.result)))
        if record.truncated_chars:
            span.set_attribute("aiml_agent.tool.truncated_chars", record.truncated_chars)
        if self.capture_content:
            span.set_attribute("gen_ai.tool.call.result", _scrub(record.result))

    def _json(self, value: Any) -> str:
        return _scrub(json.dumps(value, ensure_ascii=False, default=str))


def _message(message: ChatMessage) -> dict[str, Any]:
    """A message as the OpenAI wire format has it (role, content, tool calls, tool call id)."""
    try:
        return dict(message.to_openai_dict_format())
    except Exception:
        return dict(message.to_dict())


def _set_usage(span: Span, prompt: Any, completion: Any, credits: Any, usd: Any) -> None:
    for attribute, value in (
        ("gen_ai.usage.input_tokens", prompt),
        ("gen_ai.usage.output_tokens", completion),
        ("aimlapi.cost.credits", credits),
        ("aimlapi.cost.usd", usd),
    ):
        number = reported_number(value)
        if number is not None:
            span.set_attribute(attribute, number)


def _set_if(span: Span, attribute: str, value: Any) -> None:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != "":
        span.set_attribute(attribute, value)


def _set_error(span: Span, error: BaseException) -> None:
    status = getattr(error, "status_code", None)
    span.set_attribute("error.type", str(status) if isinstance(status, int) else type(error).__name__)
    _set_if(span, "aimlapi.client_request_id", getattr(error, "client_request_id", None))
    span.set_status(Status(StatusCode.ERROR, _short(str(error))))
    span.record_exception(error)


def _short(text: str, limit: int = 300) -> str:
    text = _scrub(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scrub(text: str) -> str:
    """``text`` with every API key found in the environment (``*_API_KEY`` variables) replaced by REDACTED."""
    for secret in longest_first(environment_secrets()):
        text = text.replace(secret, REDACTED)
    return text
