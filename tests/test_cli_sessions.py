"""``aiml-agent run --session`` and ``aiml-agent sessions list | show | delete``, through the console script."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import WEATHER_TOOLS, assert_one_line_error, call_cli, run_cli
from haystack.dataclasses import ChatMessage, ToolCall

from aiml_agent import SQLiteSession, Usage
from aiml_agent.testing import RecordedRequest, Reply, ScriptedServer, ToolCallReply

KEY = "test-key-5e1c"
COST = {"credits_used": 42, "usd_spent": 0.000021}


@dataclass
class Conversation:
    folder: Path
    outputs: list[str]
    requests: list[RecordedRequest]


@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> Conversation:
    """Two ``aiml-agent run --session ada --db chats/c.db`` calls, each a new process, against ScriptedServer."""
    folder = tmp_path_factory.mktemp("cli_sessions")
    (folder / "weather.py").write_text(WEATHER_TOOLS)
    script = [
        Reply(
            tool_calls=[ToolCallReply("get_weather", {"city": "Paris"}, id="call_w")],
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        ),
        Reply(
            text="It is sunny in Paris.",
            usage={"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46},
            cost=COST,
        ),
        Reply(text="You asked about Paris.", usage={"prompt_tokens": 60, "completion_tokens": 5, "total_tokens": 65}),
    ]
    outputs = []
    with ScriptedServer(script) as server:
        for prompt in ("Weather in Paris?", "Which city did I ask about?"):
            args = [
                "run",
                "weather.py",
                prompt,
                "--session",
                "ada",
                "--db",
                "chats/c.db",
                "--base-url",
                server.base_url,
            ]
            result = run_cli(*args, cwd=folder, key=KEY)
            assert result.returncode == 0, result.stderr
            outputs.append(result.stdout)
        requests = server.requests
    return Conversation(folder, outputs, requests)


def without_times(text: str) -> str:
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", "DATE", text)
    return re.sub(r"\b\d+(\.\d+)? m?s\b", "T", text)


def test_run_with_a_session_continues_the_conversation_in_a_new_process(conversation: Conversation) -> None:
    last = conversation.requests[-1].body["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "assistant", "user"]
    assert last[0]["content"] == "Weather in Paris?" and last[-1]["content"] == "Which city did I ask about?"
    assert conversation.outputs[1].startswith("You asked about Paris.\n")
    assert conversation.outputs[1].rstrip().endswith("saved to session ada in chats/c.db")
    assert (conversation.folder / "chats" / "c.db").is_file()  # the folder was created


def test_sessions_list_shows_runs_messages_and_cost(conversation: Conversation) -> None:
    listed = run_cli("sessions", "list", "--db", "chats/c.db", cwd=conversation.folder)
    assert listed.returncode == 0, listed.stderr
    assert without_times(listed.stdout) == (
        "chats/c.db: 1 session\n"
        "SESSION  RUNS  MESSAGES  LAST RUN (UTC)    USAGE\n"
        "ada         2         6  DATE  126 tokens (110 prompt + 16 completion) · cost 42 credits, $0.000021\n"
    )

    as_json = json.loads(run_cli("sessions", "list", "--db", "chats/c.db", "--json", cwd=conversation.folder).stdout)
    assert [(s["session_id"], s["runs"], s["messages"]) for s in as_json] == [("ada", 2, 6)]
    assert as_json[0]["usage"]["cost"] == COST and as_json[0]["usage"]["requests"] == 3


def test_sessions_show_prints_each_run_with_its_usage_and_cost(conversation: Conversation) -> None:
    shown = run_cli("sessions", "show", "ada", "--db", "chats/c.db", cwd=conversation.folder)
    assert shown.returncode == 0, shown.stderr
    assert without_times(shown.stdout) == (
        "session ada in chats/c.db: 2 runs, 6 messages\n"
        "\n"
        "── run 1 · DATE UTC · openai/gpt-5-chat-latest · T · exit text\n"
        "  user: Weather in Paris?\n"
        '  assistant → get_weather({"city": "Paris"})  [call_w]\n'
        "  tool [call_w]: Sunny, 22 celsius in Paris\n"
        "  assistant: It is sunny in Paris.\n"
        "  2 requests · 61 tokens (50 prompt + 11 completion) · cost 42 credits, $0.000021\n"
        "\n"
        "── run 2 · DATE UTC · openai/gpt-5-chat-latest · T · exit text\n"
        "  user: Which city did I ask about?\n"
        "  assistant: You asked about Paris.\n"
        "  1 request · 65 tokens (60 prompt + 5 completion)\n"
        "\n"
        "total: 3 requests · 126 tokens (110 prompt + 16 completion) · cost 42 credits, $0.000021\n"
    )

    data = json.loads(
        run_cli("sessions", "show", "ada", "--db", "chats/c.db", "--json", cwd=conversation.folder).stdout
    )
    assert [run["messages"] for run in data["runs"]] == [4, 2]
    assert data["runs"][0]["transcript"][1]["content"][0]["tool_call"]["id"] == "call_w"
    assert ChatMessage.from_dict(data["runs"][1]["transcript"][1]).text == "You asked about Paris."


def test_run_json_names_the_session(tmp_path: Path) -> None:
    (tmp_path / "weather.py").write_text(WEATHER_TOOLS)
    with ScriptedServer(["Hi."]) as server:
        result = run_cli(
            "run", "weather.py", "Hello", "--session", "bob", "--json", "--base-url", server.base_url,
            cwd=tmp_path, key=KEY,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["session"] == {"id": "bob", "db": "conversations.db"}  # the default database
    assert [m.text for m in SQLiteSession("bob", tmp_path / "conversations.db").messages()] == ["Hello", "Hi."]


def test_sessions_delete_removes_one_session(tmp_path: Path) -> None:
    path = tmp_path / "conversations.db"
    for name in ("ada", "bob"):
        run = SQLiteSession(name, path).start_run(f"hi from {name}")
        run.finish({"messages": run.messages, "exit_reason": "text", "usage": Usage()})

    deleted = run_cli("sessions", "delete", "ada", cwd=tmp_path)

    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == "deleted session ada (1 run, 1 message) from conversations.db\n"
    assert [s.session_id for s in SQLiteSession.list_sessions(path)] == ["bob"]
    assert_one_line_error(
        run_cli("sessions", "delete", "ada", cwd=tmp_path), "no session 'ada' in conversations.db (sessions: bob)"
    )


def test_show_marks_calls_waiting_for_approval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    call = ToolCall("delete_file", {"path": "/tmp/x"}, id="call_d")
    run = SQLiteSession("s", "conversations.db").start_run("Delete /tmp/x")
    paused = [*run.messages, ChatMessage.from_assistant(tool_calls=[call])]
    run.finish({"messages": paused, "exit_reason": "approval_required", "usage": Usage(requests=1)})

    code, out, err = call_cli(capsys, "sessions", "show", "s")

    assert (code, err) == (0, "")
    assert (
        '  assistant → delete_file({"path": "/tmp/x"})  [call_d]\n    (delete_file [call_d]: waiting for approval)'
        in out
    )
    assert "exit approval_required" in out


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["sessions", "list", "--db", "missing.db"], ["no conversation database at missing.db"]),
        (["sessions", "show", "x", "--db", "notes.txt"], ["notes.txt is not an SQLite database"]),
        (["run", "weather.py", "hi", "--db", "c.db"], ["--db needs --session ID"]),
        (["run", "weather.py", "hi", "--session", "s", "--db", "notes.txt", "--base-url", "http://127.0.0.1:9"],
         ["notes.txt is not an SQLite database"]),
    ],
)  # fmt: skip
def test_bad_databases_and_flags_are_one_line_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragments: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    (tmp_path / "weather.py").write_text(WEATHER_TOOLS)
    (tmp_path / "notes.txt").write_text("not a database " * 100)

    code, out, err = call_cli(capsys, *args)

    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    assert not (tmp_path / "missing.db").exists()
