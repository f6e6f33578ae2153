"""OpenTelemetry spans of agent runs, model calls and tool calls (GenAI conventions), checked with the SDK's
in-memory exporter against ScriptedServer."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import generator_for, get_weather
from haystack import Pipeline, tracing
from haystack.dataclasses import ChatMessage
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import aiml_agent
from aiml_agent import Agent, create_tool
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

COST = {"credits_used": 42, "usd_spent": 0.000021}


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    aiml_agent.instrument(tracer_provider=provider)
    yield provider, exporter
    aiml_agent.uninstrument()


@pytest.fixture
def spans(provider: tuple[TracerProvider, InMemorySpanExporter]) -> InMemorySpanExporter:
    return provider[1]


def by_name(finished: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    grouped: dict[str, list[ReadableSpan]] = {}
    for span in finished:
        grouped.setdefault(span.name, []).append(span)
    return grouped


def tool_turn(*cities: str, cost: dict[str, Any] | None = None) -> list[Reply | str]:
    calls = [ToolCallReply("get_weather", {"city": c}, id=f"call_{c}") for c in cities]
    return [Reply(tool_calls=calls, cost=cost), Reply(text="Take a jacket.", cost=cost)]


def test_a_run_gives_one_agent_span_with_chat_and_tool_spans_under_it(spans: InMemorySpanExporter) -> None:
    with ScriptedServer(tool_turn("Paris", cost=COST)) as server:
        result = Agent(generator_for(server, model="openai/gpt-4o"), [create_tool(get_weather)]).run("Jacket?")
    named = by_name(spans.get_finished_spans())
    [run] = named["invoke_agent"]
    chats = named["chat openai/gpt-4o"]
    [tool] = named["execute_tool get_weather"]
    assert len(chats) == 2
    assert run.parent is None and run.kind is SpanKind.INTERNAL
    assert all(span.parent is not None and span.parent.span_id == run.context.span_id for span in [*chats, tool])
    assert len({span.context.trace_id for span in [run, *chats, tool]}) == 1

    first = chats[0].attributes or {}
    assert chats[0].kind is SpanKind.CLIENT
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.request.model"] == first["gen_ai.response.model"] == "openai/gpt-4o"
    assert str(first["gen_ai.response.id"]).startswith("chatcmpl-")
    assert tuple(first["gen_ai.response.finish_reasons"]) == ("tool_calls",)
    assert first["gen_ai.usage.input_tokens"] == result["steps"][0].reply.meta["usage"]["prompt_tokens"]
    assert first["gen_ai.usage.output_tokens"] == result["steps"][0].reply.meta["usage"]["completion_tokens"]
    assert first["aimlapi.cost.credits"] == 42 and first["aimlapi.cost.usd"] == pytest.approx(0.000021)
    assert first["server.address"] == "127.0.0.1"
    assert tuple(first["gen_ai.request.tool_names"]) == ("get_weather",)
    assert first["aimlapi.client_request_id"] == result["steps"][0].client_request_id
    assert first["aimlapi.inference_id"] == result["steps"][0].inference_id

    tool_attributes = tool.attributes or {}
    assert tool_attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool_attributes["gen_ai.tool.name"] == "get_weather"
    assert tool_attributes["gen_ai.tool.call.id"] == "call_Paris"
    assert tool.status.status_code is StatusCode.UNSET

    run_attributes = run.attributes or {}
    assert run_attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run_attributes["gen_ai.usage.input_tokens"] == result["usage"].prompt_tokens
    assert run_attributes["gen_ai.usage.output_tokens"] == result["usage"].completion_tokens
    assert run_attributes["aimlapi.cost.credits"] == 84
    assert run_attributes["aiml_agent.exit_reason"] == "text"
    assert run_attributes["aiml_agent.steps"] == 2


def test_content_is_recorded_only_when_asked_and_without_api_keys(
    provider: tuple[TracerProvider, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer_provider, exporter = provider
    with ScriptedServer(tool_turn("Paris") * 2) as server:
        agent = Agent(generator_for(server), [create_tool(get_weather)])
        agent.run("Jacket?")
        assert not any(
            key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"))
            for span in exporter.get_finished_spans()
            for key in (span.attributes or {})
        )
        exporter.clear()
        monkeypatch.setenv("SOME_SERVICE_API_KEY", "sk-very-secret-value")
        aiml_agent.instrument(tracer_provider=tracer_provider, capture_content=True)
        agent.run("Jacket? my key is sk-very-secret-value")
    named = by_name(exporter.get_finished_spans())
    chat = named["chat openai/gpt-5-chat-latest"][0].attributes or {}
    assert "Jacket? my key is REDACTED" in str(chat["gen_ai.input.messages"])
    assert "sk-very-secret-value" not in str([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    assert "get_weather" in str(chat["gen_ai.output.messages"])
    tool = named["execute_tool get_weather"][0].attributes or {}
    assert tool["gen_ai.tool.call.arguments"] == '{"city": "Paris"}'
    assert tool["gen_ai.tool.call.result"] == "Sunny in Paris"


def test_failures_mark_their_span_with_an_error_type(spans: InMemorySpanExporter) -> None:
    with ScriptedServer([*tool_turn("Atlantis"), Reply.error(503, "Service unavailable")]) as server:
        agent = Agent(generator_for(server), [create_tool(get_weather)])
        agent.run("Weather in Atlantis?")
        [tool] = by_name(spans.get_finished_spans())["execute_tool get_weather"]
        assert tool.status.status_code is StatusCode.ERROR
        assert (tool.attributes or {})["error.type"] == "LookupError"
        spans.clear()
        with pytest.raises(aiml_agent.AIMLAPIError):
            agent.run("again")
    named = by_name(spans.get_finished_spans())
    [chat] = named["chat openai/gpt-5-chat-latest"]
    [run] = named["invoke_agent"]
    assert (chat.attributes or {})["error.type"] == "503"
    assert str((chat.attributes or {})["aimlapi.client_request_id"]).startswith("aiml-agent-")
    assert chat.status.status_code is StatusCode.ERROR and run.status.status_code is StatusCode.ERROR
    assert chat.parent is not None and chat.parent.span_id == run.context.span_id


async def test_concurrent_runs_give_separate_correctly_nested_traces(spans: InMemorySpanExporter) -> None:
    def script(body: dict[str, Any]) -> Reply | str:
        messages = body["messages"]
        if messages[-1]["role"] == "tool":
            return "done"
        city = messages[-1]["content"]
        return Reply(
            tool_calls=[ToolCallReply("get_weather", {"city": city}), ToolCallReply("get_weather", {"city": city})]
        )

    with ScriptedServer(script) as server:
        agent = Agent(generator_for(server), [create_tool(get_weather)])
        await asyncio.gather(*(agent.run_async(f"city{i}") for i in range(20)))
    finished = spans.get_finished_spans()
    traces: dict[int, list[ReadableSpan]] = {}
    for span in finished:
        traces.setdefault(span.context.trace_id, []).append(span)
    assert len(traces) == 20
    for members in traces.values():
        named = by_name(members)
        [run] = named["invoke_agent"]
        assert len(named["chat openai/gpt-5-chat-latest"]) == 2 and len(named["execute_tool get_weather"]) == 2
        assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in members if s is not run)
        cities = {(s.attributes or {}).get("gen_ai.tool.call.id") for s in named["execute_tool get_weather"]}
        assert len(cities) == 2


def test_sync_tools_on_worker_threads_are_children_of_the_run(spans: InMemorySpanExporter) -> None:
    with ScriptedServer(tool_turn("Paris", "Rome", "Oslo")) as server:
        Agent(generator_for(server), [create_tool(get_weather)]).run("Weather?")
    named = by_name(spans.get_finished_spans())
    [run] = named["invoke_agent"]
    tools = named["execute_tool get_weather"]
    assert len(tools) == 3
    assert all(t.parent is not None and t.parent.span_id == run.context.span_id for t in tools)


def test_a_streamed_call_is_one_chat_span_with_usage(spans: InMemorySpanExporter) -> None:
    chunks: list[Any] = []
    with ScriptedServer([Reply(text="a streamed answer", cost=COST)]) as server:
        generator_for(server).run([ChatMessage.from_user("hi")], streaming_callback=chunks.append)
    [chat] = spans.get_finished_spans()
    attributes = chat.attributes or {}
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.output_tokens"] > 0 and attributes["aimlapi.cost.credits"] == 42
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert len(chunks) > 3


def test_inside_a_pipeline_the_spans_sit_under_haystacks_own(
    provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    from haystack_integrations.tracing.opentelemetry import OpenTelemetryTracer

    tracer_provider, exporter = provider
    tracing.enable_tracing(OpenTelemetryTracer(tracer_provider.get_tracer("haystack")))
    try:
        with ScriptedServer(tool_turn("Paris")) as server:
            pipeline = Pipeline()
            pipeline.add_component("agent", Agent(generator_for(server), [create_tool(get_weather)]))
            pipeline.run({"agent": {"messages": [ChatMessage.from_user("Jacket?")]}})
    finally:
        tracing.disable_tracing()
    finished = exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in finished}
    [run] = by_name(finished)["invoke_agent agent"]  # named after the component in the pipeline
    assert (run.attributes or {})["gen_ai.agent.name"] == "agent"
    assert run.parent is not None
    ancestors = []
    parent = by_id.get(run.parent.span_id)
    while parent is not None:
        ancestors.append(parent.name)
        parent = by_id.get(parent.parent.span_id) if parent.parent else None
    assert "haystack.pipeline.run" in ancestors
    assert len({span.context.trace_id for span in finished}) == 1


def test_uninstrumented_runs_import_no_opentelemetry() -> None:
    code = (
        "import sys\n"
        "from haystack.utils import Secret\n"
        "from aiml_agent import Agent, AIMLAPIChatGenerator\n"
        "from aiml_agent.testing import ScriptedServer\n"
        "with ScriptedServer(['hello']) as server:\n"
        "    generator = AIMLAPIChatGenerator(api_key=Secret.from_token('k'), api_base_url=server.base_url)\n"
        "    assert Agent(generator).run('hi')['last_message'].text == 'hello'\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry') or m == 'aiml_agent.tracing'))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_instrument_can_be_undone(provider: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    _, exporter = provider
    assert aiml_agent.tracing.is_instrumented()
    aiml_agent.uninstrument()
    assert not aiml_agent.tracing.is_instrumented()
    with ScriptedServer(["hello"]) as server:
        Agent(generator_for(server)).run("hi")
    assert exporter.get_finished_spans() == ()
