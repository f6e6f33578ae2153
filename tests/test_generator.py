"""AIMLAPIChatGenerator against ScriptedServer: its API (aimlapi-haystack's, plus ``tools_strict`` and ``profile``),
replies and meta, streaming, generation kwargs, tools, cost, retries and timeouts, errors, serialization and secrets,
HTTP clients."""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import generator_for, unreachable_base_url
from haystack.components.generators.chat import OpenAIChatGenerator
from haystack.core.serialization import allow_deserialization_module
from haystack.dataclasses import ChatMessage, StreamingChunk
from haystack.tools import Tool
from haystack.utils import Secret
from pydantic import BaseModel

from aiml_agent._streams import stream_to_message
from aiml_agent.errors import AIMLAPIError
from aiml_agent.generator import AIMLAPIChatGenerator
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

FAKE_KEY = "sk-fake-DO-NOT-LEAK-1234567890"
FAST_RETRY = {"retry-after-ms": "1"}  # the SDK honours it, so retry tests stay fast
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def get_weather(city: str) -> str:
    """Module-level so the tool can be serialized and deserialized."""
    return f"Sunny in {city}"


def get_time(tz: str = "UTC") -> str:
    return f"12:00 {tz}"


WEATHER = Tool(name="get_weather", description="Weather of a city.", parameters=PARAMS, function=get_weather)
TIME = Tool(
    name="get_time",
    description="Current time.",
    parameters={"type": "object", "properties": {"tz": {"type": "string"}}},
    function=get_time,
)


class CityAnswer(BaseModel):
    city: str
    population: int


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


# ---- the API of aimlapi-haystack's AIMLAPIChatGenerator, which this one keeps ------------------------------


def test_init_signature_is_aimlapi_haystacks_plus_tools_strict_profile_and_http_limits():
    params = inspect.signature(AIMLAPIChatGenerator.__init__).parameters
    names = [n for n in params if n != "self"]
    assert names == [
        "api_key", "model", "streaming_callback", "api_base_url", "generation_kwargs", "tools", "timeout",
        "extra_headers", "max_retries", "http_client_kwargs", "tools_strict", "profile", "http_limits",
    ]  # fmt: skip
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in names)
    assert params["api_key"].default == Secret.from_env_var("AIMLAPI_API_KEY")
    assert params["model"].default == "openai/gpt-5-chat-latest"
    assert params["api_base_url"].default == "https://api.aimlapi.com/v1"
    assert params["tools_strict"].default is False
    for name in ["streaming_callback", "generation_kwargs", "tools", "timeout", "extra_headers", "max_retries",
                 "http_client_kwargs", "profile"]:  # fmt: skip
        assert params[name].default is None
    assert issubclass(AIMLAPIChatGenerator, OpenAIChatGenerator)


@pytest.mark.parametrize("method", ["run", "run_async"])
def test_run_signature_is_aimlapi_haystacks(method):
    params = inspect.signature(getattr(AIMLAPIChatGenerator, method)).parameters
    assert [(n, p.kind.name, p.default) for n, p in params.items() if n != "self"] == [
        ("messages", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("streaming_callback", "POSITIONAL_OR_KEYWORD", None),
        ("generation_kwargs", "POSITIONAL_OR_KEYWORD", None),
        ("tools", "KEYWORD_ONLY", None),
        ("tools_strict", "KEYWORD_ONLY", None),
    ]


def test_api_key_must_be_a_secret():
    with pytest.raises(TypeError, match=r"api_key must be a haystack Secret, not str") as info:
        AIMLAPIChatGenerator(api_key=FAKE_KEY)  # type: ignore[arg-type]
    assert FAKE_KEY not in str(info.value)


# ---- text, meta, headers ---------------------------------------------------------------------------------


def test_text_reply_with_meta_and_headers(server):
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    server.add(Reply(text="Hello!", usage=usage, model="openai/gpt-4o"))
    generator = generator_for(server, model="openai/gpt-4o", extra_headers={"X-Custom": "yes", "X-Title": "MyApp"})

    replies = generator.run([ChatMessage.from_user("Hi")])["replies"]

    assert len(replies) == 1
    reply = replies[0]
    assert reply.text == "Hello!"
    assert reply.meta["model"] == "openai/gpt-4o"
    assert reply.meta["index"] == 0
    assert reply.meta["finish_reason"] == "stop"
    assert {k: reply.meta["usage"][k] for k in usage} == usage
    assert "cost" not in reply.meta
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "openai/gpt-4o"
    assert request.body["messages"] == [{"role": "user", "content": "Hi"}]
    assert "tools" not in request.body
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.headers["x-custom"] == "yes"
    assert request.headers["x-title"] == "MyApp"  # extra headers are sent as given
    assert "http-referer" not in request.headers  # no other project's attribution headers


def test_default_headers_and_string_messages(server):
    server.add("Hi back")
    assert generator_for(server).run("Hi")["replies"][0].text == "Hi back"
    assert not {"x-title", "http-referer"} & set(server.requests[0].headers)
    assert generator_for(server).run([]) == {"replies": []}
    assert len(server.requests) == 1


# ---- streaming -------------------------------------------------------------------------------------------


def test_streaming_with_sync_callback(server):
    server.add(
        Reply(text="A streamed answer in words", usage={"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8})
    )
    chunks: list[StreamingChunk] = []
    reply = generator_for(server).run("Hi", streaming_callback=chunks.append)["replies"][0]

    assert reply.text == "A streamed answer in words"
    assert len([c for c in chunks if c.content]) >= 5  # one per word: chunks arrived one by one
    assert "".join(c.content for c in chunks) == reply.text
    assert reply.meta["finish_reason"] == "stop"
    assert reply.meta["usage"]["total_tokens"] == 8
    assert server.requests[0].body["stream"] is True
    assert server.requests[0].body["stream_options"] == {"include_usage": True}


async def test_streaming_with_async_callback(server):
    server.add(Reply(text="Async streamed answer"))
    seen: list[str] = []

    async def callback(chunk: StreamingChunk) -> None:
        seen.append(chunk.content)

    reply = (await generator_for(server).run_async("Hi", streaming_callback=callback))["replies"][0]

    assert reply.text == "Async streamed answer"
    assert len([s for s in seen if s]) == 3
    assert "".join(seen) == reply.text
    assert server.requests[0].body["stream"] is True


async def test_run_async_accepts_sync_callback_and_init_callback(server):
    server.add("one two", "three four")
    seen: list[str] = []
    generator = generator_for(server, streaming_callback=lambda c: seen.append(c.content))
    assert (await generator.run_async("Hi"))["replies"][0].text == "one two"
    assert generator.run("Hi")["replies"][0].text == "three four"
    assert "".join(seen) == "one twothree four"


def test_stream_kwarg_streams_without_callback(server):
    server.add("streamed anyway")
    reply = generator_for(server, generation_kwargs={"stream": True}).run("Hi")["replies"][0]
    assert reply.text == "streamed anyway"
    assert server.requests[0].body["stream"] is True


def test_stream_cut_off_raises(server):
    server.add(Reply(text="a long streamed answer that breaks", cut_after=2))
    chunks: list[StreamingChunk] = []
    with pytest.raises(AIMLAPIError, match=server.base_url):
        generator_for(server).run("Hi", streaming_callback=chunks.append)


def test_stream_closed_cleanly_without_finish_reason_raises():
    """A proxy may end the body properly mid-answer: no transport error, but no finish_reason either."""
    chunks = [StreamingChunk(content="A partial"), StreamingChunk(content=" answer")]
    with pytest.raises(AIMLAPIError, match=r"http://host/v1 ended after 2 chunks without a finish_reason"):
        stream_to_message(chunks, "http://host/v1")


# ---- generation kwargs -----------------------------------------------------------------------------------


def test_generation_kwargs_merged_and_unknown_ones_reach_the_body(server):
    server.add("ok", "ok")
    generator = generator_for(server, generation_kwargs={"temperature": 0.1, "max_tokens": 10, "top_k": 5})

    generator.run("Hi", generation_kwargs={"temperature": 0.7, "my_provider_flag": "x"})
    generator.run("Hi")

    first, second = (r.body for r in server.requests)
    assert first["temperature"] == 0.7
    assert first["max_tokens"] == 10
    assert first["top_k"] == 5  # not an openai parameter: still sent, at top level of the body
    assert first["my_provider_flag"] == "x"
    assert second["temperature"] == 0.1  # run kwargs do not stick
    assert "my_provider_flag" not in second
    assert generator.generation_kwargs == {"temperature": 0.1, "max_tokens": 10, "top_k": 5}


def test_n_and_response_format(server):
    server.add(Reply(text='{"city": "Paris", "population": 2100000}'))
    generator = generator_for(server, generation_kwargs={"n": 2, "response_format": CityAnswer})

    reply = generator.run("Biggest city?")["replies"][0]

    body = server.requests[0].body
    assert body["n"] == 2
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "CityAnswer"
    assert set(body["response_format"]["json_schema"]["schema"]["properties"]) == {"city", "population"}
    assert CityAnswer.model_validate_json(reply.text) == CityAnswer(city="Paris", population=2100000)


def test_streaming_with_n_above_one_is_refused(server):
    with pytest.raises(ValueError, match="n=1"):
        generator_for(server).run("Hi", streaming_callback=print, generation_kwargs={"n": 2})
    assert server.requests == []


def test_extra_headers_from_generation_kwargs(server):
    server.add("ok")
    generator_for(server, extra_headers={"X-A": "init"}).run("Hi", generation_kwargs={"extra_headers": {"X-B": "run"}})
    headers = server.requests[0].headers
    assert (headers["x-a"], headers["x-b"]) == ("init", "run")


# ---- tools -----------------------------------------------------------------------------------------------

CALLS = [
    ToolCallReply("get_weather", {"city": "Paris"}, id="call_w1"),
    ToolCallReply("get_weather", {"city": "Rome"}, id="call_w2"),
    ToolCallReply("get_time", {"tz": "CET"}, id="call_t1"),
]


def assert_three_calls(reply: ChatMessage) -> None:
    assert reply.meta["finish_reason"] == "tool_calls"
    assert [(c.tool_name, c.arguments, c.id) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"}, "call_w1"),
        ("get_weather", {"city": "Rome"}, "call_w2"),
        ("get_time", {"tz": "CET"}, "call_t1"),
    ]
    assert all(c.extra is None for c in reply.tool_calls)


def test_tool_calls_parsed(server):
    server.add(Reply(tool_calls=CALLS))
    reply = generator_for(server, tools=[WEATHER, TIME]).run("Weather and time?")["replies"][0]
    assert_three_calls(reply)
    sent = server.requests[0].body["tools"]
    assert [t["function"]["name"] for t in sent] == ["get_weather", "get_time"]
    assert all("strict" not in t["function"] for t in sent)


def test_tool_calls_streamed(server):
    server.add(Reply(tool_calls=CALLS))
    chunks: list[StreamingChunk] = []
    reply = generator_for(server, tools=[WEATHER, TIME]).run("Weather?", streaming_callback=chunks.append)["replies"][0]
    assert_three_calls(reply)
    assert sum(1 for c in chunks if c.tool_calls) > 3  # arguments arrived in fragments


async def test_tool_calls_run_async(server):
    server.add(Reply(tool_calls=CALLS), Reply(tool_calls=CALLS))
    generator = generator_for(server, tools=[WEATHER, TIME])
    assert_three_calls((await generator.run_async("Weather?"))["replies"][0])

    async def ignore(_: StreamingChunk) -> None:
        return None

    assert_three_calls((await generator.run_async("Weather?", streaming_callback=ignore))["replies"][0])


def test_run_tools_override_and_empty_list_sends_none(server):
    server.add("a", "b", "c")
    generator = generator_for(server, tools=[WEATHER])
    generator.run("Hi", tools=[])
    generator.run("Hi")
    generator.run("Hi", tools=[TIME])
    bodies = [r.body for r in server.requests]
    assert "tools" not in bodies[0]
    assert [t["function"]["name"] for t in bodies[1]["tools"]] == ["get_weather"]
    assert [t["function"]["name"] for t in bodies[2]["tools"]] == ["get_time"]


def test_tools_strict_init_and_run_override(server):
    server.add("a", "b")
    generator = generator_for(server, tools=[WEATHER], tools_strict=True)
    generator.run("Hi")
    generator.run("Hi", tools_strict=False)
    strict_fn, loose_fn = (r.body["tools"][0]["function"] for r in server.requests)
    assert strict_fn["strict"] is True
    assert strict_fn["parameters"]["additionalProperties"] is False
    assert "strict" not in loose_fn
    assert "additionalProperties" not in WEATHER.parameters  # the tool itself is untouched


def test_malformed_tool_arguments_are_kept_and_logged(server, caplog):
    server.add(
        Reply(
            tool_calls=[
                ToolCallReply("get_weather", {"city": "Paris"}, id="c1"),
                ToolCallReply("get_time", '{"tz": ', id="c2"),
            ]
        )
    )
    with caplog.at_level(logging.WARNING):
        reply = generator_for(server).run("Hi")["replies"][0]
    assert_malformed(reply)
    assert "c2" in caplog.text and '{"tz": ' in caplog.text


def test_malformed_tool_arguments_kept_when_streamed(server, caplog):
    server.add(
        Reply(
            tool_calls=[
                ToolCallReply("get_weather", {"city": "Paris"}, id="c1"),
                ToolCallReply("get_time", '{"tz": ', id="c2"),
            ]
        )
    )
    with caplog.at_level(logging.WARNING):
        reply = generator_for(server).run("Hi", streaming_callback=lambda _: None)["replies"][0]
    assert_malformed(reply)
    assert "get_time" in caplog.text


def assert_malformed(reply: ChatMessage) -> None:
    good, bad = reply.tool_calls
    assert (good.tool_name, good.arguments, good.id, good.extra) == ("get_weather", {"city": "Paris"}, "c1", None)
    assert (bad.tool_name, bad.arguments, bad.id) == ("get_time", {}, "c2")
    assert bad.extra["raw_arguments"] == '{"tz": '
    assert "JSON" in bad.extra["arguments_error"]


# ---- cost ------------------------------------------------------------------------------------------------

COST = {"credits_used": 42, "usd_spent": 0.000021}


def test_cost_in_meta(server):
    server.add(Reply(text="Done", cost=COST))
    assert generator_for(server).run("Hi")["replies"][0].meta["cost"] == COST


def test_cost_in_meta_when_streamed(server):
    server.add(Reply(text="Done here", cost=COST))
    assert generator_for(server).run("Hi", streaming_callback=lambda _: None)["replies"][0].meta["cost"] == COST


async def test_cost_in_meta_async_streamed(server):
    server.add(Reply(tool_calls=[ToolCallReply("get_time", {})], cost=COST))
    reply = (await generator_for(server).run_async("Hi", streaming_callback=lambda _: None))["replies"][0]
    assert reply.meta["cost"] == COST
    assert reply.tool_calls[0].tool_name == "get_time"


# ---- retries and timeouts --------------------------------------------------------------------------------


def test_5xx_retried_up_to_max_retries(server):
    server.add(Reply.error(500, "boom", headers=FAST_RETRY), Reply.error(500, "boom", headers=FAST_RETRY), "ok")
    assert generator_for(server, max_retries=2).run("Hi")["replies"][0].text == "ok"
    assert len(server.requests) == 3


def test_429_retried_then_gives_up(server):
    server.add(*[Reply.error(429, "Too many requests", headers=FAST_RETRY, request_id="r-429")] * 3)
    with pytest.raises(AIMLAPIError) as info:
        generator_for(server, max_retries=1).run("Hi")
    assert len(server.requests) == 2
    assert info.value.status_code == 429
    assert "r-429" in str(info.value)


def test_400_not_retried(server):
    server.add(Reply.error(400, "Invalid model", request_id="req-400"), "never")
    with pytest.raises(AIMLAPIError):
        generator_for(server, max_retries=2).run("Hi")
    assert len(server.requests) == 1


def test_max_retries_from_env(server, monkeypatch):
    monkeypatch.setenv("AIMLAPI_MAX_RETRIES", "2")
    monkeypatch.setenv("OPENAI_MAX_RETRIES", "0")  # aimlapi-haystack's generator reads this one
    server.add(Reply.error(503, "busy", headers=FAST_RETRY), Reply.error(502, "busy", headers=FAST_RETRY), "ok")
    generator = generator_for(server, max_retries=None)
    assert generator.run("Hi")["replies"][0].text == "ok"
    assert len(server.requests) == 3
    assert generator.client.retries == 2
    assert generator.client.max_retries == 0  # the SDK's own retries are off: aiml_agent._retries counts them


def test_max_retries_argument_beats_env(server, monkeypatch):
    monkeypatch.setenv("AIMLAPI_MAX_RETRIES", "5")
    server.add(Reply.error(500, "boom", headers=FAST_RETRY), "ok")
    with pytest.raises(AIMLAPIError):
        generator_for(server, max_retries=0).run("Hi")
    assert len(server.requests) == 1


def test_timeout_from_env(server, monkeypatch):
    monkeypatch.setenv("AIMLAPI_TIMEOUT", "0.2")
    monkeypatch.setenv("OPENAI_TIMEOUT", "30")
    server.add(Reply(text="slow", delay=0.8))
    generator = generator_for(server)
    with pytest.raises(AIMLAPIError, match="timed out") as info:
        generator.run("Hi")
    assert generator.client.timeout == 0.2
    assert server.base_url in str(info.value)
    assert len(server.requests) == 1


def test_invalid_env_number_is_named(server, monkeypatch):
    monkeypatch.setenv("AIMLAPI_MAX_RETRIES", "many")
    with pytest.raises(ValueError, match="AIMLAPI_MAX_RETRIES"):
        generator_for(server, max_retries=None).run("Hi")


# ---- errors ----------------------------------------------------------------------------------------------


def test_aimlapi_flat_error_body(server):
    server.add(Reply.error(400, "Model foo/bar not found", request_id="req-123"))
    with pytest.raises(AIMLAPIError) as info:
        generator_for(server).run("Hi")
    error = info.value
    assert "400" in str(error) and "Model foo/bar not found" in str(error) and "req-123" in str(error)
    assert (error.status_code, error.server_message, error.request_id) == (400, "Model foo/bar not found", "req-123")
    assert error.body["path"] == "/v1/chat/completions"


def test_openai_error_body(server):
    body = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "bad_key"}}
    server.add(Reply(status=401, body=body))
    with pytest.raises(AIMLAPIError) as info:
        generator_for(server).run("Hi")
    assert "401" in str(info.value) and "Incorrect API key provided" in str(info.value)
    assert info.value.server_message == "Incorrect API key provided"


def test_error_on_streaming_request(server):
    server.add(Reply.error(503, "Upstream model unavailable", request_id="req-s"))
    with pytest.raises(AIMLAPIError, match="Upstream model unavailable") as info:
        generator_for(server).run("Hi", streaming_callback=lambda _: None)
    assert (info.value.status_code, info.value.request_id) == (503, "req-s")


async def test_error_async(server):
    server.add(Reply.error(422, "Bad tools", request_id="req-a"))
    with pytest.raises(AIMLAPIError, match="req-a"):
        await generator_for(server).run_async("Hi")


def test_refused_connection_names_base_url():
    base_url = unreachable_base_url()
    generator = AIMLAPIChatGenerator(api_key=Secret.from_token("test-key"), api_base_url=base_url, max_retries=0)
    with pytest.raises(AIMLAPIError, match=base_url.replace(".", r"\.")):
        generator.run("Hi")


def test_openai_environment_settings_are_not_sent(server, monkeypatch):
    """The openai SDK would add OpenAI's org/project ids and custom headers (even Authorization) from the env."""
    monkeypatch.setenv("OPENAI_ORG_ID", "org-openai")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_openai")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-OpenAI-Gateway: gw-secret\nAuthorization: Bearer sk-openai-key")
    server.add("ok", "ok")
    generator = generator_for(server)
    generator.run("Hi")
    generator.run("Hi", generation_kwargs={"extra_headers": {"OpenAI-Project": "mine"}})  # explicit ones still go
    for request in server.requests:
        assert request.headers["authorization"] == "Bearer test-key"
        assert not {"openai-organization", "x-openai-gateway"} & set(request.headers)
    assert "openai-project" not in server.requests[0].headers
    assert server.requests[1].headers["openai-project"] == "mine"


async def test_openai_environment_settings_are_not_sent_async(server, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-openai")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer sk-openai-key")
    server.add("ok")
    await generator_for(server).run_async("Hi")
    assert server.requests[0].headers["authorization"] == "Bearer test-key"
    assert "openai-organization" not in server.requests[0].headers


def test_missing_key_fails_before_any_request(server):
    generator = AIMLAPIChatGenerator(api_base_url=server.base_url)
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        generator.run("Hi")
    other = AIMLAPIChatGenerator(api_key=Secret.from_env_var("MY_KEY", strict=False), api_base_url=server.base_url)
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY.*MY_KEY"):
        other.run("Hi")
    assert server.requests == []


async def test_missing_key_fails_before_any_request_async(server):
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        await AIMLAPIChatGenerator(api_base_url=server.base_url).run_async("Hi")
    assert server.requests == []


# ---- serialization and secrets ---------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip():
    allow_deserialization_module(__name__)
    generator = AIMLAPIChatGenerator(
        model="openai/gpt-4o",
        generation_kwargs={"temperature": 0.2, "response_format": CityAnswer},
        tools=[WEATHER, TIME],
        tools_strict=True,
        timeout=12.5,
        extra_headers={"X-A": "1"},
        max_retries=3,
        http_client_kwargs={"proxy": "http://proxy:8080"},
    )
    data = generator.to_dict()
    text = json.dumps(data)  # JSON-serializable, pydantic response_format included

    params = data["init_parameters"]
    assert params["tools_strict"] is True
    assert params["api_key"] == {"type": "env_var", "env_vars": ["AIMLAPI_API_KEY"], "strict": True}
    assert params["generation_kwargs"]["response_format"]["json_schema"]["name"] == "CityAnswer"
    assert "organization" not in params

    restored = AIMLAPIChatGenerator.from_dict(json.loads(text))
    assert isinstance(restored, AIMLAPIChatGenerator)
    assert restored.to_dict() == data
    assert (restored.model, restored.tools_strict, restored.timeout, restored.max_retries) == (
        "openai/gpt-4o",
        True,
        12.5,
        3,
    )
    assert restored.extra_headers == {"X-A": "1"}
    assert [t.name for t in restored.tools] == ["get_weather", "get_time"]
    assert restored.tools[0].invoke(city="Oslo") == "Sunny in Oslo"


def test_default_round_trip():
    data = AIMLAPIChatGenerator().to_dict()
    restored = AIMLAPIChatGenerator.from_dict(data)
    assert restored.to_dict() == data
    assert restored.tools_strict is False and restored.profile is None
    assert data["init_parameters"]["api_base_url"] is None  # not given: AIMLAPI_BASE_URL or AIMLAPI's, when used
    assert restored._base_url == "https://api.aimlapi.com/v1"


def test_restored_pydantic_response_format_still_works(server):
    server.add(Reply(text='{"city": "Oslo", "population": 700000}'))
    data = AIMLAPIChatGenerator(generation_kwargs={"response_format": CityAnswer}).to_dict()
    data["init_parameters"]["api_key"] = Secret.from_token("test-key")
    data["init_parameters"]["api_base_url"] = server.base_url
    restored = AIMLAPIChatGenerator.from_dict(data)
    assert json.loads(restored.run("Hi")["replies"][0].text)["city"] == "Oslo"
    assert server.requests[0].body["response_format"]["json_schema"]["name"] == "CityAnswer"


def test_key_never_leaks(server, monkeypatch):
    monkeypatch.setenv("AIMLAPI_API_KEY", FAKE_KEY)
    server.add("ok", Reply.error(401, f"Key {FAKE_KEY} is not valid"))
    generator = generator_for(server, api_key=Secret.from_env_var("AIMLAPI_API_KEY"))
    generator.run("Hi")  # warm: the client now holds the key
    assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert FAKE_KEY not in json.dumps(generator.to_dict())
    assert FAKE_KEY not in repr(generator)
    with pytest.raises(AIMLAPIError) as info:
        generator.run("Hi")
    assert "401" in str(info.value)
    assert FAKE_KEY not in str(info.value)
    assert FAKE_KEY not in repr(info.value)
    assert FAKE_KEY not in str(info.value.server_message)


def test_token_key_never_leaks(server):
    generator = generator_for(server, api_key=Secret.from_token(FAKE_KEY))
    assert FAKE_KEY not in repr(generator)
    with pytest.raises(ValueError) as info:
        generator.to_dict()  # haystack refuses to serialize a token secret
    assert FAKE_KEY not in str(info.value)


def test_one_generator_serves_successive_event_loops() -> None:
    """An async client is bound to its loop: a second asyncio.run must get a fresh one, not 'loop is closed'."""
    import asyncio

    with ScriptedServer(["first", "second"]) as server:
        generator = generator_for(server)
        texts = [asyncio.run(generator.run_async([ChatMessage.from_user("Hi")]))["replies"][0].text for _ in range(2)]
    assert texts == ["first", "second"]


# ---- HTTP clients: one SSL context per process, http_client_kwargs honoured ------------------------------


def _ssl_context_of(client: Any) -> Any:
    """The SSL context an openai client's httpx2 transport verifies with (aiml_agent's connection pool)."""
    return client._client._transport._pool.ssl_context


def test_default_clients_share_one_ssl_context_built_as_httpx2_does(server):
    import ssl

    from aiml_agent._http import default_ssl_context

    server.add("one", "two")
    first, second = generator_for(server), generator_for(server)
    assert first.run("Hi")["replies"][0].text == "one"
    second.warm_up()
    shared = _ssl_context_of(first.client)
    assert shared is _ssl_context_of(second.client) is default_ssl_context()
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname  # verification unchanged
    assert first.client.timeout == 30.0 and first.client._client.follow_redirects  # the SDK's defaults


async def test_async_client_shares_the_ssl_context(server):
    from aiml_agent._http import default_ssl_context

    server.add("async")
    generator = generator_for(server)
    assert (await generator.run_async("Hi"))["replies"][0].text == "async"
    assert _ssl_context_of(generator.async_client) is default_ssl_context()


def test_ssl_cert_file_is_honoured(monkeypatch, tmp_path):
    import ssl

    from aiml_agent._http import default_ssl_context

    default = default_ssl_context()
    bundle = ssl.get_default_verify_paths().openssl_cafile
    if not bundle or not Path(bundle).is_file():
        import certifi

        bundle = certifi.where()
    monkeypatch.setenv("SSL_CERT_FILE", bundle)
    custom = default_ssl_context()
    assert custom is not default and custom is default_ssl_context()
    assert custom.get_ca_certs()  # loaded from the file SSL_CERT_FILE names


def test_http_client_kwargs_still_build_haystacks_client(server):
    import httpx

    server.add("ok")
    kwargs = {"headers": {"X-From-Kwargs": "yes"}, "limits": {"max_connections": 3}}
    generator = generator_for(server, http_client_kwargs=kwargs)
    assert generator.run("Hi")["replies"][0].text == "ok"
    assert isinstance(generator.client._client, httpx.Client)  # haystack's init_http_client, not the shared one
    assert server.requests[0].headers["x-from-kwargs"] == "yes"


# ---- no key in tracebacks, one async client per event loop, settings fixed when the client is built -------


def test_redacted_key_is_not_in_the_traceback_either(server, monkeypatch):
    """The server echoes the key: neither the AIMLAPIError nor its chained cause may carry it into a traceback."""
    import traceback

    monkeypatch.setenv("AIMLAPI_API_KEY", FAKE_KEY)
    server.add(Reply.error(401, f"Key {FAKE_KEY} is not valid", request_id="req-401"))
    with pytest.raises(AIMLAPIError) as info:
        generator_for(server, api_key=Secret.from_env_var("AIMLAPI_API_KEY")).run("Hi")
    error = info.value
    assert "401" in str(error) and "req-401" in str(error) and "***" in str(error)
    assert FAKE_KEY not in "".join(traceback.format_exception(error))
    assert error.__cause__ is None and error.__suppress_context__  # the SDK's error (with the echo) is not shown


def test_the_sdk_error_is_never_chained(server):
    """The SDK's exception holds the request, whose Authorization header has the key: it is never chained."""
    server.add(Reply.error(400, "Invalid model", request_id="req-400"))
    with pytest.raises(AIMLAPIError) as info:
        generator_for(server, api_key=Secret.from_token(FAKE_KEY)).run("Hi")
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert (info.value.status_code, info.value.request_id, info.value.attempts) == (400, "req-400", 1)


def test_two_threads_with_their_own_event_loops_share_one_generator(monkeypatch) -> None:
    """Each thread's asyncio.run uses a client of its own loop, even when the other thread made one in between.

    Thread "a" is held between getting its client and sending until thread "b" has made a client on its own
    loop and holds an idle connection: a generator with one client per instance would send a's request on it.
    Then both threads run several requests at once.
    """
    import asyncio
    import threading

    a_is_held, b_has_a_client, a_sent = threading.Event(), threading.Event(), threading.Event()
    prepare = AIMLAPIChatGenerator._request

    def held_prepare(self: AIMLAPIChatGenerator, messages: Any, *args: Any) -> Any:
        if messages == "a-held":  # a already has its client for this run
            a_is_held.set()
            assert b_has_a_client.wait(timeout=10)
        return prepare(self, messages, *args)

    monkeypatch.setattr(AIMLAPIChatGenerator, "_request", held_prepare)

    from aiml_agent._http import _AsyncHttpClient

    made, send = _AsyncHttpClient.__init__, _AsyncHttpClient.send

    def made_on_loop(self: _AsyncHttpClient, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self.test_loop = asyncio.get_running_loop()

    async def send_on_own_loop(self: _AsyncHttpClient, *args: Any, **kwargs: Any) -> Any:
        if self.test_loop is not asyncio.get_running_loop():  # fail at once rather than hang on b's connection
            raise RuntimeError("a client made on another event loop was used")
        return await send(self, *args, **kwargs)

    monkeypatch.setattr(_AsyncHttpClient, "__init__", made_on_loop)
    monkeypatch.setattr(_AsyncHttpClient, "send", send_on_own_loop)

    def echo(body: dict[str, Any]) -> Reply:
        return Reply(text=f"echo {body['messages'][-1]['content']}", delay=0.005)

    problems: list[str] = []
    answers: dict[str, list[str]] = {}

    async def runs(name: str, generator: AIMLAPIChatGenerator) -> list[str]:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: problems.append(str(ctx)))
        if name == "b":
            await asyncio.to_thread(a_is_held.wait, 10)
        texts = [(await generator.run_async(f"{name}-first"))["replies"][0].text]
        if name == "a":
            try:
                texts.append((await generator.run_async("a-held"))["replies"][0].text)
            finally:
                a_sent.set()
        else:
            b_has_a_client.set()
            await asyncio.to_thread(a_sent.wait, 10)  # b's loop stays open, its connection idle, meanwhile
        for round_ in range(3):
            results = await asyncio.gather(*[generator.run_async(f"{name}-{round_}-{i}") for i in range(3)])
            texts += [result["replies"][0].text for result in results]
        await generator.close_async()  # closes this loop's client only: the other thread's keeps working
        return texts

    def worker(generator: AIMLAPIChatGenerator) -> None:
        name = threading.current_thread().name
        try:
            answers[name] = asyncio.run(runs(name, generator))
        except Exception as exc:
            problems.append(f"{name}: {exc!r}")

    with ScriptedServer(echo) as server:
        generator = generator_for(server, timeout=5)  # a request sent on another loop's connection may hang
        threads = [threading.Thread(target=worker, args=(generator,), name=name) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not problems
    rounds = [f"{r}-{i}" for r in range(3) for i in range(3)]
    assert answers["a"] == ["echo a-first", "echo a-held"] + [f"echo a-{x}" for x in rounds]
    assert answers["b"] == ["echo b-first"] + [f"echo b-{x}" for x in rounds]


def test_settings_are_fixed_when_the_client_is_built(server, monkeypatch):
    """Error messages name the timeout/retries the client really uses, even if the environment changed since."""
    monkeypatch.setenv("AIMLAPI_TIMEOUT", "0.2")
    monkeypatch.setenv("AIMLAPI_MAX_RETRIES", "0")
    server.add("warm", Reply(text="slow", delay=0.8))
    generator = generator_for(server, max_retries=None)
    assert generator.run("Hi")["replies"][0].text == "warm"
    monkeypatch.setenv("AIMLAPI_TIMEOUT", "99")
    monkeypatch.setenv("AIMLAPI_MAX_RETRIES", "not a number")  # not read again: the request still runs
    with pytest.raises(AIMLAPIError, match=r"timed out after 0\.2s\. \[1 attempt,"):
        generator.run("Hi")


async def test_close_async_closes_this_loops_client_and_a_later_run_makes_a_new_one(server):
    server.add("one", "two", "three")
    generator = generator_for(server)
    assert (await generator.run_async("Hi"))["replies"][0].text == "one"
    first = generator.async_client
    await generator.close_async()
    assert first.is_closed() and generator.async_client is None
    assert (await generator.run_async("Hi"))["replies"][0].text == "two"
    second = generator.async_client
    assert second is not first
    await second.close()  # closed behind the generator's back: the next run still gets a working client
    assert (await generator.run_async("Hi"))["replies"][0].text == "three"
    assert generator.async_client is not second
