"""Real traffic of other providers' models (tests/real_cassettes/providers) through the generator and the Agent.

DeepSeek, Gemini, Groq, xAI, Together, OpenRouter (Claude, DeepSeek, MiniMax), Hugging Face's router, Snowflake's
Claude, GLM: deltas without an index or with an empty id, finish reasons "stop" / "eos" / "" / none on tool calls,
reasoning fields, in-band stream errors, whitespace before the JSON. Each recorded request is sent again through
the generator (vcrpy replays the answer, matching method + path) and the reply is compared with what the raw answer
says, read here without the openai SDK or Haystack. Then an Agent replays each cassette as one run.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from typing import Any

import pytest
import vcr
import yaml
from conftest import REAL_CASSETTES
from haystack.dataclasses import ChatMessage, StreamingChunk
from haystack.tools import Tool
from haystack.utils import Secret

from aiml_agent import Agent, AIMLAPIChatGenerator, AIMLAPIError, profile_for
from aiml_agent.profiles import ModelProfile

CASSETTES = REAL_CASSETTES / "providers"
NAMES = sorted(p.name for p in CASSETTES.glob("*.yaml"))
REPLAY = vcr.VCR(record_mode="none", match_on=["method", "path"])


def interactions(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((CASSETTES / name).read_text())["interactions"]


def tools_of(body: dict[str, Any]) -> list[Tool]:
    def answer(**arguments: Any) -> str:
        return json.dumps({"ok": True, "arguments": arguments})

    return [
        Tool(
            name=t["function"]["name"],
            description=t["function"].get("description") or t["function"]["name"],
            parameters=t["function"].get("parameters") or {"type": "object", "properties": {}},
            function=answer,
        )
        for t in body.get("tools") or []
    ]


def profile_of(body: dict[str, Any]) -> ModelProfile:
    """The model's profile; a model AIMLAPI's catalogue lists without tools still gets them here, since these
    cassettes are other gateways' traffic (OpenRouter serves deepseek-chat-v3-0324 with tool calling)."""
    profile = profile_for(body["model"])
    return (
        profile
        if profile.supports_tools or not body.get("tools")
        else dataclasses.replace(profile, supports_tools=True)
    )


def generator_for(interaction: dict[str, Any]) -> AIMLAPIChatGenerator:
    body = json.loads(interaction["request"]["body"])
    return AIMLAPIChatGenerator(
        api_key=Secret.from_token("sk-replay-not-a-key"),
        model=body["model"],
        api_base_url=interaction["request"]["uri"].removesuffix("/chat/completions"),
        max_retries=0,
        profile=profile_of(body),
    )


# ---- what a recorded answer says, read independently -------------------------------------------------------


def reasoning_text(message: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        if isinstance(message.get(key), str) and message[key]:
            return message[key]
    return "".join(d.get("text") or "" for d in message.get("reasoning_details") or [] if isinstance(d, dict))


def expected(interaction: dict[str, Any]) -> dict[str, Any]:
    """``{"error": message}`` or the reply's text, calls, reasoning, finish reason and usage."""
    response = interaction["response"]
    text = response["body"]["string"]
    if response["status"]["code"] >= 400:
        return {"error": json.loads(text)["error"]["message"], "status": response["status"]["code"]}
    if not text.lstrip().startswith(("data:", ":", "event:")):
        data = json.loads(text)
        choice = data["choices"][0]
        message = choice["message"]
        calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []]
        return {
            "text": message.get("content") or None,
            "calls": calls,
            "reasoning": reasoning_text(message),
            "finish_reason": choice.get("finish_reason"),
            "usage": data.get("usage"),
        }
    content, reasoning, calls, finish_reason, usage = "", "", {}, None, None
    for line in text.splitlines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        chunk = json.loads(line[len("data:") :])
        if "error" in chunk:
            return {"error": chunk["error"]["message"], "status": None}
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices", []):
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            reasoning += reasoning_text(delta)
            finish_reason = choice.get("finish_reason") or finish_reason
            for tc in delta.get("tool_calls") or []:
                call = calls.setdefault(tc.get("index", tc.get("id")), ["", "", ""])
                call[0] = tc.get("id") or call[0]
                call[1] += (tc.get("function") or {}).get("name") or ""
                call[2] += (tc.get("function") or {}).get("arguments") or ""
    return {
        "text": content or None,
        "calls": [tuple(call) for call in calls.values()],
        "reasoning": reasoning,
        "finish_reason": finish_reason,
        "usage": usage,
    }


# ---- through the generator ---------------------------------------------------------------------------------


@cache
def replayed(name: str) -> list[Any]:
    """Every recorded request of ``name`` sent again, in order: the reply, or the AIMLAPIError, of each."""
    results: list[Any] = []
    with REPLAY.use_cassette(str(CASSETTES / name)) as cassette:
        for interaction in interactions(name):
            body = json.loads(interaction["request"]["body"])
            messages = [ChatMessage.from_openai_dict_format(m) for m in body["messages"]]
            chunks: list[StreamingChunk] = []
            callback = chunks.append if body.get("stream") else None
            try:
                reply = generator_for(interaction).run(messages, streaming_callback=callback, tools=tools_of(body))
                results.append(reply["replies"][0])
            except AIMLAPIError as error:
                results.append(error)
            assert not body.get("stream") or chunks, "a streamed answer reaches the callback chunk by chunk"
        assert cassette.all_played
    return results


def replay_request(name: str, index: int) -> tuple[dict[str, Any], Any]:
    """What recorded answer ``index`` says, and what the generator made of it."""
    return expected(interactions(name)[index]), replayed(name)[index]


CASES = [(name, i) for name in NAMES for i in range(len(interactions(name)))]


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n.removesuffix('.yaml')}#{i}" for n, i in CASES])
def test_every_recorded_answer_parses_through_the_generator(name: str, index: int) -> None:
    want, got = replay_request(name, index)
    if "error" in want:
        assert isinstance(got, AIMLAPIError), f"expected an AIMLAPIError, got {got!r}"
        assert want["error"] in str(got) and got.status_code == want["status"]
        return
    assert not isinstance(got, AIMLAPIError), str(got)
    assert got.text == want["text"]
    assert [(c.id, c.tool_name, c.arguments) for c in got.tool_calls] == [
        (i, n, json.loads(a) if a else {}) for i, n, a in want["calls"]
    ]
    assert all(c.extra is None for c in got.tool_calls)  # real output: no malformed arguments
    assert (got.reasoning.reasoning_text if got.reasoning else "") == want["reasoning"]
    assert got.meta["finish_reason"] == want["finish_reason"]
    if want["usage"]:
        assert got.meta["usage"]["total_tokens"] == want["usage"]["total_tokens"]


def test_the_cases_cover_what_the_cassettes_are_kept_for() -> None:
    """The odd things these cassettes hold are each met at least once above."""
    seen = [expected(interactions(name)[i]) for name, i in CASES]
    replies = [s for s in seen if "error" not in s]
    assert len(NAMES) == 15
    assert {s["finish_reason"] for s in replies} >= {"stop", "eos", "", None, "tool_calls"}
    assert sum(1 for s in seen if "error" in s) == 3  # an HTTP 400, an SSE error event, an in-chunk error
    assert any(call[0] == "" for s in replies for call in s["calls"])  # Gemini's empty tool-call id
    assert sum(1 for s in replies if s["reasoning"]) >= 6
    assert any(len(s["calls"]) == 2 for s in replies)


def test_details_only_reasoning_and_its_signature_are_kept() -> None:
    _, reply = replay_request("snowflake_claude_reasoning_tool_call_empty_finish.yaml", 0)
    assert reply.reasoning.reasoning_text == "Let me get the weather for Mexico City."
    [detail] = reply.reasoning.extra["reasoning_details"]
    assert detail["format"] == "anthropic-claude-v1" and detail["signature"].startswith("EvAB")
    assert reply.meta["finish_reason"] == "" and reply.tool_calls[0].tool_name == "get_weather"


def test_reasoning_streamed_in_reasoning_details_and_reasoning_is_not_doubled() -> None:
    _, reply = replay_request("openrouter_claude_stream_reasoning_details.yaml", 0)
    text = reply.reasoning.reasoning_text
    assert text and text.count(text[:20]) == 1  # `reasoning` and `reasoning_details` carry the same text
    assert any(d.get("signature") for d in reply.reasoning.extra["reasoning_details"])


# ---- through the Agent -------------------------------------------------------------------------------------


def agent_outcome(name: str) -> tuple[int, str]:
    """How an agent run replaying ``name`` ends: (model calls, "error" | "text" | "max_steps")."""
    for number, interaction in enumerate(interactions(name), start=1):
        want = expected(interaction)
        if "error" in want:
            return number, "error"
        if not want["calls"]:
            return number, "text"
    return len(interactions(name)), "max_steps"


@pytest.mark.parametrize("name", NAMES)
def test_every_cassette_replays_through_the_agent(name: str) -> None:
    first = interactions(name)[0]
    body = json.loads(first["request"]["body"])
    calls, ending = agent_outcome(name)
    chunks: list[StreamingChunk] = []
    offered: dict[str, Tool] = {}  # every tool any request offered (DeepSeek's run loads tools as it goes)
    for interaction in interactions(name):
        offered.update((t.name, t) for t in tools_of(json.loads(interaction["request"]["body"])))
    agent = Agent(
        generator_for(first),
        tools=list(offered.values()),
        max_steps=len(interactions(name)),
        streaming_callback=chunks.append if body.get("stream") else None,
    )
    messages = [ChatMessage.from_openai_dict_format(m) for m in body["messages"]]
    with REPLAY.use_cassette(str(CASSETTES / name)) as cassette:
        if ending == "error":
            with pytest.raises(AIMLAPIError):
                agent.run(messages)
            assert cassette.play_count == calls
            return
        result = agent.run(messages)
        assert cassette.play_count == calls
    assert (len(result["steps"]), result["exit_reason"]) == (calls, ending)
    recorded_calls = [call for i in range(calls) for call in expected(interactions(name)[i])["calls"]]
    records = [record for step in result["steps"] for record in step.tool_calls]
    assert [(r.tool_call.id, r.tool_name, r.error) for r in records] == [(i, n, False) for i, n, _ in recorded_calls]
    assert body.get("stream") is not True or chunks
    if ending == "text":
        assert result["last_message"].text == expected(interactions(name)[calls - 1])["text"]
