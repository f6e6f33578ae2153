"""A user's agent test with an HTTP MCP server under the pytest plugin (``@pytest.mark.vcr``): recorded once with
both servers running, then replayed with neither, no key and the network blocked."""

from __future__ import annotations

import pytest
import yaml
from mcp_support import HTTPServer

from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

pytest_plugins = ["pytester"]

USER_TEST = """
import os

import pytest
from haystack.utils import Secret

from aiml_agent import Agent, AIMLAPIChatGenerator
from aiml_agent.mcp import MCPToolset


@pytest.mark.vcr
def test_agent_adds_with_the_mcp_server():
    generator = AIMLAPIChatGenerator(
        api_key=Secret.from_env_var("AIMLAPI_API_KEY"),
        api_base_url=os.environ.get("BASE_URL", "http://127.0.0.1:9/v1"),
        max_retries=0,
    )
    with MCPToolset.http(os.environ.get("MCP_URL", "http://127.0.0.1:9/mcp"), tool_filter=["add"]) as demo:
        result = Agent(generator, tools=[demo]).run("2 + 3?")
    assert result["messages"][2].tool_call_results[0].result == '{"result": 5}'
    assert result["last_message"].text == "5."
"""


def test_an_agent_test_with_an_mcp_server_records_once_and_replays_with_no_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_mcp_agent.py").write_text(USER_TEST)
    script = [Reply(tool_calls=[ToolCallReply("add", {"a": 2, "b": 3})]), "5."]
    with ScriptedServer(script) as model, HTTPServer() as mcp_server, monkeypatch.context() as env:
        env.setenv("AIMLAPI_API_KEY", "sk-fake-key-for-recording")
        env.setenv("BASE_URL", model.base_url)
        env.setenv("MCP_URL", mcp_server.url)
        pytester.runpytest_subprocess("--record-mode=once").assert_outcomes(passed=1)

    path = pytester.path / "cassettes" / "test_mcp_agent" / "test_agent_adds_with_the_mcp_server.yaml"
    interactions = yaml.safe_load(path.read_text())["interactions"]
    uris = [interaction["request"]["uri"].rsplit("/", 1)[-1] for interaction in interactions]
    assert "mcp" in uris and "completions" in uris  # the model's and the MCP server's traffic, in one file

    monkeypatch.delenv("AIMLAPI_API_KEY", raising=False)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)  # both servers stopped, no key: replayed
