"""A process writing conversations, for the concurrency and crash tests (``tests/test_sessions_concurrency.py``).

    python tests/session_worker.py runs DB SESSION WORKER N   N agent runs ("WORKER-rI" each), then prints "done"
    python tests/session_worker.py slow-tool DB SESSION       one run, then one whose tool sleeps a minute; prints
                                                              "tool started" when it sleeps (to be killed there)
    python tests/session_worker.py save-loop DB SESSION       saves runs of 5 messages until killed, printing each

The model is :class:`EchoModel`, in process: these tests are about the database, not HTTP.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from typing import Any

from haystack.dataclasses import ChatMessage, ToolCall

from aiml_agent import Agent, SQLiteSession, Usage, tool

_call_ids = itertools.count(1)


class EchoModel:
    """A chat generator that echoes the last user message, or calls the tool a ``call NAME`` message names."""

    model = "echo-model"

    def run(self, messages: list[ChatMessage], **_: Any) -> dict[str, list[ChatMessage]]:
        meta = {
            "model": self.model,
            "usage": {"prompt_tokens": len(messages), "completion_tokens": 2, "total_tokens": len(messages) + 2},
        }
        last = messages[-1]
        if last.is_from("user") and (last.text or "").startswith("call "):
            name = (last.text or "").split()[1]
            call = ToolCall(tool_name=name, arguments={}, id=f"call_{next(_call_ids)}")
            return {"replies": [ChatMessage.from_assistant(tool_calls=[call], meta=meta)]}
        question = next(m.text for m in reversed(messages) if m.is_from("user"))
        return {"replies": [ChatMessage.from_assistant(f"echo: {question}", meta=meta)]}


@tool
def slow() -> str:
    """Sleep for a minute (long enough to be killed while running)."""
    print("tool started", flush=True)
    time.sleep(60)
    return "woke up"


def echo_agent() -> Agent:
    return Agent(EchoModel(), tools=[slow])


def runs(path: str, session_id: str, worker: str, count: int) -> None:
    session = SQLiteSession(session_id, path, max_messages=6)
    agent = echo_agent()
    for index in range(count):
        agent.run(f"{worker}-r{index}", session=session)
    print("done", flush=True)


def slow_tool(path: str, session_id: str) -> None:
    session = SQLiteSession(session_id, path)
    agent = echo_agent()
    agent.run("before the crash", session=session)
    agent.run("call slow", session=session)  # killed in the tool: this run is never saved


def save_loop(path: str, session_id: str) -> None:
    session = SQLiteSession(session_id, path, max_messages=5)  # loads stay small as the session grows
    for index in itertools.count():
        run = session.start_run([])
        messages = [ChatMessage.from_user(f"{os.getpid()}-r{index}-m{i}") for i in range(5)]
        run.finish({"messages": [*run.messages, *messages], "exit_reason": "text", "usage": Usage(requests=1)})
        print(index, flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "runs":
        runs(args[0], args[1], args[2], int(args[3]))
    elif command == "slow-tool":
        slow_tool(args[0], args[1])
    elif command == "save-loop":
        save_loop(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {command!r}")
