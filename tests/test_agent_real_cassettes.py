"""Real recorded OpenAI traffic (tests/real_cassettes) replayed through the Agent.

Each test gives the agent tools that answer as the original ones did, replays the cassette (vcrpy, record
mode none, matching method + path) and checks the conversation the agent built against the one the real
client sent: same roles, tool call ids, names, arguments and tool results, then the final answer.
"""

from __future__ import annotations

import json
from typing import Any

import vcr
import yaml
from conftest import REAL_CASSETTES
from haystack.dataclasses import ChatMessage, StreamingChunk
from haystack.tools import Tool
from haystack.utils import Secret

from aiml_agent.agent import Agent
from aiml_agent.generator import AIMLAPIChatGenerator

CASSETTES = REAL_CASSETTES
REPLAY = vcr.VCR(record_mode="none", match_on=["method", "path"])


def openai_generator(model: str) -> AIMLAPIChatGenerator:
    return AIMLAPIChatGenerator(
        api_key=Secret.from_token("sk-fake-replay-key"),
        model=model,
        api_base_url="https://api.openai.com/v1",
        max_retries=0,
    )


def tool(name: str, function: Any, properties: dict[str, Any] | None = None) -> Tool:
    schema = {"type": "object", "properties": properties or {}, "required": sorted(properties or {})}
    return Tool(name=name, description=name.replace("_", " "), parameters=schema, function=function)


def recorded_messages(cassette: str, index: int) -> list[dict[str, Any]]:
    """The messages the original client sent in request ``index`` of the cassette."""
    data = yaml.safe_load((CASSETTES / cassette).read_text())
    return json.loads(data["interactions"][index]["request"]["body"])["messages"]


def normalized(messages: list[dict[str, Any]], *, skip_tool_content: set[str] = frozenset()) -> list[Any]:
    """Roles, texts, tool calls (with parsed arguments) and tool results, comparable across clients."""
    out: list[Any] = []
    for m in messages:
        calls = [
            (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in m.get("tool_calls") or []
        ]
        content = None if m.get("tool_call_id") in skip_tool_content else (m.get("content") or None)
        out.append((m["role"], content, calls, m.get("tool_call_id")))
    return out


def ours(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [m.to_openai_dict_format() for m in messages]


def test_tool_error_then_corrected_call() -> None:
    def get_weather_in_city(city: str) -> str:
        if city != "Mexico City":
            raise ValueError("Did you mean Mexico City?")
        return "sunny"

    name = "test_dbos_agent_with_model_retry.yaml"
    agent = Agent(
        openai_generator("gpt-4o"), [tool("get_weather_in_city", get_weather_in_city, {"city": {"type": "string"}})]
    )
    with REPLAY.use_cassette(str(CASSETTES / name)) as cassette:
        result = agent.run("What is the weather in CDMX?")
        assert cassette.all_played
    messages = result["messages"]
    assert [m.role.value for m in messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    first_error = messages[2].tool_call_result
    assert first_error.error is True and "Did you mean Mexico City?" in first_error.result
    assert first_error.origin.id == "call_fFAB8MNL3tUdfNIIdsIJTo0H"
    # Up to the final answer, the conversation is the one the real client sent (our error text differs).
    assert normalized(ours(messages[:5]), skip_tool_content={first_error.origin.id}) == normalized(
        recorded_messages(name, 2), skip_tool_content={first_error.origin.id}
    )
    assert result["last_message"].text == "The weather in Mexico City is currently sunny."
    assert result["exit_reason"] == "text"
    assert result["usage"].total_tokens == 64 + 104 + 126
    assert result["usage"].requests == 3


def test_tool_with_empty_arguments_then_exit_condition_tool() -> None:
    answers: list[dict[str, str]] = []

    def final_result(city: str, country: str) -> str:
        answers.append({"city": city, "country": country})
        return "Final result processed."

    tools = [
        tool("get_user_country", lambda: "Mexico"),
        tool("final_result", final_result, {"city": {"type": "string"}, "country": {"type": "string"}}),
    ]
    name = "test_openai_tool_output.yaml"
    agent = Agent(openai_generator("gpt-4o"), tools, exit_conditions=["final_result"])
    with REPLAY.use_cassette(str(CASSETTES / name)) as cassette:
        result = agent.run(
            "What is the largest city in the user country?", generation_kwargs={"tool_choice": "required"}
        )
        assert cassette.all_played
    assert normalized(ours(result["messages"][:3])) == normalized(recorded_messages(name, 1))
    assert result["exit_reason"] == "final_result"
    assert answers == [{"city": "Mexico City", "country": "Mexico"}]
    assert result["steps"][0].tool_calls[0].arguments == {}


def test_streamed_tool_call_then_streamed_answer() -> None:
    chunks: list[StreamingChunk] = []
    name = "test_run_stream_sync_streams_real_model.yaml"
    capitals = {"UK": "London"}
    agent = Agent(
        openai_generator("gpt-4o-mini"),
        [tool("get_capital", lambda country: capitals[country], {"country": {"type": "string"}})],
        streaming_callback=chunks.append,
    )
    with REPLAY.use_cassette(str(CASSETTES / name)) as cassette:
        result = agent.run("What is the capital of the UK? Use the tool, then answer.")
        assert cassette.all_played
    assert normalized(ours(result["messages"][:3])) == normalized(recorded_messages(name, 1))
    answer = result["last_message"].text
    assert "London" in answer and answer == "".join(c.content for c in chunks)
    results = [c.tool_call_result for c in chunks if c.tool_call_result is not None]
    assert [(r.origin.tool_name, r.result) for r in results] == [("get_capital", "London")]
    first_result = next(i for i, c in enumerate(chunks) if c.tool_call_result is not None)
    assert all(not c.content for c in chunks[:first_result])  # tool-call deltas came before the result
    assert result["usage"].requests == 2 and result["usage"].total_tokens > 0


async def test_streamed_parallel_calls_then_final_tool_under_run_async() -> None:
    final: list[dict[str, Any]] = []

    def final_result(**answer: Any) -> str:
        final.append(answer)
        return "Final result processed."

    tools = [
        tool("get_country", lambda: "Mexico"),
        tool("get_product_name", lambda: "Pydantic AI"),
        tool("get_weather", lambda city: "sunny", {"city": {"type": "string"}}),
        Tool(
            name="final_result",
            description="The final response",
            function=final_result,
            parameters={"type": "object", "properties": {"answers": {"type": "array"}}},
        ),
    ]
    chunks: list[StreamingChunk] = []

    async def collect(chunk: StreamingChunk) -> None:
        chunks.append(chunk)

    name = "test_complex_agent_run.yaml"
    agent = Agent(openai_generator("gpt-4o"), tools, exit_conditions=["final_result"], streaming_callback=collect)
    with REPLAY.use_cassette(str(CASSETTES / name)) as cassette:
        result = await agent.run_async("Tell me: the capital of the country; the weather there; the product name")
        assert cassette.all_played
    assert normalized(ours(result["messages"][:6])) == normalized(recorded_messages(name, 2))
    assert [len(step.tool_calls) for step in result["steps"]] == [2, 1, 1]
    assert result["exit_reason"] == "final_result"
    assert len(final) == 1 and final[0]["answers"]
    streamed = [c.tool_call_result.result for c in chunks if c.tool_call_result is not None]
    assert streamed == ["Mexico", "Pydantic AI", "sunny", "Final result processed."]
