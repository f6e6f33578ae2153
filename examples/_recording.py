"""How the examples' cassettes are made on a machine without internet: scripted model replies, and one command
that re-records every cassette.

    python examples/_recording.py     # no key: record all against local ScriptedServers (what is committed)
    AIMLAPI_API_KEY=... python examples/_recording.py     # record all against the real AIMLAPI

`SCRIPTS` holds, per example, what a ScriptedServer answers in place of the model (`examples/_support.py`
uses it for ``--record`` without a key). The answers are written to look like a real model's; they are not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent
SCRIPTED_COST = {"credits_used": 63, "usd_spent": 0.0000315}  # AIMLAPI's `meta.usage` shape

SCRIPTS: dict[str, list[Any]] = {
    "quickstart": [
        Reply(
            text="Natural Language Processing (NLP) is the branch of artificial intelligence that lets "
            "computers understand, interpret and generate human language.",
            cost=SCRIPTED_COST,
        ),
    ],
    "weather_agent": [
        Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris", "unit": "celsius"})]),
        Reply(
            text="It's 18 °C and partly cloudy in Paris right now, with a light breeze: a light jacket will do.",
            cost=SCRIPTED_COST,
        ),
    ],
    "toolset_from_class": [
        Reply(
            tool_calls=[
                ToolCallReply("add", {"title": "Buy milk", "due": None}),
                ToolCallReply("add", {"title": "Book the dentist", "due": "Friday"}),
            ]
        ),
        Reply(tool_calls=[ToolCallReply("complete", {"item_id": 1}), ToolCallReply("list_items", {})]),
        Reply(text="Done! Your list:\n- [x] 1. Buy milk\n- [ ] 2. Book the dentist (due Friday)"),
    ],
    "strict_tools": [
        Reply(
            tool_calls=[
                ToolCallReply(
                    "place_order",
                    {
                        "customer": "Ada Lovelace",
                        "items": [{"sku": "BOOK-42", "quantity": 2}, {"sku": "PEN-7", "quantity": 1}],
                        "ship_to": {"street": "12 Rue de Rivoli", "city": "Paris", "postcode": None},
                        "gift_note": None,
                        "express": None,
                    },
                )
            ]
        ),
        Reply(
            text="Order ORD-0001 is placed: 2 × BOOK-42 and 1 × PEN-7 for Ada Lovelace, standard shipping "
            "to 12 Rue de Rivoli, Paris."
        ),
    ],
    "streaming": [
        Reply(tool_calls=[ToolCallReply("get_time", {"city": "Tokyo"})]),
        Reply(
            text="It's 21:30 in Tokyo, so most shops are closing. A good moment for a late dinner in "
            "Shinjuku: many izakayas stay open past midnight."
        ),
    ],
    "parallel_async": [
        Reply(
            tool_calls=[
                ToolCallReply("fetch_weather", {"city": "Lisbon"}),
                ToolCallReply("fetch_flights", {"origin": "Berlin", "destination": "Lisbon"}),
                ToolCallReply("fetch_hotels", {"city": "Lisbon", "nights": 3}),
            ]
        ),
        Reply(
            text="Lisbon looks good: sunny and 24 °C, a direct flight from Berlin at 09:40 for €89, and "
            "Casa do Rio at €95 a night (€285 for 3 nights)."
        ),
    ],
    "approval": [
        Reply(tool_calls=[ToolCallReply("get_order", {"order_id": "A-1001"})]),
        Reply(
            tool_calls=[ToolCallReply("refund", {"order_id": "A-1001", "amount_eur": 250, "reason": "arrived broken"})]
        ),
        Reply(
            text="I'm sorry your espresso machine arrived broken. I've refunded 100 EUR on order A-1001, the most "
            "I can approve; a colleague will contact you about the remaining 150 EUR.",
            cost=SCRIPTED_COST,
        ),
    ],
    "traced_agent": [
        Reply(
            tool_calls=[
                ToolCallReply("get_exchange_rate", {"currency": "USD"}),
                ToolCallReply("get_exchange_rate", {"currency": "GBP"}),
            ]
        ),
        Reply(text="250 euros are about 270 US dollars (1.08 each) and 212.50 pounds (0.85 each).", cost=SCRIPTED_COST),
    ],
    # chat_session.py runs in two processes: turns 1-2, then (after a restart) turn 3
    "chat_session/1": [
        Reply(
            tool_calls=[
                ToolCallReply(
                    "book_table", {"restaurant": "Casa do Rio", "day": "Friday", "time": "20:00", "people": 2}
                )
            ]
        ),
        Reply(text="Done: Casa do Rio, Friday at 20:00, for 2 people. Your reference is R-1024.", cost=SCRIPTED_COST),
        Reply(tool_calls=[ToolCallReply("change_booking", {"reference": "R-1024", "people": 4})]),
        Reply(text="Changed: booking R-1024 is now for 4 people.", cost=SCRIPTED_COST),
    ],
    "chat_session/2": [
        Reply(
            text="You're eating at Casa do Rio on Friday at 20:00, for 4 people. Your booking reference is R-1024.",
            cost=SCRIPTED_COST,
        ),
    ],
    "switch_models": [  # the same two model turns, first from openai/gpt-4o, then from google/gemini-2.5-flash
        *[
            reply
            for _ in range(2)
            for reply in (
                Reply(
                    tool_calls=[
                        ToolCallReply(
                            "plan_trip",
                            {
                                "traveller": "Ada",
                                "stops": [{"city": "Lyon", "nights": 2}, {"city": "Marseille", "nights": 1}],
                                "budget_eur": 600,
                            },
                        )
                    ]
                ),
                Reply(text="Ada's trip: Lyon for two nights, then a night in Marseille, within the 600 EUR budget."),
            )
        ],
    ],
    "mcp_agent": [
        Reply(
            tool_calls=[
                ToolCallReply("wx_forecast", {"city": "Lisbon", "days": 2}),
                ToolCallReply("local_time", {"city": "Lisbon"}),
            ]
        ),
        Reply(
            text="Lisbon looks great: sunny both days, 24 °C today and 25 °C tomorrow. It's 14:05 there now, "
            "so there's plenty of afternoon left for a walk along the river.",
            cost=SCRIPTED_COST,
        ),
    ],
    "test_replayable_agent": [
        Reply(tool_calls=[ToolCallReply("get_order_status", {"order_id": "A-1001"})]),
        Reply(text="Your order A-1001 has shipped; it should arrive on Thursday."),
        Reply(tool_calls=[ToolCallReply("get_order_status", {"order_id": "B-2002"})]),
        Reply(text="Order B-2002 is still being packed; it ships tomorrow."),
    ],
}

SCRIPT_NAMES = [
    "quickstart",
    "weather_agent",
    "toolset_from_class",
    "strict_tools",
    "streaming",
    "parallel_async",
    "approval",
    "traced_agent",
    "chat_session",
    "switch_models",
    "mcp_agent",
]


def record_all() -> None:
    """Re-record every example cassette and the example test's cassettes, stopping at the first failure."""
    for name in SCRIPT_NAMES:
        subprocess.run(
            [sys.executable, str(EXAMPLES / f"{name}.py"), "--record"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL
        )
        print(f"recorded cassettes/examples/{name}.yaml")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "examples/test_replayable_agent.py",
        "--record-mode=rewrite",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    if os.environ.get("AIMLAPI_API_KEY"):
        subprocess.run(command, check=True, cwd=ROOT)
    else:
        with ScriptedServer(SCRIPTS["test_replayable_agent"]) as server:
            env = {**os.environ, "AIMLAPI_API_KEY": "offline-recording-key", "AIMLAPI_BASE_URL": server.base_url}
            subprocess.run(command, check=True, cwd=ROOT, env=env)
    print("recorded cassettes/examples/test_replayable_agent/")


if __name__ == "__main__":
    record_all()
