"""Hook points where an observer (see :mod:`aiml_agent.tracing`) sees agent runs, model calls and tool calls.

Nothing is observed until an observer is installed: each hook is then one global read that returns a shared
no-op scope, so an uninstrumented run pays nothing measurable and imports nothing.

A hook returns a context manager; the code it wraps calls ``scope.finish(outcome)`` with what happened (the
run's result, the model's replies, the tool call's record). An exception leaving the ``with`` block is the
observer's to record.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from types import TracebackType

    from haystack.dataclasses import ChatMessage, ToolCall


class Scope(Protocol):
    """What the observed code reports back before its ``with`` block ends."""

    def finish(self, outcome: Any) -> None:
        """Record the outcome: a run result dict, a list of replies, or a tool call record."""


class Observer(Protocol):
    """Receives the hooks; :mod:`aiml_agent.tracing` implements it with OpenTelemetry spans."""

    def agent_run(self, agent: Any, messages: list[ChatMessage]) -> AbstractContextManager[Scope]:
        """One ``Agent.run`` / ``run_async``."""

    def model_call(
        self, model: str, base_url: str, request: dict[str, Any], *, streaming: bool
    ) -> AbstractContextManager[Scope]:
        """One chat completion request (``request`` holds messages, tools and generation parameters)."""

    def tool_call(self, tool_call: ToolCall, description: str | None) -> AbstractContextManager[Scope]:
        """One tool invocation asked for by the model."""


class _NoScope:
    """The scope handed out while nothing observes: enters, finishes and exits doing nothing."""

    def __enter__(self) -> _NoScope:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None

    def finish(self, outcome: Any) -> None:
        return None


NO_SCOPE = _NoScope()

#: The installed observer, or None. Set by :func:`aiml_agent.tracing.instrument`.
observer: Observer | None = None


def agent_run(agent: Any, messages: list[ChatMessage]) -> AbstractContextManager[Scope]:
    """Observe one agent run (a no-op unless an observer is installed)."""
    current = observer
    return NO_SCOPE if current is None else current.agent_run(agent, messages)


def model_call(model: str, base_url: str, request: dict[str, Any], *, streaming: bool) -> AbstractContextManager[Scope]:
    """Observe one model request (a no-op unless an observer is installed)."""
    current = observer
    return NO_SCOPE if current is None else current.model_call(model, base_url, request, streaming=streaming)


def tool_call(tool_call: ToolCall, description: str | None = None) -> AbstractContextManager[Scope]:
    """Observe one tool invocation (a no-op unless an observer is installed)."""
    current = observer
    return NO_SCOPE if current is None else current.tool_call(tool_call, description)
