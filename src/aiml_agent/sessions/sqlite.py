"""Conversations in an SQLite file, with the standard library's ``sqlite3``: no server, safe for many writers.

One file holds any number of sessions, each seeing only its own messages. A run's messages and its record are
written in one transaction; threads and processes writing the same file wait their turn (see ``_sqlite_db``).
Messages are stored as Haystack's ``ChatMessage.to_dict()`` in JSON, one row each, in the order they were said.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from haystack.dataclasses import ChatMessage

from aiml_agent.errors import SessionStoreError
from aiml_agent.run_result import Usage
from aiml_agent.sessions import _codec
from aiml_agent.sessions._sqlite_db import Database
from aiml_agent.sessions.base import RunRecord, Session

DEFAULT_PATH = "conversations.db"
DEFAULT_TIMEOUT = 30.0

_RUN_COLUMNS = (
    "id, model, exit_reason, started_at, duration, requests, prompt_tokens, completion_tokens, total_tokens, "
    "credits_used, usd_spent, message_count"
)


@dataclass(frozen=True)
class SessionSummary:
    """One session of a database, in a listing.

    :param session_id: The session's id.
    :param runs: How many runs it saved.
    :param messages: How many messages it holds.
    :param first_run_at: When its first saved run started (UTC).
    :param last_run_at: When its last saved run started (UTC).
    :param usage: Requests, tokens and cost of all its runs together.
    """

    session_id: str
    runs: int
    messages: int
    first_run_at: datetime
    last_run_at: datetime
    usage: Usage


class SQLiteSession(Session):
    """A conversation stored in an SQLite database file.

    ```python
    session = SQLiteSession("user-42", path="conversations.db")
    agent.run("And tomorrow?", session=session)   # history loaded first; the run saved when it ends
    session.messages(); session.runs(); session.clear()
    ```

    :param session_id: The conversation's id; other ids in the same file are other conversations.
    :param path: The database file, created (with its folder) when missing; ``":memory:"`` keeps the
        conversation in this object only, until :meth:`close`.
    :param max_messages: Send at most this many messages of history to the model (a leading system message is
        kept and not counted); a tool call and its results are never separated. Everything stays stored.
    :param timeout: Seconds a save or load waits for other writers of the file before it fails.
    :raises SessionStoreError: When ``path`` is not a conversation database (another file, another program's
        database, or one written by a newer aiml-agent) or cannot be created.
    """

    def __init__(
        self,
        session_id: str,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        max_messages: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(session_id, max_messages=max_messages)
        self._database = Database(path, timeout=timeout)
        self.path = self._database.path

    @classmethod
    def list_sessions(
        cls, path: str | os.PathLike[str] = DEFAULT_PATH, *, timeout: float = DEFAULT_TIMEOUT
    ) -> list[SessionSummary]:
        """Every session with a saved run in the database at ``path``, the most recently active first.

        :raises SessionStoreError: When there is no database at ``path``, or it is not a conversation database.
        """
        database = Database(path, timeout=timeout, create=False)
        try:
            rows = database.run(_summaries, write=False)
        finally:
            database.close()
        return [
            SessionSummary(
                session_id=row[0],
                runs=row[1],
                messages=row[2],
                first_run_at=_utc(row[3]),
                last_run_at=_utc(row[4]),
                usage=Usage(*row[5:]),
            )
            for row in rows
        ]

    def load(self, last: int | None = None) -> list[ChatMessage]:
        """The stored messages as saved, oldest first (only the last ``last``, and a leading system message, when
        given)."""
        session_id = self.session_id

        def read(connection: sqlite3.Connection) -> list[Any]:
            if last is None:
                return connection.execute(
                    "SELECT id, message FROM messages WHERE session_id = ? ORDER BY id", (session_id,)
                ).fetchall()
            rows = connection.execute(
                "SELECT id, message FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?", (session_id, last)
            ).fetchall()[::-1]
            first = connection.execute(
                "SELECT id, role, message FROM messages WHERE session_id = ? ORDER BY id LIMIT 1", (session_id,)
            ).fetchone()
            if first is not None and first[1] == "system" and rows and first[0] < rows[0][0]:
                rows.insert(0, (first[0], first[2]))
            return rows

        return [self._decode(row_id, text) for row_id, text in self._database.run(read, write=False)]

    def add_run(self, messages: Sequence[ChatMessage], record: RunRecord) -> RunRecord:
        """Append the run's messages and its record in one transaction."""
        rows = [(message.role.value, _codec.dumps(message)) for message in messages]  # encoded before locking
        usage = record.usage
        run_values = (
            self.session_id,
            record.model,
            record.exit_reason,
            record.started_at.timestamp(),
            record.duration,
            usage.requests,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens,
            usage.credits_used,
            usage.usd_spent,
            len(rows),
        )

        def write(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "INSERT INTO runs (session_id, model, exit_reason, started_at, duration, requests, prompt_tokens, "
                "completion_tokens, total_tokens, credits_used, usd_spent, message_count) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                run_values,
            )
            run_id = int(cursor.lastrowid or 0)
            connection.executemany(
                "INSERT INTO messages (session_id, run_id, role, message) VALUES (?, ?, ?, ?)",
                [(self.session_id, run_id, role, text) for role, text in rows],
            )
            return run_id

        run_id = self._database.run(write, write=True)
        return replace(record, id=run_id, messages=len(rows))

    def runs(self) -> list[RunRecord]:
        """Every saved run of this session, oldest first."""
        rows = self._database.run(
            lambda connection: connection.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE session_id = ? ORDER BY id", (self.session_id,)
            ).fetchall(),
            write=False,
        )
        return [
            RunRecord(
                id=row[0],
                model=row[1],
                exit_reason=row[2],
                started_at=_utc(row[3]),
                duration=row[4],
                usage=Usage(*row[5:11]),
                messages=row[11],
            )
            for row in rows
        ]

    def clear(self) -> None:
        """Delete this session's messages and runs, in one transaction."""

        def delete(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM messages WHERE session_id = ?", (self.session_id,))
            connection.execute("DELETE FROM runs WHERE session_id = ?", (self.session_id,))

        self._database.run(delete, write=True)

    def close(self) -> None:
        """Close the database connection (the next call opens a new one)."""
        self._database.close()

    def __repr__(self) -> str:
        return f"SQLiteSession({self.session_id!r}, path={self.path!r})"

    def _decode(self, row_id: int, text: str) -> ChatMessage:
        try:
            return _codec.loads(text)
        except (ValueError, TypeError, KeyError) as error:
            raise SessionStoreError(
                f"{self.path}: message {row_id} of session {self.session_id!r} cannot be read: {error}",
                path=self.path,
            ) from error


def _summaries(connection: sqlite3.Connection) -> list[Any]:
    return connection.execute(
        "SELECT session_id, COUNT(*), SUM(message_count), MIN(started_at), MAX(started_at), SUM(requests), "
        "SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), SUM(credits_used), SUM(usd_spent) "
        "FROM runs GROUP BY session_id ORDER BY MAX(id) DESC"
    ).fetchall()


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)
