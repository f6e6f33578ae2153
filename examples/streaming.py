"""Streaming: print the answer to the terminal as it is generated, and each tool call as it happens.

A ``streaming_callback`` on the Agent gets every chunk of every model call (text deltas, tool-call deltas)
plus one chunk per tool result, so a user sees progress instead of waiting for the whole run.

    python examples/streaming.py      # no key: replays cassettes/examples/streaming.yaml
    AIMLAPI_API_KEY=... python examples/streaming.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session
from haystack.dataclasses import StreamingChunk

from aiml_agent import Agent, AIMLAPIChatGenerator, tool

_UTC_OFFSETS = {"tokyo": 9, "paris": 2, "new york": -4}


@tool
def get_time(city: str) -> str:
    """Get the current local time in a city.

    Args:
        city: The city name.
    """
    if city.lower() not in _UTC_OFFSETS:
        raise ValueError(f"Unknown city {city!r}; known: {', '.join(_UTC_OFFSETS)}")
    # A fixed clock keeps the replayed run's output the same every time; a real tool would use now().
    now = datetime(2025, 6, 1, 12, 30, tzinfo=timezone.utc) + timedelta(hours=_UTC_OFFSETS[city.lower()])
    return now.strftime("%H:%M")


def print_chunk(chunk: StreamingChunk) -> None:
    """Show text as it arrives, and tool calls and their results as they happen."""
    for delta in chunk.tool_calls or []:
        if delta.tool_name:  # the first fragment of a call names the tool; the arguments follow in pieces
            print(f"[calling {delta.tool_name} ...]", flush=True)
    if chunk.tool_call_result is not None:
        call = chunk.tool_call_result.origin
        outcome = "failed" if chunk.tool_call_result.error else "returned"
        print(
            f"[{call.tool_name}({json.dumps(call.arguments)}) {outcome} {chunk.tool_call_result.result!r}]\n",
            flush=True,
        )
    if chunk.content:
        print(chunk.content, end="", flush=True)


def main() -> None:
    question = "What time is it in Tokyo now, and what's a good thing to do at that hour?"
    with example_session("streaming") as api_base_url:
        agent = Agent(
            AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
            tools=[get_time],
            streaming_callback=print_chunk,
        )
        print(f"You: {question}", flush=True)
        result = agent.run(question)
    print(f"\n\n({len(result['steps'])} model calls, {result['usage'].total_tokens} tokens)")


if __name__ == "__main__":
    main()
