"""run_summary: equal for two runs of the same script, whichever scripted model plays it (in process or over
HTTP, sync, async or streamed), JSON data with a fixed key order, and different when the behaviour differs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import generator_for, get_weather
from pydantic import BaseModel

from aiml_agent import Agent, ToolRetry, tool
from aiml_agent.testing import Reply, ScriptedChatGenerator, ScriptedServer, ToolCallReply, run_summary


@tool
def pick_city(hint: str) -> str:
    """Pick a city.

    :param hint: What the city should be like.
    """
    raise ToolRetry("Name a real city")


@tool(requires_approval=True)
def book_flight(city: str) -> str:
    """Book a flight.

    :param city: Where to.
    """
    return f"Booked to {city}"


class Forecast(BaseModel):
    city: str
    sky: str


def calls(*items: tuple[str, dict[str, Any] | str]) -> Reply:
    return Reply(tool_calls=[ToolCallReply(name, arguments) for name, arguments in items])


# A run through most of what a summary holds: parallel calls, a tool error, malformed arguments, an unknown
# tool, a ToolRetry, reasoning, cost in the body and in headers, and a final answer.
SCRIPT = [
    Reply(
        tool_calls=[
            ToolCallReply("get_weather", {"city": "Paris"}),
            ToolCallReply("get_weather", {"city": "Atlantis"}),
            ToolCallReply("get_weather", '{"city": '),
        ],
        reasoning="Two cities at once.",
        cost={"credits_used": 10, "usd_spent": 0.00001},
    ),
    calls(("get_forecast", {"city": "Paris"}), ("pick_city", {"hint": "warm"})),
    Reply(text="Paris is sunny; Atlantis is not on the map.", cost={"credits_used": 5}, cost_in="headers"),
]
TOOLS = [get_weather, pick_city]


def run_on(model: Any, mode: str, script_tools: list[Any] = TOOLS, **agent_options: Any) -> dict[str, Any]:
    agent = Agent(model, tools=script_tools, **agent_options)
    if mode == "sync":
        return agent.run("Weather in Paris and Atlantis?")
    if mode == "streamed":
        return agent.run("Weather in Paris and Atlantis?", streaming_callback=lambda chunk: None)
    return asyncio.run(agent.run_async("Weather in Paris and Atlantis?"))


@pytest.mark.parametrize("mode", ["sync", "async", "streamed"])
def test_in_process_and_served_runs_of_one_script_summarize_equal(mode: str) -> None:
    in_process = run_on(ScriptedChatGenerator(list(SCRIPT)), mode)
    with ScriptedServer(list(SCRIPT)) as server:
        served = run_on(generator_for(server), mode)

    assert in_process["steps"][0].client_request_id != served["steps"][0].client_request_id
    assert run_summary(in_process) == run_summary(served)
    summary = run_summary(in_process)
    assert summary["exit_reason"] == "text"
    assert [len(step["tool_calls"]) for step in summary["steps"]] == [3, 2, 0]
    ok, failed, malformed = summary["steps"][0]["tool_calls"]
    assert (ok["id"], ok["arguments"], ok["result"], ok["failure"]) == (
        "call-1",
        {"city": "Paris"},
        "Sunny in Paris",
        None,
    )
    assert failed["failure"] == "exception" and "Atlantis is not on the map" in failed["result"]
    assert malformed["failure"] == "malformed_arguments" and malformed["raw_arguments"] == '{"city": '
    unknown, retried = summary["steps"][1]["tool_calls"]
    assert (unknown["failure"], retried["failure"]) == ("unknown_tool", "retry")
    assert summary["steps"][0]["reply"]["reasoning"] == "Two cities at once."
    assert summary["steps"][2]["reply"]["text"] == "Paris is sunny; Atlantis is not on the map."
    assert summary["usage"] == {
        "requests": 3,
        "prompt_tokens": in_process["usage"].prompt_tokens,
        "completion_tokens": in_process["usage"].completion_tokens,
        "total_tokens": in_process["usage"].total_tokens,
        "cost_reported": True,
    }


def test_two_runs_differ_in_ids_but_not_in_summary() -> None:
    first = run_on(ScriptedChatGenerator(list(SCRIPT)), "sync")
    second = run_on(ScriptedChatGenerator(list(SCRIPT)), "sync")
    assert first["steps"][0].reply.meta["id"] != second["steps"][0].reply.meta["id"]

    text = json.dumps(run_summary(first), indent=2)
    assert text == json.dumps(run_summary(second), indent=2)  # same keys in the same order: a stable snapshot
    step = run_summary(first)["steps"][0]
    assert list(step) == ["index", "resumed", "reply", "tool_calls"]
    assert step["reply"]["response_id"] == "response-1" and step["reply"]["client_request_id"] == "request-1"
    assert step["reply"]["inference_id"] == "inference-1"
    assert "duration" not in text and "chatcmpl-" not in text and "aiml-agent-" not in text


def test_a_different_behaviour_gives_a_different_summary() -> None:
    other = [calls(("get_weather", {"city": "Lyon"})), *SCRIPT[1:]]
    summary = run_summary(run_on(ScriptedChatGenerator(list(SCRIPT)), "sync"))
    changed = run_summary(run_on(ScriptedChatGenerator(other), "sync"))
    assert summary != changed
    assert changed["steps"][0]["tool_calls"][0]["arguments"] == {"city": "Lyon"}


def test_call_ids_are_numbered_in_order_and_a_pending_call_keeps_its_placeholder() -> None:
    script = [
        Reply(
            tool_calls=[
                ToolCallReply("get_weather", {"city": "Oslo"}, id="call_zz9"),
                ToolCallReply("book_flight", {"city": "Oslo"}, id="call_aa1"),
            ]
        )
    ]
    result = run_on(ScriptedChatGenerator(script), "sync", [get_weather, book_flight])
    summary = run_summary(result)

    assert summary["exit_reason"] == "approval_required"
    [step] = summary["steps"]
    assert [(c["id"], c["tool_name"]) for c in step["tool_calls"]] == [("call-1", "get_weather")]
    assert summary["pending"] == [{"id": "call-2", "tool_name": "book_flight", "arguments": {"city": "Oslo"}}]

    resumed = Agent(ScriptedChatGenerator(["Booked."]), tools=[get_weather, book_flight]).run(
        result["messages"], approvals={"call_aa1": True}
    )
    steps = run_summary(resumed)["steps"]
    assert steps[0]["resumed"] is True
    assert [(c["id"], c["tool_name"], c["approval"]) for c in steps[0]["tool_calls"]] == [
        ("call-1", "book_flight", "approved")  # the calls answered in this run; ids numbered per summary
    ]
    assert steps[0]["reply"]["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_structured_output_is_plain_data() -> None:
    model = ScriptedChatGenerator(['{"city": "Paris", "sky": "clear"}'])
    summary = run_summary(Agent(model, output_type=Forecast).run("Forecast?"))
    assert summary["output"] == {"city": "Paris", "sky": "clear"}
    assert summary["usage"]["cost_reported"] is False
    json.dumps(summary)


def test_something_else_than_a_run_result_is_refused() -> None:
    with pytest.raises(TypeError, match="Agent.run returns"):
        run_summary({"replies": []})
