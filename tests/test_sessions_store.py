"""``SQLiteSession`` as a store: what it keeps, what it refuses, how it versions its schema, how it waits."""

from __future__ import annotations

import base64
import logging
import pickle
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from haystack.dataclasses import (
    ChatMessage,
    FileContent,
    ImageContent,
    ReasoningContent,
    TextContent,
    ToolCall,
)

from aiml_agent import RunRecord, SessionStoreError, SQLiteSession, Usage
from aiml_agent.sessions import _sqlite_schema

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e5277ede0000000049454e44ae426082"
    )
).decode()


def record(exit_reason: str = "text", **usage: float) -> RunRecord:
    return RunRecord(
        model="acme/model-1",
        exit_reason=exit_reason,
        started_at=datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc),
        duration=1.5,
        usage=Usage(**usage),  # type: ignore[arg-type]
    )


def save(session: SQLiteSession, *messages: ChatMessage, exit_reason: str = "text") -> RunRecord:
    return session.add_run(list(messages), record(exit_reason))


def every_kind_of_message() -> list[ChatMessage]:
    malformed = ToolCall(tool_name="get_time", arguments={}, id="call_2", extra={"raw_arguments": '{"tz": '})
    weather = ToolCall(tool_name="get_weather", arguments={"city": "Zürich", "days": [1, 2]}, id="call_1")
    return [
        ChatMessage.from_system("Be brief.", meta={"source": "test"}),
        ChatMessage.from_user("Hi, I'm Ada", name="ada"),
        ChatMessage.from_user(
            content_parts=[
                "What is in this picture and this file?",
                ImageContent(base64_image=PNG, mime_type="image/png", detail="low", meta={"n": 1}),
                FileContent(
                    base64_data=base64.b64encode(b"%PDF-1.4").decode(),
                    mime_type="application/pdf",
                    filename="a.pdf",
                    extra={"pages": 1},
                ),
            ]
        ),
        ChatMessage.from_assistant(
            "Let me check.",
            tool_calls=[weather, malformed],
            reasoning=ReasoningContent("The user wants the weather.", extra={"signature": "sig-1"}),
            meta={
                "model": "acme/model-1",
                "finish_reason": "tool_calls",
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                "cost": {"credits_used": 42, "usd_spent": 0.000021},
                "nested": {"list": [1, {"a": None}], "flag": True},
            },
        ),
        ChatMessage.from_tool("Sunny, 22 °C", origin=weather),
        ChatMessage.from_tool("Error: arguments were not valid JSON", origin=malformed, error=True),
        ChatMessage.from_tool(
            [TextContent("A chart:"), ImageContent(base64_image=PNG, mime_type="image/png")], origin=weather
        ),
        ChatMessage.from_assistant(None, meta={"finish_reason": "stop"}),  # an empty reply
        ChatMessage.from_assistant("It is sunny. 🌞"),
    ]


def test_every_kind_of_message_comes_back_equal(tmp_path: Path) -> None:
    messages = every_kind_of_message()
    save(SQLiteSession("ada", tmp_path / "c.db"), *messages)

    loaded = SQLiteSession("ada", tmp_path / "c.db").load()  # a new connection: read from the file
    assert loaded == messages
    assert loaded[3].tool_calls[1].extra == {"raw_arguments": '{"tz": '}
    assert loaded[3].reasoning == ReasoningContent("The user wants the weather.", extra={"signature": "sig-1"})


def test_a_meta_value_json_cannot_hold_is_stored_as_text_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = SQLiteSession("s", tmp_path / "c.db")
    when = datetime(2026, 1, 31, tzinfo=timezone.utc)
    with caplog.at_level(logging.WARNING, logger="aiml_agent.sessions"):
        save(session, ChatMessage.from_assistant("hi", meta={"at": when}))
    assert session.load()[0].meta == {"at": str(when)}
    assert "datetime" in caplog.text


def test_runs_record_model_usage_cost_exit_reason_start_and_duration(tmp_path: Path) -> None:
    session = SQLiteSession("s", tmp_path / "c.db")
    first = session.add_run(
        [ChatMessage.from_user("a"), ChatMessage.from_assistant("b")],
        record(
            "text", requests=2, prompt_tokens=7, completion_tokens=3, total_tokens=10, credits_used=4, usd_spent=2e-06
        ),
    )
    second = save(session, ChatMessage.from_user("c"), exit_reason="max_steps")

    assert (first.id, first.messages, second.messages) == (1, 2, 1)
    runs = session.runs()
    assert runs == [first, second]
    assert runs[0].usage == Usage(2, 7, 3, 10, 4.0, 2e-06) and runs[0].cost == {"credits_used": 4, "usd_spent": 2e-06}
    assert runs[1].cost is None and runs[1].exit_reason == "max_steps"
    assert runs[0].started_at == datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc) and runs[0].duration == 1.5
    assert runs[0].to_dict()["started_at"] == "2026-01-31T12:00:00+00:00"


def test_two_sessions_in_one_file_never_see_each_other(tmp_path: Path) -> None:
    ada, bob = SQLiteSession("ada", tmp_path / "c.db"), SQLiteSession("bob", tmp_path / "c.db")
    save(ada, ChatMessage.from_user("ada 1"))
    save(bob, ChatMessage.from_user("bob 1"))
    save(ada, ChatMessage.from_user("ada 2"))

    assert [m.text for m in ada.messages()] == ["ada 1", "ada 2"]
    assert [m.text for m in bob.messages()] == ["bob 1"]
    assert len(ada.runs()) == 2 and len(bob.runs()) == 1

    ada.clear()
    assert ada.messages() == [] and ada.runs() == []
    assert [m.text for m in bob.messages()] == ["bob 1"]
    assert [s.session_id for s in SQLiteSession.list_sessions(tmp_path / "c.db")] == ["bob"]


def test_list_sessions_sums_each_session_most_recent_first(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    ada, bob = SQLiteSession("ada", path), SQLiteSession("bob", path)
    ada.add_run([ChatMessage.from_user("1"), ChatMessage.from_assistant("2")], record(total_tokens=10, usd_spent=1.0))
    bob.add_run([ChatMessage.from_user("1")], record(total_tokens=5))
    ada.add_run([ChatMessage.from_user("3")], record(total_tokens=1, usd_spent=0.5))

    summaries = SQLiteSession.list_sessions(str(path))
    assert [(s.session_id, s.runs, s.messages) for s in summaries] == [("ada", 2, 3), ("bob", 1, 1)]
    assert summaries[0].usage.total_tokens == 11 and summaries[0].usage.usd_spent == 1.5
    assert summaries[1].usage.cost is None


def test_load_of_the_last_messages_keeps_a_leading_system_message(tmp_path: Path) -> None:
    session = SQLiteSession("s", tmp_path / "c.db")
    save(session, ChatMessage.from_system("rules"), *(ChatMessage.from_user(str(i)) for i in range(5)))
    assert [m.text for m in session.load(2)] == ["rules", "3", "4"]
    assert [m.text for m in session.load(6)] == ["rules", "0", "1", "2", "3", "4"]
    assert SQLiteSession("empty", tmp_path / "c.db").load(3) == []


def test_a_memory_session_lives_in_its_object(tmp_path: Path) -> None:
    session = SQLiteSession("s", ":memory:")
    save(session, ChatMessage.from_user("hi"))
    assert [m.text for m in session.messages()] == ["hi"]
    assert SQLiteSession("s", ":memory:").messages() == []
    assert not list(tmp_path.iterdir())


def test_a_session_pickles_to_another_process_without_its_connection(tmp_path: Path) -> None:
    session = SQLiteSession("s", tmp_path / "c.db", max_messages=3, timeout=5)
    save(session, ChatMessage.from_user("before"))
    copy = pickle.loads(pickle.dumps(session))
    save(copy, ChatMessage.from_user("from the copy"))
    assert (copy.session_id, copy.max_messages, copy.path) == ("s", 3, session.path)
    assert [m.text for m in session.messages()] == ["before", "from the copy"]
    with pytest.raises(TypeError, match="':memory:' session lives in its object only"):
        pickle.dumps(SQLiteSession("s", ":memory:"))


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="session_id must be a non-empty string"):
        SQLiteSession("", ":memory:")
    with pytest.raises(ValueError, match="max_messages must be at least 1, got 0"):
        SQLiteSession("s", ":memory:", max_messages=0)
    with pytest.raises(TypeError, match="max_messages must be an int"):
        SQLiteSession("s", ":memory:", max_messages="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be a positive"):
        SQLiteSession("s", ":memory:", timeout=0)


# ------------------------------------------------------------------------------------------------- paths


def test_a_missing_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "conversations.db"
    save(SQLiteSession("s", path), ChatMessage.from_user("hi"))
    assert path.is_file()


def test_a_file_that_is_not_a_database_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("These are my notes, not a database. " * 100)
    with pytest.raises(SessionStoreError, match="notes.txt is not an SQLite database") as caught:
        SQLiteSession("s", path)
    assert caught.value.path == str(path)
    assert path.read_text().startswith("These are my notes")  # left as it was


def test_a_folder_or_an_unusable_parent_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(SessionStoreError, match=f"{tmp_path} is a folder"):
        SQLiteSession("s", tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SessionStoreError, match="cannot create the folder for .*file/sub/c.db"):
        SQLiteSession("s", tmp_path / "file" / "sub" / "c.db")


def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(SessionStoreError, match=r"app.db is an SQLite database of another program \(tables: customers"):
        SQLiteSession("s", path)

    marked = tmp_path / "marked.db"
    with sqlite3.connect(marked) as connection:
        connection.execute("PRAGMA application_id = 1234")
    with pytest.raises(SessionStoreError, match="marked.db is another program's SQLite database"):
        SQLiteSession("s", marked)
    with sqlite3.connect(path) as connection:
        assert [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == [
            "customers"
        ]


def test_listing_a_missing_database_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(SessionStoreError, match="no conversation database at .*missing.db"):
        SQLiteSession.list_sessions(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


# --------------------------------------------------------------------------------------------- versions


def pragmas(path: Path) -> tuple[int, int, list[int]]:
    with sqlite3.connect(path) as connection:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        applied = [row[0] for row in connection.execute("SELECT version FROM schema_migrations ORDER BY version")]
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    return application_id, version, applied


def test_a_new_database_is_marked_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    SQLiteSession("s", tmp_path / "c.db")
    assert pragmas(tmp_path / "c.db") == (_sqlite_schema.APPLICATION_ID, 1, [1])


def test_an_older_database_is_migrated_with_its_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.db"
    save(SQLiteSession("s", path), ChatMessage.from_user("kept"))
    migrations = dict(_sqlite_schema.MIGRATIONS)
    migrations[2] = ("runs get a title", ["ALTER TABLE runs ADD COLUMN title TEXT"])
    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(_sqlite_schema, "SCHEMA_VERSION", 2)

    session = SQLiteSession("s", path)

    assert pragmas(path)[1:] == (2, [1, 2])
    assert [m.text for m in session.messages()] == ["kept"]
    with sqlite3.connect(path) as connection:
        assert "title" in [row[1] for row in connection.execute("PRAGMA table_info(runs)")]


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.db"
    save(SQLiteSession("s", path), ChatMessage.from_user("kept"))
    migrations = dict(_sqlite_schema.MIGRATIONS)
    migrations[2] = ("half done", ["ALTER TABLE runs ADD COLUMN title TEXT", "ALTER TABLE nowhere ADD COLUMN x"])
    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(_sqlite_schema, "SCHEMA_VERSION", 2)

    with pytest.raises(SessionStoreError, match="no such table: nowhere"):
        SQLiteSession("s", path)

    assert pragmas(path)[1:] == (1, [1])
    with sqlite3.connect(path) as connection:
        assert "title" not in [row[1] for row in connection.execute("PRAGMA table_info(runs)")]


def test_a_database_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    SQLiteSession("s", path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 7")
    with pytest.raises(
        SessionStoreError,
        match=r"c.db was written by a newer aiml-agent \(conversation schema "
        r"version 7; this version reads up to 1\): upgrade aiml-agent",
    ):
        SQLiteSession("s", path)


# --------------------------------------------------------------------------------------------- waiting


def hold_write_lock(path: Path, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Another writer holding the database's write lock for ``seconds``; the event is set once it let go."""
    locked, released = threading.Event(), threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
        released.set()
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(10)
    return thread, released


def test_a_save_waits_for_another_writer_longer_than_sqlites_busy_handler(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    session = SQLiteSession("s", path, timeout=20)
    thread, released = hold_write_lock(path, 1.6)  # past the one second SQLite's busy handler waits: retried after
    save(session, ChatMessage.from_user("after the lock"))
    saved_after_release = released.is_set()
    thread.join()

    assert saved_after_release  # it waited for the other writer, and then it was saved
    assert [m.text for m in session.messages()] == ["after the lock"]


def test_a_lock_held_past_the_timeout_is_a_clear_error_and_saves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    session = SQLiteSession("s", path, timeout=0.3)
    thread, _ = hold_write_lock(path, 2.0)
    try:
        with pytest.raises(SessionStoreError, match=r"c.db: the database stayed locked by other writers for 0.3 s"):
            save(session, ChatMessage.from_user("never"))
    finally:
        thread.join()
    assert session.messages() == [] and session.runs() == []
