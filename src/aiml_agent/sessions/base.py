"""The :class:`Session` interface: a conversation that outlives a process, and how an agent run uses one.

An agent run with ``session=`` asks the session for its history (:meth:`Session.start_run`), runs on history +
new input, and saves what the run added, with a :class:`RunRecord`, when it ends (:meth:`SessionRun.finish`).
A store (SQLite here; Redis, Postgres, ... by subclassing) implements four methods: ``load``, ``add_run``,
``runs`` and ``clear``. Repairing and trimming history is the same for every store and lives here.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from haystack.dataclasses import ChatMessage

from aiml_agent.run_result import Usage
from aiml_agent.sessions._history import repair, repeats_history, trim


@dataclass(frozen=True)
class RunRecord:
    """One agent run of a session: the model, what it used and cost, how it ended, when and for how long.

    :param model: The model that answered (as the server named it), else the one requested.
    :param exit_reason: The run's ``exit_reason`` (``"text"``, ``"max_steps"``, ``"approval_required"``, ...).
    :param started_at: When the run started (UTC).
    :param duration: Seconds from the start of the run until it was saved.
    :param usage: Requests, tokens and AIMLAPI cost of the run.
    :param messages: How many messages the run added to the conversation, its input included.
    :param id: The store's id for the run (increasing in save order); None until it is saved.
    """

    model: str | None
    exit_reason: str
    started_at: datetime
    duration: float
    usage: Usage = field(default_factory=Usage)
    messages: int = 0
    id: int | None = None

    @property
    def cost(self) -> dict[str, float] | None:
        """AIMLAPI's cost of the run (``credits_used``, ``usd_spent``), or None when the server reported none."""
        return self.usage.cost

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the start as ISO 8601 text)."""
        return {
            "id": self.id,
            "model": self.model,
            "exit_reason": self.exit_reason,
            "started_at": self.started_at.isoformat(),
            "duration": self.duration,
            "messages": self.messages,
            "usage": self.usage.to_dict(),
        }


class Session(ABC):
    """A conversation kept between agent runs, processes and restarts. Subclass it for another store.

    ```python
    session = SQLiteSession("user-42")
    agent.run("Book a table for two on Friday.", session=session)
    agent.run("Make it four people.", session=session)      # the model sees the first run too
    ```

    :param session_id: The conversation's id; one store holds many conversations, each on its own.
    :param max_messages: Send at most this many messages of history to the model (a leading system message is
        kept and not counted); a tool call and its results are never separated. Everything stays stored.
    """

    def __init__(self, session_id: str, *, max_messages: int | None = None) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValueError(f"session_id must be a non-empty string, got {session_id!r}")
        if max_messages is not None and (isinstance(max_messages, bool) or not isinstance(max_messages, int)):
            raise TypeError(f"max_messages must be an int or None, got {type(max_messages).__name__}")
        if max_messages is not None and max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        self.session_id = session_id
        self.max_messages = max_messages

    # ------------------------------------------------------------------------------ what a store implements

    @abstractmethod
    def load(self, last: int | None = None) -> list[ChatMessage]:
        """The stored messages as saved, oldest first.

        :param last: Only the last ``last`` messages are needed, plus the first message when it is a system
            message (a store may return more; history is trimmed afterwards anyway).
        """

    @abstractmethod
    def add_run(self, messages: Sequence[ChatMessage], record: RunRecord) -> RunRecord:
        """Append a run's messages and its record in one transaction: both are saved, or neither is.

        :returns: The record as saved (with its ``id``).
        """

    @abstractmethod
    def runs(self) -> list[RunRecord]:
        """Every saved run of this session, oldest first."""

    @abstractmethod
    def clear(self) -> None:
        """Delete this session's messages and runs (other sessions in the store stay as they are)."""

    def close(self) -> None:
        """Release what the store holds open (a connection); the session can be used again afterwards."""
        return None  # a store that holds nothing open has nothing to release

    # ------------------------------------------------------------------------------------ what a run uses

    def messages(self) -> list[ChatMessage]:
        """The whole stored conversation, every tool call answered but the open calls at its end (a run paused for
        approval, or stopped by a limit, may still be resumed to answer them)."""
        return repair(self.load(), keep_pending=True)

    def history(self, *, resuming: bool = False) -> list[ChatMessage]:
        """The history a run continues from: repaired, and trimmed to ``max_messages``.

        :param resuming: The run has no new input: tool calls left open at the end (a run paused for approval or
            stopped by a limit) stay open for it to answer. With new input they are answered with an error
            result, since the conversation moved on.
        """
        window = trim(self.load(self.max_messages), self.max_messages)  # starts after results cut from their call
        return trim(repair(window, keep_pending=resuming), self.max_messages)

    def start_run(self, messages: Sequence[ChatMessage] | str, *, model: str | None = None) -> SessionRun:
        """Begin a run on this conversation: :attr:`SessionRun.messages` is what the run should work on.

        :param messages: The run's new input: a string (one user message), new messages, or ``[]`` to continue
            the stored conversation as it is (e.g. to resume a run paused for approval: its open calls are kept).
        :param model: The model the run asks for, recorded when the replies do not name one.
        :raises ValueError: When ``messages`` repeat the stored conversation instead of adding to it.
        """
        new = _new_messages(messages)
        history = self.history(resuming=not new)
        if repeats_history(history, new):
            raise ValueError(
                f"The messages given to a run on session {self.session_id!r} repeat its stored conversation; "
                "with session=, pass only the new input (a string, new messages, or [] to continue)"
            )
        return SessionRun(self, history, new, model=model)

    async def start_run_async(self, messages: Sequence[ChatMessage] | str, *, model: str | None = None) -> SessionRun:
        """:meth:`start_run` off the event loop (a store may wait on a lock or a disk)."""
        return await asyncio.to_thread(self.start_run, messages, model=model)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.session_id!r})"


class SessionRun:
    """A run in progress on a session: the conversation to run on, and :meth:`finish` to save what it added.

    Nothing is written until :meth:`finish`, so a run that raises, or a process that dies, leaves the session as
    it was.
    """

    def __init__(
        self, session: Session, history: list[ChatMessage], new: list[ChatMessage], *, model: str | None
    ) -> None:
        self.session = session
        self.history = history
        self.new = new
        self.model = model if isinstance(model, str) else None
        self.started_at = datetime.now(timezone.utc)
        self._started = time.perf_counter()
        self._saved: RunRecord | None = None

    @property
    def messages(self) -> list[ChatMessage]:
        """History followed by the new input: what the agent runs on."""
        return [*self.history, *self.new]

    def finish(self, result: Mapping[str, Any]) -> RunRecord:
        """Save the run: the messages it added after the history (its input included) and its record.

        :param result: The agent's result (``messages``, ``exit_reason``, ``usage``, ``steps``).
        :returns: The saved record.
        """
        if self._saved is not None:
            raise RuntimeError(f"This run was already saved to session {self.session.session_id!r}")
        added = self._added(result["messages"])
        usage = result.get("usage")
        record = RunRecord(
            model=_served_model(result.get("steps")) or self.model,
            exit_reason=str(result.get("exit_reason") or "unknown"),
            started_at=self.started_at,
            duration=time.perf_counter() - self._started,
            usage=usage if isinstance(usage, Usage) else Usage(),
            messages=len(added),
        )
        self._saved = self.session.add_run(added, record)
        return self._saved

    async def finish_async(self, result: Mapping[str, Any]) -> RunRecord:
        """:meth:`finish` off the event loop."""
        return await asyncio.to_thread(self.finish, result)

    def _added(self, conversation: Sequence[ChatMessage]) -> list[ChatMessage]:
        """What follows the history in the run's conversation (an agent may put its system prompt first)."""
        given = self.messages
        system_added = bool(conversation) and conversation[0].is_from("system")
        system_added = system_added and not (given and given[0].is_from("system"))
        start = int(system_added) + len(self.history)
        if len(conversation) < start + len(self.new):
            raise ValueError(
                f"The run's conversation has {len(conversation)} messages, fewer than the {len(given)} it was "
                f"given: it cannot be saved to session {self.session.session_id!r}"
            )
        return list(conversation[start:])


def _new_messages(messages: Sequence[ChatMessage] | str) -> list[ChatMessage]:
    if isinstance(messages, str):
        return [ChatMessage.from_user(messages)]
    if not isinstance(messages, (list, tuple)):
        raise TypeError(f"messages must be a str or a list of ChatMessage, got {type(messages).__name__}")
    return list(messages)


def _served_model(steps: Any) -> str | None:
    """The model the server named in the run's last reply that named one."""
    for step in reversed(list(steps or [])):
        meta = getattr(getattr(step, "reply", None), "meta", None) or {}
        if isinstance(meta.get("model"), str) and meta["model"]:
            return str(meta["model"])
    return None
