"""AIMLAPIChatGenerator sends strict tool schemas: what goes on the wire, and what stays untouched."""

from __future__ import annotations

import copy
import json
from typing import Any, Optional

import pytest
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool, Toolset
from haystack.utils import Secret
from pydantic import create_model

from aiml_agent.errors import StrictSchemaError
from aiml_agent.generator import AIMLAPIChatGenerator
from aiml_agent.strict import to_strict_schema
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply
from aiml_agent.tools import create_tool

USER = [ChatMessage.from_user("Weather in Paris?")]


def get_weather(city: str, days: int = 3, unit: str | None = None) -> str:
    """Return a forecast."""
    return f"{city}: sunny for {days} days ({unit})"


def weather_tool(*, strict: bool | None = None, name: str = "get_weather") -> Tool:
    schema = create_model("Params", city=(str, ...), days=(int, 3), unit=(Optional[str], None)).model_json_schema()
    tool = Tool(name=name, description="Weather forecast.", parameters=schema, function=get_weather)
    if strict is not None:
        tool.strict = strict  # type: ignore[attr-defined]  # as FunctionTool(strict=...) carries it
    return tool


def filter_tool() -> Tool:
    schema = create_model("Params", query=(str, ...), filters=(dict[str, int], None)).model_json_schema()
    return Tool(name="search", description="Search.", parameters=schema, function=get_weather)


def generator(server: ScriptedServer, **kwargs: Any) -> AIMLAPIChatGenerator:
    return AIMLAPIChatGenerator(
        api_key=Secret.from_token("test-key"), api_base_url=server.base_url, max_retries=0, **kwargs
    )


def sent_tools(server: ScriptedServer, index: int = -1) -> dict[str, dict[str, Any]]:
    """The `function` part of each tool definition of one recorded request, by name."""
    return {t["function"]["name"]: t["function"] for t in server.requests[index].body["tools"]}


def assert_strict(function: dict[str, Any], tool: Tool) -> None:
    assert function["strict"] is True
    assert function["parameters"] == to_strict_schema(tool.parameters, tool_name=tool.name)
    params = function["parameters"]
    assert params["additionalProperties"] is False and params["required"] == list(tool.parameters["properties"])
    assert "default" not in json.dumps(params).replace("default: ", "")


def test_strict_at_init_sends_strict_schemas_and_leaves_the_tool_untouched() -> None:
    tool = weather_tool()
    params_before, dict_before = copy.deepcopy(tool.parameters), copy.deepcopy(tool.to_dict())
    with ScriptedServer(["ok", "ok"]) as server:
        gen = generator(server, tools=[tool], tools_strict=True)
        gen.run(USER)
        assert_strict(sent_tools(server)["get_weather"], tool)
        gen.run(USER, tools_strict=False)  # a later non-strict call sends the original schema
        function = sent_tools(server)["get_weather"]
    assert "strict" not in function and function["parameters"] == params_before
    assert tool.parameters == params_before and tool.to_dict() == dict_before


def test_strict_per_run_and_no_strict_key_without_it() -> None:
    tool = weather_tool()
    with ScriptedServer(["ok", "ok"]) as server:
        gen = generator(server, tools=[tool])
        gen.run(USER)
        gen.run(USER, tools_strict=True)
    plain, strict = (server.requests[i].body["tools"] for i in (0, 1))
    assert plain == [{"type": "function", "function": {"name": "get_weather", "description": "Weather forecast.",
                                                       "parameters": tool.parameters}}]  # fmt: skip
    assert "strict" not in json.dumps(plain)
    assert_strict(strict[0]["function"], tool)


async def test_strict_with_run_async_and_run_tools_and_toolsets() -> None:
    a, b = weather_tool(name="a"), weather_tool(name="b")
    with ScriptedServer(["ok"]) as server:
        gen = generator(server, tools_strict=True)
        await gen.run_async(USER, tools=[Toolset([a]), b])
        sent = sent_tools(server)
    assert_strict(sent["a"], a)
    assert_strict(sent["b"], b)


def test_tool_marked_strict_false_is_sent_non_strict_in_a_strict_request() -> None:
    loose = filter_tool()
    loose.strict = False  # type: ignore[attr-defined]
    strict = weather_tool()
    with ScriptedServer(["ok"]) as server:
        generator(server, tools=[loose, strict], tools_strict=True).run(USER)
        sent = sent_tools(server)
    assert "strict" not in sent["search"] and sent["search"]["parameters"] == loose.parameters
    assert_strict(sent["get_weather"], strict)


def test_tool_that_cannot_be_strict_raises_before_any_request() -> None:
    bad = filter_tool()
    before = copy.deepcopy(bad.parameters)
    with ScriptedServer(["never sent"]) as server:
        gen = generator(server, tools=[weather_tool(), bad], tools_strict=True)
        with pytest.raises(StrictSchemaError) as info:
            gen.run(USER)
        assert server.requests == []
        gen.run(USER, tools_strict=False)  # the same tool is fine without strict
        assert len(server.requests) == 1
    err = info.value
    assert (err.tool_name, err.parameter, err.path) == ("search", "filters", "$.properties.filters")
    assert "tool 'search'" in str(err) and "parameter 'filters'" in str(err)
    assert bad.parameters == before


def test_null_means_default_end_to_end() -> None:
    """A strict tool's optional parameter is required-but-nullable; null from the model gives the default."""
    tool = create_tool(get_weather)
    params_before = copy.deepcopy(tool.parameters)
    reply = Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris", "days": None, "unit": None})])
    with ScriptedServer([reply]) as server:
        [message] = generator(server, tools=[tool], tools_strict=True).run(USER)["replies"]
        function = sent_tools(server)["get_weather"]
    assert function["strict"] is True and function["parameters"]["required"] == ["city", "days", "unit"]
    assert function["parameters"]["properties"]["days"]["type"] == ["integer", "null"]
    [call] = message.tool_calls
    assert call.arguments == {"city": "Paris", "days": None, "unit": None}
    assert tool.invoke(**call.arguments) == "Paris: sunny for 3 days (None)"
    assert tool.parameters == params_before
