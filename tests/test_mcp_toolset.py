"""MCPToolset over stdio against a real MCP server (tests/mcp_demo_server.py, official SDK) started by the tests:
listing, filter and prefix, argument checks before the call, results, every kind of failure, reconnection,
no process left behind, several callers at once."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from haystack.tools.errors import ToolInvocationError
from mcp_support import DEMO_SERVER, process_gone, server_pid, stdio_toolset, tool

from aiml_agent._request import tool_definitions
from aiml_agent.errors import MCPConnectionError, MCPToolError, ToolArgumentsError
from aiml_agent.mcp import MCPTool, MCPToolset


@pytest.fixture(scope="module")
def demo() -> Iterator[MCPToolset]:
    """One demo server for the tests that do not stop it."""
    with stdio_toolset(timeout=20) as toolset:
        yield toolset


def history(toolset: MCPToolset) -> list[dict[str, object]]:
    return json.loads(tool(toolset, "history").invoke())["result"]


# ------------------------------------------------------------------------------------------------ listing


def test_warm_up_lists_the_servers_tools_with_their_schemas(demo: MCPToolset) -> None:
    names = [item.name for item in demo]
    assert names[:4] == ["add", "forecast", "echo", "fail"]
    assert "time_now" in names  # 'time.now' on the server: a dot is not allowed in a tool name
    assert all(isinstance(item, MCPTool) for item in demo)
    add = tool(demo, "add")
    assert add.description == "Add two whole numbers."
    assert add.parameters["properties"]["b"] == {"default": 2, "title": "B", "type": "integer"}
    assert add.parameters["required"] == ["a"]
    assert tool(demo, "time_now").server_name == "time.now"
    assert tool(demo, "time_now").invoke() == '{"result": "12:00"}'


def test_filter_by_names_and_prefix() -> None:
    with stdio_toolset(tool_filter=["forecast", "time.now"], prefix="wx_") as toolset:
        assert [item.name for item in toolset] == ["wx_forecast", "wx_time_now"]
        assert [item.server_name for item in toolset] == ["forecast", "time.now"]  # type: ignore[attr-defined]
        assert json.loads(tool(toolset, "wx_forecast").invoke(city="Oslo"))["city"] == "Oslo"


def test_filter_by_function_gets_each_tool_as_the_server_describes_it() -> None:
    seen: list[str] = []

    def only_weather(spec: object) -> bool:
        seen.append(type(spec).__name__)
        return "forecast" in (getattr(spec, "description", "") or "")

    with stdio_toolset(tool_filter=only_weather) as toolset:
        assert [item.name for item in toolset] == ["forecast"]
    assert set(seen) == {"Tool"}


def test_a_filter_naming_a_tool_the_server_lacks_fails_naming_it() -> None:
    toolset = stdio_toolset(tool_filter=["forecast", "forcast"])
    with pytest.raises(ValueError, match=r"does not offer: 'forcast'; it offers: add, forecast"):
        toolset.warm_up()
    toolset.close()


def test_two_server_tools_with_one_valid_name_raise_naming_it() -> None:
    toolset = stdio_toolset("--clash")
    with pytest.raises(ValueError, match=r"several tools named 'time_now'.*tool_filter"):
        toolset.warm_up()
    toolset.close()
    with stdio_toolset("--clash", tool_filter=lambda spec: spec.name != "time_now") as filtered:
        assert [item.server_name for item in filtered if item.name == "time_now"] == ["time.now"]  # type: ignore[attr-defined]


def test_iterating_before_warm_up_connects_nothing() -> None:
    toolset = stdio_toolset()
    assert list(toolset) == []
    toolset.close()  # closing what never connected is fine


# ------------------------------------------------------------------------------------------------ arguments


def test_bad_arguments_go_back_naming_each_field_and_never_reach_the_server(demo: MCPToolset) -> None:
    before = history(demo)
    with pytest.raises(ToolArgumentsError) as caught:
        tool(demo, "add").invoke(a="three", b=[1])
    message = str(caught.value)
    assert "Invalid arguments for tool 'add'" in message
    assert '- a: expected integer; got "three"' in message
    assert "- b: expected integer; got [1]" in message
    with pytest.raises(ToolArgumentsError, match=r"- a: required, but missing"):
        tool(demo, "add").invoke(b=1)
    with pytest.raises(
        ToolArgumentsError, match=r"- unit: expected one of \"celsius\", \"fahrenheit\"; got \"kelvin\""
    ):
        tool(demo, "forecast").invoke(city="Oslo", unit="kelvin")
    assert history(demo) == before  # none of them reached the server


def test_null_for_an_optional_parameter_is_left_out_so_the_server_default_applies(demo: MCPToolset) -> None:
    assert json.loads(tool(demo, "echo").invoke(text=None, times=None)) == {
        "result": json.dumps({"text": "default text", "times": 1})
    }
    assert history(demo)[-1] == {"tool": "echo", "text": "default text", "times": 1}
    assert tool(demo, "add").invoke(a=1, b=None) == '{"result": 3}'


def test_a_required_parameter_given_null_is_an_argument_error(demo: MCPToolset) -> None:
    with pytest.raises(ToolArgumentsError, match=r"- a: expected integer; got null"):
        tool(demo, "add").invoke(a=None)


def test_a_schema_that_is_not_json_schema_is_logged_and_the_arguments_go_unchecked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = {"type": "object", "properties": {"a": {"type": "whole number"}}}
    with caplog.at_level("WARNING", logger="aiml_agent.mcp.tool"):
        made = MCPTool(name="odd", server_name="odd", description="", parameters=broken, connection=None)  # type: ignore[arg-type]
    assert "MCP tool 'odd' has an input schema that is not valid JSON Schema" in caplog.text
    assert made.prepare_arguments({"a": "anything", "b": None}) == {"a": "anything", "b": None}


# ------------------------------------------------------------------------------------------------ results


def test_structured_content_is_sent_as_json(demo: MCPToolset) -> None:
    result = tool(demo, "forecast").invoke(city="Paris", days=2)
    assert json.loads(result) == {"city": "Paris", "days": 2, "unit": "celsius", "temperatures": [18.0, 19.0]}


def test_text_is_joined_and_an_image_becomes_a_note(demo: MCPToolset) -> None:
    assert tool(demo, "picture").invoke() == "A single red pixel.\n[image: image/png, 70 bytes, not shown]"


def test_an_is_error_result_is_a_tool_error_with_the_servers_message(demo: MCPToolset) -> None:
    with pytest.raises(ToolInvocationError) as caught:
        tool(demo, "fail").invoke(message="the index is rebuilding, retry in a minute")
    assert isinstance(caught.value.__cause__, MCPToolError)
    assert "the index is rebuilding, retry in a minute" in str(caught.value.__cause__)
    assert caught.value.tool_name == "fail"


async def test_invoke_async_gives_the_same_results_and_errors(demo: MCPToolset) -> None:
    assert await tool(demo, "add").invoke_async(a=40) == '{"result": 42}'
    with pytest.raises(ToolArgumentsError):
        await tool(demo, "add").invoke_async(a="x")
    with pytest.raises(ToolInvocationError) as caught:
        await tool(demo, "fail").invoke_async(message="nope")
    assert isinstance(caught.value.__cause__, MCPToolError)


# ------------------------------------------------------------------------------------------------ failures


def test_a_slow_call_times_out_and_the_connection_stays() -> None:
    with stdio_toolset(timeout=1) as toolset:
        pid = server_pid(toolset)
        started = time.monotonic()
        with pytest.raises(ToolInvocationError) as caught:
            tool(toolset, "slow").invoke(seconds=60)
        assert time.monotonic() - started < 15  # the 60 s call was abandoned after about 1 s
        assert isinstance(caught.value.__cause__, TimeoutError)
        assert "did not answer the call of 'slow' within 1 s" in str(caught.value.__cause__)
        assert server_pid(toolset) == pid  # the same server answers the next call


def test_a_server_killed_mid_call_fails_the_call_and_the_next_call_restarts_it() -> None:
    with stdio_toolset(timeout=60) as toolset:
        pid = server_pid(toolset)
        threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
        started = time.monotonic()
        with pytest.raises(ToolInvocationError) as caught:
            tool(toolset, "slow").invoke(seconds=60)
        assert time.monotonic() - started < 15  # not the 60 s timeout: the lost connection was noticed
        cause = caught.value.__cause__
        assert isinstance(cause, MCPConnectionError)
        assert "lost the connection" in str(cause) and "the next call reconnects" in str(cause)
        assert process_gone(pid)
        new_pid = server_pid(toolset)
        assert new_pid != pid
    assert process_gone(new_pid)


def test_close_stops_the_server_and_a_later_call_starts_it_again() -> None:
    toolset = stdio_toolset()
    toolset.warm_up()
    pid = server_pid(toolset)
    toolset.close()
    assert process_gone(pid)
    toolset.close()  # idempotent
    assert [item.name for item in toolset][:2] == ["add", "forecast"]  # the listed tools stay
    assert tool(toolset, "add").invoke(a=1) == '{"result": 3}'  # first use after close reconnects
    new_pid = server_pid(toolset)
    toolset.close()
    assert new_pid != pid and process_gone(new_pid)


def test_a_server_that_cannot_start_is_a_connection_error_and_a_tool_error() -> None:
    missing = MCPToolset.stdio("aiml-agent-no-such-server-command", timeout=10)
    with pytest.raises(MCPConnectionError, match=r"cannot connect to MCP server 'aiml-agent-no-such-server-command'"):
        missing.warm_up()
    crashing = MCPToolset.stdio(sys.executable, ["-c", "import sys; sys.exit(3)"], timeout=10)
    with pytest.raises(MCPConnectionError, match=r"cannot connect to MCP server"):
        crashing.warm_up()


def test_a_server_that_dies_and_cannot_restart_is_a_tool_error_on_each_call(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    shutil.copy(DEMO_SERVER, script)
    with MCPToolset.stdio(sys.executable, [str(script)], timeout=20) as toolset:
        pid = server_pid(toolset)
        script.write_text("import sys\nsys.exit(3)\n", encoding="utf-8")  # the server is broken from now on
        os.kill(pid, signal.SIGKILL)
        for _ in range(2):
            with pytest.raises(ToolInvocationError) as caught:
                tool(toolset, "add").invoke(a=1)
            assert isinstance(caught.value.__cause__, MCPConnectionError)


# ------------------------------------------------------------------------------------------------ concurrency


def test_many_callers_at_once_from_threads_and_event_loops(demo: MCPToolset) -> None:
    add = tool(demo, "add")

    def in_thread(value: int) -> str:
        return add.invoke(a=value, b=0)

    async def on_a_loop(values: range) -> list[str]:
        return list(await asyncio.gather(*(add.invoke_async(a=value, b=0) for value in values)))

    with ThreadPoolExecutor(8) as pool:
        threaded = pool.map(in_thread, range(16))
        looped = [pool.submit(asyncio.run, on_a_loop(range(start, start + 8))) for start in (100, 200)]
        results = list(threaded) + [text for future in looped for text in future.result(timeout=60)]
    expected = [*range(16), *range(100, 108), *range(200, 208)]
    assert [json.loads(text)["result"] for text in results] == expected


async def test_a_sync_call_from_inside_a_running_event_loop_does_not_deadlock(demo: MCPToolset) -> None:
    assert tool(demo, "add").invoke(a=5) == '{"result": 7}'  # blocks this loop, not the MCP session's


def test_concurrent_first_uses_open_one_server() -> None:
    toolset = stdio_toolset()
    try:
        toolset.warm_up()
        add = tool(toolset, "add")
        toolset.close()
        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(lambda value: add.invoke(a=value, b=0), range(6))) == [
                f'{{"result": {value}}}' for value in range(6)
            ]
        pids = {server_pid(toolset) for _ in range(3)}
        assert len(pids) == 1
    finally:
        toolset.close()


# ------------------------------------------------------------------------------------------------ strict


def test_each_tool_is_strict_when_its_schema_allows_and_never_forced_otherwise(demo: MCPToolset) -> None:
    tag = tool(demo, "tag")
    assert tag.strict is False
    assert "additionalProperties" in tag.non_strict_reason and "labels" in tag.non_strict_reason
    assert tool(demo, "forecast").strict is None
    sent = {entry["function"]["name"]: entry["function"] for entry in tool_definitions(list(demo), strict=True)}
    assert "strict" not in sent["tag"] and sent["tag"]["parameters"] == tag.parameters
    forecast = sent["forecast"]
    assert forecast["strict"] is True
    assert forecast["parameters"]["required"] == ["city", "days", "unit"]
    assert forecast["parameters"]["properties"]["days"] == {"type": ["integer", "null"], "description": "default: 1"}
    assert '"default":' not in json.dumps(forecast["parameters"])  # no default keyword: the server applies it
    assert tool(demo, "forecast").parameters["properties"]["days"]["default"] == 1  # the server's schema, untouched


def test_a_strict_models_null_for_optional_parameters_reaches_the_server_as_its_default(demo: MCPToolset) -> None:
    result = json.loads(tool(demo, "forecast").invoke(city="Rome", days=None, unit=None))
    assert result == {"city": "Rome", "days": 1, "unit": "celsius", "temperatures": [18.0]}


# ------------------------------------------------------------------------------------------------ environment


def test_env_values_and_references_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIML_TEST_WEATHER_KEY", "k-123456")
    with stdio_toolset(env={"WEATHER_KEY": "${AIML_TEST_WEATHER_KEY}", "REGION": "eu"}) as toolset:
        read = tool(toolset, "env_var")
        assert read.invoke(name="WEATHER_KEY") == '{"result": "k-123456"}'
        assert read.invoke(name="REGION") == '{"result": "eu"}'


def test_a_missing_referenced_variable_names_it() -> None:
    toolset = stdio_toolset(env={"WEATHER_KEY": "${AIML_TEST_UNSET_VARIABLE}"})
    with pytest.raises(MCPConnectionError, match=r"refers to \$\{AIML_TEST_UNSET_VARIABLE\}, but the environment"):
        toolset.warm_up()
    toolset.close()


# ------------------------------------------------------------------------------------------------ process hygiene


def test_a_program_that_never_closes_its_toolset_leaves_no_server_behind() -> None:
    """The toolset is not closed: at exit, the open connection is closed and its server stopped."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(DEMO_SERVER.parent)!r})\n"
        "from mcp_support import stdio_toolset, server_pid\n"
        "toolset = stdio_toolset()\n"
        "toolset.warm_up()\n"
        "print(server_pid(toolset), flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert process_gone(int(done.stdout.strip()))


def test_mcp_errors_derive_from_the_library_base_and_keep_a_builtin_base() -> None:
    from aiml_agent.errors import AIMLAgentError

    assert issubclass(MCPConnectionError, AIMLAgentError) and issubclass(MCPConnectionError, ConnectionError)
    assert issubclass(MCPToolError, AIMLAgentError) and issubclass(MCPToolError, RuntimeError)


def test_importing_aiml_agent_does_not_import_mcp() -> None:
    code = "import sys, aiml_agent, aiml_agent.testing; print('mcp' in sys.modules, 'aiml_agent.mcp' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "False"]
