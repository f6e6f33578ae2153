"""Unit tests for an agent with no HTTP at all: copy this file into your project's tests/ and adapt it.

- ``ScriptedChatGenerator`` is the model, answering from a script in process: no key, no network, no socket,
  milliseconds per test. It is the real generator with its HTTP replaced, so streaming, errors, cost and tool
  call parsing behave as with AIMLAPI; ``model.requests`` shows what the model was sent.
- ``exercise_tools`` calls your tools with the arguments a model may legitimately send and fails on the ones
  that crash them.
- ``run_summary`` turns a run into plain data without ids or timings: compare two runs, or keep a snapshot.
- The fixtures ``scripted_server`` and ``aimlapi_generator`` (from aiml-agent's pytest plugin) give the same
  scripts over real HTTP on 127.0.0.1, when a test needs the wire.

Run it: ``pytest examples/test_agent_unit.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from haystack.dataclasses import StreamingChunk
from pydantic import Field

from aiml_agent import Agent, ToolRetry, tool
from aiml_agent.errors import AIMLAPIError
from aiml_agent.testing import Reply, ScriptedChatGenerator, ToolCallReply, exercise_tools, run_summary

_ORDERS = {"A-1001": "shipped, arriving Thursday", "B-2002": "being packed, ships tomorrow"}


@tool
def get_order_status(order_id: str) -> str:
    """Look up the delivery status of an order.

    Args:
        order_id: The order number, e.g. "A-1001".
    """
    if order_id not in _ORDERS:
        # ToolRetry: the model reads this and can try again; exercise_tools does not count it as a crash
        raise ToolRetry(f"There is no order {order_id!r}; order numbers look like A-1001.")
    return _ORDERS[order_id]


@tool
def refund(order_id: str, amount_eur: Annotated[float, Field(gt=0, le=500)], reason: str | None = None) -> str:
    """Refund part or all of an order.

    Args:
        order_id: The order number.
        amount_eur: How much to refund, in euros.
        reason: Why, in the customer's words.
    """
    return f"Refunded {amount_eur:.2f} EUR on {order_id} ({reason or 'no reason given'})."


def support_agent(model: Any) -> Agent:
    return Agent(model, tools=[get_order_status, refund], system_prompt="You are a shop's support assistant.")


def look_up(order_id: str) -> Reply:
    """The model's turn that calls get_order_status."""
    return Reply(tool_calls=[ToolCallReply("get_order_status", {"order_id": order_id})])


def test_the_agent_looks_up_the_order() -> None:
    model = ScriptedChatGenerator([look_up("A-1001"), "Your order ships Thursday."])
    result = support_agent(model).run("Where is my order A-1001?")

    assert result["last_message"].text == "Your order ships Thursday."
    [call] = result["steps"][0].tool_calls
    assert (call.tool_name, call.result, call.error) == ("get_order_status", "shipped, arriving Thursday", False)
    # What the model was sent: the tools offered, and the tool result in the second request.
    assert [tool["function"]["name"] for tool in model.requests[0].tools] == ["get_order_status", "refund"]
    assert model.requests[1].messages[-1].tool_call_result.result == "shipped, arriving Thursday"


def test_a_wrong_order_number_goes_back_to_the_model() -> None:
    model = ScriptedChatGenerator([look_up("A-1O01"), look_up("A-1001"), "Found it: it ships Thursday."])
    result = support_agent(model).run("Where is A-1O01?")

    first_try = result["steps"][0].tool_calls[0]
    assert first_try.failure is not None and first_try.failure.kind == "retry"
    assert "order numbers look like A-1001" in first_try.result
    assert result["usage"].requests == 3


async def test_streamed_async_run() -> None:
    chunks: list[StreamingChunk] = []
    model = ScriptedChatGenerator([look_up("B-2002"), "It is being packed and ships tomorrow."])
    result = await support_agent(model).run_async("Has B-2002 shipped?", streaming_callback=chunks.append)

    assert result["last_message"].text == "It is being packed and ships tomorrow."
    assert "".join(chunk.content for chunk in chunks) == "It is being packed and ships tomorrow."
    assert [c.tool_call_result.result for c in chunks if c.tool_call_result] == ["being packed, ships tomorrow"]


def test_an_api_error_reaches_the_caller() -> None:
    model = ScriptedChatGenerator([Reply.error(403, "Insufficient credits")])
    with pytest.raises(AIMLAPIError, match="out of credits") as raised:
        support_agent(model).run("Where is my order A-1001?")
    assert raised.value.status_code == 403


def test_the_same_script_gives_the_same_run() -> None:
    arguments = {"order_id": "A-1001", "amount_eur": 20, "reason": None}
    script = [Reply(tool_calls=[ToolCallReply("refund", arguments)]), "Done."]
    first = run_summary(support_agent(ScriptedChatGenerator(list(script))).run("Refund 20 EUR on A-1001"))
    second = run_summary(support_agent(ScriptedChatGenerator(list(script))).run("Refund 20 EUR on A-1001"))

    assert first == second  # ids, timings and cost do not take part
    assert first["steps"][0]["tool_calls"][0] == {
        "id": "call-1",
        "tool_name": "refund",
        "arguments": arguments,
        "result": "Refunded 20.00 EUR on A-1001 (no reason given).",
        "failure": None,
        "approval": None,
        "edited_arguments": None,
        "truncated_chars": 0,
    }


def test_the_tools_survive_what_a_model_may_send() -> None:
    exercise_tools([get_order_status, refund], examples=30).assert_ok()


def test_over_real_http(scripted_server: Any, aimlapi_generator: Any) -> None:
    server = scripted_server([look_up("A-1001"), "Your order ships Thursday."])
    result = support_agent(aimlapi_generator(server)).run("Where is my order A-1001?")

    assert result["last_message"].text == "Your order ships Thursday."
    assert server.requests[1].body["messages"][-1]["role"] == "tool"
