"""AIMLAPI's own wire details against ScriptedServer: error bodies, credits, request ids, odd streams, reasoning,
answers that are not what they claim, retries, and the key never reachable from an error."""

from __future__ import annotations

import asyncio
import json
import re
import time
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import generator_for, get_weather, unreachable_base_url
from haystack.dataclasses import StreamingChunk
from haystack.tools import Tool
from haystack.utils import Secret

from aiml_agent import Agent, AIMLAPIChatGenerator, AIMLAPIError
from aiml_agent import _retries as retries_module
from aiml_agent._retries import refused_connections_fail_fast
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

KEY = "sk-aiml-SECRET-do-not-leak-0123456789"
FAST = {"retry-after-ms": "1"}
COST = {"credits_used": 42, "usd_spent": 0.000021}
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def clock(tz: str) -> str:
    return f"12:00 in {tz}"


TOOLS = [
    Tool(
        name=name,
        description=name,
        parameters={"type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]},
        function=function,
    )
    for name, arg, function in (("weather", "city", get_weather), ("clock", "tz", clock))
]
PARALLEL = [
    ToolCallReply("weather", {"city": "Paris"}, id="call_a"),
    ToolCallReply("clock", {"tz": "CET"}, id="call_b"),
]


def run(generator: AIMLAPIChatGenerator, mode: str, **kwargs: Any) -> Any:
    """One request through the generator: plainly, async, streamed, or as one step of an Agent."""
    if mode == "sync":
        return generator.run("Hi", **kwargs)["replies"][0]
    if mode == "async":
        return asyncio.run(generator.run_async("Hi", **kwargs))["replies"][0]
    if mode == "stream":
        return generator.run("Hi", streaming_callback=lambda _: None, **kwargs)["replies"][0]
    return Agent(generator, max_steps=1).run("Hi")["last_message"]


MODES = ["sync", "async", "stream", "agent"]


# ---- error bodies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_problem_json_error(mode: str) -> None:
    with ScriptedServer([Reply.problem(422, "Unsupported value: 'tools[0].type'", request_id="req-pj")]) as server:
        with pytest.raises(AIMLAPIError) as info:
            run(generator_for(server), mode)
    error = info.value
    assert (error.status_code, error.request_id, error.attempts) == (422, "req-pj", 1)
    assert error.server_message == "Unsupported value: 'tools[0].type'"
    assert "HTTP 422" in str(error) and "req-pj" in str(error) and "[1 attempt" in str(error)


@pytest.mark.parametrize("status_code", [429, "429"])
def test_flat_error_with_status_code_number_or_string(status_code: Any) -> None:
    body = {"message": "Free-tier limit reached", "path": "/v1/chat/completions", "requestId": "req-flat",
            "statusCode": status_code, "timestamp": "2025-03-11T07:13:27.813Z"}  # fmt: skip
    with ScriptedServer([Reply(status=429, body=body)]) as server:
        with pytest.raises(AIMLAPIError) as info:
            generator_for(server).run("Hi")
    assert (info.value.status_code, info.value.request_id) == (429, "req-flat")
    assert info.value.server_message == "Free-tier limit reached"


def test_body_validation_error_keeps_its_hints() -> None:
    hints = "Body validation error!\nInvalid enum value. Expected 'user' | 'assistant', received 'system'"
    listed = {"message": ["Body validation error!", "messages.0.role: Expected 'user', received 'system'"],
              "statusCode": 400, "requestId": "req-list"}  # fmt: skip
    with ScriptedServer([Reply.problem(400, hints), Reply(status=400, body=listed)]) as server:
        errors = []
        for _ in range(2):
            with pytest.raises(AIMLAPIError) as info:
                generator_for(server).run("Hi")
            errors.append(info.value)
    assert errors[0].server_message == hints and "Expected 'user' | 'assistant'" in str(errors[0])
    assert errors[1].server_message.splitlines() == listed["message"]
    assert "received 'system'" in str(errors[1])


def test_403_out_of_credits_is_not_retried_and_says_so() -> None:
    message = "You've run out of credits. Please top up your balance"
    with ScriptedServer([Reply.problem(403, message, headers=FAST), "never"]) as server:
        with pytest.raises(AIMLAPIError) as info:
            generator_for(server, max_retries=3).run("Hi")
        assert len(server.requests) == 1
    assert info.value.status_code == 403 and info.value.attempts == 1
    assert "out of credits" in str(info.value) and "not retried" in str(info.value)


def test_attempts_are_counted_and_told() -> None:
    with ScriptedServer([Reply.error(429, "Too Many Requests", headers=FAST)] * 3) as server:
        with pytest.raises(AIMLAPIError) as info:
            generator_for(server, max_retries=2).run("Hi")
        assert len(server.requests) == 3
    assert info.value.attempts == 3 and "[3 attempts" in str(info.value)


def test_server_may_forbid_a_retry() -> None:
    with ScriptedServer([Reply.error(500, "boom", headers={"x-should-retry": "false"}), "never"]) as server:
        with pytest.raises(AIMLAPIError, match=r"\[1 attempt"):
            generator_for(server, max_retries=3).run("Hi")
        assert len(server.requests) == 1


# ---- cost and request ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_cost_from_headers_when_the_body_has_none(mode: str) -> None:
    with ScriptedServer([Reply(text="ok", cost=COST, cost_in="headers")]) as server:
        reply = run(generator_for(server), mode)
    assert reply.meta["cost"] == COST


def test_cost_in_the_body_wins_over_the_headers_and_agents_add_it_up() -> None:
    body_cost = {"credits_used": 7, "usd_spent": 0.0000035}
    script = [
        Reply(tool_calls=[PARALLEL[0]], cost=COST, cost_in="headers"),
        Reply(text="Sunny.", cost=body_cost, cost_in="both"),
    ]
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), tools=TOOLS).run("Weather?")
    assert result["steps"][0].reply.meta["cost"] == COST
    assert result["steps"][1].reply.meta["cost"] == body_cost  # "both": the body's meta.usage is used
    assert result["usage"].credits_used == 49
    assert result["usage"].usd_spent == pytest.approx(0.0000245)


def test_cost_of_a_stream_comes_in_its_last_event() -> None:
    with ScriptedServer([Reply(text="streamed", cost=COST, cost_in="headers")]) as server:
        reply = run(generator_for(server), "stream")
    assert reply.meta["cost"] == COST


@pytest.mark.parametrize("mode", MODES)
def test_every_request_has_a_fresh_client_request_id_kept_with_the_inference_id(mode: str) -> None:
    with ScriptedServer([Reply(text="one", inference_id="inf-1"), "two"]) as server:
        generator = generator_for(server)
        first, second = run(generator, mode), run(generator, mode)
        sent = [r.headers["x-client-request-id"] for r in server.requests]
    assert all(ID_PATTERN.match(value) for value in sent) and sent[0] != sent[1]
    assert [first.meta["client_request_id"], second.meta["client_request_id"]] == sent
    assert first.meta["inference_id"] == "inf-1" and second.meta["inference_id"].startswith("inf-")
    assert first.meta["id"].startswith("chatcmpl-") and first.meta["id"] != second.meta["id"]  # the answer's own id


def test_retries_of_one_call_share_its_client_request_id() -> None:
    with ScriptedServer([Reply.error(502, "bad gateway", headers=FAST), "ok"]) as server:
        reply = generator_for(server, max_retries=1).run("Hi")["replies"][0]
        sent = {r.headers["x-client-request-id"] for r in server.requests}
    assert len(server.requests) == 2 and sent == {reply.meta["client_request_id"]}


def test_errors_carry_the_client_request_id_and_a_given_one_is_kept() -> None:
    with ScriptedServer([Reply.error(500, "boom"), "ok"]) as server:
        with pytest.raises(AIMLAPIError) as info:
            generator_for(server).run("Hi")
        reply = generator_for(server, extra_headers={"X-Client-Request-Id": "order-42"}).run("Hi")["replies"][0]
        first, second = (r.headers["x-client-request-id"] for r in server.requests)
    assert info.value.client_request_id == first and first in str(info.value)
    assert second == "order-42" and reply.meta["client_request_id"] == "order-42"


def test_agent_steps_record_the_ids() -> None:
    script = [Reply(tool_calls=[PARALLEL[0]], inference_id="inf-a"), Reply(text="Sunny.", inference_id="inf-b")]
    with ScriptedServer(script) as server:
        steps = Agent(generator_for(server), tools=TOOLS).run("Weather?")["steps"]
        sent = [r.headers["x-client-request-id"] for r in server.requests]
    assert [s.client_request_id for s in steps] == sent
    assert [s.inference_id for s in steps] == ["inf-a", "inf-b"]
    assert steps[0].to_dict()["reply"]["meta"]["client_request_id"] == sent[0]


# ---- streams with missing or repeated tool-call indexes ----------------------------------------------------


@pytest.mark.parametrize("numbering", ["sequential", "repeated", "missing", "whole"])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_parallel_streamed_calls_are_never_fused(numbering: str, asynchronous: bool) -> None:
    seen: list[StreamingChunk] = []
    with ScriptedServer([Reply(tool_calls=PARALLEL, tool_call_index=numbering)]) as server:
        generator = generator_for(server)
        if asynchronous:
            reply = asyncio.run(generator.run_async("Hi", streaming_callback=seen.append))["replies"][0]
        else:
            reply = generator.run("Hi", streaming_callback=seen.append)["replies"][0]
    calls = [(c.id, c.tool_name, c.arguments) for c in reply.tool_calls]
    assert calls == [("call_a", "weather", {"city": "Paris"}), ("call_b", "clock", {"tz": "CET"})]
    indexes = {d.index for chunk in seen for d in chunk.tool_calls or []}
    assert indexes == {0, 1}  # the callback sees the resolved indexes too


def test_gemini_style_whole_calls_with_empty_ids_stay_apart() -> None:
    calls = [ToolCallReply("weather", {"city": "Rome"}, id=""), ToolCallReply("weather", {"city": "Oslo"}, id="")]
    with ScriptedServer([Reply(tool_calls=calls, tool_call_index="whole"), "Both sunny."]) as server:
        result = Agent(generator_for(server), tools=TOOLS, streaming_callback=lambda _: None).run("Weather?")
    records = result["steps"][0].tool_calls
    assert [r.arguments for r in records] == [{"city": "Rome"}, {"city": "Oslo"}]
    assert [r.result for r in records] == ["Sunny in Rome", "Sunny in Oslo"]


# ---- reasoning ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "reasoning_details"])
@pytest.mark.parametrize("mode", ["sync", "stream"])
def test_reasoning_lands_in_reasoning_content(field: str, mode: str) -> None:
    thought = "The user greets me, so I greet back."
    with ScriptedServer([Reply(text="Hello!", reasoning=thought, reasoning_field=field)]) as server:
        reply = run(generator_for(server), mode)
    assert reply.text == "Hello!" and reply.reasoning is not None
    assert reply.reasoning.reasoning_text == thought
    if field == "reasoning_details":
        details = reply.reasoning.extra["reasoning_details"]
        assert "".join(d["text"] for d in details) == thought and all(d["type"] == "reasoning.text" for d in details)
    else:
        assert reply.reasoning.extra == {}


# ---- answers that are not what they claim ------------------------------------------------------------------


NOT_JSON = [
    Reply(body="<html><body>502 Bad Gateway</body></html>"),  # text/plain 200
    Reply(body=b'{"id": "chatcmpl-1", "choices": [', content_type="application/json"),  # cut JSON
]


@pytest.mark.parametrize("mode", ["sync", "async", "agent"])
@pytest.mark.parametrize("answer", NOT_JSON, ids=["text", "cut-json"])
def test_a_200_answer_that_is_not_json(mode: str, answer: Reply) -> None:
    with ScriptedServer([answer]) as server:
        with pytest.raises(AIMLAPIError) as info:
            run(generator_for(server), mode)
        base_url = server.base_url
    assert f"The answer from {base_url} is not JSON" in str(info.value) and info.value.attempts == 1


@pytest.mark.parametrize("mode", ["stream", "async-stream", "agent-stream"])
def test_a_streamed_event_that_is_not_json(mode: str) -> None:
    first = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}'
    with ScriptedServer([Reply(events=[first, "{not json at all", "[DONE]"])]) as server:
        generator = generator_for(server)
        with pytest.raises(AIMLAPIError) as info:
            if mode == "stream":
                generator.run("Hi", streaming_callback=lambda _: None)
            elif mode == "async-stream":
                asyncio.run(generator.run_async("Hi", streaming_callback=lambda _: None))
            else:
                Agent(generator, streaming_callback=lambda _: None).run("Hi")
        base_url = server.base_url
    assert f"A streamed event from {base_url} is not JSON" in str(info.value)
    assert "not json at all" in str(info.value)


@pytest.mark.parametrize("mode", ["sync", "async", "agent"])
def test_an_answer_with_no_choice(mode: str) -> None:
    empty = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
    with ScriptedServer([Reply(body=empty)]) as server:
        with pytest.raises(AIMLAPIError) as info:
            run(generator_for(server), mode)
    assert "returned no choice" in str(info.value)


def test_an_error_inside_a_stream() -> None:
    first = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}'
    error = '{"error": {"code": 400, "message": "Token limit reached"}}'
    with ScriptedServer([Reply(events=[first, error, "[DONE]"])]) as server:
        with pytest.raises(AIMLAPIError) as info:
            generator_for(server).run("Hi", streaming_callback=lambda _: None)
    assert info.value.server_message == "Token limit reached" and "in the stream" in str(info.value)


# ---- the key is never reachable ----------------------------------------------------------------------------


def reachable_text(root: BaseException, limit: int = 200_000) -> Iterator[str]:
    """Every string reachable from an exception: chain, args, attributes, bodies, and objects inside them."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack and len(seen) < limit:
        item = stack.pop()
        if item is None or id(item) in seen or isinstance(item, (int, float, bool, type)) or callable(item):
            continue
        seen.add(id(item))
        if isinstance(item, str):
            yield item
        elif isinstance(item, (bytes, bytearray)):
            yield bytes(item).decode("utf-8", "replace")
        elif isinstance(item, BaseException):
            yield str(item)
            yield repr(item)
            stack += [item.__cause__, item.__context__, *item.args, vars(item)]
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack += list(item)
        elif hasattr(item, "__dict__"):
            stack.append(vars(item))
        elif hasattr(item, "__slots__"):
            stack += [getattr(item, slot, None) for slot in item.__slots__]


def test_reachable_text_finds_a_key_in_the_sdks_own_exception() -> None:
    """The walker is strong enough: the openai SDK's error holds the key (in its request's headers)."""
    import openai

    with ScriptedServer([Reply.error(401, "nope")]) as server:
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert any(KEY in text for text in reachable_text(info.value))


@pytest.mark.parametrize(
    "answer",
    [
        Reply.error(401, f"Invalid key {KEY}"),
        Reply.problem(401, f"You provided {KEY}, which is not valid"),
        Reply(status=401, body={"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}}),
        Reply(events=[f'{{"error": {{"message": "bad key {KEY}"}}}}']),
    ],
    ids=["flat", "problem", "openai", "in-stream"],
)
@pytest.mark.parametrize("mode", ["sync", "async", "agent"])
def test_no_exception_reachable_from_the_error_holds_the_key(answer: Reply, mode: str) -> None:
    with ScriptedServer([answer]) as server:
        generator = generator_for(server, api_key=Secret.from_token(KEY), streaming_callback=lambda _: None)
        with pytest.raises(AIMLAPIError) as info:
            run(generator, mode)
    error = info.value
    assert error.__cause__ is None and error.__context__ is None
    assert not [text for text in reachable_text(error) if KEY in text]
    assert KEY not in "".join(traceback.format_exception(error))
    assert "***" in str(error)  # the echo is masked, not silently dropped


def test_connection_errors_hold_no_key_either() -> None:
    generator = AIMLAPIChatGenerator(api_key=Secret.from_token(KEY), api_base_url=unreachable_base_url(), max_retries=0)
    with pytest.raises(AIMLAPIError) as info:
        generator.run("Hi")
    assert not [text for text in reachable_text(info.value) if KEY in text]


# ---- retries -----------------------------------------------------------------------------------------------


def test_refused_connection_is_retried_but_fails_fast_where_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[int] = []
    monkeypatch.setattr(retries_module, "delay", lambda attempt, error: waits.append(attempt) or 0.0)
    base_url = unreachable_base_url()
    generator = AIMLAPIChatGenerator(api_key=Secret.from_token("test-key"), api_base_url=base_url, max_retries=2)
    with pytest.raises(AIMLAPIError) as info:
        generator.run("Hi")
    assert info.value.attempts == 3 and waits == [1, 2] and "[3 attempts" in str(info.value)
    waits.clear()
    started = time.perf_counter()
    with refused_connections_fail_fast(), pytest.raises(AIMLAPIError) as info:
        generator.run("Hi")
    assert info.value.attempts == 1 and waits == [] and time.perf_counter() - started < 5
    assert base_url in str(info.value)


async def test_refused_connection_fails_fast_in_async_runs_too() -> None:
    generator = AIMLAPIChatGenerator(
        api_key=Secret.from_token("test-key"), api_base_url=unreachable_base_url(), max_retries=5
    )
    with refused_connections_fail_fast(), pytest.raises(AIMLAPIError) as info:
        await generator.run_async("Hi")
    assert info.value.attempts == 1


def test_timeouts_are_retried() -> None:
    with ScriptedServer([Reply(text="slow", delay=1.0), "fast"]) as server:
        reply = generator_for(server, timeout=0.3, max_retries=1).run("Hi")["replies"][0]
    assert reply.text == "fast"


def test_default_retries_and_their_waits() -> None:
    assert AIMLAPIChatGenerator(api_key=Secret.from_token("k"))._effective_max_retries() == 3
    waits = [retries_module.delay(attempt, RuntimeError()) for attempt in (1, 2, 3, 4, 5, 6)]
    assert 0.375 <= waits[0] <= 0.5 and 0.75 <= waits[1] <= 1.0 and 1.5 <= waits[2] <= 2.0
    assert all(6.0 <= wait <= 8.0 for wait in waits[4:])  # capped
    assert sum(waits[:3]) <= 3.5  # the default retries wait at most 3.5 s in all


def test_a_streamed_refusal_lands_in_meta_as_a_whole_one_does() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return json.dumps(
            {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
        )

    events = [chunk({"role": "assistant", "refusal": ""}), chunk({"refusal": "I can't "}), chunk({"refusal": "help."})]
    events += [chunk({}, "stop"), "[DONE]"]
    whole = {"role": "assistant", "content": None, "refusal": "I can't help."}
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m"}
    body["choices"] = [{"index": 0, "message": whole, "finish_reason": "stop"}]
    with ScriptedServer([Reply(events=events), Reply(body=body)]) as server:
        generator = generator_for(server)
        [streamed] = generator.run("Hi", streaming_callback=lambda _: None)["replies"]
        [answered] = generator.run("Hi")["replies"]
    assert streamed.meta["refusal"] == answered.meta["refusal"] == "I can't help."
