"""The conversation database's schema, its version, and the migrations that bring an older file up to date.

The version lives in SQLite's ``PRAGMA user_version`` and each applied migration in ``schema_migrations``.
``PRAGMA application_id`` marks the file as ours, so another program's database is never written to. A later
release adds ``MIGRATIONS[2]`` (statements that turn version 1 into 2) and raises ``SCHEMA_VERSION``; files are
upgraded in one transaction when opened. A file from a newer release is refused, never downgraded.
"""

from __future__ import annotations

import sqlite3
import time

from aiml_agent.errors import SessionStoreError

#: "AIML" in ASCII: marks a database file as aiml-agent's.
APPLICATION_ID = 0x41494D4C
SCHEMA_VERSION = 1

#: version -> (what it does, the statements that make it from the version before).
MIGRATIONS: dict[int, tuple[str, list[str]]] = {
    1: (
        "runs and their messages",
        [
            """CREATE TABLE schema_migrations (
                version INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at REAL NOT NULL
            )""",
            """CREATE TABLE runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                session_id TEXT NOT NULL,
                model TEXT,
                exit_reason TEXT NOT NULL,
                started_at REAL NOT NULL,
                duration REAL NOT NULL,
                requests INTEGER NOT NULL,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                total_tokens INTEGER NOT NULL,
                credits_used NUMERIC,
                usd_spent NUMERIC,
                message_count INTEGER NOT NULL
            )""",
            "CREATE INDEX runs_by_session ON runs (session_id, id)",
            """CREATE TABLE messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                session_id TEXT NOT NULL,
                run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                role TEXT NOT NULL,
                message TEXT NOT NULL
            )""",
            "CREATE INDEX messages_by_session ON messages (session_id, id)",
            "CREATE INDEX messages_by_run ON messages (run_id)",
        ],
    ),
}


def check_and_migrate(connection: sqlite3.Connection, path: str) -> None:
    """Make the database at ``path`` current: create it when empty, migrate it when older, refuse it otherwise.

    Called with no transaction open. The common case (already current) only reads two pragmas.
    """
    if _versions(connection) == (APPLICATION_ID, SCHEMA_VERSION):
        return
    connection.execute("BEGIN IMMEDIATE")  # another process may be creating or migrating it right now
    try:
        application_id, version = _versions(connection)
        _check_ours(connection, path, application_id, version)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            description, statements = MIGRATIONS[target]
            for statement in statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                (target, description, time.time()),
            )
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _versions(connection: sqlite3.Connection) -> tuple[int, int]:
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    return int(application_id), int(version)


def _check_ours(connection: sqlite3.Connection, path: str, application_id: int, version: int) -> None:
    if application_id not in (0, APPLICATION_ID):
        raise SessionStoreError(
            f"{path} is another program's SQLite database (application id {application_id:#x}), not an "
            "aiml-agent conversation database; pass another path",
            path=path,
        )
    if version > SCHEMA_VERSION:
        raise SessionStoreError(
            f"{path} was written by a newer aiml-agent (conversation schema version {version}; this version "
            f"reads up to {SCHEMA_VERSION}): upgrade aiml-agent to use it",
            path=path,
        )
    if application_id == 0:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if tables:
            raise SessionStoreError(
                f"{path} is an SQLite database of another program (tables: {', '.join(sorted(tables))}), not an "
                "aiml-agent conversation database; pass another path",
                path=path,
            )
