"""Agent loop against ScriptedServer: answers, tool turns, call order, exit reasons, usage, settings, serde."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from conftest import generator_for
from haystack import Pipeline, component
from haystack.core.serialization import allow_deserialization_module
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool
from haystack.tools import Toolset as HaystackToolset
from haystack.utils import Secret
from pydantic import BaseModel

from aiml_agent.agent import Agent
from aiml_agent.context import RunContext, current_run_context
from aiml_agent.generator import AIMLAPIChatGenerator
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply
from aiml_agent.tools import create_tool

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def weather(city: str) -> str:
    return f"Sunny in {city}"


def weather_tool() -> Tool:
    return Tool(name="get_weather", description="Weather of a city.", parameters=CITY, function=weather)


def sleepy_tool(name: str, seconds: float, calls: list[str]) -> Tool:
    def run(city: str) -> str:
        time.sleep(seconds)
        calls.append(name)
        return f"{name}:{city}"

    return Tool(name=name, description="Sleeps.", parameters=CITY, function=run)


def test_text_answer_ends_run_with_system_prompt_and_usage() -> None:
    with ScriptedServer(["Hello!"]) as server:
        agent = Agent(generator_for(server), system_prompt="Be brief.")
        result = agent.run("Hi")
    assert [m.role.value for m in result["messages"]] == ["system", "user", "assistant"]
    assert result["last_message"].text == "Hello!"
    assert result["exit_reason"] == "text"
    assert result["usage"].requests == 1
    assert result["usage"].total_tokens == result["usage"].prompt_tokens + result["usage"].completion_tokens
    assert result["usage"].cost is None
    assert "output" not in result
    sent = server.requests[0].body["messages"]
    assert sent == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert "tools" not in server.requests[0].body


def test_existing_system_message_is_not_duplicated() -> None:
    with ScriptedServer(["ok"]) as server:
        agent = Agent(generator_for(server), system_prompt="Be brief.")
        history = [ChatMessage.from_system("Custom."), ChatMessage.from_user("Hi")]
        result = agent.run(history)
    assert [m.text for m in result["messages"][:2]] == ["Custom.", "Hi"]
    assert server.requests[0].body["messages"][0] == {"role": "system", "content": "Custom."}


def test_tool_call_then_answer_builds_the_conversation_and_steps() -> None:
    script = [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"}, id="call_1")]), "It is sunny."]
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), [weather_tool()]).run("Weather in Paris?")
    roles = [m.role.value for m in result["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    tool_message = result["messages"][2]
    assert tool_message.tool_call_result.result == "Sunny in Paris"
    assert tool_message.tool_call_result.origin.id == "call_1"
    assert tool_message.tool_call_result.error is False
    assert result["exit_reason"] == "text"
    second = server.requests[1].body["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny in Paris"}
    assert server.requests[0].body["tools"][0]["function"]["name"] == "get_weather"
    steps = result["steps"]
    assert [s.index for s in steps] == [1, 2]
    record = steps[0].tool_calls[0]
    assert (record.tool_name, record.arguments, record.result, record.error) == (
        "get_weather",
        {"city": "Paris"},
        "Sunny in Paris",
        False,
    )
    assert steps[0].model_duration > 0
    assert steps[1].tool_calls == ()
    assert steps[0].to_dict()["tool_calls"][0]["result"] == "Sunny in Paris"


def test_results_keep_call_order_when_tools_finish_in_another_order() -> None:
    finished: list[str] = []
    tools = [sleepy_tool("slow", 0.2, finished), sleepy_tool("fast", 0.0, finished)]
    calls = [ToolCallReply("slow", {"city": "A"}, id="c1"), ToolCallReply("fast", {"city": "B"}, id="c2")]
    with ScriptedServer([Reply(tool_calls=calls), "done"]) as server:
        result = Agent(generator_for(server), tools).run("go")
    assert finished == ["fast", "slow"]  # really concurrent: the fast one finished first
    tool_messages = [m for m in result["messages"] if m.tool_call_result is not None]
    assert [m.tool_call_result.origin.id for m in tool_messages] == ["c1", "c2"]
    assert [m.tool_call_result.result for m in tool_messages] == ["slow:A", "fast:B"]
    assert [m["tool_call_id"] for m in server.requests[1].body["messages"] if m["role"] == "tool"] == ["c1", "c2"]


def test_runaway_model_stops_at_max_steps_without_raising() -> None:
    def always_call(body: dict[str, Any]) -> Reply:
        return Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})])

    with ScriptedServer(always_call) as server:
        result = Agent(generator_for(server), [weather_tool()], max_steps=3).run("loop")
        assert len(server.requests) == 3
        overridden = Agent(generator_for(server), [weather_tool()]).run("loop", max_steps=2)
        assert (overridden["exit_reason"], len(overridden["steps"]), len(server.requests)) == ("max_steps", 2, 5)
    assert result["exit_reason"] == "max_steps"
    assert len(result["steps"]) == 3
    assert result["usage"].requests == 3
    assert result["last_message"].tool_call_result is not None  # the last tool ran; messages end consistent


def test_exit_condition_tool_stops_after_it_ran_without_error() -> None:
    def finish(city: str) -> str:
        if city == "bad":
            raise ValueError("no such city")
        return "saved"

    tools = [weather_tool(), Tool(name="finish", description="Finish.", parameters=CITY, function=finish)]
    script = [
        Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]),
        Reply(tool_calls=[ToolCallReply("finish", {"city": "bad"})]),  # errors: the run goes on
        Reply(tool_calls=[ToolCallReply("finish", {"city": "Paris"})]),
        "never sent",
    ]
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), tools, exit_conditions=["finish"]).run("go")
        assert len(server.requests) == 3
    assert result["exit_reason"] == "finish"
    assert result["last_message"].tool_call_result.result == "saved"


def test_unknown_exit_condition_is_rejected_at_init() -> None:
    with pytest.raises(ValueError, match="nope"):
        Agent(AIMLAPIChatGenerator(api_key=Secret.from_token("k")), [weather_tool()], exit_conditions=["nope"])
    bare = Agent(AIMLAPIChatGenerator(api_key=Secret.from_token("k")), [weather_tool()], exit_conditions="get_weather")
    assert bare.exit_conditions == ["get_weather"]


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        (ChatMessage.from_user("Hi"), TypeError, "list of ChatMessage, got ChatMessage"),
        ([{"role": "user", "content": "Hi"}], TypeError, r"messages\[0\] is a dict"),
        ([], ValueError, "no messages"),
    ],
)
def test_bad_messages_are_named_before_any_request(messages: Any, error: type, match: str) -> None:
    with ScriptedServer(["never sent"]) as server:
        with pytest.raises(error, match=match):
            Agent(generator_for(server)).run(messages)
        assert server.requests == []


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(text="cut", finish_reason="length"), "length"),
        (Reply(text=None, finish_reason="content_filter"), "content_filter"),
        (Reply(text=None), "text"),
    ],
)
def test_incomplete_or_empty_replies_stop(reply: Reply, reason: str) -> None:
    with ScriptedServer([reply, "never sent"]) as server:
        result = Agent(generator_for(server), [weather_tool()]).run("go")
        assert len(server.requests) == 1
    assert result["exit_reason"] == reason


def test_usage_and_cost_are_summed_over_model_calls() -> None:
    script = [
        Reply(
            tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})],
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            cost={"credits_used": 40, "usd_spent": 0.00002},
        ),
        Reply(
            text="Done",
            usage={"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22},
            cost={"credits_used": 2, "usd_spent": 0.000001},
        ),
    ]
    with ScriptedServer(script) as server:
        usage = Agent(generator_for(server), [weather_tool()]).run("go")["usage"]
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        2,
        30,
        7,
        37,
    )
    assert usage.credits_used == 42
    assert usage.usd_spent == pytest.approx(0.000021)


def test_tools_strict_is_forwarded_on_every_call() -> None:
    script = [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]), "ok"]
    with ScriptedServer(script) as server:
        Agent(generator_for(server), [weather_tool()], tools_strict=True).run("go")
    for request in server.requests:
        function = request.body["tools"][0]["function"]
        assert function["strict"] is True
        assert function["parameters"]["additionalProperties"] is False


def test_tools_given_to_run_override_init_tools() -> None:
    other = Tool(name="other", description="Other.", parameters=CITY, function=lambda city: "other")
    with ScriptedServer(["ok"]) as server:
        Agent(generator_for(server), [weather_tool()]).run("go", tools=[other])
    assert [t["function"]["name"] for t in server.requests[0].body["tools"]] == ["other"]


@pytest.mark.parametrize("init_tools", [True, False], ids=["init tools", "no init tools"])
async def test_exit_condition_not_among_the_run_tools_is_rejected_before_any_request(init_tools: bool) -> None:
    other = Tool(name="other", description="Other.", parameters=CITY, function=lambda city: "other")
    with ScriptedServer(["never sent"]) as server:
        agent = Agent(generator_for(server), [weather_tool()] if init_tools else None, exit_conditions=["get_weather"])
        with pytest.raises(ValueError, match=r"exit_conditions \['get_weather'\].*tools: \['other'\]"):
            agent.run("go", tools=[other])
        with pytest.raises(ValueError, match="get_weather"):
            await agent.run_async("go", tools=[other])
        assert server.requests == []


class RemoteToolset(HaystackToolset):
    """A Toolset that loads its tools in ``warm_up()`` (as MCPToolset does): empty until warmed up."""

    def __init__(self) -> None:
        super().__init__(tools=[])
        self.warm_ups = 0

    def warm_up(self) -> None:
        self.warm_ups += 1
        if not self.tools:
            self.tools = [weather_tool()]


def weather_script(runs: int) -> list[Any]:
    return [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Oslo"})]), "done"] * runs


async def test_tools_are_warmed_up_outside_a_pipeline() -> None:
    """Haystack's Tool.invoke warms a tool, but a Toolset that loads its tools in warm_up() must be warmed
    before the first request: init tools once per agent (by its first run), run-time tools at every run."""
    init_set, run_set = RemoteToolset(), RemoteToolset()
    with ScriptedServer(weather_script(4)) as server:
        agent = Agent(generator_for(server), init_set)
        first = agent.run("go")
        await agent.run_async("go")
        agent.run("go", tools=run_set)
        await agent.run_async("go", tools=run_set)
        assert all(r.body["tools"][0]["function"]["name"] == "get_weather" for r in server.requests)
    assert first["steps"][0].tool_calls[0].result == "Sunny in Oslo"
    assert (init_set.warm_ups, run_set.warm_ups) == (1, 2)


def test_warm_up_counts_as_the_init_tools_warm_up() -> None:
    toolset = RemoteToolset()
    with ScriptedServer(weather_script(1)) as server:
        agent = Agent(generator_for(server), toolset)
        agent.warm_up()
        assert agent.run("go")["steps"][0].tool_calls[0].result == "Sunny in Oslo"
    assert toolset.warm_ups == 1


def test_tools_receive_run_context_with_deps() -> None:
    seen: list[RunContext[Any]] = []

    def remember(city: str) -> str:
        context = current_run_context.get()
        assert context is not None
        seen.append(context)
        return f"{context.deps['user']} in {city}"

    tool = Tool(name="remember", description="Remember.", parameters=CITY, function=remember)
    calls = [ToolCallReply("remember", {"city": "Paris"}, id="a"), ToolCallReply("remember", {"city": "Rome"}, id="b")]
    with ScriptedServer([Reply(tool_calls=calls), "ok"]) as server:
        result = Agent(generator_for(server), [tool]).run("go", deps={"user": "ann"})
    assert sorted(c.tool_call_id for c in seen) == ["a", "b"]
    assert {c.step for c in seen} == {1} and {c.tool_name for c in seen} == {"remember"}
    assert [m.role.value for m in seen[0].messages] == ["user", "assistant"]
    assert result["messages"][2].tool_call_result.result == "ann in Paris"
    assert current_run_context.get() is None


def test_tool_calls_of_one_step_share_one_copy_of_the_messages() -> None:
    """A turn of many calls copies the conversation once, not once per call; the run's own list stays apart."""
    seen: list[RunContext[Any]] = []

    def remember(city: str) -> str:
        context = current_run_context.get()
        assert context is not None
        seen.append(context)
        return city

    tool = Tool(name="remember", description="Remember.", parameters=CITY, function=remember)
    calls = [ToolCallReply("remember", {"city": f"c{i}"}, id=f"id{i}") for i in range(3)]
    with ScriptedServer([Reply(tool_calls=calls), Reply(tool_calls=calls[:1]), "ok"]) as server:
        result = Agent(generator_for(server), [tool]).run("go")
    first_step, second_step = seen[:3], seen[3]
    assert all(c.messages is first_step[0].messages for c in first_step)
    assert first_step[0].messages is not result["messages"] and second_step.messages is not first_step[0].messages
    assert len(first_step[0].messages) == 2 and len(second_step.messages) == 6


def test_run_context_of_a_later_step_sees_the_messages_so_far() -> None:
    seen: list[RunContext[Any]] = []

    def look(ctx: RunContext[Any], city: str) -> str:
        """Remember the context.

        :param city: The city.
        """
        seen.append(ctx)
        return f"seen {city}"

    script = [
        Reply(tool_calls=[ToolCallReply("look", {"city": "A"}, id="first")]),
        Reply(text="Checking B too.", tool_calls=[ToolCallReply("look", {"city": "B"}, id="second")]),
        "done",
    ]
    with ScriptedServer(script) as server:
        Agent(generator_for(server), [create_tool(look)], system_prompt="S").run("go", deps="the deps")
    later = seen[1]
    assert (later.step, later.tool_call_id, later.deps) == (2, "second", "the deps")
    assert [m.role.value for m in later.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert later.messages[3].tool_call_result.result == "seen A"
    assert later.messages[4].text == "Checking B too."


def test_to_dict_from_dict_round_trip() -> None:
    allow_deserialization_module(__name__)
    agent = Agent(
        AIMLAPIChatGenerator(api_key=Secret.from_env_var("AIMLAPI_API_KEY"), model="m"),
        [weather_tool()],
        system_prompt="S",
        max_steps=4,
        tools_strict=True,
        exit_conditions=["text", "get_weather"],
        tool_concurrency=3,
        raise_on_tool_error=True,
    )
    data = agent.to_dict()
    assert data["type"] == "aiml_agent.agent.Agent"
    assert data["init_parameters"]["tools"][0]["data"]["name"] == "get_weather"
    restored = Agent.from_dict(data)
    assert restored.to_dict() == data
    assert restored.tools[0].invoke(city="Oslo") == "Sunny in Oslo"
    assert (restored.max_steps, restored.tools_strict, restored.tool_concurrency) == (4, True, 3)


class Verdict(BaseModel):
    ok: bool


def test_output_type_and_function_tools_round_trip() -> None:
    allow_deserialization_module(__name__)
    agent = Agent(AIMLAPIChatGenerator(model="m"), [create_tool(weather)], output_type=Verdict, output_retries=1)
    data = agent.to_dict()
    assert data["init_parameters"]["output_type"] == f"{__name__}.Verdict"
    restored = Agent.from_dict(data)
    assert restored.output_type is Verdict and restored.output_retries == 1
    assert restored.tools[0].invoke(city="Oslo") == "Sunny in Oslo"
    assert restored.to_dict() == data


def test_default_generator_needs_no_key_until_a_request() -> None:
    agent = Agent()
    assert isinstance(agent.chat_generator, AIMLAPIChatGenerator)
    assert agent.to_dict()["init_parameters"]["chat_generator"]["init_parameters"]["api_key"]["type"] == "env_var"


def test_agent_inside_a_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_deserialization_module(__name__)
    monkeypatch.setenv("AIMLAPI_API_KEY", "test-key")
    script = [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]), "It is sunny."]
    with ScriptedServer(script) as server:
        original = Pipeline()
        generator = AIMLAPIChatGenerator(api_base_url=server.base_url, max_retries=0)
        original.add_component("agent", Agent(generator, [weather_tool()]))
        pipeline = Pipeline.from_dict(original.to_dict())  # the pipeline survives serialization too
        result = pipeline.run({"agent": {"messages": [ChatMessage.from_user("Weather?")]}})
    assert result["agent"]["last_message"].text == "It is sunny."
    assert result["agent"]["exit_reason"] == "text"
    assert len(result["agent"]["messages"]) == 4


def run_in_fresh_process(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter without any deserialization allowlist from the environment."""
    env = {k: v for k, v in os.environ.items() if k != "HAYSTACK_DESERIALIZATION_ALLOWLIST"}
    env["HAYSTACK_TELEMETRY_ENABLED"] = "False"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60
    )


def test_from_dict_works_in_a_fresh_process_that_imported_only_the_agent_module() -> None:
    done = run_in_fresh_process(
        """
        from aiml_agent.agent import Agent

        data = Agent(system_prompt="S").to_dict()
        assert Agent.from_dict(data).to_dict() == data
        print("restored")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "restored"


def test_pipeline_loads_in_a_fresh_process_that_imported_only_the_generator_module() -> None:
    """Needs ``from aiml_agent import _haystack`` in generator.py (the module that makes the allowlist call)."""
    done = run_in_fresh_process(
        """
        from haystack import Pipeline
        from aiml_agent.generator import AIMLAPIChatGenerator

        pipeline = Pipeline()
        pipeline.add_component("llm", AIMLAPIChatGenerator(model="m"))
        data = pipeline.to_dict()
        assert Pipeline.from_dict(data).to_dict() == data
        print("restored")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "restored"


def test_plain_functions_are_made_tools_and_duplicate_names_are_refused() -> None:
    script = [Reply(tool_calls=[ToolCallReply("weather", {"city": "Oslo"})]), "ok"]
    with ScriptedServer(script) as server:
        agent = Agent(generator_for(server), [weather])
        result = agent.run("go")
    assert result["steps"][0].tool_calls[0].result == "Sunny in Oslo"
    assert server.requests[0].body["tools"][0]["function"]["name"] == "weather"
    generator = AIMLAPIChatGenerator(api_key=Secret.from_token("k"))
    with pytest.raises(ValueError, match="Two tools are named 'get_weather'"):
        Agent(generator, [weather_tool(), weather_tool()])
    with pytest.raises(ValueError, match="Two tools are named 'weather'"):
        Agent(generator, [weather, HaystackToolset([create_tool(weather)])])
    with pytest.raises(TypeError, match=r"wrap one tool in a list: tools=\[my_tool\]"):
        Agent(generator, create_tool(weather))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tools items must be Tools, Toolsets or functions, got int"):
        Agent(generator, [weather, 3])  # type: ignore[list-item]


async def test_duplicate_names_in_run_time_tools_are_refused_before_any_request() -> None:
    with ScriptedServer(["never sent"]) as server:
        agent = Agent(generator_for(server))
        with pytest.raises(ValueError, match="Two tools are named 'get_weather'"):
            agent.run("go", tools=[weather_tool(), weather_tool()])
        with pytest.raises(ValueError, match="Two tools are named 'get_weather'"):
            await agent.run_async("go", tools=[weather_tool(), weather_tool()])
        assert server.requests == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
async def test_max_steps_given_to_run_is_checked_like_at_init(bad: Any) -> None:
    with ScriptedServer(["never sent"]) as server:
        agent = Agent(generator_for(server))
        with pytest.raises(ValueError, match="max_steps must be a whole number of at least 1"):
            agent.run("go", max_steps=bad)
        with pytest.raises(ValueError, match="max_steps must be a whole number of at least 1"):
            await agent.run_async("go", max_steps=bad)
        with pytest.raises(ValueError, match="max_steps must be a whole number of at least 1"):
            Agent(generator_for(server), max_steps=bad)
        assert server.requests == []


async def test_a_sync_streaming_callback_under_run_async_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    chunks: list[Any] = []
    script = [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Oslo"})]), "Sunny."] * 2
    with ScriptedServer(script) as server, caplog.at_level("WARNING"):
        await Agent(generator_for(server), [weather_tool()]).run_async("go", streaming_callback=chunks.append)
        await Agent(generator_for(server), [weather_tool()], streaming_callback=chunks.append).run_async("go")
    assert [r.getMessage() for r in caplog.records if "may block" in r.getMessage()] == []
    assert "".join(c.content for c in chunks) == "Sunny.Sunny."


def test_an_async_streaming_callback_under_sync_run_is_refused() -> None:
    async def collect(chunk: Any) -> None:
        return None

    with ScriptedServer(["never sent"]) as server:
        with pytest.raises(ValueError, match="cannot be a coroutine"):
            Agent(generator_for(server)).run("go", streaming_callback=collect)
        assert server.requests == []


def test_chat_generator_without_run_async_works_under_run_async() -> None:
    @component
    class SyncOnly:
        @component.output_types(replies=list[ChatMessage])
        def run(self, messages: list[ChatMessage], **kwargs: Any) -> dict[str, Any]:
            return {"replies": [ChatMessage.from_assistant(f"{len(messages)} messages")]}

    import asyncio

    result = asyncio.run(Agent(SyncOnly()).run_async("go"))
    assert result["last_message"].text == "1 messages"


class LazyToolset(HaystackToolset):
    """A toolset that finds its tools only when warmed up, as an MCP server's does."""

    def __init__(self) -> None:
        super().__init__(tools=[])

    def warm_up(self) -> None:
        if not self.tools:
            self.tools.append(weather_tool())


def test_exit_conditions_may_name_tools_a_toolset_loads_when_warmed_up() -> None:
    script = [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]), "never asked"]
    agent = Agent(tools=[LazyToolset()], exit_conditions=["get_weather"])  # no tools yet: not refused here
    with ScriptedServer(script) as server:
        agent.chat_generator = generator_for(server)
        result = agent.run("Weather?")
        assert result["exit_reason"] == "get_weather"
        with pytest.raises(ValueError, match="exit_conditions \\['nope'\\]"):  # checked once the tools are known
            Agent(generator_for(server), tools=[LazyToolset()], exit_conditions=["nope"]).run("x")
        assert len(server.requests) == 1
