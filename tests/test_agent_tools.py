"""Agent tool execution: each kind of bad call becomes an error message and the model recovers; raise mode;
concurrent sync and async tools (timings measured loosely)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import generator_for
from haystack.tools import Tool
from haystack.tools.errors import ToolInvocationError

from aiml_agent.agent import Agent
from aiml_agent.context import RunContext
from aiml_agent.errors import ToolArgumentsError
from aiml_agent.run_result import Step
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply
from aiml_agent.tools import create_tool

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def get_weather(city: str, days: int = 1) -> dict[str, Any]:
    """Forecast for a city.

    :param city: The city.
    :param days: How many days.
    """
    if city == "Atlantis":
        raise LookupError("Atlantis is not on the map")
    return {"city": city, "days": days, "sky": "sunny"}


def run_recovery(first_call: ToolCallReply) -> tuple[dict[str, Any], ScriptedServer]:
    """Script: a bad call, then a corrected one, then an answer; return the result and the server."""
    script = [
        Reply(tool_calls=[first_call]),
        Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"}, id="fixed")]),
        "Sunny in Paris.",
    ]
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), [create_tool(get_weather)]).run("Weather in Paris?")
    return result, server


def error_sent_back(server: ScriptedServer, call_id: str) -> str:
    """The tool message content the model got for ``call_id`` in the second request."""
    tool_messages = [m for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [call_id]
    return tool_messages[0]["content"]


def assert_recovered(result: dict[str, Any]) -> None:
    assert result["exit_reason"] == "text"
    assert result["last_message"].text == "Sunny in Paris."
    first, fixed = result["steps"][0].tool_calls[0], result["steps"][1].tool_calls[0]
    assert first.error is True and first.exception is not None
    assert fixed.error is False
    assert fixed.result == '{"city": "Paris", "days": 1, "sky": "sunny"}'


def test_tool_exception_goes_back_and_model_corrects() -> None:
    result, server = run_recovery(ToolCallReply("get_weather", {"city": "Atlantis"}, id="bad"))
    text = error_sent_back(server, "bad")
    assert "LookupError" in text and "Atlantis is not on the map" in text
    assert result["messages"][2].tool_call_result.error is True
    assert_recovered(result)


def test_invalid_arguments_go_back_field_by_field() -> None:
    result, server = run_recovery(ToolCallReply("get_weather", {"city": "Paris", "days": "many"}, id="bad"))
    text = error_sent_back(server, "bad")
    assert text.startswith("Error: Invalid arguments for tool 'get_weather'")
    assert "- days: Input should be a valid integer" in text and text.count("Invalid arguments") == 1
    assert isinstance(result["steps"][0].tool_calls[0].exception, ToolArgumentsError)
    assert_recovered(result)


def test_malformed_json_goes_back_with_the_raw_text() -> None:
    result, server = run_recovery(ToolCallReply("get_weather", '{"city": ', id="bad"))
    text = error_sent_back(server, "bad")
    assert "not valid JSON" in text and '{"city": ' in text
    assert result["steps"][0].tool_calls[0].duration == 0.0
    assert_recovered(result)


def test_unknown_tool_goes_back_with_the_available_tools() -> None:
    result, server = run_recovery(ToolCallReply("get_wether", {"city": "Paris"}, id="bad"))
    text = error_sent_back(server, "bad")
    assert "get_wether" in text and "Available tools: get_weather" in text
    assert_recovered(result)


def test_plain_haystack_tool_exception_uses_the_cause() -> None:
    def boom(city: str) -> str:
        raise RuntimeError(f"backend down for {city}")

    tool = Tool(name="boom", description="Boom.", parameters=CITY, function=boom)
    script = [Reply(tool_calls=[ToolCallReply("boom", {"city": "Oslo"}, id="b")]), "Sorry."]
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), [tool]).run("go")
    text = error_sent_back(server, "b")
    assert text == "Error: tool 'boom' failed: RuntimeError: backend down for Oslo"
    assert result["exit_reason"] == "text"


@pytest.mark.parametrize(
    ("call", "error_type", "match"),
    [
        (ToolCallReply("get_weather", {"city": "Atlantis"}), ToolInvocationError, "Atlantis"),
        (ToolCallReply("get_weather", {"city": "Paris", "days": "many"}), ToolArgumentsError, "days"),
        (ToolCallReply("get_weather", '{"city": '), ToolInvocationError, "not valid JSON"),
        (ToolCallReply("nope", {}), ToolInvocationError, "Available tools: get_weather"),
    ],
)
def test_raise_mode_raises_each_kind_of_failure(call: ToolCallReply, error_type: type, match: str) -> None:
    with ScriptedServer([Reply(tool_calls=[call]), "never sent"]) as server:
        agent = Agent(generator_for(server), [create_tool(get_weather)], raise_on_tool_error=True)
        with pytest.raises(error_type, match=match):
            agent.run("go")
        assert len(server.requests) == 1


class Overlap:
    """Counts the tool calls running at the same moment: the peak proves concurrency without tight timings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.active = 0
        self.peak = 0

    @contextmanager
    def inside(self) -> Iterator[None]:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1


OVERLAP = Overlap()


@pytest.fixture(autouse=True)
def _fresh_overlap() -> None:
    OVERLAP.reset()


def slow_sync(city: str) -> str:
    """Sleeps a little.

    :param city: The city.
    """
    with OVERLAP.inside():
        time.sleep(0.3)
    return city


async def slow_async(city: str, ctx: RunContext[Any]) -> str:
    """Sleeps a little, asynchronously.

    :param city: The city.
    """
    with OVERLAP.inside():
        await asyncio.sleep(0.3)
    return f"{city}/{ctx.tool_call_id}"


def parallel_script(name: str, count: int) -> list[Any]:
    calls = [ToolCallReply(name, {"city": f"c{i}"}, id=f"id{i}") for i in range(count)]
    return [Reply(tool_calls=calls), "done"]


def assert_concurrent(step: Step) -> None:
    """The step's calls overlapped: the turn took less time than its calls did one after the other."""
    assert step.tools_duration < sum(record.duration for record in step.tool_calls)


def tool_results(result: dict[str, Any]) -> list[str]:
    return [m.tool_call_result.result for m in result["messages"] if m.tool_call_result is not None]


def test_eight_sync_tools_run_in_parallel() -> None:
    with ScriptedServer(parallel_script("slow_sync", 8)) as server:
        result = Agent(generator_for(server), [create_tool(slow_sync)]).run("go")
    assert tool_results(result) == [f"c{i}" for i in range(8)]
    assert OVERLAP.peak == 8  # the default concurrency runs all of them at once (Haystack's Agent: 4)
    assert_concurrent(result["steps"][0])


def test_sixteen_async_tools_run_in_parallel_under_sync_run() -> None:
    with ScriptedServer(parallel_script("slow_async", 16)) as server:
        result = Agent(generator_for(server), [create_tool(slow_async)]).run("go")
    assert tool_results(result) == [f"c{i}/id{i}" for i in range(16)]
    assert OVERLAP.peak == 16
    assert_concurrent(result["steps"][0])


async def test_sixteen_async_tools_run_in_parallel_under_run_async() -> None:
    with ScriptedServer(parallel_script("slow_async", 16)) as server:
        result = await Agent(generator_for(server), [create_tool(slow_async)]).run_async("go")
    assert tool_results(result) == [f"c{i}/id{i}" for i in range(16)]
    assert OVERLAP.peak == 16
    assert_concurrent(result["steps"][0])


async def test_sync_run_works_inside_a_running_event_loop() -> None:
    with ScriptedServer(parallel_script("slow_async", 4)) as server:
        result = Agent(generator_for(server), [create_tool(slow_async), create_tool(slow_sync)]).run("go")
    assert tool_results(result) == [f"c{i}/id{i}" for i in range(4)]


def test_tool_concurrency_limits_parallel_calls() -> None:
    with ScriptedServer(parallel_script("slow_sync", 4)) as server:
        result = Agent(generator_for(server), [create_tool(slow_sync)], tool_concurrency=2).run("go")
    assert tool_results(result) == ["c0", "c1", "c2", "c3"]
    assert OVERLAP.peak == 2
    step = result["steps"][0]  # two at a time: one of the two slots ran half the calls one after the other
    assert step.tools_duration >= sum(record.duration for record in step.tool_calls) / 2


# ---- sync turns without an event loop (one call inline, several on the shared pool) ----------------------


def sync_with_context(city: str, ctx: RunContext[Any]) -> str:
    """Sleeps a little, then reports which call it was.

    :param city: The city.
    """
    with OVERLAP.inside():
        time.sleep(0.2)
    return f"{city}/{ctx.tool_call_id}/{threading.current_thread().name.startswith('aiml-agent-tools')}"


def test_sync_only_turn_runs_concurrently_each_call_with_its_own_context() -> None:
    with ScriptedServer(parallel_script("sync_with_context", 6)) as server:
        result = Agent(generator_for(server), [create_tool(sync_with_context)]).run("go")
    assert tool_results(result) == [f"c{i}/id{i}/True" for i in range(6)]  # call order, own RunContext, pool
    assert OVERLAP.peak == 6
    assert_concurrent(result["steps"][0])


def test_raise_mode_on_a_sync_turn_raises_the_first_failure_in_call_order() -> None:
    calls = [
        ToolCallReply("get_weather", {"city": "Paris"}),
        ToolCallReply("get_weather", {"city": "Atlantis"}),
        ToolCallReply("get_weather", {"city": "Paris", "days": "many"}),
    ]
    with ScriptedServer([Reply(tool_calls=calls), "never sent"]) as server:
        agent = Agent(generator_for(server), [create_tool(get_weather)], raise_on_tool_error=True)
        with pytest.raises(ToolInvocationError, match="Atlantis"):
            agent.run("go")


SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("SEEN", default="unset")


def sets_a_context_variable(city: str) -> str:
    """Sets a context variable, which must not leak into the caller.

    :param city: The city.
    """
    SEEN.set(city)
    return city


@pytest.mark.parametrize("count", [1, 3])
def test_sync_tools_context_changes_stay_inside_the_call(count: int) -> None:
    with ScriptedServer(parallel_script("sets_a_context_variable", count)) as server:
        result = Agent(generator_for(server), [create_tool(sets_a_context_variable)]).run("go")
    assert tool_results(result) == [f"c{i}" for i in range(count)]
    assert SEEN.get() == "unset"


@pytest.mark.parametrize("tool", [slow_sync, slow_async], ids=["sync tool", "async tool"])
def test_sync_run_leaves_the_callers_event_loop_set(tool: Any) -> None:
    """openai-agents' Runner.run_sync (and others) use the thread's current loop: a run must not unset it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with ScriptedServer(parallel_script(tool.__name__, 2)) as server:
            Agent(generator_for(server), [create_tool(tool)]).run("go")
        assert asyncio.get_event_loop_policy().get_event_loop() is loop
        assert not loop.is_closed()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def uses_asyncio_run(city: str) -> str:
    """A sync tool that runs a coroutine of its own.

    :param city: The city.
    """

    async def inner() -> str:
        await asyncio.sleep(0)
        return city.upper()

    return asyncio.run(inner())


async def test_sync_tool_runs_off_the_callers_running_loop() -> None:
    """A sync run inside async code: the tool goes to a worker thread, so its own asyncio.run works."""
    with ScriptedServer(parallel_script("uses_asyncio_run", 1)) as server:
        result = Agent(generator_for(server), [create_tool(uses_asyncio_run)]).run("go")
    assert tool_results(result) == ["C0"]


def test_shared_pool_is_reused_and_grows_for_a_larger_concurrency() -> None:
    from aiml_agent import _tool_runner as tool_runner

    first = tool_runner.shared_executor()
    assert tool_runner.shared_executor(tool_runner.MIN_POOL_WORKERS) is first
    larger = tool_runner.shared_executor(tool_runner.MIN_POOL_WORKERS + 1)
    assert larger is not first
    assert tool_runner.shared_executor() is larger
    assert larger.submit(lambda: 42).result() == 42


def grow_the_shared_pool(city: str) -> str:
    """While this run is in progress, another runner needs more workers and replaces the shared pool.

    :param city: The city.
    """
    from aiml_agent import _tool_runner as tool_runner

    assert tool_runner._POOL is not None
    tool_runner.shared_executor(tool_runner._POOL[1] + 1)
    return city


@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_a_run_keeps_working_when_another_runner_replaces_the_shared_pool(mode: str) -> None:
    """With concurrency 1 the second call is submitted after the pool was replaced: it must still run."""
    calls = [ToolCallReply("grow_the_shared_pool", {"city": f"c{i}"}, id=f"id{i}") for i in range(2)]
    with ScriptedServer([Reply(tool_calls=calls), "done"]) as server:
        agent = Agent(generator_for(server), [create_tool(grow_the_shared_pool)], tool_concurrency=1)
        result = agent.run("go") if mode == "run" else await agent.run_async("go")
    assert tool_results(result) == ["c0", "c1"]
    assert not any(record.error for record in result["steps"][0].tool_calls)


def test_tool_runner_used_alone_refuses_a_concurrency_below_one() -> None:
    from aiml_agent._tool_runner import ToolRunner

    with pytest.raises(ValueError, match="concurrency must be at least 1, got 0"):
        ToolRunner({}, concurrency=0, make_context=lambda call: RunContext())
