"""An Agent using a stdio and an HTTP MCP server next to a function tool, with ScriptedServer as the model: what
the model is told for every outcome, sync and async runs, strict requests, duplicate names, concurrent runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import generator_for
from haystack.dataclasses import ChatMessage
from mcp_support import HTTPServer, local_time, stdio_toolset

from aiml_agent.agent import Agent
from aiml_agent.mcp import MCPToolset
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply
from aiml_agent.tools import create_tool


@pytest.fixture(scope="module")
def demo() -> Iterator[MCPToolset]:
    with stdio_toolset(prefix="demo_", timeout=20) as toolset:
        yield toolset


@pytest.fixture(scope="module")
def http_server() -> Iterator[HTTPServer]:
    with HTTPServer() as server:
        yield server


@pytest.fixture(scope="module")
def web(http_server: HTTPServer) -> Iterator[MCPToolset]:
    with MCPToolset.http(http_server.url, prefix="web_", tool_filter=["forecast", "fail", "slow"], timeout=2) as ts:
        yield ts


EVERY_OUTCOME = [
    Reply(
        tool_calls=[
            ToolCallReply("demo_add", {"a": 2, "b": 3}, id="ok_stdio"),
            ToolCallReply("web_forecast", {"city": "Oslo", "days": 2}, id="ok_http"),
            ToolCallReply("local_time", {"city": "Oslo"}, id="ok_function"),
            ToolCallReply("demo_add", {"a": "x"}, id="bad_arguments"),
            ToolCallReply("web_fail", {"message": "the index is rebuilding, retry in a minute"}, id="is_error"),
            ToolCallReply("web_slow", {"seconds": 60}, id="timeout"),
        ]
    ),
    Reply(text="Done."),
]


def tool_messages(server: ScriptedServer, request: int) -> dict[str, str]:
    messages = server.requests[request].body["messages"]
    return {message["tool_call_id"]: message["content"] for message in messages if message["role"] == "tool"}


def check_every_outcome(server: ScriptedServer, result: dict[str, Any], mcp_url: str) -> None:
    offered = [entry["function"]["name"] for entry in server.requests[0].body["tools"]]
    assert offered[:3] == ["demo_add", "demo_forecast", "demo_echo"]
    assert offered[-4:] == ["web_forecast", "web_fail", "web_slow", "local_time"]
    told = tool_messages(server, 1)
    assert told["ok_stdio"] == '{"result": 5}'
    assert json.loads(told["ok_http"])["temperatures"] == [18.0, 19.0]
    assert told["ok_function"] == "09:30 in Oslo"
    assert told["bad_arguments"].startswith("Error: Invalid arguments for tool 'demo_add':\n- a: expected integer")
    assert told["is_error"] == (
        "Error: tool 'web_fail' failed: MCPToolError: Error executing tool fail: the index is rebuilding, retry in a minute"
    )
    assert told["timeout"].startswith("Error: tool 'web_slow' timed out after 2 s")  # a timeout, as any tool's
    [timed_out] = [call for step in result["steps"] for call in step.tool_calls if call.tool_call.id == "timeout"]
    assert timed_out.failure is not None and timed_out.failure.kind == "timeout"
    assert f"MCP server at {mcp_url} did not answer" in str(timed_out.failure.exception.__cause__.__cause__)
    assert result["exit_reason"] == "text" and result["last_message"].text == "Done."


def test_a_run_uses_stdio_and_http_servers_next_to_a_function_tool(
    demo: MCPToolset, web: MCPToolset, http_server: HTTPServer
) -> None:
    with ScriptedServer(EVERY_OUTCOME) as server:
        result = Agent(generator_for(server), tools=[demo, web, create_tool(local_time)]).run("Go")
    check_every_outcome(server, result, http_server.url)


async def test_an_async_run_gets_the_same(demo: MCPToolset, web: MCPToolset, http_server: HTTPServer) -> None:
    with ScriptedServer(EVERY_OUTCOME) as server:
        result = await Agent(generator_for(server), tools=[demo, web, create_tool(local_time)]).run_async("Go")
    check_every_outcome(server, result, http_server.url)


def test_the_agent_warms_a_fresh_toolset_before_telling_the_model_its_tools(http_server: HTTPServer) -> None:
    fresh = MCPToolset.http(http_server.url, tool_filter=["add"])
    try:
        with ScriptedServer([Reply(tool_calls=[ToolCallReply("add", {"a": 40})]), "42."]) as server:
            result = Agent(generator_for(server), tools=[fresh]).run("40 + 2?")
        assert [entry["function"]["name"] for entry in server.requests[0].body["tools"]] == ["add"]
        assert tool_messages(server, 1) == {"call_1": '{"result": 42}'}
        assert result["last_message"].text == "42."
    finally:
        fresh.close()


@pytest.fixture
def two_adds(http_server: HTTPServer) -> Iterator[tuple[MCPToolset, MCPToolset]]:
    """Two servers that both offer a tool named 'add'."""
    first = stdio_toolset(tool_filter=["add", "pid"])
    second = MCPToolset.http(http_server.url, tool_filter=["add"])
    with first, second:
        yield first, second


def test_two_toolsets_offering_one_tool_name_fail_before_any_request_and_a_prefix_is_the_way_out(
    two_adds: tuple[MCPToolset, MCPToolset], http_server: HTTPServer
) -> None:
    first, second = two_adds
    with ScriptedServer(["never sent"]) as server:
        with pytest.raises(ValueError, match="Duplicate tool names: add"):
            generator_for(server).run([ChatMessage.from_user("1 + 1?")], tools=[first, second])
        assert server.requests == []
    renamed = MCPToolset.http(http_server.url, tool_filter=["add"], prefix="web_")
    with ScriptedServer(["Fine."]) as server, renamed:
        Agent(generator_for(server), tools=[first, renamed]).run("1 + 1?")
    assert [entry["function"]["name"] for entry in server.requests[0].body["tools"]] == ["add", "pid", "web_add"]


def test_an_agent_with_two_toolsets_offering_one_tool_name_fails_before_any_request(
    two_adds: tuple[MCPToolset, MCPToolset],
) -> None:
    with ScriptedServer(["never sent"]) as server:
        with pytest.raises(ValueError, match="add"):
            Agent(generator_for(server), tools=list(two_adds)).run("1 + 1?")
        assert server.requests == []


def test_a_strict_request_sends_each_tool_strict_where_possible_and_null_gets_the_servers_default(
    demo: MCPToolset,
) -> None:
    script = [Reply(tool_calls=[ToolCallReply("demo_forecast", {"city": "Rome", "days": None, "unit": None})]), "Ok."]
    with ScriptedServer(script) as server:
        Agent(generator_for(server), tools=[demo], tools_strict=True).run("Rome?")
    sent = {entry["function"]["name"]: entry["function"] for entry in server.requests[0].body["tools"]}
    assert sent["demo_forecast"]["strict"] is True
    assert "strict" not in sent["demo_tag"]  # no strict form: sent non-strict, the request is not refused
    assert json.loads(tool_messages(server, 1)["call_1"]) == {
        "city": "Rome",
        "days": 1,
        "unit": "celsius",
        "temperatures": [18.0],
    }


def _adding(body: dict[str, Any]) -> Reply:
    """A model that asks demo_add(N, 1000) for the N in the user's message, then repeats the tool's answer."""
    last = body["messages"][-1]
    if last["role"] == "user":
        return Reply(tool_calls=[ToolCallReply("demo_add", {"a": int(last["content"].split()[-1]), "b": 1000})])
    return Reply(text=f"answer {json.loads(last['content'])['result']}")


def test_several_runs_at_once_share_the_servers(demo: MCPToolset) -> None:
    with ScriptedServer(_adding) as server:
        agent = Agent(generator_for(server), tools=[demo])
        with ThreadPoolExecutor(6) as pool:
            texts = list(pool.map(lambda n: agent.run(f"number {n}")["last_message"].text, range(6)))

        async def together() -> list[str]:
            results = await asyncio.gather(*(agent.run_async(f"number {n}") for n in range(10, 16)))
            return [result["last_message"].text for result in results]

        texts += asyncio.run(together())
    assert texts == [f"answer {n + 1000}" for n in [*range(6), *range(10, 16)]]
