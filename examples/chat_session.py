"""Conversations that persist: an assistant that remembers across a restart, with ``SQLiteSession``.

Turns 1 and 2 run in this process and are saved to an SQLite file. Then the script starts itself again as a new
process (think of a restart, a deploy, another worker), which continues the same conversation from the file:
turn 3 asks about what was said before the restart.

    python examples/chat_session.py                # no key: replays cassettes/examples/chat_session.yaml
    python examples/chat_session.py --db chats.db  # keep the database, then: aiml-agent sessions show ada --db chats.db
    AIMLAPI_API_KEY=... python examples/chat_session.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session

from aiml_agent import Agent, AIMLAPIChatGenerator, SQLiteSession, tool

SESSION_ID = "ada"
FIRST_START = [
    "Book a table at Casa do Rio for 2 people on Friday at 20:00, please.",
    "Make it 4 people instead.",
]
AFTER_RESTART = "Remind me: where am I eating on Friday, for how many, and what's my booking reference?"


@tool
def book_table(restaurant: str, day: str, time: str, people: int) -> str:
    """Book a restaurant table.

    Args:
        restaurant: The restaurant's name.
        day: The day of the booking, e.g. "Friday".
        time: The time as HH:MM, e.g. "20:00".
        people: How many people.
    """
    return f"Booked {restaurant}, {day} at {time}, {people} people. Reference R-1024."  # a real app calls an API


@tool
def change_booking(reference: str, people: int) -> str:
    """Change the number of people of a booking.

    Args:
        reference: The booking reference, e.g. "R-1024".
        people: The new number of people.
    """
    return f"Booking {reference} now for {people} people."


def make_agent(api_base_url: str) -> Agent:
    return Agent(
        AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
        tools=[book_table, change_booking],
        system_prompt="You are a concise restaurant booking assistant.",
    )


def say(agent: Agent, text: str, session: SQLiteSession) -> None:
    print(f"You: {text}")
    result = agent.run(text, session=session)  # history loaded first; the run saved when it ends
    for step in result["steps"]:
        for call in step.tool_calls:
            print(f"  tool {call.tool_name}({json.dumps(call.arguments)}) -> {call.result}")
    print(f"Assistant: {result['last_message'].text}\n", flush=True)


def first_start(db: Path) -> None:
    session = SQLiteSession(SESSION_ID, db)
    with example_session("chat_session", part=1) as api_base_url:
        agent = make_agent(api_base_url)
        for text in FIRST_START:
            say(agent, text, session)


def after_restart(db: Path) -> None:
    session = SQLiteSession(SESSION_ID, db)  # nothing in memory: all of it comes from the file
    print(
        f"[new process: session {SESSION_ID!r} has {len(session.messages())} messages from {len(session.runs())} runs]"
    )
    with example_session("chat_session", part=2) as api_base_url:
        say(make_agent(api_base_url), AFTER_RESTART, session)

    for number, run in enumerate(session.runs(), 1):  # each run's record: model, usage, cost, how it ended
        cost = f", {run.usage.credits_used} credits" if run.usage.credits_used is not None else ""
        print(f"run {number} ({run.model}): {run.usage.total_tokens} tokens{cost}, exit reason: {run.exit_reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="the conversation database (default: a temporary file)")
    parser.add_argument("--restarted", action="store_true", help=argparse.SUPPRESS)  # the second process
    options, _ = parser.parse_known_args()  # --record / --offline are _support's
    if options.restarted:
        after_restart(options.db)
        return
    with tempfile.TemporaryDirectory() as folder:
        db = options.db or Path(folder) / "conversations.db"
        first_start(db)
        print("[restarting: a new process continues the conversation from the database]\n", flush=True)
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--restarted", "--db", str(db)], check=True)


if __name__ == "__main__":
    main()
