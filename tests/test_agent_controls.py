"""Tool controls through the Agent against ScriptedServer: timeouts (async cancelled, sync abandoned), retries
and ToolRetry, output limits, usage limits, and the settings surviving to_dict/from_dict."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import generator_for
from haystack.core.serialization import allow_deserialization_module
from haystack.dataclasses import StreamingChunk
from haystack.tools import Tool
from haystack.utils import Secret

from aiml_agent import (
    Agent,
    AIMLAPIChatGenerator,
    ToolControls,
    ToolRetry,
    ToolTimeoutError,
    UsageLimits,
    create_tool,
    tool,
)
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
RELEASE = threading.Event()  # lets the hanging sync tools of a test finish when it ends
CANCELLED: list[str] = []


@pytest.fixture(autouse=True)
def _release_hanging_tools() -> Iterator[None]:
    RELEASE.clear()
    CANCELLED.clear()
    yield
    RELEASE.set()


@tool(timeout=0.3)
def hangs(city: str) -> str:
    """Never answers in time.

    :param city: The city.
    """
    RELEASE.wait(60)
    return f"late {city} on {threading.current_thread().name}"


@tool(timeout=0.3)
async def hangs_async(city: str) -> str:
    """Never answers in time, asynchronously.

    :param city: The city.
    """
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        CANCELLED.append(city)
        raise
    return "late"


def quick(city: str) -> str:
    """Answers at once.

    :param city: The city.
    """
    return f"quick {city}"


def one_turn(*calls: ToolCallReply, answer: str = "done") -> list[Any]:
    return [Reply(tool_calls=list(calls)), answer]


def sent_tool_contents(server: ScriptedServer, request: int = 1) -> list[str]:
    return [m["content"] for m in server.requests[request].body["messages"] if m["role"] == "tool"]


# ---- timeouts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["run", "run_async"])
@pytest.mark.parametrize("hanging", [hangs, hangs_async], ids=["sync tool", "async tool"])
async def test_a_hanging_tool_times_out_and_the_run_goes_on(mode: str, hanging: Any) -> None:
    calls = [ToolCallReply(hanging.name, {"city": "Oslo"}, id="h"), ToolCallReply("quick", {"city": "Rome"}, id="q")]
    with ScriptedServer(one_turn(*calls)) as server:
        agent = Agent(generator_for(server), [hanging, create_tool(quick)])
        started = time.monotonic()
        result = agent.run("go") if mode == "run" else await agent.run_async("go")
        elapsed = time.monotonic() - started
        contents = sent_tool_contents(server)
    assert elapsed < 10  # the tool would hang for 60 s
    assert contents == [f"Error: tool '{hanging.name}' timed out after 0.3 s and gave no result.", "quick Rome"]
    timed_out, fine = result["steps"][0].tool_calls
    assert timed_out.failure is not None and timed_out.failure.kind == "timeout" and timed_out.failure.timeout == 0.3
    assert isinstance(timed_out.exception, ToolTimeoutError) and timed_out.duration == 0.3
    assert fine.error is False and result["exit_reason"] == "text"
    if hanging is hangs_async:
        assert CANCELLED == ["Oslo"]


def test_agent_wide_timeout_applies_to_a_plain_haystack_tool_and_a_tool_timeout_wins() -> None:
    plain = Tool(name="plain", description="Hangs.", parameters=CITY, function=lambda city: RELEASE.wait(60) or "late")
    calls = [ToolCallReply("plain", {"city": "A"}), ToolCallReply("hangs", {"city": "B"})]
    with ScriptedServer(one_turn(*calls)) as server:
        result = Agent(generator_for(server), [plain, hangs], tool_timeout=0.2).run("go")
    assert [record.failure.timeout for record in result["steps"][0].tool_calls] == [0.2, 0.3]


def test_abandoned_sync_calls_never_hold_a_pool_worker() -> None:
    """Timed calls run on threads of their own: abandoned ones leave the shared pool to the next calls."""
    calls = [ToolCallReply("hangs", {"city": f"c{i}"}) for i in range(3)]
    with ScriptedServer([*one_turn(*calls), *one_turn(ToolCallReply("quick", {"city": "x"}))]) as server:
        agent = Agent(generator_for(server), [hangs, create_tool(quick)])
        agent.run("go")
        hung = [t for t in threading.enumerate() if t.name == "aiml-agent-timed-tool"]
        assert len(hung) >= 3 and all(t.daemon for t in hung)  # still running, never joined at exit
        pool_threads = [t for t in threading.enumerate() if t.name.startswith("aiml-agent-tools")]
        assert not set(hung) & set(pool_threads)
        assert agent.run("again")["steps"][0].tool_calls[0].result == "quick x"
    RELEASE.set()
    for thread in hung:
        thread.join(5)
    assert not any(thread.is_alive() for thread in hung)


def test_a_late_result_of_an_abandoned_call_is_dropped() -> None:
    with ScriptedServer(one_turn(ToolCallReply("hangs", {"city": "Oslo"}))) as server:
        result = Agent(generator_for(server), [hangs]).run("go")
    RELEASE.set()
    time.sleep(0.2)
    assert all("late" not in message.text for message in result["messages"] if message.text)
    assert result["messages"][2].tool_call_result.result.startswith("Error: tool 'hangs' timed out")


def test_raise_mode_raises_the_timeout() -> None:
    with ScriptedServer(one_turn(ToolCallReply("hangs", {"city": "Oslo"}))) as server:
        agent = Agent(generator_for(server), [hangs], raise_on_tool_error=True)
        with pytest.raises(ToolTimeoutError, match="'hangs' timed out after 0.3 s"):
            agent.run("go")


@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_a_timeout_shows_in_the_stream(mode: str) -> None:
    chunks: list[StreamingChunk] = []
    with ScriptedServer(one_turn(ToolCallReply("hangs_async", {"city": "Oslo"}))) as server:
        agent = Agent(generator_for(server), [hangs_async])
        if mode == "run":
            agent.run("go", streaming_callback=chunks.append)
        else:
            await agent.run_async("go", streaming_callback=chunks.append)
    (result,) = [c for c in chunks if c.tool_call_result is not None]
    assert result.tool_call_result.error is True and result.meta["failure"] == "timeout"
    assert "timed out after 0.3 s" in result.tool_call_result.result


# ---- retries and ToolRetry -----------------------------------------------------------------------------------


@tool(retries=1)
def parse_date(text: str) -> str:
    """Parse a date.

    :param text: The date.
    """
    if "-" not in text:
        raise ToolRetry(f"'{text}' is not a date: use an ISO date like 2026-01-31")
    return text


def test_tool_retry_text_goes_to_the_model_as_it_is() -> None:
    script = one_turn(ToolCallReply("parse_date", {"text": "tomorrow"}))
    script.insert(1, Reply(tool_calls=[ToolCallReply("parse_date", {"text": "2026-01-31"})]))
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), [parse_date]).run("When?")
        first = sent_tool_contents(server, 1)
    assert first == ["'tomorrow' is not a date: use an ISO date like 2026-01-31"]
    failure = result["steps"][0].tool_calls[0].failure
    assert failure is not None and failure.kind == "retry" and result["exit_reason"] == "text"


@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_a_tool_failing_more_than_its_retries_ends_the_run(mode: str) -> None:
    def always(body: dict[str, Any]) -> Reply:
        return Reply(tool_calls=[ToolCallReply("parse_date", {"text": "someday"})])

    with ScriptedServer(always) as server:
        agent = Agent(generator_for(server), [parse_date])
        result = agent.run("When?") if mode == "run" else await agent.run_async("When?")
        assert len(server.requests) == 2  # failed once (tolerated), twice (one more than retries=1): stop
    assert result["exit_reason"] == "tool_retries"
    assert [m.role.value for m in result["messages"]] == ["user", "assistant", "tool", "assistant", "tool"]
    assert len(result["steps"]) == 2 and result["usage"].requests == 2


def test_agent_wide_retries_count_every_kind_of_failure_of_one_tool() -> None:
    def boom(city: str) -> str:
        raise RuntimeError("down")

    plain = Tool(name="boom", description="Fails.", parameters=CITY, function=boom)
    script = [
        Reply(tool_calls=[ToolCallReply("boom", '{"city": ')]),  # malformed arguments
        Reply(tool_calls=[ToolCallReply("nope", {})]),  # an unknown tool does not count against any tool
        Reply(tool_calls=[ToolCallReply("boom", {"city": "x"})]),
        Reply(tool_calls=[ToolCallReply("boom", {"city": "y"})]),
        "never sent",
    ]
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), [plain], tool_retries=2).run("go")
        assert len(server.requests) == 4
    assert result["exit_reason"] == "tool_retries"
    kinds = [step.tool_calls[0].failure.kind for step in result["steps"]]
    assert kinds == ["malformed_arguments", "unknown_tool", "exception", "exception"]


# ---- output limits --------------------------------------------------------------------------------------------


@tool(max_output_chars=200)
def big_report(city: str) -> str:
    """A long report.

    :param city: The city.
    """
    return "HEAD" + "x" * 5000 + "TAIL"


def test_a_long_result_keeps_head_and_tail_and_the_record_says_it_was_cut() -> None:
    with ScriptedServer(one_turn(ToolCallReply("big_report", {"city": "Oslo"}))) as server:
        result = Agent(generator_for(server), [big_report]).run("go")
        (sent,) = sent_tool_contents(server)
    assert len(sent) <= 200 and sent.startswith("HEADxxx") and sent.endswith("xxxTAIL")
    assert "characters cut" in sent and "of 5008 characters" in sent
    record = result["steps"][0].tool_calls[0]
    assert record.truncated and record.result == sent
    assert record.truncated_chars == 5008 - (len(sent) - len(sent.split("\n")[1]) - 2)


def test_agent_wide_output_limit_cuts_plain_tools_and_error_texts_too() -> None:
    def fails(city: str) -> str:
        raise ValueError("e" * 1000)

    tools = [
        Tool(name="dump", description="Dumps.", parameters=CITY, function=lambda city: "y" * 1000),
        Tool(name="fails", description="Fails.", parameters=CITY, function=fails),
    ]
    calls = [ToolCallReply("dump", {"city": "a"}), ToolCallReply("fails", {"city": "b"})]
    with ScriptedServer(one_turn(*calls)) as server:
        result = Agent(generator_for(server), tools, max_tool_output_chars=150).run("go")
    dump, failed = result["steps"][0].tool_calls
    assert len(dump.result) <= 150 and dump.truncated and not dump.error
    assert len(failed.result) <= 150 and failed.truncated and failed.result.startswith("Error: tool 'fails' failed")


def test_control_values_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        tool(timeout=0)
    with pytest.raises(ValueError, match="max_output_chars must be at least 100"):
        Agent(AIMLAPIChatGenerator(api_key=Secret.from_token("k")), max_tool_output_chars=10)
    with pytest.raises(ValueError, match="retries must be a whole number"):
        ToolControls(retries=-1)
    with pytest.raises(TypeError, match="requires_approval must be a bool or a callable"):
        ToolControls(requires_approval="yes")  # type: ignore[arg-type]


# ---- usage limits ------------------------------------------------------------------------------------------------


def looping(body: dict[str, Any]) -> Reply:
    return Reply(
        tool_calls=[ToolCallReply("quick", {"city": "x"})],
        usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        cost={"credits_used": 20, "usd_spent": 0.00001},
    )


@pytest.mark.parametrize(
    ("limits", "requests"),
    [
        (UsageLimits(max_requests=2), 2),
        (UsageLimits(max_total_tokens=40), 3),  # 15, 30, 45: the reply that passed 40 is the last
        (UsageLimits(max_cost_usd=0.00002), 2),  # AIMLAPI's reported cost: 0.00001 per reply
    ],
    ids=["requests", "tokens", "cost"],
)
@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_usage_limits_end_the_run_before_the_next_request(mode: str, limits: UsageLimits, requests: int) -> None:
    with ScriptedServer(looping) as server:
        agent = Agent(generator_for(server), [create_tool(quick)], usage_limits=limits)
        result = agent.run("go") if mode == "run" else await agent.run_async("go")
        assert len(server.requests) == requests
    assert result["exit_reason"] == "usage_limit" and result["usage"].requests == requests
    assert result["last_message"].tool_call_result is not None  # the last reply's tools ran: messages consistent


def test_a_cost_limit_without_reported_cost_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedServer([Reply(tool_calls=[ToolCallReply("quick", {"city": "x"})]), "done"]) as server:
        agent = Agent(generator_for(server), [create_tool(quick)], usage_limits=UsageLimits(max_cost_usd=1))
        with caplog.at_level(logging.WARNING, logger="aiml_agent.agent"):
            result = agent.run("go")
    assert result["exit_reason"] == "text"
    assert [r.getMessage() for r in caplog.records].count(
        "max_cost_usd cannot apply: the server reported no cost for this run's first reply"
    ) == 1


# ---- serialization -----------------------------------------------------------------------------------------------


def approve_all(pending: Any) -> bool:
    return True


def shout_errors(failure: Any) -> str:
    return failure.kind.upper()


def over_ten(arguments: dict[str, Any], ctx: Any) -> bool:
    return bool(arguments.get("amount", 0) > 10)


def test_new_settings_survive_to_dict_and_from_dict() -> None:
    allow_deserialization_module(__name__)
    limited = create_tool(quick, timeout=2.5, retries=1, max_output_chars=500, requires_approval=over_ten)
    agent = Agent(
        AIMLAPIChatGenerator(model="m"),
        [limited],
        tool_timeout=9,
        tool_retries=3,
        max_tool_output_chars=1000,
        tool_controls={"quick": ToolControls(requires_approval=True)},
        usage_limits=UsageLimits(max_requests=5, max_cost_usd=0.5),
        approval_handler=approve_all,
        tool_error_formatter=shout_errors,
    )
    data = agent.to_dict()
    params = data["init_parameters"]
    assert params["approval_handler"] == f"{__name__}.approve_all"
    assert params["tool_controls"]["quick"]["requires_approval"] is True
    assert params["tools"][0]["data"]["controls"]["requires_approval"] == f"{__name__}.over_ten"
    restored = Agent.from_dict(data)
    assert restored.to_dict() == data
    assert restored.tools[0].controls == ToolControls(
        timeout=2.5, retries=1, max_output_chars=500, requires_approval=over_ten
    )
    assert (restored.approval_handler, restored.tool_error_formatter) == (approve_all, shout_errors)
    assert restored.usage_limits == UsageLimits(max_requests=5, max_cost_usd=0.5)
    assert (restored.tool_timeout, restored.tool_retries, restored.max_tool_output_chars) == (9, 3, 1000)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("approval_handler", "aiml_agent.cli._shared.load_tools"),
        ("tool_error_formatter", "aiml_agent.cli._shared.load_tools"),
        ("tool_controls", {"quick": {"requires_approval": "aiml_agent.cli._shared.load_tools"}}),
    ],
)
def test_callables_of_the_package_are_never_loaded_from_data(key: str, value: Any) -> None:
    from haystack.core.errors import DeserializationError

    data = Agent(AIMLAPIChatGenerator(model="m"), [create_tool(quick)]).to_dict()
    data["init_parameters"][key] = value
    with pytest.raises(DeserializationError, match="never loaded from serialized data"):
        Agent.from_dict(data)
