"""Real recorded OpenAI traffic (tests/real_cassettes) replays through AIMLAPIChatGenerator and parses right.

Each recorded request is rebuilt (messages, tools, model, streaming) and sent through the generator while vcrpy
replays the cassette (record mode "none": no network). The reply is compared with what the recorded response
says, read independently from the raw body: text, tool calls (ids, names, arguments), finish reason, usage.
A few cassette-specific facts are also checked by hand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import vcr
import yaml
from conftest import REAL_CASSETTES
from haystack.dataclasses import ChatMessage, StreamingChunk
from haystack.tools import Tool
from haystack.utils import Secret

from aiml_agent.generator import AIMLAPIChatGenerator

CASSETTES = REAL_CASSETTES
NAMES = sorted(p.name for p in CASSETTES.glob("*.yaml"))
REPLAY = vcr.VCR(record_mode="none", match_on=["method", "scheme", "host", "port", "path"])


def _noop(**_: Any) -> str:
    return ""


def interactions(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((CASSETTES / name).read_text())["interactions"]


def request_args(body: dict[str, Any]) -> dict[str, Any]:
    """Generator and run arguments that send (roughly) the recorded request."""
    tools = [
        Tool(
            name=t["function"]["name"],
            description=t["function"].get("description") or "",
            parameters=t["function"].get("parameters") or {"type": "object", "properties": {}},
            function=_noop,
        )
        for t in body.get("tools", [])
    ]
    return {
        "messages": [ChatMessage.from_openai_dict_format(m) for m in body["messages"]],
        "tools": tools,
        "model": body["model"],
        "stream": bool(body.get("stream")),
    }


def expected_reply(response: dict[str, Any]) -> dict[str, Any]:
    """What the recorded response body says the reply is, read without the openai SDK or Haystack."""
    text = response["body"]["string"]
    if not text.lstrip().startswith("data:"):
        data = json.loads(text)
        choice = data["choices"][0]
        message = choice["message"]
        calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []]
        return {
            "text": message.get("content") or None,
            "calls": calls,
            "finish_reason": choice["finish_reason"],
            "usage": data.get("usage"),
            "model": data["model"],
        }
    content, calls, finish_reason, usage, model = "", {}, None, None, None
    for line in text.splitlines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        chunk = json.loads(line[len("data:") :])
        model = chunk.get("model") or model
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices", []):
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            finish_reason = choice.get("finish_reason") or finish_reason
            for tc in delta.get("tool_calls") or []:
                call = calls.setdefault(tc["index"], ["", "", ""])
                call[0] = tc.get("id") or call[0]
                call[1] += (tc.get("function") or {}).get("name") or ""
                call[2] += (tc.get("function") or {}).get("arguments") or ""
    return {
        "text": content or None,
        "calls": [tuple(calls[i]) for i in sorted(calls)],
        "finish_reason": finish_reason,
        "usage": usage,
        "model": model,
    }


def generator_for(args: dict[str, Any]) -> AIMLAPIChatGenerator:
    return AIMLAPIChatGenerator(
        api_key=Secret.from_token("sk-replay"),
        model=args["model"],
        api_base_url="https://api.openai.com/v1",
        max_retries=0,
    )


def assert_matches(reply: ChatMessage, expected: dict[str, Any]) -> None:
    assert reply.text == expected["text"]
    got = [(c.id, c.tool_name, c.arguments) for c in reply.tool_calls]
    assert got == [(i, n, json.loads(a) if a else {}) for i, n, a in expected["calls"]]
    assert all(c.extra is None for c in reply.tool_calls)  # real output: no malformed arguments
    assert reply.meta["finish_reason"] == expected["finish_reason"]
    assert reply.meta["model"] == expected["model"]
    if expected["usage"]:
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            assert reply.meta["usage"][key] == expected["usage"][key]
    else:
        assert reply.meta["usage"] is None


def replay(name: str) -> list[tuple[ChatMessage, list[StreamingChunk]]]:
    """Send every recorded request of cassette `name` through the generator; all must be played."""
    results = []
    with REPLAY.use_cassette(str(CASSETTES / name)) as cassette:
        for interaction in interactions(name):
            args = request_args(json.loads(interaction["request"]["body"]))
            chunks: list[StreamingChunk] = []
            reply = generator_for(args).run(
                args["messages"], streaming_callback=chunks.append if args["stream"] else None, tools=args["tools"]
            )["replies"][0]
            assert_matches(reply, expected_reply(interaction["response"]))
            results.append((reply, chunks))
        assert cassette.all_played
    return results


@pytest.mark.parametrize("name", NAMES)
def test_cassette_replays_and_parses(name: str) -> None:
    results = replay(name)
    assert len(results) == len(interactions(name))
    for interaction, (_, chunks) in zip(interactions(name), results):
        if json.loads(interaction["request"]["body"]).get("stream"):
            assert chunks, "a streamed reply reached the callback chunk by chunk"


def test_parallel_tool_calls_not_streamed() -> None:
    for reply, _ in replay("test_open_ai_function_calls_tools_parallel.yaml"):
        assert [c.tool_name for c in reply.tool_calls] == ["get_current_weather", "get_current_weather"]
        locations = [c.arguments["location"] for c in reply.tool_calls]
        assert any("San Francisco" in loc for loc in locations) and any("Boston" in loc for loc in locations)
        assert len({c.id for c in reply.tool_calls}) == 2
        assert all(c.id.startswith("call_") for c in reply.tool_calls)


def test_parallel_tool_calls_streamed() -> None:
    for reply, chunks in replay("test_open_ai_function_calls_tools_streaming_parallel.yaml"):
        assert len(reply.tool_calls) == 2
        assert len({c.id for c in reply.tool_calls}) == 2
        assert {tc.index for chunk in chunks for tc in chunk.tool_calls or []} == {0, 1}
        assert [sorted(c.arguments) for c in reply.tool_calls] == [["location"], ["location"]]


def test_streamed_tool_call_then_text_with_usage() -> None:
    (first, _), (second, _) = replay("test_run_stream_sync_streams_real_model.yaml")
    assert first.tool_calls and first.text is None
    assert second.text and not second.tool_calls
    assert first.meta["usage"]["total_tokens"] > 0 and second.meta["usage"]["total_tokens"] > 0


def test_tool_call_with_empty_arguments() -> None:
    (first, _), (second, _) = replay("test_openai_tool_output.yaml")
    assert [(c.tool_name, c.arguments) for c in first.tool_calls] == [("get_user_country", {})]
    assert second.tool_calls[0].tool_name == "final_result"
    assert set(second.tool_calls[0].arguments) == {"city", "country"}


async def test_streamed_cassette_replays_async() -> None:
    name = "test_complex_agent_run.yaml"
    with REPLAY.use_cassette(str(CASSETTES / name)) as cassette:
        for interaction in interactions(name):
            args = request_args(json.loads(interaction["request"]["body"]))
            seen: list[StreamingChunk] = []

            async def collect(chunk: StreamingChunk, seen: list[StreamingChunk] = seen) -> None:
                seen.append(chunk)

            result = await generator_for(args).run_async(
                args["messages"], streaming_callback=collect, tools=args["tools"]
            )
            assert_matches(result["replies"][0], expected_reply(interaction["response"]))
            assert seen
        assert cassette.all_played
    first = expected_reply(interactions(name)[0]["response"])
    assert len(first["calls"]) == 2  # the first turn really is two parallel calls
