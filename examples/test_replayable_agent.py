"""A replayable agent test: copy this file into your project's tests/ and adapt it.

aiml-agent's pytest plugin is active as soon as the package is installed. A test marked ``@pytest.mark.vcr``:

1. records once with a real key:      AIMLAPI_API_KEY=<key> pytest tests/test_replayable_agent.py --record-mode=once
   (after changing a prompt, a tool or the model, re-record it: ... --record-mode=rewrite)
2. writes cassettes/<test module>/<test name>.yaml (for this file in this repo:
   cassettes/examples/test_replayable_agent/<test name>.yaml) with no key or other secret in it: commit it;
3. from then on ``pytest`` replays it: no key, no network, the same answers every time. If the code sends a
   request that is not in the recording (an edited prompt or tool schema), the test fails and shows the diff;
   if it no longer makes a recorded request, the test fails too.
"""

from __future__ import annotations

import os

import pytest

from aiml_agent import Agent, AIMLAPIChatGenerator, tool

# This repository records its cassettes against a local ScriptedServer (no internet where it is developed):
# examples/_recording.py points AIMLAPI_BASE_URL at it. In your project, drop this and use the default.
API_BASE_URL = os.environ.get("AIMLAPI_BASE_URL", "https://api.aimlapi.com/v1")

_ORDERS = {"A-1001": "shipped, arriving Thursday", "B-2002": "being packed, ships tomorrow"}


@tool
def get_order_status(order_id: str) -> str:
    """Look up the delivery status of an order.

    Args:
        order_id: The order number, e.g. "A-1001".
    """
    return _ORDERS.get(order_id, "unknown order")


@pytest.fixture
def agent() -> Agent:
    generator = AIMLAPIChatGenerator(
        model="openai/gpt-5-chat-latest", api_base_url=API_BASE_URL, generation_kwargs={"temperature": 0}
    )
    return Agent(generator, tools=[get_order_status], system_prompt="You are a shop's support assistant. Be brief.")


@pytest.mark.vcr
def test_agent_looks_up_the_order(agent: Agent) -> None:
    result = agent.run("Where is my order A-1001?")

    # Assert on what the model decided (the tool call), then on the answer: both are in the cassette.
    [call] = result["steps"][0].tool_calls
    assert (call.tool_name, call.arguments, call.error) == ("get_order_status", {"order_id": "A-1001"}, False)
    assert result["exit_reason"] == "text"
    assert "thursday" in result["last_message"].text.lower()


@pytest.mark.vcr
@pytest.mark.asyncio
async def test_agent_looks_up_the_order_async(agent: Agent) -> None:
    result = await agent.run_async("Has order B-2002 shipped yet?")

    [call] = result["steps"][0].tool_calls
    assert call.arguments == {"order_id": "B-2002"}
    assert "packed" in call.result
    assert result["usage"].requests == 2
