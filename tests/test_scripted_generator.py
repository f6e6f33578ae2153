"""ScriptedChatGenerator: the real generator answered in process from the script ScriptedServer plays.

Most checks run the same script through both scripted models (``ScriptedChatGenerator`` and ScriptedServer +
``AIMLAPIChatGenerator``) and compare what the caller gets: replies, streamed chunks, errors, recorded requests.
"""

from __future__ import annotations

import asyncio
import copy
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import generator_for
from haystack.core.serialization import allow_deserialization_module
from haystack.dataclasses import ChatMessage, StreamingChunk
from haystack.tools import Tool

from aiml_agent import Agent, AIMLAPIChatGenerator, ModelProfile, tool
from aiml_agent.errors import AIMLAPIError
from aiml_agent.testing import (
    Reply,
    ScriptedChatGenerator,
    ScriptedServer,
    ScriptExhaustedError,
    ToolCallReply,
)

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@tool
def get_weather(city: str, unit: str | None = None) -> str:
    """The weather of a city.

    :param city: The city.
    :param unit: "celsius" or "fahrenheit".
    """
    return f"Sunny in {city}"


def script_function(body: dict[str, Any]) -> Reply | str:
    """A script function for the serialization test (loaded back by import path)."""
    return f"{len(body['messages'])} messages"


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every attempt to connect a socket fails the test (and is listed)."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any, *args: Any) -> Any:
        attempts.append(address)
        raise AssertionError(f"a socket was connected to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))  # type: ignore[arg-type]
    yield attempts
    assert attempts == []


def both(script: list[Any], call: Callable[[AIMLAPIChatGenerator], Any], **options: Any) -> tuple[Any, Any]:
    """``call`` on a ScriptedChatGenerator and on a generator served by ScriptedServer, both playing ``script``
    (a fresh copy each); each outcome is the result or the exception raised."""
    outcomes = []
    for in_process in (True, False):
        try:
            if in_process:
                outcomes.append(call(ScriptedChatGenerator(list(script), **options)))
            else:
                with ScriptedServer(list(script)) as server:
                    outcomes.append(call(generator_for(server, **options)))
        except Exception as error:
            outcomes.append(error)
    return outcomes[0], outcomes[1]


def comparable(reply: ChatMessage) -> dict[str, Any]:
    """A reply without what differs between any two requests (response and request ids, receive times)."""
    data = reply.to_dict()
    for key in ("id", "client_request_id", "completion_start_time"):
        data["meta"].pop(key, None)
    return data


def chunk_view(chunk: StreamingChunk) -> tuple[Any, ...]:
    meta = {k: v for k, v in chunk.meta.items() if k not in ("id", "received_at")}
    return (chunk.content, chunk.index, chunk.start, chunk.finish_reason, chunk.tool_calls, chunk.reasoning, meta)


RICH = [
    Reply(
        text="Let me look.",
        tool_calls=[ToolCallReply("get_weather", {"city": "Paris"}), ToolCallReply("get_weather", '{"city": ')],
        cost={"credits_used": 42, "usd_spent": 0.000021},
        reasoning="The user wants weather.",
    ),
    Reply(text="Sunny, 18 degrees.", finish_reason="length", cost={"credits_used": 7}, cost_in="headers"),
    Reply(text="Thinking done.", reasoning="step one", reasoning_field="reasoning_details", usage={"total_tokens": 3}),
]


# ---- the same answers as from ScriptedServer -----------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_replies_equal_the_served_ones(streamed: bool) -> None:
    def replies(generator: AIMLAPIChatGenerator) -> list[dict[str, Any]]:
        callback = (lambda chunk: None) if streamed else None
        return [comparable(generator.run("Weather?", callback)["replies"][0]) for _ in RICH]

    in_process, served = both(RICH, replies)
    assert in_process == served
    first = in_process[0]
    assert first["meta"]["cost"] == {"credits_used": 42, "usd_spent": 0.000021}
    assert first["meta"]["inference_id"] == "inf-1"
    [call, malformed] = [part["tool_call"] for part in first["content"] if "tool_call" in part]
    assert (call["id"], call["arguments"]) == ("call_1", {"city": "Paris"})
    assert malformed["extra"]["raw_arguments"] == '{"city": '  # malformed arguments kept, as the real generator does
    assert in_process[1]["meta"]["finish_reason"] == "length"


def test_streamed_chunks_equal_the_served_ones() -> None:
    script = [Reply(text="Checking the sky.", tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})])]

    def chunks(generator: AIMLAPIChatGenerator) -> list[StreamingChunk]:
        received: list[StreamingChunk] = []
        generator.run("Weather?", streaming_callback=received.append)
        return received

    in_process, served = both(script, chunks)
    assert [chunk_view(c) for c in in_process] == [chunk_view(c) for c in served]
    deltas = [delta for chunk in in_process for delta in chunk.tool_calls or []]
    assert deltas[0].tool_name == "get_weather" and deltas[0].id == "call_1"
    assert "".join(d.arguments or "" for d in deltas) == '{"city":"Paris"}'
    last = in_process[-1]
    assert in_process[-2].finish_reason == "tool_calls"
    assert last.meta["usage"]["total_tokens"] > 0  # the usage chunk closes the stream, as the server sends it


async def test_async_streaming_with_an_async_callback() -> None:
    received: list[StreamingChunk] = []

    async def collect(chunk: StreamingChunk) -> None:
        await asyncio.sleep(0)
        received.append(chunk)

    generator = ScriptedChatGenerator(["Hello there, friend."])
    [reply] = (await generator.run_async("Hi", streaming_callback=collect))["replies"]
    assert reply.text == "Hello there, friend."
    assert "".join(chunk.content for chunk in received) == "Hello there, friend."
    assert generator.requests[0].stream is True


@pytest.mark.parametrize(
    "reply",
    [
        Reply.error(429, "Too many requests", request_id="req-1"),
        Reply.error(403, "Insufficient credits", request_id="req-2"),
        Reply.problem(400, "Body validation error", request_id="req-3"),
        Reply(status=502, body="<html>Bad gateway</html>"),
        Reply(text="one two three four", cut_after=3),
    ],
    ids=["429", "403", "problem-400", "html-502", "cut-stream"],
)
def test_errors_are_the_ones_the_real_generator_raises(reply: Reply) -> None:
    def fail(generator: AIMLAPIChatGenerator) -> Any:
        return generator.run("Hi", streaming_callback=lambda chunk: None)

    in_process, served = both([reply], fail)
    assert isinstance(in_process, AIMLAPIError) and isinstance(served, AIMLAPIError)
    for attribute in ("status_code", "server_message", "request_id", "attempts"):
        assert getattr(in_process, attribute) == getattr(served, attribute), attribute
    assert untimed(in_process.body) == untimed(served.body)
    assert without_run_details(str(in_process)) == without_run_details(str(served))
    assert in_process.client_request_id in str(in_process)


def untimed(body: Any) -> Any:
    return {k: v for k, v in body.items() if k != "timestamp"} if isinstance(body, dict) else body


def without_run_details(message: str) -> str:
    """An error message without the base URL and the request id, which differ between the two models."""
    message = re.sub(r"http://(127\.0\.0\.1:\d+|scripted\.invalid)/v1", "BASE", message)
    return re.sub(r"X-Client-Request-Id [\w.:-]+", "X-Client-Request-Id ID", message)


def test_a_delay_longer_than_the_timeout_times_out() -> None:
    generator = ScriptedChatGenerator([Reply(text="late", delay=5.0)], timeout=0.2)
    with pytest.raises(AIMLAPIError, match=r"timed out after 0.2s"):
        generator.run("Hi")


def test_retries_take_the_next_reply_with_the_same_request_id() -> None:
    generator = ScriptedChatGenerator(
        [Reply.error(503, "busy", headers={"retry-after": "0"}), "Back again."], max_retries=1
    )
    assert generator.run("Hi")["replies"][0].text == "Back again."
    first, second = generator.requests
    assert first.headers["x-client-request-id"] == second.headers["x-client-request-id"]


# ---- no network --------------------------------------------------------------------------------------------


def test_no_socket_is_opened_sync_streamed_or_async(no_sockets: list[Any]) -> None:
    generator = ScriptedChatGenerator(["one", "two", "three"])
    assert generator.run("Hi")["replies"][0].text == "one"
    assert generator.run("Hi", streaming_callback=lambda chunk: None)["replies"][0].text == "two"
    assert asyncio.run(generator.run_async("Hi"))["replies"][0].text == "three"


def test_an_agent_runs_on_it_without_network(no_sockets: list[Any]) -> None:
    model = ScriptedChatGenerator(
        [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris", "unit": None})]), "Take sunglasses."]
    )
    result = Agent(model, tools=[get_weather], tools_strict=True).run("Sunglasses?")
    assert result["last_message"].text == "Take sunglasses."
    assert result["steps"][0].tool_calls[0].result == "Sunny in Paris"
    assert model.remaining == 0


# ---- what was asked ----------------------------------------------------------------------------------------


def test_requests_record_messages_tools_and_generation_kwargs_as_the_server_sees_them() -> None:
    kwargs = {"generation_kwargs": {"temperature": 0.5}, "tools_strict": True, "model": "openai/gpt-4o"}
    script = [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Oslo", "unit": None})]), "Cold."]
    model = ScriptedChatGenerator(list(script), **kwargs)
    Agent(model, tools=[get_weather], system_prompt="Be brief.").run("Oslo?", generation_kwargs={"seed": 7})
    with ScriptedServer(list(script)) as server:
        Agent(generator_for(server, **kwargs), tools=[get_weather], system_prompt="Be brief.").run(
            "Oslo?", generation_kwargs={"seed": 7}
        )
        served = server.requests

    assert [request.body for request in model.requests] == [request.body for request in served]
    first, second = model.requests
    assert first.messages[0].text == "Be brief." and first.messages[1].text == "Oslo?"
    assert second.messages[-1].tool_call_result is not None
    assert second.messages[-1].tool_call_result.result == "Sunny in Oslo"
    assert first.generation_kwargs == {"temperature": 0.5, "seed": 7}
    [definition] = first.tools
    assert definition["function"]["strict"] is True
    assert definition["function"]["parameters"]["additionalProperties"] is False
    assert first.body["model"] == "openai/gpt-4o" and first.stream is False


def test_the_model_profile_shapes_requests_as_for_the_real_generator() -> None:
    gemini = ScriptedChatGenerator(["ok"], model="google/gemini-2.5-flash", tools_strict=True)
    gemini.run("Hi", tools=[get_weather])
    [definition] = gemini.requests[0].tools
    assert "strict" not in definition["function"]  # Gemini has no strict mode: sent non-strict
    assert "additionalProperties" not in definition["function"]["parameters"]

    no_system = ModelProfile(model="custom/old", supports_system_role=False)
    folded = ScriptedChatGenerator(["ok"], model="custom/old", profile=no_system)
    folded.run([ChatMessage.from_system("Be brief."), ChatMessage.from_user("Hi")])
    assert folded.requests[0].body["messages"] == [{"role": "user", "content": "Be brief.\n\nHi"}]


def test_a_function_script_gets_the_request_body() -> None:
    model = ScriptedChatGenerator(lambda body: f"You said: {body['messages'][-1]['content']}")
    assert model.run("ping")["replies"][0].text == "You said: ping"
    assert model.run("pong")["replies"][0].text == "You said: pong"
    assert model.remaining == 0
    with pytest.raises(TypeError, match="list script"):
        model.add("more")


# ---- when the script is wrong ------------------------------------------------------------------------------


def test_an_exhausted_script_names_the_request() -> None:
    model = ScriptedChatGenerator(["only one"])
    model.run("Hi")
    with pytest.raises(ScriptExhaustedError, match=r"no reply left for request #2 \(1 requests served\)") as caught:
        model.run("Again")
    assert isinstance(caught.value, AssertionError)
    model.add("a second one")
    assert model.run("Again")["replies"][0].text == "a second one"


async def test_an_exhausted_script_stops_an_async_agent_run() -> None:
    model = ScriptedChatGenerator([Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Rome"})])], max_retries=3)
    with pytest.raises(ScriptExhaustedError, match="request #2"):
        await Agent(model, tools=[get_weather]).run_async("Rome?")
    assert len(model.requests) == 2  # not retried: it is no failed request


def test_a_script_function_error_and_a_wrong_item_are_raised_as_they_are() -> None:
    def broken(body: dict[str, Any]) -> str:
        raise KeyError("no such prompt")

    with pytest.raises(KeyError, match="no such prompt"):
        ScriptedChatGenerator(broken).run("Hi")
    with pytest.raises(TypeError, match=r"must be a Reply or str, got 42"):
        ScriptedChatGenerator([42]).run("Hi")  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not one reply"):
        ScriptedChatGenerator("just one")  # type: ignore[arg-type]


# ---- serialization -----------------------------------------------------------------------------------------


def test_to_dict_from_dict_keeps_the_whole_script() -> None:
    weather_tool = Tool(name="weather", description="Weather.", parameters=CITY, function=lambda city: city)
    script = [Reply(tool_calls=[ToolCallReply("weather", {"city": "Paris"}, id="c1")], cost={"credits_used": 3}), "x"]
    model = ScriptedChatGenerator(script, model="openai/gpt-4o", generation_kwargs={"temperature": 0}, max_retries=2)
    model.run("first")  # what was played is not what is serialized: the whole script is
    data = model.to_dict()
    assert data["init_parameters"]["script"] == [
        {"tool_calls": [{"name": "weather", "arguments": {"city": "Paris"}, "id": "c1"}], "cost": {"credits_used": 3}},
        "x",
    ]
    restored = ScriptedChatGenerator.from_dict(data)
    assert (restored.model, restored.generation_kwargs, restored.max_retries) == (
        "openai/gpt-4o",
        {"temperature": 0},
        2,
    )
    [reply] = restored.run("again", tools=[weather_tool])["replies"]
    assert reply.tool_calls[0].arguments == {"city": "Paris"} and reply.meta["cost"] == {"credits_used": 3}


def test_an_agent_with_a_function_script_round_trips() -> None:
    allow_deserialization_module(__name__)
    agent = Agent(ScriptedChatGenerator(script_function), system_prompt="S")
    restored = Agent.from_dict(agent.to_dict())
    assert isinstance(restored.chat_generator, ScriptedChatGenerator)
    assert restored.run("Hi")["last_message"].text == "2 messages"


def test_a_deep_copy_plays_the_rest_of_the_script_on_its_own() -> None:
    model = ScriptedChatGenerator(["a", "b", "c"])
    fresh = copy.deepcopy(model)
    assert model.run("x")["replies"][0].text == "a"
    used = copy.deepcopy(model)  # after a run too: the copy makes its own HTTP client

    assert [used.run("x")["replies"][0].text, model.run("x")["replies"][0].text] == ["b", "b"]
    assert fresh.run("x")["replies"][0].text == "a"
    assert (len(used.requests), len(model.requests), len(fresh.requests)) == (2, 2, 1)
