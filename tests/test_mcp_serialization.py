"""MCPToolset.to_dict / from_dict: connection settings (never a live session or the listed tools), credentials
written only as references, and an Agent holding MCP toolsets round-trips. Settings checked when built."""

from __future__ import annotations

import json
from typing import Any

import pytest
from haystack.core.errors import DeserializationError, SerializationError
from haystack.core.serialization import allow_deserialization_module
from haystack.tools import Toolset
from haystack.utils import Secret
from mcp_support import stdio_toolset, tool

from aiml_agent.agent import Agent
from aiml_agent.generator import AIMLAPIChatGenerator
from aiml_agent.mcp import MCPTool, MCPToolset
from aiml_agent.tools import create_tool


def read_only(spec: Any) -> bool:
    """A module-level filter: serializable by its import path."""
    return not spec.name.startswith("fail")


allow_deserialization_module(__name__)  # read_only is loaded back by its import path


def round_trip(toolset: MCPToolset) -> tuple[dict[str, Any], MCPToolset]:
    data = toolset.to_dict()
    json.dumps(data)  # plain JSON data
    return data, MCPToolset.from_dict(json.loads(json.dumps(data)))


def test_stdio_settings_round_trip() -> None:
    toolset = MCPToolset.stdio(
        "python",
        ["server.py", "--verbose"],
        env={"WEATHER_KEY": "${WEATHER_KEY}", "API_TOKEN": Secret.from_env_var("MY_TOKEN"), "REGION": "eu"},
        cwd="/srv/weather",
        tool_filter=["forecast"],
        prefix="wx_",
        timeout=12.5,
        connect_timeout=None,
    )
    data, loaded = round_trip(toolset)
    assert data == {
        "type": "aiml_agent.mcp.toolset.MCPToolset",
        "data": {
            "transport": "stdio",
            "command": "python",
            "args": ["server.py", "--verbose"],
            "env": {
                "WEATHER_KEY": "${WEATHER_KEY}",
                "API_TOKEN": {"type": "env_var", "env_vars": ["MY_TOKEN"], "strict": True},
                "REGION": "eu",
            },
            "cwd": "/srv/weather",
            "tool_filter": ["forecast"],
            "prefix": "wx_",
            "timeout": 12.5,
            "connect_timeout": None,
        },
    }
    assert loaded == toolset
    assert isinstance(loaded.env["API_TOKEN"], Secret)


def test_http_settings_round_trip_with_a_filter_function() -> None:
    toolset = MCPToolset.http(
        "https://tools.example.com/mcp",
        headers={"Authorization": "Bearer ${DOCS_TOKEN}", "X-Api-Key": Secret.from_env_var("DOCS_KEY")},
        tool_filter=read_only,
    )
    data, loaded = round_trip(toolset)
    assert data["data"]["headers"]["Authorization"] == "Bearer ${DOCS_TOKEN}"
    assert data["data"]["tool_filter"] == "test_mcp_serialization.read_only"
    assert loaded == toolset


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"headers": {"Authorization": "Bearer sk-live-123456"}}, "header 'Authorization'"),
        ({"headers": {"X-API-Key": Secret.from_token("sk-live-123456")}}, "header 'X-API-Key' holds a token Secret"),
    ],
)
def test_credentials_in_clear_are_never_written(settings: dict[str, Any], named: str) -> None:
    toolset = MCPToolset.http("https://tools.example.com/mcp", **settings)
    with pytest.raises(SerializationError, match=named) as caught:
        toolset.to_dict()
    assert "sk-live-123456" not in str(caught.value)
    assert "${" in str(caught.value) or "from_env_var" in str(caught.value)  # says what to write instead


def test_a_literal_secret_in_the_environment_is_refused_and_plain_settings_are_kept() -> None:
    with pytest.raises(SerializationError, match=r"environment variable 'OPENWEATHER_API_KEY' holds a literal"):
        MCPToolset.stdio("python", ["s.py"], env={"OPENWEATHER_API_KEY": "abc123secret"}).to_dict()
    kept = MCPToolset.stdio("python", ["s.py"], env={"LOG_LEVEL": "debug"}).to_dict()
    assert kept["data"]["env"] == {"LOG_LEVEL": "debug"}


def test_a_lambda_filter_cannot_be_serialized() -> None:
    with pytest.raises(SerializationError, match="tool_filter"):
        MCPToolset.http("http://127.0.0.1:9/mcp", tool_filter=lambda spec: True).to_dict()


def test_serializing_saves_settings_not_the_live_session_or_listed_tools() -> None:
    with stdio_toolset(prefix="demo_") as live:
        assert len(live.tools) > 5
        data = live.to_dict()
    assert "tools" not in data["data"]
    loaded = MCPToolset.from_dict(data)
    assert list(loaded) == []  # nothing connected yet
    with loaded:
        assert tool(loaded, "demo_add").invoke(a=1) == '{"result": 3}'


def test_an_agent_with_mcp_toolsets_round_trips() -> None:
    generator = AIMLAPIChatGenerator(api_key=Secret.from_env_var("AIMLAPI_API_KEY"))
    weather = MCPToolset.stdio("python", ["weather.py"], prefix="wx_")
    docs = MCPToolset.http("http://127.0.0.1:8000/mcp", headers={"Authorization": "Bearer ${DOCS_TOKEN}"})
    agent = Agent(generator, tools=[weather, docs, create_tool(read_only)])
    loaded = Agent.from_dict(agent.to_dict())
    assert loaded.tools is not None
    assert loaded.tools[:2] == [weather, docs]
    assert [type(item) for item in loaded.tools] == [MCPToolset, MCPToolset, type(agent.tools[2])]


def test_an_mcp_tool_alone_points_at_its_toolset() -> None:
    with stdio_toolset() as toolset:
        with pytest.raises(SerializationError, match="serialize its MCPToolset instead"):
            tool(toolset, "add").to_dict()
    with pytest.raises(DeserializationError, match="load its MCPToolset"):
        MCPTool.from_dict({"type": "aiml_agent.mcp.tool.MCPTool", "data": {}})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MCPToolset.stdio(""), "needs the command"),
        (lambda: MCPToolset.stdio("python", "server.py"), "args must be a list"),
        (lambda: MCPToolset.http("localhost:8000/mcp"), "needs an http:// or https:// URL"),
        (lambda: MCPToolset.http("http://x/mcp", prefix="wx."), "prefix may hold only"),
        (lambda: MCPToolset.http("http://x/mcp", timeout=0), "timeout must be a positive number"),
        (lambda: MCPToolset.http("http://x/mcp", tool_filter="forecast"), "got the string 'forecast'"),
        (lambda: MCPToolset.http("http://x/mcp", headers={"X-Retries": 3}), "header 'X-Retries'"),
        (lambda: MCPToolset(transport="ws", url="ws://x"), "transport must be 'stdio' or 'http'"),  # type: ignore[arg-type]
    ],
)
def test_bad_settings_fail_when_built_naming_them(build: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_it_is_a_haystack_toolset_and_repr_shows_no_header_values() -> None:
    toolset = MCPToolset.http("http://127.0.0.1:8000/mcp", headers={"Authorization": "Bearer sk-hidden"})
    assert isinstance(toolset, Toolset)
    assert "sk-hidden" not in repr(toolset) and "127.0.0.1:8000" in repr(toolset)
