"""Human approval: a refund over a limit waits for a person's decision; the run resumes later from its saved
messages alone, with the amount edited, and the edited arguments are validated before the refund runs.

The first run stops with ``exit_reason="approval_required"`` and lists the waiting call in ``result["pending"]``.
The messages are saved as JSON (a database, a queue, a web request later, another process); a new run with
``approvals={call_id: Edit({...})}`` continues exactly there.

    python examples/approval.py          # no key: replays cassettes/examples/approval.yaml
    AIMLAPI_API_KEY=... python examples/approval.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import json
from typing import Any

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session
from haystack.dataclasses import ChatMessage

from aiml_agent import Agent, AIMLAPIChatGenerator, Edit, RunContext, tool

REFUND_LIMIT_EUR = 100
_ORDERS = {"A-1001": {"item": "espresso machine", "paid_eur": 250, "status": "delivered"}}
_REFUNDS: list[str] = []


def over_the_limit(arguments: dict[str, Any], ctx: RunContext[Any]) -> bool:
    """A refund over the limit needs a person's yes (a module-level function, so the tool serializes)."""
    return float(arguments.get("amount_eur", 0)) > REFUND_LIMIT_EUR


@tool
def get_order(order_id: str) -> dict[str, Any]:
    """Look up an order.

    Args:
        order_id: The order number, e.g. "A-1001".
    """
    return {"order_id": order_id, **_ORDERS.get(order_id, {"status": "unknown"})}


@tool(requires_approval=over_the_limit, timeout=10)
def refund(order_id: str, amount_eur: float, reason: str) -> str:
    """Refund money on an order.

    Args:
        order_id: The order number.
        amount_eur: How much to refund, in euros.
        reason: Why, in a few words.
    """
    _REFUNDS.append(f"{order_id}: {amount_eur:g} EUR")  # a real app calls the payment provider here
    return f"Refunded {amount_eur:g} EUR on {order_id} ({reason})."


def show_steps(title: str, result: dict[str, Any]) -> None:
    print(f"{title} (exit reason: {result['exit_reason']})")
    for step in result["steps"]:
        origin = "resumed from the saved messages" if step.resumed else "model call"
        print(f"  step {step.index} ({origin})")
        for call in step.tool_calls:
            ran_with = f" edited to {json.dumps(call.edited_arguments)}" if call.edited_arguments else ""
            print(f"    {call.tool_name}({json.dumps(call.arguments)}){ran_with} -> {call.result.splitlines()[-1]}")
    for pending in result["pending"]:
        print(f"    waiting for approval: {pending.tool_name}({json.dumps(pending.arguments)}) [id {pending.id}]")


def main() -> None:
    question = "Order A-1001 arrived broken. Please refund me the full price."
    with example_session("approval") as api_base_url:
        agent = Agent(
            AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
            tools=[get_order, refund],
            system_prompt="You are a support agent. Look orders up before refunding them. Be brief.",
        )
        first = agent.run(question)
        show_steps("First run", first)

        saved = json.dumps([message.to_dict() for message in first["messages"]])  # e.g. into a database

        # ... later, a manager allows a refund up to the limit (the edit is validated against the tool) ...
        pending = first["pending"][0]
        decision = Edit({**pending.arguments, "amount_eur": REFUND_LIMIT_EUR})
        messages = [ChatMessage.from_dict(data) for data in json.loads(saved)]
        second = agent.run(messages, approvals={pending.id: decision})
        show_steps("\nResumed run", second)

    print(f"\nrefunds made: {_REFUNDS}")
    print(f"Assistant: {second['last_message'].text}")


if __name__ == "__main__":
    main()
