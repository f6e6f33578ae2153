"""MCPToolset over streamable HTTP against the demo server in a subprocess: headers, failures, a server killed
mid-run, and record -> replay of an agent's model and MCP traffic in one cassette with both servers stopped --
for a server speaking the 2026 stateless protocol (JSON answers) and for a 1.x-style one (sessions, SSE)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from haystack.tools.errors import ToolInvocationError
from haystack.utils import Secret
from mcp_support import HTTPServer, local_time, tool

from aiml_agent.agent import Agent
from aiml_agent.errors import MCPConnectionError
from aiml_agent.generator import AIMLAPIChatGenerator
from aiml_agent.mcp import MCPToolset
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply, cassette
from aiml_agent.tools import create_tool

SERVER_KINDS = {"2026 protocol": (), "1.x-style server": ("--legacy",)}
TOKEN = "mcp-secret-token-0123456789"


@pytest.mark.parametrize("extra", SERVER_KINDS.values(), ids=SERVER_KINDS.keys())
def test_tools_list_and_call_over_http(extra: tuple[str, ...]) -> None:
    with HTTPServer(*extra) as server, MCPToolset.http(server.url, prefix="d_") as toolset:
        assert [item.name for item in toolset][:3] == ["d_add", "d_forecast", "d_echo"]
        assert tool(toolset, "d_add").invoke(a=2, b=3) == '{"result": 5}'
        forecast = json.loads(tool(toolset, "d_forecast").invoke(city="Oslo", days=None))
        assert forecast == {"city": "Oslo", "days": 1, "unit": "celsius", "temperatures": [18.0]}
        with pytest.raises(ToolInvocationError, match="unknown city 'Atlantis'"):
            tool(toolset, "d_forecast").invoke(city="Atlantis")


def test_headers_are_sent_with_references_and_secrets_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIML_TEST_MCP_TOKEN", TOKEN)
    monkeypatch.setenv("AIML_TEST_MCP_CLIENT", "tests")
    headers = {
        "Authorization": "Bearer ${AIML_TEST_MCP_TOKEN}",
        "X-Client": Secret.from_env_var("AIML_TEST_MCP_CLIENT"),
    }
    with HTTPServer() as server, MCPToolset.http(server.url, headers=headers) as toolset:
        read = tool(toolset, "header")
        assert read.invoke(name="authorization") == json.dumps({"result": f"Bearer {TOKEN}"})
        assert read.invoke(name="x-client") == '{"result": "tests"}'


def test_a_server_killed_mid_run_fails_calls_promptly_and_a_restarted_one_is_reconnected() -> None:
    server = HTTPServer()
    toolset = MCPToolset.http(server.url, timeout=60)
    try:
        toolset.warm_up()
        threading.Timer(0.5, server.process.send_signal, (signal.SIGKILL,)).start()
        started = time.monotonic()
        with pytest.raises(ToolInvocationError) as caught:
            tool(toolset, "slow").invoke(seconds=60)
        assert isinstance(caught.value.__cause__, MCPConnectionError)
        assert "lost the connection to MCP server at http://127.0.0.1" in str(caught.value.__cause__)
        with pytest.raises(ToolInvocationError) as refused:  # nobody listens any more
            tool(toolset, "add").invoke(a=1)
        assert "cannot connect to MCP server at" in str(refused.value.__cause__)
        assert time.monotonic() - started < 20  # neither waited for the 60 s timeout
        server.kill()
        server = HTTPServer(port=server.port)  # back where it was: the next call reconnects
        assert tool(toolset, "add").invoke(a=1) == '{"result": 3}'
    finally:
        toolset.close()
        server.kill()


# ------------------------------------------------------------------------------------------------ replay


def agent_run(model_url: str, mcp_url: str, *, concurrent: bool = True) -> dict[str, Any]:
    """A run of an agent with the demo server's tools and a function tool (the model is scripted)."""
    headers = {"Authorization": "Bearer ${AIML_TEST_MCP_TOKEN}", "X-Client": "tests"}
    generator = AIMLAPIChatGenerator(api_key=Secret.from_env_var("AIMLAPI_API_KEY"), api_base_url=model_url)
    with MCPToolset.http(mcp_url, headers=headers, prefix="demo_", tool_filter=["add", "forecast"]) as demo:
        agent = Agent(generator, tools=[demo, create_tool(local_time)], tool_concurrency=8 if concurrent else 1)
        return agent.run("Forecast for Paris, 2 + 3, and the time there?")


SCRIPT = [
    Reply(
        tool_calls=[
            ToolCallReply("demo_forecast", {"city": "Paris", "days": 2, "unit": None}),
            ToolCallReply("demo_add", {"a": 2, "b": 3}),
            ToolCallReply("demo_add", {"a": "two"}),
            ToolCallReply("local_time", {"city": "Paris"}),
        ]
    ),
    Reply(text="Paris: 18 and 19 °C; 2 + 3 = 5; it is 09:30 there."),
]


def transcript(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(message.role.value, message.text or str(message.tool_call_results)) for message in result["messages"]]


@pytest.mark.parametrize("extra", SERVER_KINDS.values(), ids=SERVER_KINDS.keys())
def test_an_agents_model_and_mcp_traffic_record_to_one_cassette_and_replay_with_both_servers_stopped(
    extra: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIML_TEST_MCP_TOKEN", TOKEN)
    monkeypatch.setenv("AIMLAPI_API_KEY", "test-key-for-recording")
    path = tmp_path / "agent_with_mcp.yaml"
    with ScriptedServer(SCRIPT) as model, HTTPServer(*extra) as mcp_server, cassette(path, mode="all"):
        recorded = agent_run(model.base_url, mcp_server.url)
        model_url, mcp_url = model.base_url, mcp_server.url
    results = [message.tool_call_results[0] for message in recorded["messages"] if message.tool_call_results]
    assert json.loads(results[0].result)["temperatures"] == [18.0, 19.0]
    assert results[1].result == '{"result": 5}'
    assert results[2].error and '- a: expected integer; got "two"' in results[2].result
    assert results[3].result == "09:30 in Paris"

    monkeypatch.delenv("AIMLAPI_API_KEY")
    with cassette(path, mode="none"):  # both servers are gone: everything comes from the file
        replayed = agent_run(model_url, mcp_url)
    assert transcript(replayed) == transcript(recorded)

    text = path.read_text(encoding="utf-8")
    assert TOKEN not in text and "test-key-for-recording" not in text
    interactions = yaml.safe_load(text)["interactions"]
    mcp = [i["request"] for i in interactions if i["request"]["uri"].endswith("/mcp")]
    methods = [request["body"]["json"]["method"] for request in mcp if request["method"] == "POST"]
    assert methods.count("tools/call") == 2  # the bad call never reached the server
    assert "tools/list" in methods
    assert [request["method"] for request in mcp if request["method"] != "POST"] == (["DELETE"] if extra else [])
    sessions = {
        value
        for i in interactions
        for part in ("request", "response")
        for name, values in i[part]["headers"].items()
        if name.lower() == "mcp-session-id"
        for value in values
    }
    assert sessions == ({"REDACTED"} if extra else set())


@pytest.mark.parametrize("extra", SERVER_KINDS.values(), ids=SERVER_KINDS.keys())
def test_replay_matches_mcp_calls_on_method_and_params_whatever_their_json_rpc_ids(
    extra: tuple[str, ...], tmp_path: Path
) -> None:
    """Calls recorded in one order replay in another: JSON-RPC ids differ, answers still reach their calls."""
    path = tmp_path / "order.yaml"
    with HTTPServer(*extra) as server, cassette(path, mode="all"), MCPToolset.http(server.url) as toolset:
        recorded = [tool(toolset, "add").invoke(a=1), tool(toolset, "forecast").invoke(city="Oslo")]
        url = server.url
    with cassette(path, mode="none"), MCPToolset.http(url) as toolset:
        forecast = tool(toolset, "forecast").invoke(city="Oslo")  # sent first now: it gets the id add had
        added = tool(toolset, "add").invoke(a=1)
    assert [added, forecast] == recorded
