"""One SQLite database file shared by threads and processes: transactions that wait their turn and never half-apply.

- WAL journal: readers never wait for a writer, and a writer waits only for another writer.
- Every write is ``BEGIN IMMEDIATE`` ... ``COMMIT``: it takes the write lock first, so two writers never both
  read and then fail to upgrade; a transaction that fails is rolled back whole.
- "database is locked" is waited out: SQLite's busy handler waits up to a second, then the whole transaction
  is retried with jittered backoff until ``timeout`` seconds have passed. A rolled-back attempt wrote nothing,
  so a retry never duplicates a row.
- One connection per object and process, used under a lock (threads share it safely); after a ``fork`` the
  child opens its own.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from aiml_agent.errors import SessionStoreError
from aiml_agent.sessions._sqlite_schema import check_and_migrate

T = TypeVar("T")

MEMORY = ":memory:"
# SQLite's result codes (the sqlite3 module names them from Python 3.11 on): SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOTADB
_BUSY_CODES = (5, 6)
_NOT_A_DATABASE = 26
_BUSY_HANDLER_SECONDS = 1.0
_FIRST_BACKOFF = 0.005
_MAX_BACKOFF = 0.25


class Database:
    """A conversation database file (or ``":memory:"``), opened and brought to the current schema at once.

    :param path: The file; its folder is created when missing.
    :param timeout: Seconds a transaction waits for other writers before giving up.
    :param create: Create the file (and its folder) when it does not exist; else that is an error.
    :raises SessionStoreError: When the file cannot be opened or is not a conversation database.
    """

    _connection: sqlite3.Connection | None
    _pid: int

    def __init__(self, path: str | os.PathLike[str], *, timeout: float, create: bool = True) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
        self.path = MEMORY if str(path) == MEMORY else str(Path(path).expanduser())
        self.timeout = timeout
        self.create = create
        self._reset()
        self.run(lambda connection: None, write=False)  # open now: a bad path fails where the session is made

    def run(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run ``work`` in one transaction (a write transaction when ``write``), retried while the file is busy."""
        deadline = time.monotonic() + self.timeout
        backoff = _FIRST_BACKOFF
        while True:
            try:
                with self._lock:
                    return self._transaction(work, write=write)
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise self._failure(error) from error
                if time.monotonic() + backoff > deadline:
                    raise SessionStoreError(
                        f"{self.path}: the database stayed locked by other writers for {self.timeout:g} s "
                        f"({error}); try again, or pass a larger timeout",
                        path=self.path,
                    ) from error
            except sqlite3.Error as error:
                raise self._failure(error) from error
            time.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def close(self) -> None:
        """Close the connection (the next transaction opens a new one)."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def __getstate__(self) -> dict[str, object]:
        """Pickled (e.g. to another process) without its connection and lock: it opens its own there."""
        if self.path == MEMORY:
            raise TypeError("a ':memory:' session lives in its object only; it cannot be copied or sent elsewhere")
        return {"path": self.path, "timeout": self.timeout, "create": self.create}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.RLock()
        self._connection = None
        self._pid = os.getpid()

    def _transaction(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        connection = self._connected()
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            value = work(connection)
            connection.execute("COMMIT")
            return value
        except BaseException:
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:  # the connection is broken: drop it, the next attempt opens a new one
                    self._connection = None
            raise

    def _connected(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        self._connection, self._pid = None, os.getpid()  # a forked child never uses its parent's connection
        self._check_path()
        connection = sqlite3.connect(
            self.path,
            timeout=min(self.timeout, _BUSY_HANDLER_SECONDS),
            isolation_level=None,  # transactions are explicit: BEGIN ... COMMIT
            check_same_thread=False,  # used under self._lock
        )
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            if self.path != MEMORY:
                connection.execute("PRAGMA journal_mode = WAL")
            check_and_migrate(connection, self.path)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _check_path(self) -> None:
        if self.path == MEMORY:
            return
        file = Path(self.path)
        if file.is_dir():
            raise SessionStoreError(f"{file} is a folder; pass the path of a database file in it", path=self.path)
        if not self.create and not file.exists():
            raise SessionStoreError(f"no conversation database at {file}", path=self.path)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SessionStoreError(
                f"cannot create the folder for {file}: {error.strerror or error}", path=self.path
            ) from error

    def _failure(self, error: sqlite3.Error) -> SessionStoreError:
        code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+; the message says the same
        if code == _NOT_A_DATABASE or (code is None and "file is not a database" in str(error)):
            message = f"{self.path} is not an SQLite database; pass the path of a conversation database"
        else:
            message = f"{self.path}: {error}"
        return SessionStoreError(message, path=self.path)


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    text = str(error).lower()
    return "locked" in text or "busy" in text
