"""Agent under asyncio and streaming: concurrent runs that do not mix, streaming order with sync and async
callbacks, structured output with a retry."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from conftest import generator_for
from haystack.dataclasses import StreamingChunk
from pydantic import BaseModel

from aiml_agent.agent import Agent, OutputValidationError
from aiml_agent.context import RunContext
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply
from aiml_agent.tools import create_tool


async def shout(text: str, ctx: RunContext[Any]) -> str:
    """Upper-case a text after a short random pause (plus the run's deps, when it has some).

    :param text: The text.
    """
    await asyncio.sleep(random.uniform(0, 0.05))
    return text.upper() + (f"#{ctx.deps}" if ctx.deps is not None else "")


def echo_script(body: dict[str, Any]) -> Reply:
    """First call: ask `shout` for the user's text; second call: answer with the tool's result."""
    messages = body["messages"]
    tool_results = [m["content"] for m in messages if m["role"] == "tool"]
    if tool_results:
        return Reply(text=f"answer:{tool_results[0]}@{body.get('user')}", delay=random.uniform(0, 0.05))
    question = next(m["content"] for m in messages if m["role"] == "user")
    return Reply(tool_calls=[ToolCallReply("shout", {"text": question})], delay=random.uniform(0, 0.05))


async def test_forty_concurrent_runs_on_one_agent_do_not_mix() -> None:
    """Each run has its own deps, generation kwargs and streaming callback; none leaks into another run."""
    streamed: list[list[StreamingChunk]] = [[] for _ in range(40)]

    def run(i: int) -> Any:
        return agent.run_async(
            f"question {i}", deps=i, generation_kwargs={"user": f"u{i}"}, streaming_callback=streamed[i].append
        )

    with ScriptedServer(echo_script) as server:
        agent = Agent(generator_for(server), [create_tool(shout)])
        results = await asyncio.gather(*(run(i) for i in range(40)))
        assert len(server.requests) == 80
    for i, result in enumerate(results):
        assert result["last_message"].text == f"answer:QUESTION {i}#{i}@u{i}"
        assert "".join(chunk.content for chunk in streamed[i]) == result["last_message"].text
        assert [c.tool_call_result.result for c in streamed[i] if c.tool_call_result] == [f"QUESTION {i}#{i}"]
        assert result["messages"][0].text == f"question {i}"
        assert len(result["messages"]) == 4 and len(result["steps"]) == 2
        assert result["usage"].requests == 2


def chunk_kind(chunk: StreamingChunk) -> str | None:
    if chunk.tool_call_result is not None:
        return f"result:{chunk.tool_call_result.origin.id}"
    if chunk.tool_calls:
        return "tool_call_delta"
    if chunk.content:
        return "text"
    return None


def streaming_script() -> list[Any]:
    calls = [ToolCallReply("slow_first", {"text": "a"}, id="c1"), ToolCallReply("shout", {"text": "b"}, id="c2")]
    return [Reply(tool_calls=calls), "All done now."]


async def slow_first(text: str) -> str:
    """Slow tool: finishes after `shout`, but its result must still come first.

    :param text: The text.
    """
    await asyncio.sleep(0.15)
    return text


def compact(kinds: list[str | None]) -> list[str]:
    """Collapse runs of the same kind, drop empty chunks."""
    out: list[str] = []
    for kind in kinds:
        if kind and (not out or out[-1] != kind):
            out.append(kind)
    return out


def test_streaming_order_with_sync_callback() -> None:
    chunks: list[StreamingChunk] = []
    with ScriptedServer(streaming_script()) as server:
        agent = Agent(generator_for(server), [create_tool(slow_first), create_tool(shout)])
        result = agent.run("go", streaming_callback=chunks.append)
        assert all(request.body["stream"] is True for request in server.requests)
    assert compact([chunk_kind(c) for c in chunks]) == ["tool_call_delta", "result:c1", "result:c2", "text"]
    assert "".join(c.content for c in chunks) == "All done now."
    assert [c.tool_call_result.result for c in chunks if c.tool_call_result] == ["a", "B"]
    assert result["last_message"].text == "All done now."


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_streaming_order_under_run_async_with_callback_from_init(kind: str) -> None:
    chunks: list[StreamingChunk] = []

    async def collect(chunk: StreamingChunk) -> None:
        await asyncio.sleep(0)
        chunks.append(chunk)

    callback = collect if kind == "async" else chunks.append
    with ScriptedServer(streaming_script()) as server:
        agent = Agent(generator_for(server), [create_tool(slow_first), create_tool(shout)], streaming_callback=callback)
        result = await agent.run_async("go")
    assert compact([chunk_kind(c) for c in chunks]) == ["tool_call_delta", "result:c1", "result:c2", "text"]
    assert result["exit_reason"] == "text"
    assert [m.role.value for m in result["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]


class Forecast(BaseModel):
    city: str
    temperature: int
    note: str | None = None


def test_structured_output_retries_once_after_an_invalid_answer() -> None:
    script = ['{"city": "Paris"}', '{"city": "Paris", "temperature": 21, "note": null}']
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), output_type=Forecast).run("Forecast for Paris?")
    assert result["output"] == Forecast(city="Paris", temperature=21)
    assert result["exit_reason"] == "text"
    response_format = server.requests[0].body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Forecast" and response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and sorted(schema["required"]) == ["city", "note", "temperature"]
    retry = server.requests[1].body["messages"][-1]
    assert retry["role"] == "user" and "- temperature: required, but missing" in retry["content"]
    assert [m.role.value for m in result["messages"]] == ["user", "assistant", "user", "assistant"]


class Booking(BaseModel):
    guests: int = 2
    nights: int


def test_structured_output_null_for_an_optional_field_means_its_default() -> None:
    """Strict mode makes ``guests`` required-but-nullable; the model's null must give the default, not fail."""
    with ScriptedServer(['{"guests": null, "nights": 3}']) as server:
        result = Agent(generator_for(server), output_type=Booking).run("Book it")
    assert result["output"] == Booking(guests=2, nights=3)
    schema = server.requests[0].body["response_format"]["json_schema"]["schema"]
    assert "default" not in schema["properties"]["guests"] and sorted(schema["required"]) == ["guests", "nights"]


async def test_structured_output_with_strict_tools_under_run_async() -> None:
    script = [Reply(tool_calls=[ToolCallReply("shout", {"text": "paris"})]), '{"city": "PARIS", "temperature": 3}']
    with ScriptedServer(script) as server:
        agent = Agent(generator_for(server), [create_tool(shout)], output_type=Forecast, tools_strict=True)
        result = await agent.run_async("Forecast?", generation_kwargs={"temperature": 0})
    assert result["output"].city == "PARIS"
    for request in server.requests:
        assert request.body["tools"][0]["function"]["strict"] is True
        assert request.body["response_format"]["json_schema"]["name"] == "Forecast"
        assert request.body["temperature"] == 0


def test_structured_output_gives_up_with_a_clear_error() -> None:
    with ScriptedServer(["not json", "{}", '{"city": 1}']) as server:
        agent = Agent(generator_for(server), output_type=Forecast, output_retries=2)
        with pytest.raises(OutputValidationError, match="did not match Forecast after 3 attempts"):
            agent.run("Forecast?")
        assert len(server.requests) == 3


class Readings(BaseModel):
    values: list[int]


def test_an_answer_with_many_bad_fields_is_described_in_a_few_lines() -> None:
    """500 bad items: the retry message and the final error list a capped number, each with where and what came."""
    bad = '{"values": [' + ", ".join('"x"' for _ in range(500)) + "]}"
    with ScriptedServer([bad, bad]) as server:
        agent = Agent(generator_for(server), output_type=Readings, output_retries=1)
        with pytest.raises(OutputValidationError) as raised:
            agent.run("Readings?")
        retry = server.requests[1].body["messages"][-1]["content"]
    problems = str(raised.value).split("\nLast answer:")[0]  # the answer itself follows, as the model sent it
    for text in (retry, problems):
        assert '- values[0]: Input should be a valid integer, unable to parse string as an integer; got "x"' in text
        assert "- ... and 490 more invalid fields" in text
        assert "values[10]" not in text and len(text) < 1500


def test_an_answer_that_is_not_json_is_named_as_the_whole_answer() -> None:
    with ScriptedServer(["not json", '{"city": "Oslo", "temperature": 1}']) as server:
        result = Agent(generator_for(server), output_type=Forecast).run("Forecast?")
        retry = server.requests[1].body["messages"][-1]["content"]
    assert result["output"] == Forecast(city="Oslo", temperature=1)
    assert '- (answer): Invalid JSON: expected ident at line 1 column 2; got "not json"' in retry
