"""``Agent.run(..., session=)``: the history goes first, the run is saved when it ends, and nothing otherwise.

Against ScriptedServer, so what the model was sent is checked on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import generator_for, get_weather
from haystack.dataclasses import ChatMessage, StreamingChunk, ToolCall
from pydantic import BaseModel

from aiml_agent import Agent, AIMLAPIError, OutputValidationError, SQLiteSession, Usage
from aiml_agent.sessions import Session
from aiml_agent.sessions._history import UNANSWERED_CALL_RESULT
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

COST = {"credits_used": 42, "usd_spent": 0.000021}


def agent_for(server: ScriptedServer, **kwargs: Any) -> Agent:
    return Agent(generator_for(server, model="acme/model-1"), tools=[get_weather], **kwargs)


def wire(messages: list[dict[str, Any]]) -> list[str]:
    """The request's messages as ``role:text`` (tool calls and results by id) for compact assertions."""
    out = []
    for m in messages:
        if m.get("tool_calls"):
            out.append("assistant→" + ",".join(c["id"] for c in m["tool_calls"]))
        elif m["role"] == "tool":
            out.append(f"tool[{m['tool_call_id']}]:{m['content']}")
        else:
            out.append(f"{m['role']}:{m['content']}")
    return out


@pytest.fixture
def session(tmp_path: Path) -> SQLiteSession:
    return SQLiteSession("user-42", tmp_path / "conversations.db")


def test_history_goes_first_and_each_run_is_saved_with_its_record(session: SQLiteSession) -> None:
    script = [
        Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"}, id="call_1")], model="acme/model-1-0601"),
        Reply(text="Sunny in Paris.", cost=COST),
        Reply(text="Tomorrow too."),
    ]
    with ScriptedServer(script) as server:
        agent = agent_for(server, system_prompt="Be brief.")
        first = agent.run("Weather in Paris?", session=session)
        second = agent.run("And tomorrow?", session=session)
        requests = server.requests

    assert wire(requests[2].body["messages"]) == [
        "system:Be brief.",
        "user:Weather in Paris?",
        "assistant→call_1",
        "tool[call_1]:Sunny in Paris",
        "assistant:Sunny in Paris.",
        "user:And tomorrow?",
    ]
    assert second["messages"][1:5] == first["messages"][1:5]
    # the agent's system prompt is not stored: the next run gets the agent's prompt of that time
    assert [m.role.value for m in session.messages()] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert session.messages()[3] == first["last_message"]  # meta (usage, cost, model) included

    runs = session.runs()
    assert [(r.model, r.exit_reason, r.messages) for r in runs] == [
        ("acme/model-1", "text", 4),  # the model named by the run's last reply
        ("acme/model-1", "text", 2),
    ]
    assert runs[0].usage == first["usage"] and runs[0].cost == COST and runs[1].usage == second["usage"]
    assert runs[0].duration > 0 and runs[0].started_at <= runs[1].started_at


def test_a_new_system_prompt_applies_to_later_runs(session: SQLiteSession) -> None:
    with ScriptedServer(["One.", "Two."]) as server:
        agent_for(server, system_prompt="Old rules.").run("1", session=session)
        agent_for(server, system_prompt="New rules.").run("2", session=session)
        body = server.requests[1].body
    assert wire(body["messages"]) == ["system:New rules.", "user:1", "assistant:One.", "user:2"]


def test_a_run_that_raises_saves_nothing(session: SQLiteSession) -> None:
    script = [
        "First answer.",
        Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Oslo"})]),
        Reply.error(500, "The model crashed"),
    ]
    with ScriptedServer(script) as server:
        agent = agent_for(server)
        agent.run("first", session=session)
        before = (session.messages(), session.runs())
        with pytest.raises(AIMLAPIError, match="The model crashed"):
            agent.run("second", session=session)  # fails after a tool turn: half a run exists in memory only
    assert (session.messages(), session.runs()) == before


def test_a_run_failing_its_output_type_saves_nothing(session: SQLiteSession) -> None:
    class Answer(BaseModel):
        city: str

    with ScriptedServer(["not json", "still not json"]) as server:
        agent = agent_for(server, output_type=Answer, output_retries=1)
        with pytest.raises(OutputValidationError):
            agent.run("Which city?", session=session)
    assert session.messages() == [] and session.runs() == []


def test_structured_output_runs_continue_the_conversation(session: SQLiteSession) -> None:
    class Answer(BaseModel):
        city: str
        temperature: int

    with ScriptedServer(
        ['{"city": "Paris"}', '{"city": "Paris", "temperature": 21}', '{"city": "Rome", "temperature": 25}']
    ) as server:
        agent = agent_for(server, output_type=Answer)
        first = agent.run("Paris?", session=session)
        second = agent.run("And Rome?", session=session)
        body = server.requests[2].body

    assert first["output"] == Answer(city="Paris", temperature=21)
    assert second["output"] == Answer(city="Rome", temperature=25)
    assert body["response_format"]["type"] == "json_schema"
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]  # the retry request is history too
    assert body["messages"][3]["content"] == '{"city": "Paris", "temperature": 21}'
    assert [r.messages for r in session.runs()] == [4, 2]


def test_streaming_runs_save_the_streamed_reply(session: SQLiteSession) -> None:
    chunks: list[StreamingChunk] = []
    script = [
        Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Oslo"}, id="call_9")]),
        Reply(text="Snowy in Oslo, honestly.", cost=COST),
        "Yes.",
    ]
    with ScriptedServer(script) as server:
        agent = agent_for(server, streaming_callback=chunks.append)
        result = agent.run("Oslo?", session=session)
        agent.run("Sure?", session=session)
        body = server.requests[2].body

    assert body["stream"] is True
    assert wire(body["messages"])[2:] == [
        "tool[call_9]:Sunny in Oslo",
        "assistant:Snowy in Oslo, honestly.",
        "user:Sure?",
    ]
    assert "".join(c.content for c in chunks if c.content).startswith("Snowy in Oslo, honestly.")
    saved = session.messages()
    assert saved[3] == result["last_message"] and saved[3].meta["cost"] == COST
    assert session.runs()[0].cost == COST


async def test_run_async_loads_and_saves_and_concurrent_sessions_stay_apart(tmp_path: Path) -> None:
    def echo(body: dict[str, Any]) -> Reply:
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        return Reply(text=" | ".join(users))

    sessions = [SQLiteSession(f"s{i}", tmp_path / "c.db") for i in range(6)]
    with ScriptedServer(echo) as server:
        agent = agent_for(server)
        for turn in range(2):
            await asyncio.gather(*(agent.run_async(f"{s.session_id}-{turn}", session=s) for s in sessions))
    for s in sessions:
        assert [m.text for m in s.messages()] == [
            f"{s.session_id}-0",
            f"{s.session_id}-0",
            f"{s.session_id}-1",
            f"{s.session_id}-0 | {s.session_id}-1",
        ]


def test_max_messages_trims_what_is_sent_but_keeps_everything_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = SQLiteSession("s", tmp_path / "c.db", max_messages=2)
    script = [
        "a1",
        Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Oslo"}, id="call_1")]),
        "a2",
        "a3",
    ]
    with ScriptedServer(script) as server:
        agent = agent_for(server, system_prompt="Rules.")
        agent.run("u1", session=session)
        agent.run("u2", session=session)  # u2, call, result, a2
        with caplog.at_level(logging.WARNING):
            agent.run("u3", session=session)
        body = server.requests[-1].body

    # the last 2 would start with the tool result: the cut moves past it; the system prompt is always sent
    assert wire(body["messages"]) == ["system:Rules.", "assistant:a2", "user:u3"]
    assert len(session.messages()) == 8
    assert caplog.records == []  # results cut off with their call are trimmed, not reported as strays


def test_a_tool_call_left_open_is_answered_when_new_input_follows(session: SQLiteSession) -> None:
    stopped = ChatMessage.from_assistant(tool_calls=[ToolCall("get_weather", {"city": "Rome"}, id="call_7")])
    started = session.start_run("Weather in Rome?")
    started.finish({"messages": [*started.messages, stopped], "exit_reason": "usage_limit", "usage": Usage()})
    assert session.start_run([]).messages[-1] == stopped  # no new input: a resume, which answers the open call
    assert session.messages()[-1] == stopped

    with ScriptedServer(["Sorry, let me retry."]) as server:
        agent_for(server).run("Hello?", session=session)
        body = server.requests[0].body

    assert wire(body["messages"]) == [
        "user:Weather in Rome?",
        "assistant→call_7",
        f"tool[call_7]:{UNANSWERED_CALL_RESULT}",
        "user:Hello?",
    ]
    messages = session.messages()
    assert messages[2].tool_call_result is not None and messages[2].tool_call_result.error
    assert len(session.load()) == 4  # the repair is made on loading, not stored


def paused_session(session: Session) -> ToolCall:
    """A session whose last run paused for approval: call_a ran, call_b waits. Returns the waiting call."""
    call_a = ToolCall("get_weather", {"city": "Rome"}, id="call_a")
    call_b = ToolCall("delete_file", {"path": "/tmp/x"}, id="call_b")
    run = session.start_run("Check Rome, then delete /tmp/x")
    paused = [
        *run.messages,
        ChatMessage.from_assistant(tool_calls=[call_a, call_b]),
        ChatMessage.from_tool("Sunny in Rome", origin=call_a),
    ]
    record = run.finish({"messages": paused, "exit_reason": "approval_required", "usage": Usage(requests=1)})
    assert record.exit_reason == "approval_required" and record.messages == 3
    return call_b


def test_a_paused_run_is_resumed_from_the_session_with_its_calls_still_waiting(session: SQLiteSession) -> None:
    waiting = paused_session(session)

    assert session.messages()[-1].tool_call_result.origin.id == "call_a"  # call_b is not marked failed
    resumed = session.start_run([])  # no new input: a resume
    assert resumed.messages == session.load()
    assert resumed.messages[-2].tool_calls[1] == waiting

    # what the resumed run adds (the approved call's result, then the answer) lands after the paused run's messages
    approved = ChatMessage.from_tool("deleted", origin=waiting)
    resumed.finish(
        {
            "messages": [*resumed.messages, approved, ChatMessage.from_assistant("Done.")],
            "exit_reason": "text",
            "usage": Usage(requests=1),
        }
    )
    texts = [m.text or (m.tool_call_result and m.tool_call_result.result) for m in session.messages()]
    assert texts == ["Check Rome, then delete /tmp/x", None, "Sunny in Rome", "deleted", "Done."]
    assert [r.exit_reason for r in session.runs()] == ["approval_required", "text"]


def test_new_input_after_a_paused_run_answers_its_waiting_calls(session: SQLiteSession) -> None:
    paused_session(session)
    with ScriptedServer(["OK, I did not delete it."]) as server:
        agent_for(server).run("Never mind, don't delete it.", session=session)
        body = server.requests[0].body
    assert wire(body["messages"])[-3:] == [
        "tool[call_a]:Sunny in Rome",
        f"tool[call_b]:{UNANSWERED_CALL_RESULT}",
        "user:Never mind, don't delete it.",
    ]
    assert session.messages()[3].tool_call_result.origin.id == "call_b"  # answered from now on


def test_passing_the_whole_conversation_again_is_refused(session: SQLiteSession) -> None:
    with ScriptedServer(["Hi!"]) as server:
        agent = agent_for(server, system_prompt="Be brief.")
        result = agent.run("Hello", session=session)
        with pytest.raises(ValueError, match="repeat its stored conversation; with session=, pass only the new"):
            agent.run([*result["messages"], ChatMessage.from_user("again")], session=session)
    assert len(session.messages()) == 2 and len(session.runs()) == 1


def test_bad_input_is_refused_before_anything_is_sent(session: SQLiteSession) -> None:
    with ScriptedServer([]) as server:
        with pytest.raises(TypeError, match="messages must be a str or a list of ChatMessage, got int"):
            agent_for(server).run(42, session=session)  # type: ignore[arg-type]
        assert server.requests == []


def test_another_store_plugs_in_by_subclassing_session() -> None:
    class ListSession(Session):
        """A store in a Python list: the four methods a store implements."""

        def __init__(self) -> None:
            super().__init__("in-memory")
            self.saved: list[tuple[list[ChatMessage], Any]] = []

        def load(self, last: int | None = None) -> list[ChatMessage]:
            return [m for messages, _ in self.saved for m in messages]

        def add_run(self, messages: Any, record: Any) -> Any:
            self.saved.append((list(messages), record))
            return record

        def runs(self) -> Any:
            return [record for _, record in self.saved]

        def clear(self) -> None:
            self.saved.clear()

    store = ListSession()
    with ScriptedServer(["one", "two"]) as server:
        agent = agent_for(server)
        agent.run("1", session=store)
        agent.run("2", session=store)
        assert wire(server.requests[1].body["messages"]) == ["user:1", "assistant:one", "user:2"]
    assert [m.text for m in store.messages()] == ["1", "one", "2", "two"]
    assert [r.model for r in store.runs()] == ["acme/model-1", "acme/model-1"]
